// Building and removing a lab (see config.ts for what it is made of).
//
// `up` first removes whatever a lab of the same name left behind, then records its settings in
// /run/csumwatch-lab/NAME/state.json before it creates anything. `down` needs no record: it
// finds the lab by its namespace names and its bpffs directory, stops every process inside its
// namespaces and deletes them, which deletes every link, qdisc, filter and iptables rule in
// them. So `down` works after a crash halfway through `up`, and twice in a row.

import * as fs from 'fs';
import * as path from 'path';

import { checkName, DEFAULT_CONFIG, LabConfig, NodeSpec, ownsNs, PodSpec, Topology, topology, underlayDev, VLAN_ID } from './config';
import { dnsperf, DnsperfOptions, DnsperfResult, startDnsmasq, waitForAnswer } from './dns';
import { BpfError } from '../bpf/binding';
import { BpfObject } from '../bpf/object';
import * as VlanTag from '../bpf/generated/vlan-tag';
import { inNs, LabError, requireRoot, requireTools, run, sleepMs } from './tools';
import { bpfObject, ensureBpffs, Injector, pinDir } from './inject';
import { parseSnmp, parseSnmp6, Snmp } from '../node/snmp';

export const RUN_ROOT = '/run/csumwatch-lab';

export type VlanMode = 'none' | 'device' | 'tc-bpf';

export interface LabState {
  config: LabConfig;
  phase: 'building' | 'up';
  /** How the VLAN underlay was made: a kernel VLAN device, or tc tagging (no 802.1Q driver). */
  vlanMode: VlanMode;
  created: string;
}

export type Log = (line: string) => void;
const quiet: Log = () => undefined;

export function runDir(name: string): string {
  checkName(name);
  return path.join(RUN_ROOT, name);
}

/** A lab that is up. */
export class Lab {
  readonly topo: Topology;

  constructor(readonly state: LabState) {
    this.topo = topology(state.config);
  }

  get name(): string {
    return this.state.config.name;
  }

  get config(): LabConfig {
    return this.state.config;
  }

  get dir(): string {
    return runDir(this.name);
  }

  node(i: number): NodeSpec {
    const n = this.topo.nodes[i - 1];
    if (!n) throw new LabError(`lab ${this.name}: no node ${i} (it has ${this.topo.nodes.length})`);
    return n;
  }

  /** The injector on node i's underlay egress. */
  injector(i: number): Injector {
    return new Injector(this.name, this.node(i).ns, i, 'eth0');
  }

  /** The address clients query: the DNS pod's, or the server node's overlay address. */
  get dnsAddress(): string {
    return this.topo.dns;
  }

  /** The DNS server's pod namespace, or null when the lab has no pod. */
  get podNs(): string | null {
    return this.topo.pod?.ns ?? null;
  }

  /** Node i's kernel counters in one: /proc/net/snmp (Ip, Udp, ...), /proc/net/netstat (TcpExt,
   * IpExt) and /proc/net/snmp6 (Ip6, Udp6, ...). */
  snmp(i: number): Snmp {
    return snmpIn(this.node(i).ns);
  }

  /** The DNS pod's kernel counters, as snmp(i) reads a node's: where its bad queries are dropped. */
  podSnmp(): Snmp {
    return snmpIn(this.pod().ns);
  }

  /** The packets a device of node i has received and sent (its own counters, ip -s link). */
  linkPackets(i: number, dev: string): { rx: number; tx: number } {
    const j = JSON.parse(inNs(this.node(i).ns, 'ip', ['-j', '-s', 'link', 'show', 'dev', dev]).stdout) as { stats64: { rx: { packets: number }; tx: { packets: number } } }[];
    return { rx: j[0].stats64.rx.packets, tx: j[0].stats64.tx.packets };
  }

  /** dnsperf from node `from` (default the client) to the DNS server. */
  dnsperf(o: DnsperfOptions, from = 1): DnsperfResult {
    return dnsperf(this.node(from).ns, this.topo.dns, this.dir, o);
  }

  /** Transmit checksum offload features of a device on node i ("on"/"off" by feature name). */
  offload(i: number, dev: string): Record<string, string> {
    return offloadIn(this.node(i).ns, dev);
  }

  /** Transmit checksum offload features of a device in the DNS pod (its eth0 by default). */
  podOffload(dev = 'eth0'): Record<string, string> {
    return offloadIn(this.pod().ns, dev);
  }

  private pod(): PodSpec {
    if (!this.topo.pod) throw new LabError(`lab ${this.name}: has no DNS pod (lab up --pod)`);
    return this.topo.pod;
  }

  /** Sets a device feature on node i, e.g. setFeature(1, 'vxlan0', 'tx-checksum-ip-generic', false). */
  setFeature(i: number, dev: string, feature: string, on: boolean): void {
    inNs(this.node(i).ns, 'ethtool', ['-K', dev, feature, on ? 'on' : 'off']);
  }

  /**
   * Deletes node i's VXLAN device and makes it again as `lab up` did (a CNI restarting): the new
   * device has a new ifindex.
   */
  recreateVxlan(i: number, pauseMs = 0): void {
    const n = this.node(i);
    run('ip', ['-n', n.ns, 'link', 'del', 'vxlan0']);
    if (pauseMs > 0) sleepMs(pauseMs);
    buildVxlan(this.topo, n, this.state.vlanMode);
  }

  /**
   * Takes a device of node i down or up, as an operator or a flapping NIC does. Down flushes
   * the kernel's neighbours on the device, static ones too, and the routes through it; up puts
   * back what `lab up` made there (static neighbours, the DNS pod's route), as a CNI does when
   * its device comes back. The VXLAN FDB survives: it belongs to the device, not to its state.
   */
  setLink(i: number, dev: 'eth0' | 'eth1' | 'vxlan0', up: boolean): void {
    const n = this.node(i);
    const t = this.topo;
    run('ip', ['-n', n.ns, 'link', 'set', dev, up ? 'up' : 'down']);
    if (up) staticOn(t, n, dev, underlayDev(this.state.vlanMode === 'device'));
  }

  /** The DNS server's pid (dnsmasq's pid file), or null when it does not run. */
  dnsPid(): number | null {
    try {
      const pid = Number(fs.readFileSync(path.join(this.dir, 'dnsmasq.pid'), 'utf8').trim());
      if (!(pid > 0)) return null;
      process.kill(pid, 0);
      return pid;
    } catch {
      return null;
    }
  }

  /** Kills the DNS server (SIGKILL: a crash, not a shutdown) and waits until it is gone. */
  killDns(): void {
    const pid = this.dnsPid();
    if (pid === null) return;
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && this.dnsPid() === pid; i++) sleepMs(20);
    if (this.dnsPid() === pid) throw new LabError(`lab ${this.name}: dnsmasq (pid ${pid}) did not die`);
  }

  /** Starts the DNS server again as `lab up` did, and waits until it answers. */
  startDns(): void {
    const t = this.topo;
    const dnsNs = t.pod?.ns ?? t.server.ns;
    startDnsmasq(dnsNs, t.dns, this.dir);
    waitForAnswer(dnsNs, t.dns, `lab ${this.name}: dnsmasq on ${dnsNs}`);
  }

  /** Reads the state of lab name, or throws when it is not up. */
  static open(name: string): Lab {
    const st = readState(name);
    // The commands to suggest, for this lab: `--name` only where it is not the default.
    const named = name === DEFAULT_CONFIG.name ? '' : ` --name ${name}`;
    if (!st) throw new LabError(`lab ${name}: not up (run \`csumwatch lab up${named}\`)`);
    if (st.phase !== 'up') throw new LabError(`lab ${name}: left half-built by an earlier run (run \`csumwatch lab down${named}\`)`);
    if (!nsExists(topology(st.config).client.ns)) throw new LabError(`lab ${name}: its namespaces are gone (run \`csumwatch lab down${named}\`, then \`csumwatch lab up${named}\`)`);
    return new Lab(st);
  }
}

/** Kernel counters of namespace ns: /proc/net/snmp, /proc/net/netstat and /proc/net/snmp6. */
function snmpIn(ns: string): Snmp {
  const cat = (f: string) => inNs(ns, 'cat', [f]).stdout;
  return { ...parseSnmp(cat('/proc/net/snmp')), ...parseSnmp(cat('/proc/net/netstat')), ...parseSnmp6(cat('/proc/net/snmp6')) };
}

function offloadIn(ns: string, dev: string): Record<string, string> {
  const out = inNs(ns, 'ethtool', ['-k', dev]).stdout;
  const f: Record<string, string> = {};
  for (const m of out.matchAll(/^\s*(tx-checksum[\w-]*|tx-checksumming):\s+(on|off)/gm)) f[m[1]] = m[2];
  return f;
}

export function readState(name: string): LabState | null {
  try {
    const st = JSON.parse(fs.readFileSync(path.join(runDir(name), 'state.json'), 'utf8')) as LabState;
    st.config = { ...DEFAULT_CONFIG, ...st.config };
    return st;
  } catch {
    return null;
  }
}

function writeState(st: LabState): void {
  const dir = runDir(st.config.name);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, 'state.json.tmp');
  fs.writeFileSync(tmp, JSON.stringify(st, null, 2) + '\n');
  fs.renameSync(tmp, path.join(dir, 'state.json'));
}

/** Names of all network namespaces on this host. */
export function listNs(): string[] {
  const out = run('ip', ['netns', 'list']).stdout;
  return out.split('\n').map((l) => l.split(' ')[0]).filter((n) => n !== '');
}

function nsExists(ns: string): boolean {
  return fs.existsSync(path.join('/run/netns', ns));
}

/** Builds lab c; replaces a lab of the same name. */
export function labUp(c: LabConfig, log: Log = quiet): Lab {
  requireRoot('lab up');
  const t = topology(c); // checks c before anything is touched
  // BPF goes through src/bpf (the addon): no tc or bpftool.
  requireTools(['ip', 'bridge', 'ethtool', 'nsenter', 'dnsmasq', 'dig', ...(c.nat ? ['iptables'] : [])]);
  bpfObject('inject');
  if (c.vlan) bpfObject('vlan-tag');
  if (labDown(c.name).length > 0) log(`lab ${c.name}: replaced the lab that was up`);

  const st: LabState = { config: c, phase: 'building', vlanMode: 'none', created: new Date().toISOString() };
  writeState(st);
  try {
    build(st, t, log);
  } catch (err) {
    // Leave nothing half-built behind; a process killed here is what `lab down` is for.
    labDown(c.name);
    throw err;
  }
  st.phase = 'up';
  writeState(st);
  log(`lab ${c.name}: up: ${describe(t, st.vlanMode)}`);
  return new Lab(st);
}

function build(st: LabState, t: Topology, log: Log): void {
  const c = st.config;
  ensureBpffs();
  const sw = t.switchNs;

  for (const ns of [sw, ...t.nodes.map((n) => n.ns), ...(t.pod ? [t.pod.ns] : [])]) {
    run('ip', ['netns', 'add', ns]);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // IPv6 only where a device asks for it: no router or neighbour solicitations, no MLD
    // reports in the captures.
    inNs(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    // Strict reverse-path filtering, as many distributions set it: a packet whose source
    // address belongs to another network than the one it came in on is dropped (a vxlan device
    // bound to the wrong interface sends with that interface's address).
    inNs(ns, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.default.rp_filter=1']);
    // No forwarding unless the node routes a pod (below): a new namespace inherits IPv4
    // forwarding from the host's (net.core.devconf_inherit_init_net 0), and a host that runs
    // containers has it on; a node that forwarded would route what the lab means it to drop.
    inNs(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']);
  }
  // The node routes its pod's traffic: forwarding for the overlay's family, set before any device
  // exists. IPv6 forwarding joins every device to the all-routers group: set after the devices,
  // it left MLD reports dropped (IPV6DISABLED, on the devices without IPv6) for up to 2 s after
  // `lab up`, stray drops in a drop tracer's way; set first, there are none (perf, skb:kfree_skb),
  // and a device reports its groups only when v6On turns IPv6 on, with the repeats made short.
  if (t.pod) inNs(t.server.ns, 'sysctl', ['-q', '-w', c.overlay === 'ipv6' ? 'net.ipv6.conf.all.forwarding=1' : 'net.ipv4.ip_forward=1']);
  for (const br of ['br0', 'br1']) {
    run('ip', ['-n', sw, 'link', 'add', br, 'type', 'bridge']);
    run('ip', ['-n', sw, 'link', 'set', br, 'up']);
  }

  for (const n of t.nodes) {
    run('ip', ['link', 'add', 'eth0', 'netns', n.ns, 'address', n.macEth0, 'type', 'veth', 'peer', 'name', n.swEth0, 'netns', sw]);
    run('ip', ['link', 'add', 'eth1', 'netns', n.ns, 'address', n.macEth1, 'type', 'veth', 'peer', 'name', n.swEth1, 'netns', sw]);
    run('ip', ['-n', sw, 'link', 'set', n.swEth0, 'master', 'br0', 'up']);
    run('ip', ['-n', sw, 'link', 'set', n.swEth1, 'master', 'br1', 'up']);
  }

  if (c.vlan) {
    const probe = run('ip', ['-n', t.client.ns, 'link', 'add', 'link', 'eth0', 'name', `eth0.${VLAN_ID}`, 'type', 'vlan', 'id', String(VLAN_ID)], { allowFail: true });
    st.vlanMode = probe.status === 0 ? 'device' : 'tc-bpf';
    if (probe.status === 0) run('ip', ['-n', t.client.ns, 'link', 'del', `eth0.${VLAN_ID}`]);
    log(`lab ${c.name}: VLAN ${VLAN_ID} underlay by ${st.vlanMode === 'device' ? 'VLAN devices' : 'tc (this kernel has no 802.1Q driver)'}`);
  }

  for (const n of t.nodes) buildNode(t, n, st.vlanMode);
  if (t.pod) buildPod(t, t.pod);
  for (const n of t.nodes) {
    new Injector(c.name, n.ns, n.index, 'eth0').attach(c.port);
  }
  if (c.nat) {
    const ns = t.client.ns;
    inNs(ns, 'iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(c.port), '-j', 'MASQUERADE', '--random-fully']);
    inNs(ns, 'ethtool', ['-K', 'vxlan0', 'tx', 'on']);
    inNs(ns, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
  }

  const dir = runDir(c.name);
  const dnsNs = t.pod ? t.pod.ns : t.server.ns;
  startDnsmasq(dnsNs, t.dns, dir);
  waitForAnswer(dnsNs, t.dns, `lab ${c.name}: dnsmasq on ${dnsNs}`);
  if (t.pod) waitForAnswer(t.server.ns, t.dns, `lab ${c.name}: from ${t.server.ns} to its pod`);
  if (c.bind === 'eth0' && !c.nat) {
    for (const n of t.nodes.slice(0, -1)) waitForAnswer(n.ns, t.dns, `lab ${c.name}: through the tunnel from ${n.ns}`);
  }
}

/**
 * The VLAN tagger (bpf/vlan-tag.bpf.c) on dev's egress and ingress in namespace ns, pref 2 and
 * handle 2 (after the injector on egress), through the BPF layer. The tc filters hold the
 * program once the object is closed.
 */
function attachVlanTagger(ns: string, dev: string): void {
  try {
    const obj = BpfObject.load(bpfObject('vlan-tag'));
    try {
      for (const direction of ['egress', 'ingress'] as const) {
        obj.tcAttach(VlanTag.programs.csw_vlan_tag, { netns: ns, dev, direction, priority: 2, handle: 2 });
      }
    } finally {
      obj.close();
    }
  } catch (err) {
    if (!(err instanceof BpfError)) throw err;
    throw new LabError(`attaching the VLAN tagger in ${ns}: ${err.message}`);
  }
}

/** One node: addresses, VXLAN device, offload settings, static neighbours and FDB. */
function buildNode(t: Topology, n: NodeSpec, vlanMode: VlanMode): void {
  const c = t.config;
  const ns = n.ns;
  const v6u = c.underlay === 'ipv6';
  const ud = underlayDev(vlanMode === 'device');
  const ip = (...a: string[]) => run('ip', ['-n', ns, ...a]);
  if (vlanMode === 'device') ip('link', 'add', 'link', 'eth0', 'name', ud, 'type', 'vlan', 'id', String(VLAN_ID));
  if (vlanMode === 'tc-bpf') attachVlanTagger(ns, 'eth0');
  if (v6u) {
    v6On(ns, ud);
    v6On(ns, 'eth1');
  }
  ip('addr', 'add', `${n.underlay}/${t.underlayPrefix}`, 'dev', ud, ...(v6u ? ['nodad'] : []));
  ip('addr', 'add', `${n.second}/${t.underlayPrefix}`, 'dev', 'eth1', ...(v6u ? ['nodad'] : []));

  if (!c.offload) {
    const devs = ['eth0', 'eth1', ...(vlanMode === 'device' ? [ud] : [])];
    for (const d of devs) inNs(ns, 'ethtool', ['-K', d, 'tx', 'off']);
  }
  for (const d of ['eth0', 'eth1', ...(vlanMode === 'device' ? [ud] : [])]) ip('link', 'set', d, 'up');
  staticOn(t, n, ud, ud);
  staticOn(t, n, 'eth1', ud);
  buildVxlan(t, n, vlanMode);
}

/**
 * Node n's static neighbours on dev (ud: its underlay device) and, on vxlan0, the route to the
 * DNS pod's subnet: what `lab up` puts there, and what taking the device down flushes.
 */
function staticOn(t: Topology, n: NodeSpec, dev: string, ud: string): void {
  const ip = (...a: string[]) => run('ip', ['-n', n.ns, ...a]);
  for (const p of t.nodes) {
    if (p === n) continue;
    if (dev === ud) ip('neigh', 'replace', p.underlay, 'lladdr', p.macEth0, 'dev', ud, 'nud', 'permanent');
    if (dev === 'eth1') ip('neigh', 'replace', p.second, 'lladdr', p.macEth1, 'dev', 'eth1', 'nud', 'permanent');
    if (dev === 'vxlan0') ip('neigh', 'replace', p.overlay, 'lladdr', p.macVxlan, 'dev', 'vxlan0', 'nud', 'permanent');
  }
  // The DNS pod's subnet lies outside the overlay's, as a flannel or Calico node's block does:
  // every other node routes it via the server's overlay address, a neighbour on vxlan0 above.
  // With the device, so that recreateVxlan and setLink bring it back. Strict reverse-path
  // filtering holds: each node's route back to a source leaves by the device the packet came in on.
  if (dev === 'vxlan0' && t.pod && n !== t.server) ip('route', 'replace', `${t.pod.subnet}/${t.pod.prefix}`, 'via', t.server.overlay, 'dev', 'vxlan0');
}

/** Node n's VXLAN device with its address, offload setting, static neighbours and FDB. */
function buildVxlan(t: Topology, n: NodeSpec, vlanMode: VlanMode): void {
  const c = t.config;
  const ns = n.ns;
  const v6u = c.underlay === 'ipv6';
  const ud = underlayDev(vlanMode === 'device');
  const ip = (...a: string[]) => run('ip', ['-n', ns, ...a]);
  const wrong = n === t.client && c.bind === 'eth1';
  const csum = v6u ? (c.udpcsum ? ['udpcsum'] : ['noudpcsum', 'udp6zerocsumtx', 'udp6zerocsumrx']) : [c.udpcsum ? 'udpcsum' : 'noudpcsum'];
  ip('link', 'add', 'vxlan0', 'address', n.macVxlan, 'type', 'vxlan', 'id', String(c.vni), 'dstport', String(c.port),
    'local', wrong ? n.second : n.underlay, 'dev', wrong ? 'eth1' : ud, 'nolearning', ...csum);
  if (c.overlay === 'ipv6') v6On(ns, 'vxlan0');
  ip('addr', 'add', `${n.overlay}/${t.overlayPrefix}`, 'dev', 'vxlan0', ...(c.overlay === 'ipv6' ? ['nodad'] : []));
  if (!c.offload) inNs(ns, 'ethtool', ['-K', 'vxlan0', 'tx', 'off']);
  ip('link', 'set', 'vxlan0', 'up');
  for (const p of t.nodes) {
    if (p !== n) run('bridge', ['-n', ns, 'fdb', 'append', p.macVxlan, 'dev', 'vxlan0', 'dst', p.underlay, 'self', 'permanent']);
  }
  staticOn(t, n, 'vxlan0', ud);
}

/**
 * The DNS pod on the server node, wired as a CNI wires one: a veth pair (pod0 on the node, eth0
 * in the pod) and the pod's default route via pod0; build turns forwarding on in the node and
 * buildVxlan gives every other node its route to the pod subnet. A query is decapsulated
 * on the node's vxlan0 and forwarded, not delivered: the forwarding path leaves the inner UDP
 * checksum to the pod's kernel, which verifies it (and counts a bad one) in its own namespace.
 */
function buildPod(t: Topology, pod: PodSpec): void {
  const c = t.config;
  const v6 = c.overlay === 'ipv6';
  const node = t.server.ns;
  const nodad = v6 ? ['nodad'] : [];
  run('ip', ['link', 'add', 'pod0', 'netns', node, 'address', pod.macNode, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.ns, 'address', pod.macPod]);
  if (v6) {
    v6On(node, 'pod0');
    v6On(pod.ns, 'eth0');
  }
  run('ip', ['-n', node, 'addr', 'add', `${pod.gateway}/${pod.prefix}`, 'dev', 'pod0', ...nodad]);
  run('ip', ['-n', pod.ns, 'addr', 'add', `${pod.address}/${pod.prefix}`, 'dev', 'eth0', ...nodad]);
  if (!c.offload) {
    inNs(node, 'ethtool', ['-K', 'pod0', 'tx', 'off']);
    inNs(pod.ns, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
  }
  run('ip', ['-n', node, 'link', 'set', 'pod0', 'up']);
  run('ip', ['-n', pod.ns, 'link', 'set', 'eth0', 'up']);
  // Static neighbours both ways, as on the other devices: no ARP or ND in the captures.
  run('ip', ['-n', node, 'neigh', 'replace', pod.address, 'lladdr', pod.macPod, 'dev', 'pod0', 'nud', 'permanent']);
  run('ip', ['-n', pod.ns, 'neigh', 'replace', pod.gateway, 'lladdr', pod.macNode, 'dev', 'eth0', 'nud', 'permanent']);
  run('ip', ['-n', pod.ns, 'route', 'add', 'default', 'via', pod.gateway, 'dev', 'eth0']);
}

/**
 * IPv6 on a device without a link-local address (addrgenmode none), so it sends no
 * solicitations of its own; neighbours are static. Joining the solicited-node group still sends
 * MLD reports: their unsolicited repeats are made 1 ms apart so they are over at once.
 */
function v6On(ns: string, dev: string): void {
  // Local delivery to the node's own IPv6 addresses goes through lo.
  inNs(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.lo.disable_ipv6=0']);
  run('ip', ['-n', ns, 'link', 'set', 'dev', dev, 'addrgenmode', 'none']);
  // Slashes, not dots: a VLAN device's name (eth0.100) has a dot of its own.
  inNs(ns, 'sysctl', ['-q', '-w', `net/ipv6/conf/${dev}/mldv1_unsolicited_report_interval=1`,
    `net/ipv6/conf/${dev}/mldv2_unsolicited_report_interval=1`, `net/ipv6/conf/${dev}/disable_ipv6=0`]);
}

function describe(t: Topology, vlanMode: VlanMode): string {
  const c = t.config;
  const parts = [
    `${c.nodes} nodes`, `VXLAN ${c.port} VNI ${c.vni}`, `${c.underlay} underlay`, `${c.overlay} overlay`,
    c.udpcsum ? 'outer UDP checksums' : 'no outer UDP checksums', `tx offload ${c.offload ? 'on' : 'off'}`,
  ];
  if (vlanMode !== 'none') parts.push(`VLAN ${VLAN_ID} (${vlanMode})`);
  if (c.bind !== 'eth0') parts.push(`node1 vxlan0 bound to ${c.bind}`);
  if (c.nat) parts.push('node1 NATs the VXLAN port (--random-fully) with vxlan0 offload on');
  parts.push(t.pod ? `DNS ${t.dns} in pod ${t.pod.ns} on ${t.server.ns}` : `DNS ${t.dns} on ${t.server.ns}`);
  return parts.join(', ');
}

/**
 * Removes lab name: stops every process in its namespaces, deletes them, its pinned BPF
 * objects and its run directory. Returns what it removed (empty: there was nothing).
 */
export function labDown(name: string, log: Log = quiet): string[] {
  checkName(name);
  requireRoot('lab down');
  const removed: string[] = [];
  const namespaces = listNs().filter((ns) => ownsNs(name, ns));
  // Processes first: a namespace with a process still in it outlives `ip netns del`.
  const pids: number[] = [];
  for (const ns of namespaces) {
    const out = run('ip', ['netns', 'pids', ns], { allowFail: true }).stdout;
    for (const p of out.split('\n')) if (/^\d+$/.test(p.trim())) pids.push(Number(p.trim()));
  }
  killAll(pids);
  if (pids.length > 0) removed.push(`${pids.length} process${pids.length === 1 ? '' : 'es'}`);
  const failed: string[] = [];
  for (const ns of namespaces) {
    const r = run('ip', ['netns', 'del', ns], { allowFail: true });
    if (r.status === 0) removed.push(`namespace ${ns}`);
    else failed.push(`${ns}: ${r.stderr.trim().split('\n')[0]}`);
  }
  const pins = pinDir(name);
  if (fs.existsSync(pins)) {
    fs.rmSync(pins, { recursive: true, force: true });
    removed.push(`pinned BPF objects ${pins}`);
  }
  const dir = runDir(name);
  if (fs.existsSync(dir)) {
    fs.rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  // The parents too, once no lab is left in them.
  for (const parent of [path.dirname(pins), RUN_ROOT]) {
    try {
      fs.rmdirSync(parent);
    } catch {
      // not empty, or not there
    }
  }
  if (removed.length > 0) log(`lab ${name}: removed ${removed.join(', ')}`);
  if (failed.length > 0) throw new LabError(`lab ${name}: could not delete namespaces: ${failed.join('; ')}`);
  return removed;
}

function killAll(pids: number[]): void {
  const signal = (p: number, s: NodeJS.Signals | 0) => {
    try {
      process.kill(p, s);
      return true;
    } catch {
      return false;
    }
  };
  let left = pids.filter((p) => signal(p, 'SIGTERM'));
  for (let i = 0; i < 30 && left.length > 0; i++) {
    sleepMs(100);
    left = left.filter((p) => signal(p, 0));
  }
  for (const p of left) signal(p, 'SIGKILL');
}

/** Labs on this host: by run directory and by namespace name. */
export function listLabs(): string[] {
  const names = new Set<string>();
  try {
    for (const d of fs.readdirSync(RUN_ROOT)) names.add(d);
  } catch {
    // none
  }
  for (const ns of listNs()) {
    const m = /^([a-z][a-z0-9]{0,7})-(node[1-8]|sw|pod)$/.exec(ns);
    if (m) names.add(m[1]);
  }
  return [...names].sort();
}
