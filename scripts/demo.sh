#!/usr/bin/env bash
# The built-in default: set up, then analyse the shipped captures of the failure csumwatch exists
# for (a broken transmit checksum offload dropping DNS queries inside VXLAN) and of a healthy tunnel
# seen from the sending side, where tcpdump and tshark wrongly call every packet bad.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
fx=test/fixtures
for f in vxlan-bad-inner-udp-rx.pcap vxlan-tx-offload-on.pcap; do
  echo "== csumwatch analyze $fx/$f"
  bin/csumwatch analyze "$fx/$f"
  echo
done
