// The lab's DNS side: dnsmasq standing in for CoreDNS on the server node, dig for single
// queries and dnsperf for load, all run inside the lab's namespaces.

import * as fs from 'fs';
import * as path from 'path';

import { ANSWER_A, ANSWER_AAAA, DNS_ZONE } from './config';
import { inNs, LabError, sleepMs } from './tools';

/**
 * Starts dnsmasq in ns on addr:53 as a daemon (it outlives this process; `lab down` stops it).
 * It answers every name under lab.test (A and AAAA) and cluster.local's kube-dns service name,
 * and nothing else: no upstream, no hosts file.
 */
export function startDnsmasq(ns: string, addr: string, runDir: string): void {
  const pidFile = path.join(runDir, 'dnsmasq.pid');
  const logFile = path.join(runDir, 'dnsmasq.log');
  inNs(ns, 'dnsmasq', [
    '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--no-poll', '--port=53',
    `--listen-address=${addr}`, '--bind-interfaces', `--pid-file=${pidFile}`,
    `--log-facility=${logFile}`, '--user=root', '--cache-size=0',
    `--address=/${DNS_ZONE}/${ANSWER_A}`, `--address=/${DNS_ZONE}/${ANSWER_AAAA}`,
    '--host-record=kube-dns.kube-system.svc.cluster.local,10.96.0.10',
  ]);
}

/** One dig query from ns; returns the answers (empty when none came back). */
export function dig(ns: string, server: string, name: string, type = 'A', timeoutS = 1): string[] {
  const r = inNs(ns, 'dig', [`@${server}`, '+short', '+tries=1', `+time=${timeoutS}`, '+nocookie', name, type], {
    allowFail: true, timeoutMs: (timeoutS + 5) * 1000,
  });
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith(';')) : [];
}

/** Polls until server answers name from ns, or throws after tries. */
export function waitForAnswer(ns: string, server: string, what: string, tries = 20): void {
  for (let i = 0; i < tries; i++) {
    if (dig(ns, server, `ready.${DNS_ZONE}`).includes(ANSWER_A)) return;
    sleepMs(250);
  }
  throw new LabError(`${what}: the DNS server at ${server} did not answer`);
}

export interface DnsperfOptions {
  /** Queries to send, each a distinct name (1 to 100000). */
  queries: number;
  /** Queries per second (default 2000). */
  qps?: number;
  /** Seconds before an unanswered query counts as lost (default 1). */
  timeoutS?: number;
  /** Name prefix, so that runs can be told apart in captures (default 'q'). */
  prefix?: string;
  qtype?: 'A' | 'AAAA';
  /** Over TCP (dnsperf -m tcp: one connection, queries pipelined on it); default UDP. */
  tcp?: boolean;
}

export interface DnsperfResult {
  sent: number;
  completed: number;
  lost: number;
  rcodes: Record<string, number>;
  /** The data file's names, in order. */
  names: string[];
}

/** Runs dnsperf once through a file of distinct names, from ns to server. Bounded in count and time. */
export function dnsperf(ns: string, server: string, workDir: string, o: DnsperfOptions): DnsperfResult {
  if (!Number.isInteger(o.queries) || o.queries < 1 || o.queries > 100_000) throw new LabError(`dnsperf: want 1 to 100000 queries, got ${o.queries}`);
  const qps = o.qps ?? 2000;
  const timeoutS = o.timeoutS ?? 1;
  const names: string[] = [];
  const prefix = o.prefix ?? 'q';
  for (let i = 0; i < o.queries; i++) names.push(`${prefix}${String(i).padStart(6, '0')}.${DNS_ZONE}`);
  fs.mkdirSync(workDir, { recursive: true });
  const file = path.join(workDir, `dnsperf-${process.pid}-${prefix}.txt`);
  fs.writeFileSync(file, names.map((n) => `${n} ${o.qtype ?? 'A'}\n`).join(''));
  try {
    // -n 1: through the file once; -c 1: one socket; -q: outstanding queries at most.
    const limitS = Math.ceil(o.queries / qps) + timeoutS + 10;
    const mode = o.tcp ? ['-m', 'tcp'] : [];
    const r = inNs(ns, 'dnsperf', ['-s', server, '-d', file, '-n', '1', '-c', '1', '-q', '200', '-t', String(timeoutS), '-Q', String(qps), '-l', String(limitS), ...mode], {
      timeoutMs: (limitS + 10) * 1000,
    });
    return { ...parseDnsperf(r.stdout), names };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Reads dnsperf's summary ("Queries sent:", "Queries completed:", "Queries lost:", "Response codes:"). */
export function parseDnsperf(out: string): Omit<DnsperfResult, 'names'> {
  const num = (label: string): number => {
    const m = new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm').exec(out);
    if (!m) throw new LabError(`reading dnsperf output: no '${label}' line`);
    return Number(m[1]);
  };
  const rcodes: Record<string, number> = {};
  const rc = /^[ \t]*Response codes:[ \t]*(.*)$/m.exec(out);
  if (rc) {
    for (const part of rc[1].split(',')) {
      const m = /([A-Z]+)\s+(\d+)/.exec(part);
      if (m) rcodes[m[1]] = Number(m[2]);
    }
  }
  return { sent: num('Queries sent'), completed: num('Queries completed'), lost: num('Queries lost'), rcodes };
}
