#!/usr/bin/env bash
# The built-in default: set up, then `csumwatch lab demo`: build a lab of network namespaces
# (two VXLAN nodes, dnsmasq standing in for CoreDNS, a tc/BPF checksum fault injector), show
# csumwatch catching the VMware failure and the kernel's NAT bug next to the ground truth, print
# the verdict and the fix, and remove the lab. Under a minute after set-up; needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# setup.sh links the pinned Node LTS as /usr/local/bin/node; put it first whatever PATH says.
export PATH="/usr/local/bin:$PATH"
exec bin/csumwatch lab demo "$@"
