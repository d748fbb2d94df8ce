// Soak: the agent on the lab's DNS server node under steady DNS load for a long time while
// faults come and go in a cycle (the injector damaging 30% of the queries, then off; vxlan0
// deleted and re-created; eth0 down and up; dnsmasq killed and restarted). Every few seconds
// it samples the agent's RSS, V8 heap (from its metrics), open descriptors, threads, packet
// sockets and the BPF programs, maps and links it holds, and checks every counter series
// against the previous scrape. The verdict: RSS and descriptors flat over the second half
// (least-squares slope within the tolerances below), counters never went backwards, no
// internal error, the agent exits 0 on SIGTERM and leaves nothing behind.
//
//   node dist/test/reliability/soak.js --minutes 30          (root: the lab, the agent, BPF)
//
// test/reliability/soak.test.ts runs the same code for 3 minutes.

import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { DEFAULT_CONFIG, DNS_ZONE } from '../../src/lab/config';
import { Lab, labDown, labUp } from '../../src/lab/lab';
import { get, metric, packetSocketOwners, startAgent, stopAgent, waitReady } from '../support/agent';
import { parseSeries, regressions, Sample } from '../support/series';
import { memKiB } from '../support/proc';

/**
 * Flat: over the second half, the least-squares trend may add at most this much RSS (the GC's
 * sawtooth is some MiB; a leak of a capture ring per fault is 8 MiB a cycle). Only growth is a
 * leak: Node 24's V8 gives freed heap pages back to the system, and RSS falling 27 MiB within a
 * 3-minute soak (148 to 121 MiB, heap flat at 34 MiB) is not one ...
 */
export const RSS_GROWTH_KIB = 10 * 1024;
/** ... and at most this many descriptors (a leak of one per fault cycle is 3 a minute). */
export const FD_GROWTH = 2;

export interface SoakOptions {
  minutes: number;
  lab?: string;
  sampleS?: number;
  /** Seconds between two faults. */
  faultS?: number;
  qps?: number;
  log?: (line: string) => void;
}

export interface SoakSample {
  /** Seconds since the start. */
  t: number;
  rssKiB: number;
  heapBytes: number;
  fds: number;
  threads: number;
  packetSockets: number;
  bpf: { progs: number; maps: number; links: number };
  /** The fault begun since the previous sample, if any. */
  fault: string;
  queries: number;
}

export interface SoakResult {
  samples: SoakSample[];
  /** Packet sockets the agent should hold between faults: 2 on the kernel datapath, 4 on libpcap. */
  sockets: number;
  faults: number;
  rssSlopeKiBPerMin: number;
  fdSlopePerMin: number;
  regressions: string[];
  internalErrors: number;
  exitCode: number | null | string;
  ok: boolean;
  verdict: string[];
}

/** Least-squares slope of y over x (per unit of x). */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** BPF programs, maps and links among pid's descriptors (anon_inode:bpf-prog, bpf-map, bpf_link). */
function bpfHeld(pid: number): { progs: number; maps: number; links: number } {
  const out = { progs: 0, maps: 0, links: 0 };
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (target === 'anon_inode:bpf-prog') out.progs++;
    else if (target === 'anon_inode:bpf-map') out.maps++;
    else if (target === 'anon_inode:bpf_link') out.links++;
  }
  return out;
}

/** Packet sockets among pid's descriptors (ss -0 in its namespace, by owner). */
function packetSockets(ns: string, pid: number): number {
  return packetSocketOwners(ns, true).filter((owners) => owners.includes(pid)).length;
}

export async function soak(o: SoakOptions): Promise<SoakResult> {
  const name = o.lab ?? 'cswsoak';
  const log = o.log ?? (() => undefined);
  const sampleS = o.sampleS ?? 5;
  const faultS = o.faultS ?? 15;
  const ns = `${name}-node2`;
  const procs: ChildProcess[] = [];
  const lab: Lab = labUp({ ...DEFAULT_CONFIG, name });
  try {
    const dir = join(lab.dir, 'soak');
    fs.mkdirSync(dir, { recursive: true });
    const agent = startAgent(ns, join(dir, 'agent.log'), ['--listen', '127.0.0.1:9475', '--dns-timeout', '1', '--rescan-interval', '5'], procs);
    waitReady(ns, 'http://127.0.0.1:9475');
    const pid = agent.pid!;

    // Steady load for the whole run: dnsperf cycling through 1000 names.
    const names = join(dir, 'names.txt');
    fs.writeFileSync(names, Array.from({ length: 1000 }, (_, i) => `soak${String(i).padStart(4, '0')}.${DNS_ZONE} A\n`).join(''));
    const seconds = Math.ceil(o.minutes * 60) + 5;
    const perf = spawn('ip', ['netns', 'exec', lab.node(1).ns, 'dnsperf', '-s', lab.dnsAddress, '-d', names, '-c', '1', '-q', '100', '-t', '1', '-Q', String(o.qps ?? 200), '-l', String(seconds)], { stdio: 'ignore' });
    procs.push(perf);

    const inj = lab.injector(1);
    const inject = (p: number) => inj.configure({ mode: p > 0 ? 'inner-udp' : 'off', probability: p > 0 ? p : 1, vxlanPorts: [DEFAULT_CONFIG.port], innerPort: 53, direction: 'to' });
    const faults: Array<[string, () => Promise<void>]> = [
      ['injector on (30%)', async () => inject(0.3)],
      ['injector off', async () => inject(0)],
      ['vxlan0 re-created', async () => lab.recreateVxlan(2, 300)],
      ['eth0 down 1 s, up', async () => { lab.setLink(2, 'eth0', false); await sleep(1000); lab.setLink(2, 'eth0', true); }],
      ['dnsmasq killed 1 s, restarted', async () => { lab.killDns(); await sleep(1000); lab.startDns(); }],
    ];

    const t0 = Date.now();
    const end = t0 + o.minutes * 60_000;
    const samples: SoakSample[] = [];
    const bad: string[] = [];
    let prev: Map<string, Sample> | null = null;
    let nextFault = t0 + faultS * 1000;
    let applied = 0;
    let pending = '';
    let lastPage = '';
    while (Date.now() < end) {
      if (Date.now() >= nextFault) {
        const [what, f] = faults[applied % faults.length];
        await f();
        applied++;
        pending = pending ? `${pending}; ${what}` : what;
        nextFault += faultS * 1000;
      }
      const r = get(ns, 'http://127.0.0.1:9475/metrics');
      if (r.status !== 200) {
        bad.push(`scrape at ${Math.round((Date.now() - t0) / 1000)} s: status ${r.status}`);
      } else {
        lastPage = r.body;
        const cur = parseSeries(r.body);
        if (prev) bad.push(...regressions(prev, cur));
        prev = cur;
      }
      const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const s: SoakSample = {
        t: (Date.now() - t0) / 1000,
        rssKiB: memKiB(pid, 'VmRSS'),
        heapBytes: metric(lastPage, 'nodejs_heap_used_bytes'),
        fds: fs.readdirSync(`/proc/${pid}/fd`).length,
        threads: Number(/^Threads:\s+(\d+)/m.exec(st)?.[1] ?? NaN),
        packetSockets: packetSockets(ns, pid),
        bpf: bpfHeld(pid),
        fault: pending,
        queries: metric(lastPage, 'csumwatch_dns_queries_total'),
      };
      pending = '';
      samples.push(s);
      log(row(s));
      await sleep(Math.max(0, Math.min(sampleS * 1000, end - Date.now(), nextFault - Date.now())));
    }
    inject(0);
    const internalErrors = metric(lastPage, 'csumwatch_internal_errors_total');
    // One ring per interface on the kernel datapath; libpcap opens one capture per direction.
    const kernel = metric(lastPage, 'csumwatch_datapath', { mode: 'kernel' }) === 1;
    const sockets = kernel ? 2 : 4;
    const exitCode = await stopAgent(agent);
    perf.kill('SIGTERM');

    // Between faults only: a fault's sample catches captures being reopened.
    const half = samples.filter((s) => s.t >= (o.minutes * 60) / 2 && !s.fault);
    const halfMin = o.minutes / 2;
    const rssSlope = slope(half.map((s) => s.t / 60), half.map((s) => s.rssKiB));
    const fdSlope = slope(half.map((s) => s.t / 60), half.map((s) => s.fds));
    const last = samples[samples.length - 1];
    const verdict = [
      `RSS over the second half: ${rssSlope.toFixed(0)} KiB/min, ${((rssSlope * halfMin) / 1024).toFixed(1)} MiB in ${halfMin} min (flat: at most +${RSS_GROWTH_KIB / 1024} MiB)`,
      `descriptors over the second half: ${fdSlope.toFixed(2)}/min, ${(fdSlope * halfMin).toFixed(1)} in ${halfMin} min (flat: within ±${FD_GROWTH})`,
      `packet sockets between faults: ${[...new Set(samples.filter((s) => !s.fault).map((s) => s.packetSockets))].join(', ')} (${kernel ? 'kernel datapath: 2 interfaces × one ring = 2' : 'libpcap: 2 interfaces × 2 directions = 4'})`,
      `BPF programs/maps/links held at the end: ${last.bpf.progs}/${last.bpf.maps}/${last.bpf.links}`,
      `faults applied: ${applied}; queries counted: ${last.queries}`,
      `counter series that went backwards or vanished: ${bad.length}`,
      `internal errors: ${internalErrors}; exit after SIGTERM: ${exitCode}`,
    ];
    const ok = rssSlope * halfMin <= RSS_GROWTH_KIB && Math.abs(fdSlope * halfMin) <= FD_GROWTH && bad.length === 0 && internalErrors === 0 && exitCode === 0 &&
      samples.filter((s) => !s.fault).every((s) => s.packetSockets === sockets) && applied >= faults.length;
    return { samples, sockets, faults: applied, rssSlopeKiBPerMin: rssSlope, fdSlopePerMin: fdSlope, regressions: bad, internalErrors, exitCode, ok, verdict };
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    labDown(name);
  }
}

export const HEADER = '    t  RSS MiB  heap MiB  fds  threads  pcap  bpf p/m/l  queries  fault';

export function row(s: SoakSample): string {
  return `${String(Math.round(s.t)).padStart(5)}  ${(s.rssKiB / 1024).toFixed(1).padStart(7)}  ${(s.heapBytes / 2 ** 20).toFixed(1).padStart(8)}  ${String(s.fds).padStart(3)}  ${String(s.threads).padStart(7)}  ${String(s.packetSockets).padStart(4)}  ${`${s.bpf.progs}/${s.bpf.maps}/${s.bpf.links}`.padStart(9)}  ${String(s.queries).padStart(7)}  ${s.fault}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, lab: { type: 'string', default: 'cswsoak' } } });
  const minutes = Number(values.minutes);
  if (!(minutes > 0)) throw new Error('--minutes: a positive number');
  process.stdout.write(`soak: ${minutes} min, faults every 15 s in a cycle, samples every 5 s\n${HEADER}\n`);
  const res = await soak({ minutes, lab: values.lab, log: (l) => process.stdout.write(l + '\n') });
  // A summary for the README: one row per tenth of the run.
  const step = Math.max(1, Math.floor(res.samples.length / 10));
  process.stdout.write(`\nsummary\n${HEADER}\n`);
  for (let i = 0; i < res.samples.length; i += step) process.stdout.write(row(res.samples[i]) + '\n');
  process.stdout.write(`\nverdict: ${res.ok ? 'PASS' : 'FAIL'}\n${res.verdict.map((v) => '  ' + v).join('\n')}\n`);
  if (res.regressions.length > 0) process.stdout.write(`  regressions: ${res.regressions.slice(0, 20).join('; ')}\n`);
  process.exitCode = res.ok ? 0 : 1;
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`soak: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
