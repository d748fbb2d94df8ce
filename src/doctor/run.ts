// One diagnosis of the node: gathers each check's inputs through DoctorInputs, runs the checks
// (offload, binding, mtu, vxlan_port, resolv, ipv6, nat) and returns their findings with the
// interfaces and offload flags it saw. `csumwatch doctor` prints it; the agent calls runDoctor periodically for
// /diagnosis, csumwatch_finding, csumwatch_offload_enabled and csumwatch_interface_info.
//
// An input that cannot be read becomes a finding of the check that needed it (the other checks
// still run); only an unreadable interface list, without which nothing can be checked, throws.
//
// The tunnel devices are VXLAN devices and Geneve devices. A VXLAN device's underlay is the device
// it is bound to (or that holds its local address): the binding and MTU checks use that. For
// offload and the VXLAN port the NIC counts, so a tunnel with no bound device (every Geneve
// device, Cilium's) takes the device the route to its remote (or first peer) leaves by, else the
// one holding --node-ip, else the one the default route leaves by (looked up as the route to
// ROUTE_PROBE); and a bridge there (br-ex, the OVS bridge OpenShift puts the NIC in) stands for
// its one NIC port.

import { isIP } from 'net';

import { ConntrackRead } from '../node/conntrack';
import { DriverInfo, Features } from '../node/ethtool';
import { geneveDevices, NetInterface, nicPortsOf, NodeError, underlayOf, vxlanDevices } from '../node/interfaces';
import { KUBELET_CONFIG_PATHS, parseKubeletConfig } from '../node/kubelet';
import { DNSMASQ_CONF, DNSMASQ_DIR, isLoopback, parseDnsmasqServers, parseResolvConf, RESOLVED_STUBS, RESOLVED_UPSTREAM, ResolvConf } from '../node/resolv';
import { isMulticast, RouteResult, vtepPeers } from '../node/routes';
import { parseSnmp, parseSnmp6, snmpValue } from '../node/snmp';
import { checkBinding, MAX_PEERS } from './binding';
import { cniOf } from './cni';
import { bySeverity, Finding } from './finding';
import { DoctorInputs } from './inputs';
import { checkIpv6, IPV6_PROBE, Nameserver } from './ipv6';
import { checkMtu } from './mtu';
import { checkNat } from './nat';
import { checkOffload, CsumErrors, DeviceOffload, OFFLOAD_FEATURES } from './offload';
import { checkResolv, ResolvInput, Stub } from './resolv';
import { checkVxlanPort } from './vxlan-port';

/** Looked up to find the default route's device (RFC 5737 TEST-NET-1: no network routes it specifically). */
export const ROUTE_PROBE = '192.0.2.1';

/** Udp InCsumErrors (/proc/net/snmp) and Udp6 InCsumErrors (/proc/net/snmp6) at one moment. */
export interface CsumCounters {
  udp: number;
  udp6: number;
  /** Date.now() when read. */
  atMs: number;
}

export interface DoctorOptions {
  /** An earlier readCounters(): the offload check then knows whether checksum errors are rising. */
  previous?: CsumCounters | null;
  /** The cluster DNS service addresses, when the caller knows them (Kubernetes, --cluster-dns). */
  clusterDns?: readonly string[];
  /**
   * Cluster DNS addresses to use only when neither clusterDns nor a kubelet configuration gives
   * them, with where they came from (the agent's pod: its own resolv.conf).
   */
  clusterDnsFallback?: { addresses: readonly string[]; source: string } | null;
  /** The node's address as the cluster knows it (InternalIP), for the binding check. */
  nodeAddress?: string | null;
  /** A and AAAA answers the caller saw (the agent's DNS view), for the ipv6 check. */
  dnsAnswers?: { a: number; aaaa: number } | null;
  /** The clock, for tests. */
  now?: () => number;
}

export interface InterfaceReport {
  name: string;
  /** vxlan, physical, veth, ... (NetInterface.kind). */
  kind: string;
  driver: string;
  mtu: number;
  up: boolean;
  /** 'vxlan', 'geneve', or 'underlay' of the tunnel devices listed in underlayOf. */
  role: 'vxlan' | 'geneve' | 'underlay';
  /** For a VXLAN device: its settings and underlay (the bound device, else the device holding its local address). */
  vxlan: { vni: number; port: number; local: string | null; link: string | null; underlay: string | null } | null;
  /** For a Geneve device: its settings and the NIC its packets leave by. vni null: external. */
  geneve: { vni: number | null; port: number; remote: string | null; external: boolean; underlay: string | null } | null;
  /** For an underlay: the tunnel devices on it. */
  underlayOf: string[];
}

export interface OffloadFlag {
  iface: string;
  feature: string;
  enabled: boolean;
  fixed: boolean;
}

export interface DoctorReport {
  /** Most severe first. */
  findings: Finding[];
  /** The VXLAN and Geneve devices and their underlays. */
  interfaces: InterfaceReport[];
  /** OFFLOAD_FEATURES of those interfaces, as far as each device has them. */
  offload: OffloadFlag[];
  /** This run's reading, to pass as `previous` to the next; null when unreadable. */
  counters: CsumCounters | null;
}

/** Reads the checksum error counters now. Throws NodeError when /proc/net/snmp is unreadable. */
export function readCounters(inputs: DoctorInputs, now: () => number = Date.now): CsumCounters {
  const snmp = inputs.readFile('/proc/net/snmp');
  if (snmp === null) throw new NodeError('reading /proc/net/snmp: not found');
  const snmp6 = inputs.readFile('/proc/net/snmp6');
  return {
    udp: snmpValue(parseSnmp(snmp), 'Udp', 'InCsumErrors'),
    udp6: snmp6 === null ? 0 : snmpValue(parseSnmp6(snmp6), 'Udp6', 'InCsumErrors'),
    atMs: now(),
  };
}

/** True when the report holds a critical finding (`csumwatch doctor` then exits 1). */
export function hasCritical(r: DoctorReport): boolean {
  return r.findings.some((f) => f.severity === 'critical');
}

export function runDoctor(inputs: DoctorInputs, opts: DoctorOptions = {}): DoctorReport {
  const now = opts.now ?? Date.now;
  const findings: Finding[] = [];
  const ifs = inputs.interfaces();
  const vxs = vxlanDevices(ifs);
  const gvs = geneveDevices(ifs);

  // Devices: every tunnel device and its underlay, each read once.
  const devices = new Map<string, DeviceRead>();
  const device = (i: NetInterface): DeviceRead => {
    let d = devices.get(i.name);
    if (d) return d;
    let features: Features | null = null;
    let error: string | undefined;
    try {
      features = inputs.features(i.name);
    } catch (err) {
      error = (err as Error).message;
    }
    let info: DriverInfo | null = null;
    try {
      info = inputs.driverInfo(i.name);
    } catch {
      // the driver from sysfs (NetInterface.driver) stands in
    }
    d = { iface: i, features, error, driver: info?.driver ?? i.driver };
    devices.set(i.name, d);
    return d;
  };
  const pairs = vxs.map((vx) => ({ vx, ul: underlayOf(vx, ifs) }));
  for (const p of pairs) {
    device(p.vx);
    if (p.ul) device(p.ul);
  }

  // Checksum errors, now and since the previous reading.
  let counters: CsumCounters | null = null;
  let countersError: string | null = null;
  try {
    counters = readCounters(inputs, now);
  } catch (err) {
    countersError = (err as Error).message;
  }
  const prev = opts.previous ?? null;
  const errors: CsumErrors = {
    total: counters ? counters.udp + counters.udp6 : null,
    rise: counters && prev ? Math.max(0, counters.udp + counters.udp6 - (prev.udp + prev.udp6)) : null,
    seconds: counters && prev ? (counters.atMs - prev.atMs) / 1000 : null,
  };
  if (countersError !== null && vxs.length + gvs.length > 0) {
    findings.push({ check: 'offload', severity: 'info', evidence: `checksum error counters unreadable: ${countersError}`, remediation: 'run where /proc/net/snmp of the node\'s network namespace can be read' });
  }

  // Peers of each VXLAN device, for the binding check.
  const peersOf = new Map<string, { peers: string[]; total: number; error?: string }>();
  for (const { vx } of pairs) {
    try {
      const peers = vtepPeers(inputs.fdb(vx.name));
      // A point-to-point device names its one peer as `remote` (a multicast group is no peer).
      const remote = vx.vxlan?.remote;
      if (remote && isIP(remote) !== 0 && !isMulticast(remote) && !peers.includes(remote)) peers.push(remote);
      peersOf.set(vx.name, { peers: peers.slice(0, MAX_PEERS), total: peers.length });
    } catch (err) {
      peersOf.set(vx.name, { peers: [], total: 0, error: (err as Error).message });
    }
  }

  // Resolver configuration, for the resolv and ipv6 checks.
  const resolv = gatherResolv(inputs, opts.clusterDns ?? [], opts.clusterDnsFallback ?? null);
  const nameservers: Nameserver[] = [];
  for (const a of resolv.etc.conf?.nameservers ?? []) nameservers.push({ address: a, from: resolv.etc.path });
  for (const a of resolv.stub?.upstreams ?? []) nameservers.push({ address: a, from: resolv.stub!.path });

  // One batch of route lookups for everything.
  const lookups = new Set<string>();
  for (const p of peersOf.values()) for (const a of p.peers) lookups.add(a);
  for (const n of nameservers) if (!n.address.includes('%')) lookups.add(n.address);
  lookups.add(IPV6_PROBE);
  // Where each tunnel without a bound underlay sends from.
  const nodeIface = opts.nodeAddress ? ifs.find((i) => i.addresses.some((a) => a.address === opts.nodeAddress)) ?? null : null;
  const routeTarget = new Map<string, string>();
  for (const t of [...vxs, ...gvs]) {
    if (t.vxlan && underlayOf(t, ifs)) continue;
    const remote = t.vxlan?.remote ?? t.geneve?.remote ?? null;
    const target = remote && isIP(remote) !== 0 && !isMulticast(remote) ? remote : peersOf.get(t.name)?.peers[0] ?? (nodeIface ? null : ROUTE_PROBE);
    if (target !== null) {
      routeTarget.set(t.name, target);
      lookups.add(target);
    }
  }
  // A failed lookup is an answer ("no route"); a lookup that could not be made at all is not,
  // and must not read as one: the route-dependent parts are then skipped, and that is said.
  let routes: Map<string, RouteResult> | null = null;
  try {
    routes = inputs.routes([...lookups]);
  } catch (err) {
    findings.push({
      check: 'binding',
      severity: 'warning',
      evidence: `route lookups failed: ${(err as Error).message}: the routes to peer VTEPs and nameservers were not checked`,
      remediation: 'csumwatch looks routes up with `ip -json -batch -` (iproute2); run `ip route get PEER` by hand',
    });
  }

  // The NIC each tunnel's packets leave by, for the offload and VXLAN port checks.
  const nicOf = new Map<string, TunnelNic>();
  for (const t of [...vxs, ...gvs]) {
    const bound = t.vxlan ? underlayOf(t, ifs) : null;
    // dev: the device found; how: a clause on how, with {} for dev's name.
    let dev: NetInterface | null = bound;
    let how: string | undefined;
    let missing: string | undefined;
    if (!bound) {
      const target = routeTarget.get(t.name);
      const r = target !== undefined ? routes?.get(target) : undefined;
      dev = r?.route ? ifs.find((i) => i.name === r.route!.dev) ?? null : null;
      if (dev) how = `${target === ROUTE_PROBE ? 'the default route' : `the route to ${target}`} leaves by {}`;
      else if (target === undefined && nodeIface) [dev, how] = [nodeIface, `{} holds the node's address ${opts.nodeAddress}`];
      else missing = target === undefined ? 'no remote, no route looked up' : !routes ? 'route lookups failed' : `no route to ${target}: ${r?.error ?? r?.route?.type ?? 'not looked up'}`;
    }
    const ports = dev ? nicPortsOf(dev, ifs) : [];
    let nic: TunnelNic;
    if (dev && ports.length === 1) nic = { iface: ports[0], note: `port of ${dev.name}${how ? `, and ${how.replace('{}', dev.name)}` : ''}` };
    else nic = { iface: dev, note: how?.replace('{}', 'it'), missing };
    if (nic.iface) device(nic.iface);
    nicOf.set(t.name, nic);
  }
  const asOffload = (x: DeviceRead): DeviceOffload => ({ name: x.iface.name, driver: x.driver, features: x.features, error: x.error });
  const offloadOf = (t: NetInterface, encap: 'VXLAN' | 'Geneve', port: number) => {
    const nic = nicOf.get(t.name)!;
    const u = nic.iface ? devices.get(nic.iface.name)! : null;
    const cni = cniOf(t, ifs);
    return checkOffload({
      vxlan: asOffload(device(t)), port, underlay: u ? asOffload(u) : null, errors, encap, cni,
      underlayNote: nic.note, underlayMissing: nic.missing, mitigation: mitigationOf(u, cni, ifs, device),
    });
  };

  for (const { vx, ul } of pairs) {
    findings.push(...offloadOf(vx, 'VXLAN', vx.vxlan!.port));
    const nic = nicOf.get(vx.name)!.iface;
    findings.push(...checkVxlanPort({ vxlan: vx, underlay: nic ? { name: nic.name, driver: devices.get(nic.name)!.driver, mac: nic.mac } : null, cni: cniOf(vx, ifs) }));
    const p = peersOf.get(vx.name)!;
    if (p.error !== undefined) {
      findings.push({ check: 'binding', severity: 'warning', evidence: `${vx.name}: could not read its peer VTEPs: ${p.error}`, remediation: 'csumwatch reads them with `bridge -json fdb show dev DEV` (iproute2)' });
    }
    findings.push(...checkBinding({ vxlan: vx, interfaces: ifs, peers: routes ? p.peers : [], peersTotal: p.total, routes: routes ?? new Map(), nodeAddress: opts.nodeAddress ?? null }));
    findings.push(...checkMtu({ vxlan: vx, underlay: ul }));
  }
  for (const gv of gvs) findings.push(...offloadOf(gv, 'Geneve', gv.geneve!.port));
  if (vxs.length === 0 && gvs.length === 0) {
    findings.push({
      check: 'offload',
      severity: 'info',
      evidence: 'no VXLAN or Geneve device in this network namespace: the offload, binding, MTU, VXLAN port and NAT checks had nothing to check',
      remediation: 'run csumwatch doctor in the node\'s network namespace (hostNetwork in a pod); with a CNI that uses neither VXLAN nor Geneve there is nothing to fix here',
    });
  }

  findings.push(...checkResolv(resolv));
  if (routes) findings.push(...checkIpv6({ nameservers, routes, interfaces: ifs, answers: opts.dnsAnswers ?? null }));

  const natDevices = pairs.map(({ vx }) => {
    const f = devices.get(vx.name)!.features;
    return { name: vx.name, port: vx.vxlan!.port, offloadOn: f ? f['tx-checksum-ip-generic']?.on === true : null };
  });
  if (natDevices.length > 0) {
    let ct: ConntrackRead | null = null;
    let error: string | undefined;
    try {
      ct = inputs.conntrack([...new Set(natDevices.map((d) => d.port))]);
    } catch (err) {
      error = (err as Error).message;
    }
    findings.push(...checkNat({ devices: natDevices, conntrack: ct, error }));
  }

  const tunnels = [...pairs, ...gvs.map((gv) => ({ vx: gv, ul: nicOf.get(gv.name)!.iface }))];
  return { findings: bySeverity(findings), interfaces: interfaceReports(tunnels, devices), offload: offloadFlags(devices), counters };
}

interface DeviceRead {
  iface: NetInterface;
  features: Features | null;
  error?: string;
  driver: string;
}

/** The NIC a tunnel's packets leave by, how it was found (a clause), or why none was. */
interface TunnelNic {
  iface: NetInterface | null;
  note: string | undefined;
  missing?: string;
}

const CSUM_FEATURES = ['tx-checksum-ip-generic', 'tx-checksum-ipv4', 'tx-checksum-ipv6'];

/**
 * What completes a tunnel's inner checksums before the NIC, when its offload is on: the NIC's
 * own transmit checksum offload off (OpenShift's vSphere fix), or Antrea's disableTXChecksumOffload
 * (seen on antrea-gw0, which Antrea turns off with the Pods' interfaces since antrea#6843). null: nothing.
 */
function mitigationOf(nic: DeviceRead | null, cni: string | null, ifs: readonly NetInterface[], device: (i: NetInterface) => DeviceRead): string | null {
  const f = nic?.features;
  if (f && CSUM_FEATURES.some((n) => f[n]) && CSUM_FEATURES.every((n) => f[n]?.on !== true)) {
    return `${nic!.iface.name} has transmit checksum offload off (${CSUM_FEATURES.filter((n) => f[n]).join(', ')}), so the kernel completes every checksum before it`;
  }
  const gw = cni === 'antrea' ? ifs.find((i) => i.name === 'antrea-gw0') : undefined;
  const g = gw ? device(gw).features : null;
  if (g && g['tx-checksum-ip-generic']?.on === false) {
    return 'antrea-gw0 has tx-checksum-ip-generic off: Antrea\'s disableTXChecksumOffload is in effect, and the Pods\' interfaces compute their checksums themselves';
  }
  return null;
}

function interfaceReports(pairs: Array<{ vx: NetInterface; ul: NetInterface | null }>, devices: Map<string, { iface: NetInterface; driver: string }>): InterfaceReport[] {
  const out = new Map<string, InterfaceReport>();
  const base = (i: NetInterface, role: InterfaceReport['role']): InterfaceReport => ({
    name: i.name, kind: i.kind, driver: devices.get(i.name)?.driver ?? i.driver, mtu: i.mtu, up: i.up, role, vxlan: null, geneve: null, underlayOf: [],
  });
  for (const { vx, ul } of pairs) {
    if (vx.vxlan) {
      const r = base(vx, 'vxlan');
      const v = vx.vxlan;
      r.vxlan = { vni: v.vni, port: v.port, local: v.local, link: v.link, underlay: ul?.name ?? null };
      out.set(vx.name, r);
    } else if (vx.geneve) {
      const r = base(vx, 'geneve');
      const g = vx.geneve;
      r.geneve = { vni: g.vni, port: g.port, remote: g.remote, external: g.external, underlay: ul?.name ?? null };
      out.set(vx.name, r);
    }
  }
  for (const { vx, ul } of pairs) {
    const known = ul ? out.get(ul.name) : undefined;
    if (!ul || (known && known.role !== 'underlay')) continue;
    const r = known ?? base(ul, 'underlay');
    r.underlayOf.push(vx.name);
    out.set(ul.name, r);
  }
  return [...out.values()];
}

function offloadFlags(devices: Map<string, { iface: NetInterface; features: Features | null }>): OffloadFlag[] {
  const out: OffloadFlag[] = [];
  for (const d of devices.values()) {
    if (!d.features) continue;
    for (const f of OFFLOAD_FEATURES) {
      const x = d.features[f];
      if (x) out.push({ iface: d.iface.name, feature: f, enabled: x.on, fixed: x.fixed });
    }
  }
  return out;
}

/** /etc/resolv.conf, the stub it may point at, the cluster DNS addresses and the kubelet's resolvConf. */
function gatherResolv(inputs: DoctorInputs, given: readonly string[], fallback: DoctorOptions['clusterDnsFallback']): ResolvInput {
  const etcPath = '/etc/resolv.conf';
  const etcText = inputs.readFile(etcPath);
  const conf = etcText === null ? null : parseResolvConf(etcText);
  const readConf = (p: string): ResolvConf | null => {
    const t = inputs.readFile(p);
    return t === null ? null : parseResolvConf(t);
  };

  let stub: Stub | null = null;
  const loop = conf?.nameservers.find(isLoopback);
  if (loop !== undefined) {
    if (RESOLVED_STUBS.includes(loop)) {
      stub = { kind: 'systemd-resolved', address: loop, path: RESOLVED_UPSTREAM, upstreams: readConf(RESOLVED_UPSTREAM)?.nameservers ?? null };
    } else {
      const files = [DNSMASQ_CONF, ...inputs.listDir(DNSMASQ_DIR).filter((n) => !n.startsWith('.')).map((n) => `${DNSMASQ_DIR}/${n}`)];
      const texts = files.map((f) => inputs.readFile(f)).filter((t): t is string => t !== null);
      stub = { kind: 'dnsmasq', address: loop, path: files.join(', '), upstreams: texts.length === 0 ? null : texts.flatMap(parseDnsmasqServers) };
    }
  }

  let kubelet: ResolvInput['kubelet'] = null;
  let clusterDns = { addresses: [...given], source: 'given by the caller' };
  for (const p of KUBELET_CONFIG_PATHS) {
    const t = inputs.readFile(p);
    const k = t === null ? null : parseKubeletConfig(t);
    if (!k) continue;
    // resolvConf defaults to /etc/resolv.conf (KubeletConfiguration).
    const rc = k.resolvConf ?? etcPath;
    kubelet = { path: p, resolvConf: rc, nameservers: rc === '' ? [] : readConf(rc)?.nameservers ?? null };
    if (clusterDns.addresses.length === 0 && k.clusterDNS.length > 0) clusterDns = { addresses: k.clusterDNS, source: `clusterDNS in ${p}` };
    break;
  }
  if (clusterDns.addresses.length === 0 && fallback && fallback.addresses.length > 0) {
    clusterDns = { addresses: [...fallback.addresses], source: fallback.source };
  }
  if (clusterDns.addresses.length === 0) {
    clusterDns.source = `not given, and no kubelet configuration with clusterDNS at ${KUBELET_CONFIG_PATHS.join(' or ')}`;
  }
  return { etc: { path: etcPath, link: inputs.readLink(etcPath), conf }, stub, clusterDns, kubelet };
}
