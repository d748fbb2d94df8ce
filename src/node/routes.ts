// Where the kernel would send a packet (`ip -json route get ADDR`: device, source address,
// gateway, route type) and the VTEPs a VXLAN device sends to (`bridge -json fdb show dev DEV`),
// both rtnetlink underneath.
//
//   $ ip -j route get 10.200.0.2
//   [{"dst":"10.200.0.2","dev":"eth0","prefsrc":"10.200.0.1","flags":[],"uid":0,"cache":[]}]
//   $ bridge -j fdb show dev vxlan0
//   [{"mac":"02:00:0a:f4:00:02","dst":"10.200.0.2","flags":["self"],"state":"permanent"}]

import { isIP } from 'net';

import { runTool } from './run-tool';
import { NodeError } from './run-tool';

export interface Route {
  dst: string;
  /** unicast, local, broadcast, ...: `type` is printed only when it is not unicast. */
  type: string;
  dev: string | null;
  prefsrc: string | null;
  gateway: string | null;
}

/** A route, or why there is none ("RTNETLINK answers: Network is unreachable"). */
export type RouteResult = { route: Route; error?: undefined } | { route?: undefined; error: string };

export interface FdbEntry {
  mac: string;
  /** The remote VTEP (VXLAN), or null for a bridge port's entry. */
  dst: string | null;
  /** Present when listing every device (`bridge fdb show`), absent with `dev DEV`. */
  ifname: string | null;
  state: string;
}

interface IpRoute {
  dst?: string;
  type?: string;
  dev?: string;
  prefsrc?: string;
  gateway?: string;
}

/** Parses one `ip -j route get` answer (a one-element list). Throws NodeError when it is not one. */
export function parseRouteGet(json: string): Route {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (err) {
    throw new NodeError(`reading ip route get output: not JSON: ${(err as Error).message}`);
  }
  const r = Array.isArray(v) ? (v[0] as IpRoute | undefined) : undefined;
  if (!r || typeof r.dst !== 'string') throw new NodeError('reading ip route get output: no route in it');
  return {
    dst: r.dst,
    type: r.type ?? 'unicast',
    dev: r.dev ?? null,
    prefsrc: r.prefsrc ?? null,
    gateway: r.gateway ?? null,
  };
}

/**
 * Route lookups for every address in one `ip -json -force -batch -` (one process however many
 * peers). With -force, ip goes on after a failed lookup, prints nothing for it on stdout and
 * "Command failed -:N" on stderr, so answers are matched to lines by that. Only literal IP
 * addresses are passed: a batch line is an ip command, and an address read from a file must not
 * become one.
 */
export function routeGet(addrs: readonly string[]): Map<string, RouteResult> {
  const out = new Map<string, RouteResult>();
  const asked: string[] = [];
  for (const a of addrs) {
    if (out.has(a)) continue;
    if (isIP(a) === 0) {
      out.set(a, { error: 'not an IP address' });
      continue;
    }
    out.set(a, { error: 'no answer' });
    asked.push(a);
  }
  if (asked.length === 0) return out;
  const r = runTool('ip', ['-json', '-force', '-batch', '-'], { input: asked.map((a) => `route get ${a}\n`).join(''), allowFail: true });
  const failed = new Map<number, string>();
  const errLines = r.stderr.split('\n');
  for (let i = 0; i < errLines.length; i++) {
    const m = /^Command failed -:(\d+)$/.exec(errLines[i].trim());
    if (m) failed.set(Number(m[1]), (i > 0 ? errLines[i - 1].trim() : '') || 'lookup failed');
  }
  const answers = r.stdout.split('\n').filter((l) => l.trim() !== '');
  let next = 0;
  for (let line = 1; line <= asked.length; line++) {
    const addr = asked[line - 1];
    const why = failed.get(line);
    if (why !== undefined) {
      out.set(addr, { error: why });
      continue;
    }
    if (next >= answers.length) {
      out.set(addr, { error: r.status !== 0 ? `ip exited ${r.status}` : 'no answer' });
      continue;
    }
    try {
      out.set(addr, { route: parseRouteGet(answers[next++]) });
    } catch (err) {
      out.set(addr, { error: (err as Error).message });
    }
  }
  return out;
}

/** Parses `bridge -j fdb show [dev DEV]`. Throws NodeError when it is not a JSON list. */
export function parseFdb(json: string): FdbEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (err) {
    throw new NodeError(`reading bridge fdb output: not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(v)) throw new NodeError('reading bridge fdb output: not a list');
  const out: FdbEntry[] = [];
  for (const e of v as Record<string, unknown>[]) {
    if (typeof e?.mac !== 'string') continue;
    out.push({
      mac: e.mac,
      dst: typeof e.dst === 'string' ? e.dst : null,
      ifname: typeof e.ifname === 'string' ? e.ifname : null,
      state: typeof e.state === 'string' ? e.state : '',
    });
  }
  return out;
}

/** The FDB entries of device dev in this network namespace. */
export function readFdb(dev: string): FdbEntry[] {
  if (!/^[^\s/-][^\s/]{0,14}$/.test(dev)) throw new NodeError(`reading bridge fdb: not an interface name: '${dev}'`);
  return parseFdb(runTool('bridge', ['-json', 'fdb', 'show', 'dev', dev]).stdout || '[]');
}

/** The unicast remote VTEPs among a VXLAN device's FDB entries, each once, in order. */
export function vtepPeers(entries: readonly FdbEntry[]): string[] {
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.dst === null || isIP(e.dst) === 0 || isMulticast(e.dst)) continue;
    seen.add(e.dst);
  }
  return [...seen];
}

/** True for an IPv4 (224/4) or IPv6 (ff00::/8) multicast address. */
export function isMulticast(addr: string): boolean {
  if (isIP(addr) === 6) return /^ff/i.test(addr);
  const first = Number(addr.split('.')[0]);
  return first >= 224 && first <= 239;
}
