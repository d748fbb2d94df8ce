// What a lab is made of: its settings, and the names and addresses derived from them.
//
// A lab NAME is a set of network namespaces on this host:
//   NAME-sw      the "switch": bridge br0 (the underlay network) and br1 (a second network)
//   NAME-node1   a node: eth0 on br0, eth1 on br1, vxlan0 over eth0 (or over eth1, miswired)
//   ...
//   NAME-nodeN   the last node also runs the DNS server on its overlay address
//   NAME-pod     with `pod`: the DNS server runs here instead, a pod on the last node behind a
//                veth pair (pod0 on the node, eth0 in the pod), on a pod subnet that every other
//                node routes through the tunnel to the last node, as flannel and Calico do
// node1 is the client. Traffic never leaves these namespaces: every address below is private
// (RFC 1918, RFC 4193) and only configured inside them.

import { LabError } from './tools';

export type IpFamily = 'ipv4' | 'ipv6';

export interface LabConfig {
  /** Prefix of every namespace: [a-z][a-z0-9]{0,7}. */
  name: string;
  /** Nodes, 2 to 8. */
  nodes: number;
  /** VXLAN UDP destination port (4789 IANA/Calico/Cilium, 8472 flannel). */
  port: number;
  vni: number;
  underlay: IpFamily;
  overlay: IpFamily;
  /** Tag the underlay with VLAN 100. */
  vlan: boolean;
  /** Outer UDP checksum on the VXLAN devices (udpcsum); off sends 0 over IPv4. */
  udpcsum: boolean;
  /** Transmit checksum offload on every node's vxlan0, eth0 and eth1. Off: real checksums. */
  offload: boolean;
  /** The underlay device node1's vxlan0 is bound to; eth1 is the wrong one. */
  bind: 'eth0' | 'eth1';
  /**
   * The kernel's own outer-checksum bug: on node1, MASQUERADE --random-fully on the VXLAN port
   * while vxlan0 keeps transmit checksum offload on (eth0's stays off, like a NIC completing it).
   */
  nat: boolean;
  /**
   * Run the DNS server in a pod: its own namespace behind a veth pair on the last node, on a
   * subnet routed through the tunnel, so that a query is decapsulated on the node and its inner
   * UDP checksum verified (and a bad one dropped) inside the pod, as with CoreDNS in a cluster.
   */
  pod: boolean;
}

export const DEFAULT_CONFIG: LabConfig = {
  name: 'csw',
  nodes: 2,
  port: 4789,
  vni: 42,
  underlay: 'ipv4',
  overlay: 'ipv4',
  vlan: false,
  udpcsum: true,
  offload: false,
  bind: 'eth0',
  nat: false,
  pod: false,
};

export const VLAN_ID = 100;
export const DNS_ZONE = 'lab.test';
/** What the DNS server answers for every name under DNS_ZONE. */
export const ANSWER_A = '10.9.9.9';
export const ANSWER_AAAA = 'fd00::9';

/** Throws LabError unless name is a lab name: it becomes part of paths and namespace names. */
export function checkName(name: string): void {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(name)) {
    throw new LabError(`lab name '${name}': want a lower-case letter, then up to 7 letters or digits`);
  }
}

/** Throws LabError on a setting out of range. */
export function checkConfig(c: LabConfig): void {
  checkName(c.name);
  if (!Number.isInteger(c.nodes) || c.nodes < 2 || c.nodes > 8) throw new LabError(`lab nodes: want 2 to 8, got ${c.nodes}`);
  if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535) throw new LabError(`lab port: not a port number: ${c.port}`);
  if (!Number.isInteger(c.vni) || c.vni < 1 || c.vni > 0xffffff) throw new LabError(`lab vni: want 1 to 16777215, got ${c.vni}`);
  if (c.nat && c.underlay !== 'ipv4') throw new LabError('lab nat: the NAT scenario needs an IPv4 underlay');
}

export interface NodeSpec {
  index: number;
  ns: string;
  /** Underlay address (eth0, or eth0.100 on a VLAN device), and the second network's (eth1). */
  underlay: string;
  second: string;
  overlay: string;
  macEth0: string;
  macEth1: string;
  macVxlan: string;
  /** Peer names of eth0/eth1 in the switch namespace. */
  swEth0: string;
  swEth1: string;
}

/** The DNS server's pod on the server node (LabConfig.pod). */
export interface PodSpec {
  ns: string;
  /** The pod's address (on its eth0), where the DNS server listens. */
  address: string;
  /** The node's side of the pod's veth (pod0): the pod's default gateway. */
  gateway: string;
  /** The pod subnet, which the other nodes route via the server's overlay address. */
  subnet: string;
  prefix: number;
  /** pod0 in the node's namespace, eth0 in the pod's. */
  macNode: string;
  macPod: string;
}

export interface Topology {
  config: LabConfig;
  switchNs: string;
  nodes: NodeSpec[];
  client: NodeSpec;
  server: NodeSpec;
  /** The DNS server's pod, or null when it runs in the server node's namespace. */
  pod: PodSpec | null;
  /** The address clients query: the pod's with a pod, else the server's overlay address. */
  dns: string;
  /** Prefix lengths. */
  underlayPrefix: number;
  overlayPrefix: number;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** Names and addresses of every part of lab c. Pure. */
export function topology(c: LabConfig): Topology {
  checkConfig(c);
  const v6u = c.underlay === 'ipv6';
  const v6o = c.overlay === 'ipv6';
  const nodes: NodeSpec[] = [];
  for (let i = 1; i <= c.nodes; i++) {
    nodes.push({
      index: i,
      ns: nodeNs(c.name, i),
      underlay: v6u ? `fd00:200::${i}` : `10.200.0.${i}`,
      second: v6u ? `fd00:201::${i}` : `10.201.0.${i}`,
      overlay: v6o ? `fd00:244::${i}` : `10.244.0.${i}`,
      macEth0: `02:00:0a:c8:00:${hex2(i)}`,
      macEth1: `02:00:0a:c9:00:${hex2(i)}`,
      macVxlan: `02:00:0a:f4:00:${hex2(i)}`,
      swEth0: `n${i}e0`,
      swEth1: `n${i}e1`,
    });
  }
  const server = nodes[nodes.length - 1];
  const pod = c.pod ? podSpec(c.name, v6o) : null;
  return {
    config: c,
    switchNs: switchNs(c.name),
    nodes,
    client: nodes[0],
    server,
    pod,
    dns: pod ? pod.address : server.overlay,
    underlayPrefix: v6u ? 64 : 24,
    overlayPrefix: v6o ? 64 : 24,
  };
}

/** The pod subnet is one flannel would give a node (10.244.100.0/24), outside the overlay's /24. */
function podSpec(name: string, v6: boolean): PodSpec {
  return {
    ns: podNs(name),
    address: v6 ? 'fd00:244:100::2' : '10.244.100.2',
    gateway: v6 ? 'fd00:244:100::1' : '10.244.100.1',
    subnet: v6 ? 'fd00:244:100::' : '10.244.100.0',
    prefix: v6 ? 64 : 24,
    macNode: '02:00:0a:f4:64:01',
    macPod: '02:00:0a:f4:64:02',
  };
}

export function nodeNs(name: string, i: number): string {
  return `${name}-node${i}`;
}

export function switchNs(name: string): string {
  return `${name}-sw`;
}

export function podNs(name: string): string {
  return `${name}-pod`;
}

/** True when namespace ns belongs to lab name. */
export function ownsNs(name: string, ns: string): boolean {
  checkName(name);
  const prefix = `${name}-node`;
  return ns === switchNs(name) || ns === podNs(name) || (ns.length === prefix.length + 1 && ns.startsWith(prefix) && ns[prefix.length] >= '1' && ns[prefix.length] <= '8');
}

/** The device carrying the underlay address on a node: eth0, or eth0.100 with a VLAN device. */
export function underlayDev(vlanDevice: boolean): string {
  return vlanDevice ? `eth0.${VLAN_ID}` : 'eth0';
}
