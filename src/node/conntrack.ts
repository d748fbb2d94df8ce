// Connection tracking entries: the `conntrack` tool (conntrack-tools, ctnetlink) when installed,
// else /proc/net/nf_conntrack (kernels built with CONFIG_NF_CONNTRACK_PROCFS). Both print an
// entry the same way, the original direction's tuple first, then the reply's:
//
//   ipv4     2 udp      17 28 src=10.200.0.1 dst=10.200.0.2 sport=40056 dport=4789 [UNREPLIED]
//       src=10.200.0.2 dst=10.200.0.1 sport=4789 dport=47823 mark=0 zone=0 use=2
//
// (one line; `conntrack -L` without `-o extended` leaves out the leading "ipv4     2"). A reply
// tuple whose destination differs from the original source is source NAT: here MASQUERADE
// --random-fully moved the VXLAN packet's source port from 40056 to 47823.

import * as fs from 'fs';

import { runTool } from './run-tool';
import { NodeError } from './run-tool';

export interface Tuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

export interface ConntrackEntry {
  family: 'ipv4' | 'ipv6' | null;
  proto: string;
  original: Tuple;
  reply: Tuple;
  /** UNREPLIED, ASSURED, ... */
  flags: string[];
}

export interface ConntrackRead {
  entries: ConntrackEntry[];
  /** Where they came from: 'conntrack' or '/proc/net/nf_conntrack'. */
  source: string;
  /** More entries matched than were kept. */
  truncated: boolean;
}

/** Entries kept per read: enough to describe the NAT, bounded on a node with a huge table. */
export const CONNTRACK_LIMIT = 10_000;

/**
 * Parses conntrack entries (either format), at most limit of those keep accepts; lines without
 * two complete port tuples (ICMP, ...) are skipped.
 */
export function parseConntrack(text: string, limit = CONNTRACK_LIMIT, keep: (e: ConntrackEntry) => boolean = () => true): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    if (out.length >= limit) break;
    const e = parseLine(line);
    if (e && keep(e)) out.push(e);
  }
  return out;
}

function parseLine(line: string): ConntrackEntry | null {
  const words = line.trim().split(/\s+/);
  if (words.length < 4) return null;
  let i = 0;
  let family: ConntrackEntry['family'] = null;
  if (words[0] === 'ipv4' || words[0] === 'ipv6') {
    family = words[0];
    i = 2;
  }
  const proto = words[i];
  const tuples: Partial<Tuple>[] = [];
  const flags: string[] = [];
  for (const w of words.slice(i + 1)) {
    if (w.startsWith('[') && w.endsWith(']')) {
      flags.push(w.slice(1, -1));
      continue;
    }
    const eq = w.indexOf('=');
    if (eq < 0) continue;
    const k = w.slice(0, eq);
    const v = w.slice(eq + 1);
    if (k === 'src') tuples.push({ src: v });
    const t = tuples[tuples.length - 1];
    if (!t) continue;
    if (k === 'dst') t.dst = v;
    if (k === 'sport') t.sport = Number(v);
    if (k === 'dport') t.dport = Number(v);
  }
  if (tuples.length < 2 || !complete(tuples[0]) || !complete(tuples[1])) return null;
  return { family, proto, original: tuples[0], reply: tuples[1], flags };
}

function complete(t: Partial<Tuple>): t is Tuple {
  return typeof t.src === 'string' && typeof t.dst === 'string' && Number.isInteger(t.sport) && Number.isInteger(t.dport);
}

/** The source was translated: the reply goes back to another address or port than the one that sent. */
export function sourceTranslated(e: ConntrackEntry): boolean {
  return e.reply.dst !== e.original.src || e.reply.dport !== e.original.sport;
}

/**
 * UDP entries to any of ports (both address families) in this network namespace. Throws
 * NodeError when neither the tool nor the proc file can be read.
 */
export function readConntrack(ports: readonly number[], limit = CONNTRACK_LIMIT): ConntrackRead {
  const want = new Set(ports);
  const keep = (e: ConntrackEntry) => e.proto === 'udp' && want.has(e.original.dport);
  let toolError: string;
  try {
    const entries: ConntrackEntry[] = [];
    // Without -f the tool lists IPv4 only.
    for (const family of ['ipv4', 'ipv6']) {
      for (const port of want) {
        const r = runTool('conntrack', ['-L', '-f', family, '-p', 'udp', '--orig-port-dst', String(port), '-o', 'extended']);
        entries.push(...parseConntrack(r.stdout, limit + 1, keep));
      }
    }
    return { entries: entries.slice(0, limit), source: 'conntrack', truncated: entries.length > limit };
  } catch (err) {
    toolError = (err as Error).message;
  }
  let text: string;
  try {
    text = fs.readFileSync('/proc/net/nf_conntrack', 'utf8');
  } catch (err) {
    throw new NodeError(`reading conntrack entries: ${toolError}; and /proc/net/nf_conntrack: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const all = parseConntrack(text, limit + 1, keep);
  return { entries: all.slice(0, limit), source: '/proc/net/nf_conntrack', truncated: all.length > limit };
}
