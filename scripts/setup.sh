#!/usr/bin/env bash
# Installs what csumwatch needs on Debian 12 (run as root) and builds it. Safe to repeat:
# apt runs only for packages that are missing, npm ci only when the lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# clang, libbpf-dev, bpftool and make build bpf/*.bpf.c; the rest runs the lab and the tests
# (binutils: readelf checks the BPF object's map symbols; prometheus: promtool lints the metrics and
# the alert rules, and a real Prometheus scrapes the agent in the tests; prometheus-alertmanager:
# a real Alertmanager delivers the rules' alerts to the tests' webhook).
apt_packages=(libpcap-dev tcpdump tshark dnsmasq-base dnsutils dnsperf iproute2 ethtool iptables conntrack curl prometheus
  prometheus-alertmanager clang libbpf-dev bpftool make binutils iperf3)
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

stamp=node_modules/.csumwatch-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
npm run --silent build
