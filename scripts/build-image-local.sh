#!/usr/bin/env bash
# Builds the agent's image here, where no Docker engine runs and no registry but Debian's and npm's
# is reachable: the Dockerfile's runtime stage, made from parts this machine can get.
#   base     Debian 12 from Debian's own mirror (debootstrap --variant=minbase), with the runtime
#            stage's packages (read from the Dockerfile's `apt-get install` line, so the two
#            cannot drift apart); cached in $CSUMWATCH_IMAGE_CACHE (/var/cache/csumwatch-image)
#   node     the node on PATH, which must be of the Dockerfile's NODE_MAJOR (scripts/setup.sh's
#            pinned LTS): its binary only, at /usr/local/bin/node, as in the official node image
#   agent    scripts/build-image.sh, the Dockerfile's build stage, staged at /opt/csumwatch
# then `buildah bud --isolation chroot` (no RUN step, so no runtime is needed to build) with the
# runtime stage's ENV, USER, EXPOSE, ENTRYPOINT and CMD. Needs root, debootstrap and buildah
# (scripts/setup.sh installs them). docs/image.md says how to run it with podman.
#
# usage: scripts/build-image-local.sh [TAG]      (default localhost/csumwatch:0.1.0)
# CSUMWATCH_PODMAN_ROOT=DIR keeps the image in DIR/storage (DIR/run) instead of the machine's
# container storage, as the tests do.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-localhost/csumwatch:0.1.0}
storage=()
if [ -n "${CSUMWATCH_PODMAN_ROOT:-}" ]; then
  storage=(--root "$CSUMWATCH_PODMAN_ROOT/storage" --runroot "$CSUMWATCH_PODMAN_ROOT/run")
fi
for tool in debootstrap buildah; do
  command -v "$tool" >/dev/null || { echo "build-image-local: $tool is missing: run scripts/setup.sh" >&2; exit 1; }
done

# What the Dockerfile's runtime stage says: its Node major and its packages.
major=$(sed -n 's/^ARG NODE_MAJOR=\([0-9]*\)$/\1/p' Dockerfile)
runtime=$(awk '/^FROM /{n++} n==2' Dockerfile)
pkgs=$(sed -n 's/.*apt-get install -y --no-install-recommends \([^\\&]*\).*/\1/p' <<<"$runtime" | xargs)
[ -n "$major" ] && [ -n "$pkgs" ] || { echo "build-image-local: cannot read NODE_MAJOR or the runtime packages from the Dockerfile" >&2; exit 1; }
node_bin=$(readlink -f "$(command -v node)")
node_version=$("$node_bin" --version)
case "$node_version" in
  "v$major".*) ;;
  *) echo "build-image-local: node on PATH is $node_version, the Dockerfile's NODE_MAJOR is $major: run scripts/setup.sh" >&2; exit 1 ;;
esac

# The base, once per package list: debootstrap takes about 40 s and 100 MB from the mirror.
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}
cache=${CSUMWATCH_IMAGE_CACHE:-/var/cache/csumwatch-image}
base="$cache/bookworm-$(echo "$pkgs" | tr ' ' '\n' | sort | tr '\n' ',' | sha256sum | cut -c1-12).tar"
if [ ! -s "$base" ]; then
  echo "build-image-local: debootstrap bookworm with ${pkgs// /, } from $mirror" >&2
  mkdir -p "$cache"
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --include="${pkgs// /,}" bookworm "$root" "$mirror" > "$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  # What the Dockerfile's `rm -rf /var/lib/apt/lists/*` and the slim image leave out.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale
  tar -C "$root" -cf "$base.tmp" . && mv "$base.tmp" "$base"
  rm -rf "$root"
  trap - EXIT
fi

ctx=$(mktemp -d /var/tmp/csumwatch-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
bash scripts/build-image.sh "$ctx/opt-csumwatch"
cp "$base" "$ctx/rootfs.tar"
cp "$node_bin" "$ctx/node"
# The runtime stage's instructions after its packages, word for word but for the COPY source.
{
  echo 'FROM scratch'
  echo 'ADD rootfs.tar /'
  echo 'COPY node /usr/local/bin/node'
  echo 'COPY opt-csumwatch /opt/csumwatch'
  echo 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  grep -E '^(ENV|USER|EXPOSE|ENTRYPOINT|CMD) ' <<<"$runtime"
} > "$ctx/Containerfile"
buildah "${storage[@]}" bud --quiet --isolation chroot --layers=false -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
echo "build-image-local: $tag (node $node_version, ${pkgs// /, })" >&2
