// Everything the doctor's checks read about the node, behind one interface: NodeInputs reads this
// node (this network namespace: run it with `ip netns exec` to look at another), FixtureInputs
// reads a directory laid out the same way, so that tests feed the checks files captured from
// machines (test/fixtures/node/README.md).
//
// Fixture directory layout (each file what the command prints, or the file itself):
//   ip-link.json              ip -details -json link show
//   ip-addr.json              ip -json addr show
//   sys/class/net/IF/device/driver   the sysfs symlink, for physical devices
//   ethtool-k/IF.txt          ethtool -k IF
//   ethtool-i/IF.txt          ethtool -i IF
//   bridge-fdb/IF.json        bridge -json fdb show dev IF
//   ip-route-get.json         {"ADDR": <ip -json route get ADDR>, "ADDR2": "the error ip printed"}
//   conntrack.txt             conntrack -L -o extended (-f ipv4 and -f ipv6, concatenated)
//   proc/..., etc/..., run/..., var/...   the files at those paths

import * as fs from 'fs';
import * as path from 'path';

import { ConntrackRead, CONNTRACK_LIMIT, parseConntrack, readConntrack } from '../node/conntrack';
import { DriverInfo, Features, parseDriverInfo, parseFeatures, readDriverInfo, readFeatures } from '../node/ethtool';
import { listInterfaces, NetInterface, NodeError, parseInterfaces, readDrivers } from '../node/interfaces';
import { FdbEntry, parseFdb, parseRouteGet, readFdb, routeGet, RouteResult } from '../node/routes';

export interface DoctorInputs {
  /** Links with kind, MTU, driver, addresses and VXLAN settings. Throws NodeError. */
  interfaces(): NetInterface[];
  /** ethtool -k. Throws NodeError (no such device, ethtool missing). */
  features(iface: string): Features;
  /** ethtool -i. Throws NodeError. */
  driverInfo(iface: string): DriverInfo;
  /** The FDB of a VXLAN device (its remote VTEPs). Throws NodeError. */
  fdb(dev: string): FdbEntry[];
  /** A route lookup per address; a failed lookup is an entry with its error, never a throw. */
  routes(addrs: readonly string[]): Map<string, RouteResult>;
  /** UDP conntrack entries to ports. Throws NodeError when conntrack cannot be read at all. */
  conntrack(ports: readonly number[]): ConntrackRead;
  /** A file of the node (/proc, /sys, /etc, /run, /var); null when it does not exist. */
  readFile(p: string): string | null;
  /** Where a symbolic link points; null when p is no link. */
  readLink(p: string): string | null;
  /** Names in a directory, sorted; [] when it does not exist. */
  listDir(p: string): string[];
}

export interface NodeInputsOptions {
  /**
   * Where the node's own / is mounted: for the agent in a pod, the node's /etc and /run through a
   * hostPath (e.g. /host). /proc and /sys are always read at their place: with hostNetwork they
   * are the node's network namespace already. Default '/'.
   */
  hostRoot?: string;
}

/** This node, through ip, ethtool, bridge, conntrack and its files. */
export class NodeInputs implements DoctorInputs {
  private readonly root: string;

  constructor(opts: NodeInputsOptions = {}) {
    this.root = opts.hostRoot ?? '/';
  }

  interfaces(): NetInterface[] {
    return listInterfaces();
  }

  features(iface: string): Features {
    return readFeatures(iface);
  }

  driverInfo(iface: string): DriverInfo {
    return readDriverInfo(iface);
  }

  fdb(dev: string): FdbEntry[] {
    return readFdb(dev);
  }

  routes(addrs: readonly string[]): Map<string, RouteResult> {
    return routeGet(addrs);
  }

  conntrack(ports: readonly number[]): ConntrackRead {
    return readConntrack(ports);
  }

  readFile(p: string): string | null {
    return readOrNull(this.at(p));
  }

  readLink(p: string): string | null {
    return linkOrNull(this.at(p));
  }

  listDir(p: string): string[] {
    return dirOrEmpty(this.at(p));
  }

  private at(p: string): string {
    if (p.startsWith('/proc/') || p.startsWith('/sys/')) return p;
    return path.join(this.root, p);
  }
}

/** A machine captured into a directory (layout above). */
export class FixtureInputs implements DoctorInputs {
  constructor(readonly dir: string) {}

  interfaces(): NetInterface[] {
    const link = this.need('ip-link.json');
    const addr = this.need('ip-addr.json');
    const names = parseInterfaces(link, addr).map((i) => i.name);
    return parseInterfaces(link, addr, readDrivers(names, path.join(this.dir, 'sys', 'class', 'net')));
  }

  features(iface: string): Features {
    return parseFeatures(this.need(path.join('ethtool-k', `${iface}.txt`)));
  }

  driverInfo(iface: string): DriverInfo {
    return parseDriverInfo(this.need(path.join('ethtool-i', `${iface}.txt`)));
  }

  fdb(dev: string): FdbEntry[] {
    return parseFdb(this.need(path.join('bridge-fdb', `${dev}.json`)));
  }

  routes(addrs: readonly string[]): Map<string, RouteResult> {
    const all = JSON.parse(this.need('ip-route-get.json')) as Record<string, unknown>;
    const out = new Map<string, RouteResult>();
    for (const a of addrs) {
      const v = all[a];
      // A lookup the fixture did not record is the fixture's fault, not a missing route.
      if (v === undefined) throw new NodeError(`fixture ${this.dir}: ip-route-get.json has no lookup for ${a}`);
      out.set(a, typeof v === 'string' ? { error: v } : { route: parseRouteGet(JSON.stringify(v)) });
    }
    return out;
  }

  conntrack(ports: readonly number[]): ConntrackRead {
    const want = new Set(ports);
    const entries = parseConntrack(this.need('conntrack.txt'), CONNTRACK_LIMIT + 1, (e) => e.proto === 'udp' && want.has(e.original.dport));
    return { entries: entries.slice(0, CONNTRACK_LIMIT), source: 'conntrack', truncated: entries.length > CONNTRACK_LIMIT };
  }

  readFile(p: string): string | null {
    return readOrNull(path.join(this.dir, p));
  }

  readLink(p: string): string | null {
    return linkOrNull(path.join(this.dir, p));
  }

  listDir(p: string): string[] {
    return dirOrEmpty(path.join(this.dir, p));
  }

  /** A file the fixture must have; its absence reads as the command failing on the node. */
  private need(rel: string): string {
    const text = readOrNull(path.join(this.dir, rel));
    if (text === null) throw new NodeError(`fixture ${path.basename(this.dir)}: no ${rel}`);
    return text;
  }
}

function readOrNull(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new NodeError(`reading ${p}: ${code ?? (err as Error).message}`);
  }
}

function linkOrNull(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

function dirOrEmpty(p: string): string[] {
  try {
    return fs.readdirSync(p).sort();
  } catch {
    return [];
  }
}
