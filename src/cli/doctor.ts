// csumwatch doctor [--json] [--interval S] [--cluster-dns ADDR]... [--node-ip ADDR] [--host-root DIR]

import { isIP } from 'node:net';

import { hasCritical, readCounters, runDoctor } from '../doctor/run';
import { NodeInputs } from '../doctor/inputs';
import { toJson, toText } from '../doctor/report';
import { parseCommand, UsageError } from './errors';

export const HELP = `usage: csumwatch doctor [options]

Diagnoses this node (this network namespace: use ip netns exec for another) and names the fix:
  offload   transmit checksum offload on VXLAN and Geneve devices and the NIC below them, its
            driver, and whether checksum errors (Udp InCsumErrors) are counted or rising, with
            the fix of the CNI that made the device (Calico, flannel, Cilium, Antrea,
            OVN-Kubernetes)
  binding   a VXLAN device whose local address is not on the interface the routes to its peer
            VTEPs use (the wrong underlay)
  mtu       VXLAN MTU above the underlay's MTU minus 50 (IPv4) or 70 (IPv6) bytes
  vxlan_port  VXLAN on UDP 4789 over a VMware NIC, the port of NSX's own VXLAN, and the CNI's
            setting that moves it
  resolv    the node's resolv.conf pointing at the cluster DNS service, directly or through a
            loopback stub (systemd-resolved, dnsmasq), and the kubelet's resolvConf
  ipv6      nameservers of a family the node cannot route
  nat       NAT of the VXLAN outer header (conntrack) while transmit offload is on
Reads ip, ethtool, bridge, conntrack, /proc and /etc; changes nothing. Root (or CAP_NET_ADMIN)
sees everything; without it conntrack may be unreadable.

options:
  --json               print {findings, interfaces, offload, counters} as one JSON object
  --interval S         read the checksum error counters twice, S seconds apart, to tell
                       rising errors from old ones (default 2; 0 reads them once)
  --cluster-dns ADDR   the cluster DNS service address (repeatable); default: the kubelet's
                       clusterDNS (/var/lib/kubelet/config.yaml), or KUBE_DNS_SERVICE_HOST
  --node-ip ADDR       the node's address as the cluster knows it (its InternalIP)
  --host-root DIR      where the node's / is mounted (in a pod: a hostPath), for /etc and /run
  -h, --help           this help

exit status: 0 no critical finding, 1 a critical finding (or the node could not be read),
2 bad usage.
`;

export async function runDoctorCli(argv: string[]): Promise<number> {
  const parsed = parseCommand({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        json: { type: 'boolean' },
        interval: { type: 'string' },
        'cluster-dns': { type: 'string', multiple: true },
        'node-ip': { type: 'string' },
        'host-root': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const interval = v.interval === undefined ? 2 : Number(v.interval);
  if (v.interval !== undefined && (!/^\d+(\.\d+)?$/.test(v.interval) || interval > 60)) {
    throw new UsageError(`--interval: want 0 to 60 seconds, got '${v.interval}'`);
  }
  const clusterDns = v['cluster-dns'] ?? (process.env.KUBE_DNS_SERVICE_HOST ? [process.env.KUBE_DNS_SERVICE_HOST] : []);
  for (const a of clusterDns) if (isIP(a) === 0) throw new UsageError(`--cluster-dns: not an IP address: '${a}'`);
  const nodeIp = v['node-ip'];
  if (nodeIp !== undefined && isIP(nodeIp) === 0) throw new UsageError(`--node-ip: not an IP address: '${nodeIp}'`);
  if (v['host-root'] === '') throw new UsageError('--host-root: empty');

  const inputs = new NodeInputs({ hostRoot: v['host-root'] });
  let previous = null;
  if (interval > 0) {
    try {
      previous = readCounters(inputs);
    } catch {
      // runDoctor reports the counters as unreadable
    }
    if (previous) await new Promise((resolve) => setTimeout(resolve, interval * 1000));
  }
  const report = runDoctor(inputs, { previous, clusterDns, nodeAddress: nodeIp ?? null });
  process.stdout.write(v.json ? JSON.stringify(toJson(report), null, 2) + '\n' : toText(report));
  return hasCritical(report) ? 1 : 0;
}
