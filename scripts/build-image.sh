#!/usr/bin/env bash
# The container image's build steps. The Dockerfile's build stage runs exactly this script, and so
# does CI (test/deploy/image.test.ts), so the image recipe is exercised where no container engine
# exists. It compiles from source, in the checkout:
#   the BPF objects (bpf/, CO-RE: vmlinux.h from VMLINUX_BTF, default /sys/kernel/btf/vmlinux,
#   the build machine's kernel; the object then loads on any kernel with BTF), the TypeScript
#   layouts from their BTF (scripts/bpf-gen.js, src/bpf/generated), the TypeScript (tsc) and the
#   N-API addons (native/, against Node's own headers), in the order `npm run build` runs them,
# then stages into DEST what the runtime stage copies, and nothing else:
#   DEST/bin/csumwatch  DEST/package.json  DEST/node_modules (production dependencies only)
#   DEST/dist/src  DEST/dist/native/*.node  DEST/dist/bpf/*.bpf.o
# Needs node >= 24.11 (package.json engines) with its headers, npm, make, a C compiler, clang, bpftool, libbpf-dev and
# libpcap-dev (the Dockerfile's build stage installs them; scripts/setup.sh does on a Debian host).
#
# usage: scripts/build-image.sh DEST
set -euo pipefail
[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: scripts/build-image.sh DEST" >&2; exit 2; }
cd "$(dirname "$0")/.."
dest=$1
case "$dest" in /*) ;; *) dest="$PWD/$dest" ;; esac
if [ "$dest" = / ] || [ "$dest" = "$PWD" ]; then echo "build-image: refusing to stage into $dest" >&2; exit 2; fi

# Every dependency, dev ones included (tsc), exactly as the lock file has them, unless the
# checkout already holds that install (scripts/setup.sh leaves this stamp).
stamp=node_modules/.csumwatch-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
make -s -C bpf
node scripts/bpf-gen.js
npx tsc -p tsconfig.json
make -s -C native

rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/dist/native" "$dest/dist/bpf"
cp bin/csumwatch "$dest/bin/"
cp package.json package-lock.json "$dest/"
cp -r dist/src "$dest/dist/"
cp dist/native/*.node "$dest/dist/native/"
cp dist/bpf/*.bpf.o "$dest/dist/bpf/"
# Production dependencies from the same lock file. None of them has an install script (the
# addons are ours, built above), so none runs.
(cd "$dest" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
rm "$dest/package-lock.json"
# Type declarations and source maps are for editors, not for running: half of node_modules.
find "$dest/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete
rm -rf "$dest/node_modules/@types"
echo "build-image: staged in $dest ($(du -sh "$dest" | cut -f1))" >&2
