// The node's network interfaces as the kernel reports them (`ip -details -json link` and
// `ip -json addr`, rtnetlink underneath): kind, MTU, driver, addresses, the device each is a port
// of, for every VXLAN device its VNI, UDP port, local address and the underlay device it is bound
// to, and for every Geneve device its VNI, port and remote. The agent picks what to capture from
// this; doctor checks it.

import * as fs from 'fs';
import * as path from 'path';

import type { RouteResult } from './routes';
import { NodeError, runTool } from './run-tool';

export { NodeError };

export interface VxlanInfo {
  vni: number;
  /** UDP destination port. */
  port: number;
  /** Local VTEP address (IPv4 or IPv6), or null when unset. */
  local: string | null;
  /** Remote or multicast group address, or null (FDB-driven, as flannel and Calico run it). */
  remote: string | null;
  /** Name of the device the VXLAN device is bound to (`dev`), or null. */
  link: string | null;
  /** Outer UDP checksum over IPv4 (udpcsum). */
  udpCsum: boolean;
  learning: boolean;
}

/**
 * A Geneve device (RFC 8926), as `ip -d -j link` prints its linkinfo data: `id`, `remote` or
 * `remote6`, `port`, and `external` for a collect-metadata device. The CNIs that use Geneve run
 * external devices, one per node, whose peers come with each packet's metadata: Open vSwitch
 * creates `genev_sys_PORT` for OVN-Kubernetes and Antrea, Cilium creates `cilium_geneve`. A
 * Geneve device is bound to no device: its packets leave by the route to each peer.
 */
export interface GeneveInfo {
  /** VNI; null for an external (collect-metadata) device, whose VNI comes per packet. */
  vni: number | null;
  /** UDP destination port. */
  port: number;
  /** The one remote of a point-to-point device, or null. */
  remote: string | null;
  /** A collect-metadata device (`external`). */
  external: boolean;
  /** Outer UDP checksum over IPv4 (udpcsum). */
  udpCsum: boolean;
}

/** IANA's Geneve port (RFC 8926 §3.3) and the kernel's default for a geneve device. */
export const GENEVE_PORT = 6081;

export interface IfAddress {
  family: 'inet' | 'inet6';
  address: string;
  prefix: number;
}

export type IfKind = 'physical' | 'vxlan' | 'veth' | 'bridge' | 'vlan' | 'loopback' | string;

export interface NetInterface {
  name: string;
  ifindex: number;
  /** 'physical' for a device on a bus, else the kernel's link kind (vxlan, veth, ...). */
  kind: IfKind;
  mtu: number;
  up: boolean;
  mac: string;
  /** Driver (virtio_net, vmxnet3, ...) for a physical device, else its kind. */
  driver: string;
  addresses: IfAddress[];
  /**
   * The device this one is a port of (a bridge, a bond, `ovs-system` for Open vSwitch), or null.
   * parseInterfaces always sets it and geneve; optional so that interfaces built by hand (tests,
   * benchmarks) need not.
   */
  master?: string | null;
  vxlan: VxlanInfo | null;
  geneve?: GeneveInfo | null;
}

interface IpLink {
  ifindex?: number;
  ifname?: string;
  flags?: string[];
  mtu?: number;
  address?: string;
  link_type?: string;
  parentbus?: string;
  operstate?: string;
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

interface IpAddr {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/**
 * Parses `ip -d -j link` and `ip -j addr` output. drivers maps an interface name to its
 * driver, for physical devices (from sysfs). Entries without a name or index are skipped.
 */
export function parseInterfaces(linkJson: string, addrJson: string, drivers: Record<string, string> = {}): NetInterface[] {
  const links = parseArray<IpLink>(linkJson, 'ip link');
  const addrs = parseArray<IpAddr>(addrJson, 'ip addr');
  const byName = new Map<string, IfAddress[]>();
  for (const a of addrs) {
    if (typeof a.ifname !== 'string') continue;
    const list: IfAddress[] = [];
    for (const i of a.addr_info ?? []) {
      if ((i.family === 'inet' || i.family === 'inet6') && typeof i.local === 'string' && typeof i.prefixlen === 'number') {
        list.push({ family: i.family, address: i.local, prefix: i.prefixlen });
      }
    }
    byName.set(a.ifname, list);
  }
  const out: NetInterface[] = [];
  for (const l of links) {
    if (typeof l.ifname !== 'string' || typeof l.ifindex !== 'number') continue;
    const infoKind = l.linkinfo?.info_kind;
    const kind: IfKind = l.link_type === 'loopback' ? 'loopback' : infoKind ?? (l.parentbus ? 'physical' : 'unknown');
    out.push({
      name: l.ifname,
      ifindex: l.ifindex,
      kind,
      mtu: l.mtu ?? 0,
      up: (l.flags ?? []).includes('UP'),
      mac: l.address ?? '',
      driver: drivers[l.ifname] ?? (kind === 'physical' ? 'unknown' : kind),
      addresses: byName.get(l.ifname) ?? [],
      master: typeof l.master === 'string' ? l.master : null,
      vxlan: infoKind === 'vxlan' ? vxlanInfo(l.linkinfo?.info_data ?? {}) : null,
      geneve: infoKind === 'geneve' ? geneveInfo(l.ifname, l.linkinfo?.info_data ?? {}) : null,
    });
  }
  return out;
}

function vxlanInfo(d: Record<string, unknown>): VxlanInfo {
  const str = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : null);
  return {
    vni: typeof d.id === 'number' ? d.id : 0,
    // The kernel's default when no dstport is given is the Linux-legacy 8472 (not IANA's 4789).
    port: typeof d.port === 'number' ? d.port : 8472,
    local: str('local') ?? str('local6'),
    remote: str('remote') ?? str('remote6') ?? str('group') ?? str('group6'),
    link: str('link'),
    udpCsum: d.udp_csum === true,
    learning: d.learning === true,
  };
}

function geneveInfo(name: string, d: Record<string, unknown>): GeneveInfo {
  const str = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : null);
  const external = d.external === true;
  // Older iproute2 printed nothing but `external` for a collect-metadata device; Open
  // vSwitch names its device after the port (genev_sys_6081), and the kernel's default is 6081.
  const named = /^genev_sys_(\d+)$/.exec(name);
  return {
    vni: external ? null : typeof d.id === 'number' ? d.id : 0,
    port: typeof d.port === 'number' ? d.port : named ? Number(named[1]) : GENEVE_PORT,
    remote: str('remote') ?? str('remote6'),
    external,
    udpCsum: d.udp_csum === true,
  };
}

function parseArray<T>(text: string, what: string): T[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new NodeError(`reading ${what} output: not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(v)) throw new NodeError(`reading ${what} output: not a list`);
  return v as T[];
}

/**
 * The interfaces of this network namespace, or of namespace ns (through `ip netns exec`, which
 * also shows that namespace's sysfs for the drivers).
 */
export function listInterfaces(opts: { ns?: string } = {}): NetInterface[] {
  const ip = (args: string[]) => {
    return (opts.ns ? runTool('ip', ['netns', 'exec', opts.ns, 'ip', ...args]) : runTool('ip', args)).stdout;
  };
  const links = ip(['-details', '-json', 'link', 'show']);
  const addrs = ip(['-json', 'addr', 'show']);
  const names = parseArray<IpLink>(links, 'ip link').map((l) => l.ifname).filter((n): n is string => typeof n === 'string');
  return parseInterfaces(links, addrs, opts.ns ? {} : readDrivers(names));
}

/** Driver names from /sys/class/net/NAME/device/driver, for devices on a bus. */
export function readDrivers(names: readonly string[], sysfs = '/sys/class/net'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    try {
      out[n] = path.basename(fs.readlinkSync(path.join(sysfs, n, 'device', 'driver')));
    } catch {
      // virtual device: no driver link
    }
  }
  return out;
}

/** The VXLAN devices among ifs. */
export function vxlanDevices(ifs: readonly NetInterface[]): NetInterface[] {
  return ifs.filter((i) => i.vxlan !== null);
}

/** The Geneve devices among ifs. */
export function geneveDevices(ifs: readonly NetInterface[]): NetInterface[] {
  return ifs.filter((i) => Boolean(i.geneve));
}

/**
 * The NICs (devices on a bus) that are ports of dev: of a Linux bridge, a bond or a team, those
 * whose master it is; of an Open vSwitch device (br-ex on OpenShift), the ports of `ovs-system`,
 * since `ip link` does not say which OVS bridge a port belongs to. [] when dev is none of these.
 */
export function nicPortsOf(dev: NetInterface, ifs: readonly NetInterface[]): NetInterface[] {
  const master = dev.kind === 'openvswitch' ? 'ovs-system' : ['bridge', 'bond', 'team'].includes(dev.kind) ? dev.name : null;
  return master === null ? [] : ifs.filter((i) => (i.master ?? null) === master && i.kind === 'physical');
}

/**
 * The underlay a VXLAN device uses: the device it is bound to, or failing that the device
 * holding its local address. null when neither is found.
 */
export function underlayOf(vx: NetInterface, ifs: readonly NetInterface[]): NetInterface | null {
  if (!vx.vxlan) return null;
  const bound = vx.vxlan.link ? ifs.find((i) => i.name === vx.vxlan!.link) : undefined;
  if (bound) return bound;
  const local = vx.vxlan.local;
  return local ? ifs.find((i) => i.addresses.some((a) => a.address === local)) ?? null : null;
}

/** A VTEP of this node as its peers see it: the address they send to, on a VXLAN or Geneve device and port. */
export interface VtepIdentity {
  iface: string;
  address: string;
  port: number;
  /** The underlay device, or '' when it cannot be told. */
  underlay: string;
}

/**
 * This node's VTEPs: per VXLAN device, its local address, or where it has none set (the kernel
 * then sources from the route to each peer) the global addresses of the underlay it is bound to.
 * A device with neither (a collect-metadata device, as Cilium's) names no address.
 */
export function vtepIdentities(ifs: readonly NetInterface[]): VtepIdentity[] {
  const out: VtepIdentity[] = [];
  for (const vx of vxlanDevices(ifs)) {
    const under = underlayOf(vx, ifs);
    const addresses = vx.vxlan!.local !== null
      ? [vx.vxlan!.local]
      : (under?.addresses ?? []).filter((a) => !(a.family === 'inet6' && /^fe80:/i.test(a.address))).map((a) => a.address);
    for (const address of addresses) out.push({ iface: vx.name, address, port: vx.vxlan!.port, underlay: under?.name ?? '' });
  }
  return out;
}

/**
 * Where a Geneve device's packets leave: the underlay device, and the source address its peers
 * see (the route's preferred source), as the route lookup found them.
 */
export interface GeneveUnderlay {
  device: NetInterface | null;
  source: string | null;
  /** Which route said so: `the route to ADDR`, or why none was found. */
  how: string;
}

/**
 * The underlay of each Geneve device. A Geneve device is bound to no device: its packets leave by
 * the route to each peer. So, as the doctor finds the NIC under it: the device the route to its
 * remote leaves by, else (an external device, whose peers come with each packet, as every CNI's
 * is) the one the default route leaves by, looked up as the route to `probe`. One batch of
 * lookups for every device; a lookup that cannot be made leaves them all without an underlay.
 */
export function geneveUnderlays(ifs: readonly NetInterface[], routes: (addrs: readonly string[]) => Map<string, RouteResult>, probe: string): Map<string, GeneveUnderlay> {
  const out = new Map<string, GeneveUnderlay>();
  const gvs = geneveDevices(ifs);
  if (gvs.length === 0) return out;
  const target = (gv: NetInterface) => gv.geneve!.remote ?? probe;
  let found: Map<string, RouteResult> | null = null;
  let error = '';
  try {
    found = routes([...new Set(gvs.map(target))]);
  } catch (err) {
    error = (err as Error).message;
  }
  for (const gv of gvs) {
    const to = target(gv);
    const r = found?.get(to);
    const how = to === probe ? 'the default route' : `the route to ${to}`;
    const device = r?.route?.dev ? ifs.find((i) => i.name === r.route!.dev) ?? null : null;
    out.set(gv.name, {
      device,
      source: r?.route?.prefsrc ?? null,
      how: device ? how : `no underlay: ${found ? `${how}: ${r?.error ?? (r?.route?.dev ? `device ${r.route.dev} not listed` : 'no device')}` : `route lookups failed: ${error}`}`,
    });
  }
  return out;
}

/**
 * This node's Geneve VTEPs: per Geneve device, the source address of the route its packets leave
 * by, or where the route names none the global addresses of its underlay.
 */
export function geneveIdentities(ifs: readonly NetInterface[], underlays: ReadonlyMap<string, GeneveUnderlay>): VtepIdentity[] {
  const out: VtepIdentity[] = [];
  for (const gv of geneveDevices(ifs)) {
    const u = underlays.get(gv.name);
    const under = u?.device ?? null;
    const addresses = u?.source
      ? [u.source]
      : (under?.addresses ?? []).filter((a) => !(a.family === 'inet6' && /^fe80:/i.test(a.address))).map((a) => a.address);
    for (const address of addresses) out.push({ iface: gv.name, address, port: gv.geneve!.port, underlay: under?.name ?? '' });
  }
  return out;
}
