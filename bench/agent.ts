// npm run bench (second part): the live agent (`csumwatch agent`) against tcpdump, in one run, on
// the same interface of the built-in lab, at increasing DNS rates; medians, ratio, drops, CPU, RSS.
//
// A lab `cswbench` (two nodes, VXLAN 4789, no fault injected) carries dnsperf's queries from node1
// to dnsmasq on node2's overlay address. On node2 the agent captures eth0 (the underlay, VXLAN
// both ways) and vxlan0 (the inner DNS), as it would on a real node. For every step tcpdump
// captures eth0 with the agent's own filter; the agent's count for eth0 is the growth of
// csumwatch_packets_total{iface="eth0"} (both directions) across the step, read from /metrics
// inside node2. Agent CPU is utime+stime of its process (/proc/PID/stat, all threads); RSS is the
// highest VmRSS sampled every 200 ms by a worker thread (dnsperf blocks this thread).
//
// usage: node dist/bench/agent.js [--runs N] [--rates 2000,5000,10000,20000,max] [--json]
// Needs root (namespaces). Traffic stays inside the lab's namespaces.

import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { DEFAULT_CONFIG } from '../src/lab/config';
import { run } from '../src/lab/tools';
import { Lab, labDown, labUp } from '../src/lab/lab';
import { cpuSeconds, programOf } from '../test/support/proc';

const ROOT = join(__dirname, '..', '..');
const LAB = 'cswbench';
const NS = `${LAB}-node2`;
const LISTEN = '127.0.0.1:9475';
const IFACE = 'eth0';
const FILTER = 'udp port 53 or udp dst port 4789 or udp dst port 8472';
/** dnsperf's -Q for the unthrottled step: far above what the lab can carry. */
const MAX_QPS = 1_000_000;
const MAX_QUERIES = 60_000;

// ---------------------------------------------------------------------------------------------
// Processes in the namespace

/** Runs cmd inside node2's namespace; returns stdout, or null when it exits nonzero. */
function inNode2(cmd: string, args: string[], timeoutMs = 10_000): string | null {
  const r = run('ip', ['netns', 'exec', NS, cmd, ...args], { allowFail: true, timeoutMs });
  return r.status === 0 ? r.stdout : null;
}

interface Exit { code: number | null; signal: NodeJS.Signals | null; }

/** Resolves when p exits, or with null after ms. */
function exited(p: ChildProcess, ms: number): Promise<Exit | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve({ code: p.exitCode, signal: p.signalCode });
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    p.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal });
    });
  });
}

/** Starts cmd in node2 with stdout and stderr going to file (a pipe would fill while dnsperf blocks us). */
function startInNode2(cmd: string, args: string[], file: string): ChildProcess {
  const fd = openSync(file, 'w');
  try {
    const p = spawn('ip', ['netns', 'exec', NS, cmd, ...args], { stdio: ['ignore', fd, fd] });
    p.on('error', () => undefined); // seen through exited()
    return p;
  } finally {
    closeSync(fd);
  }
}

/** Checks that pid is a `name` process in node2's network namespace (`ip netns exec` execs, so it should be). */
function checkPid(pid: number, name: string): void {
  const prog = programOf(pid);
  const inNs = statSync(`/proc/${pid}/ns/net`).ino === statSync(`/run/netns/${NS}`).ino;
  if (prog !== name || !inNs) throw new Error(`checking pid ${pid}: want ${name} in ${NS}, got ${prog}${inNs ? '' : ' outside it'}`);
}

// ---------------------------------------------------------------------------------------------
// Agent process: CPU, RSS, metrics

// The sampler runs in a worker: [0] stop flag, [1] highest VmRSS in KiB since the last reset.
const SAMPLER = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const a = new Int32Array(workerData.sab);
const end = Date.now() + workerData.maxMs;
while (Atomics.load(a, 0) === 0 && Date.now() < end) {
  try {
    const m = /^VmRSS:\\s+(\\d+)/m.exec(fs.readFileSync('/proc/' + workerData.pid + '/status', 'utf8'));
    if (m && Number(m[1]) > Atomics.load(a, 1)) Atomics.store(a, 1, Number(m[1]));
  } catch { break; }
  Atomics.wait(a, 0, 0, 200);
}
`;

class RssSampler {
  private readonly a = new Int32Array(new SharedArrayBuffer(8));
  private readonly w: Worker;

  constructor(pid: number, maxMs: number) {
    this.w = new Worker(SAMPLER, { eval: true, workerData: { sab: this.a.buffer, pid, maxMs } });
    this.w.unref();
  }

  reset(): void {
    Atomics.store(this.a, 1, 0);
  }

  maxKiB(): number {
    return Atomics.load(this.a, 1);
  }

  async stop(): Promise<void> {
    Atomics.store(this.a, 0, 1);
    Atomics.notify(this.a, 0);
    await this.w.terminate();
  }
}

type Series = { labels: Record<string, string>; value: number }[];

/** /metrics from inside node2, by family name. */
function scrape(): Map<string, Series> {
  const text = inNode2('curl', ['-s', '--max-time', '5', `http://${LISTEN}/metrics`]);
  if (text === null) throw new Error(`reading http://${LISTEN}/metrics in ${NS}: curl failed (did the agent die?)`);
  const out = new Map<string, Series>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    let s = out.get(m[1]);
    if (!s) out.set(m[1], (s = []));
    s.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of family name over the series whose labels include want. */
function total(m: Map<string, Series>, name: string, want: Record<string, string> = {}): number {
  let t = 0;
  for (const s of m.get(name) ?? []) if (Object.entries(want).every(([k, v]) => s.labels[k] === v)) t += s.value;
  return t;
}

async function waitReady(agent: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (agent.exitCode !== null || agent.signalCode !== null) throw new Error(`starting the agent: it exited (${agent.exitCode ?? agent.signalCode})`);
    const code = inNode2('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `http://${LISTEN}/readyz`]);
    // Ready means one capture runs; this benchmark needs the one on eth0.
    if (code === '200' && total(scrape(), 'csumwatch_capture_running', { iface: IFACE }) === 1) return;
    await sleep(200);
  }
  throw new Error(`starting the agent: /readyz not 200 with ${IFACE} captured after 20 s`);
}

// ---------------------------------------------------------------------------------------------
// One step: tcpdump and the agent on eth0 while dnsperf runs at one rate

interface Step {
  rate: string;
  qps: number;
  queries: number;
  sent: number;
  completed: number;
  lost: number;
  dnsperfSeconds: number;
  achievedQps: number;
  tcpdumpCaptured: number;
  tcpdumpDropped: number;
  agentPackets: number;
  /** Every interface the agent captures (eth0 and vxlan0). */
  agentPacketsAll: number;
  ratio: number;
  agentDropped: number;
  agentDnsQueries: number;
  agentDnsAnswered: number;
  /** Transactions the agent counted lost (every cause); dnsperf's `lost` is the truth. */
  agentDnsLost: number;
  /** Capture drops on every interface the agent captures. */
  agentDroppedAll: number;
  cpuSeconds: number;
  /** Percent of one core per 10,000 eth0 packets per second (CPU seconds per eth0 packet × 1e6). */
  cpuPct10k: number;
  rssMaxKiB: number;
}

async function step(lab: Lab, agentPid: number, rss: RssSampler, dir: string, rate: string, prefix: string): Promise<Step> {
  const qps = rate === 'max' ? MAX_QPS : Number(rate);
  const queries = Math.min(qps * 3, MAX_QUERIES);
  const m0 = scrape();
  const cpu0 = cpuSeconds(agentPid);
  rss.reset();

  const errFile = join(dir, `tcpdump-${prefix}.txt`);
  const td = startInNode2('tcpdump', ['-i', IFACE, '-n', '-B', '8192', '-w', '/dev/null', FILTER], errFile);
  const t0 = Date.now();
  for (let i = 0; i < 50 && !readFileSync(errFile, 'utf8').includes('listening on'); i++) await sleep(100);
  if (!readFileSync(errFile, 'utf8').includes('listening on')) throw new Error(`starting tcpdump: ${readFileSync(errFile, 'utf8').trim() || 'no "listening on" after 5 s'}`);
  checkPid(td.pid!, 'tcpdump');
  await sleep(Math.max(0, 1000 - (Date.now() - t0)));

  const d0 = process.hrtime.bigint();
  const r = lab.dnsperf({ queries, qps, timeoutS: 1, prefix });
  const dnsperfSeconds = Number(process.hrtime.bigint() - d0) / 1e9;
  await sleep(2000);

  td.kill('SIGINT');
  if ((await exited(td, 5000)) === null) {
    td.kill('SIGKILL');
    throw new Error('stopping tcpdump: still running 5 s after SIGINT');
  }
  const err = readFileSync(errFile, 'utf8');
  const num = (re: RegExp): number => {
    const m = re.exec(err);
    if (!m) throw new Error(`reading tcpdump's summary: no ${re.source} in: ${err.trim()}`);
    return Number(m[1]);
  };
  const cpu1 = cpuSeconds(agentPid);
  const rssMaxKiB = rss.maxKiB();
  const m1 = scrape();
  const delta = (name: string, want: Record<string, string> = {}) => total(m1, name, want) - total(m0, name, want);

  const tcpdumpCaptured = num(/^(\d+) packets? captured/m);
  const agentPackets = delta('csumwatch_packets_total', { iface: IFACE });
  const cpu = cpu1 - cpu0;
  return {
    rate,
    qps,
    queries,
    sent: r.sent,
    completed: r.completed,
    lost: r.lost,
    dnsperfSeconds,
    achievedQps: r.completed / dnsperfSeconds,
    tcpdumpCaptured,
    tcpdumpDropped: num(/^(\d+) packets? dropped by kernel/m),
    agentPackets,
    agentPacketsAll: delta('csumwatch_packets_total'),
    ratio: tcpdumpCaptured > 0 ? agentPackets / tcpdumpCaptured : NaN,
    agentDropped: delta('csumwatch_capture_dropped_total', { iface: IFACE }),
    agentDnsQueries: delta('csumwatch_dns_queries_total'),
    agentDnsAnswered: delta('csumwatch_dns_responses_total'),
    agentDnsLost: delta('csumwatch_dns_lost_total'),
    agentDroppedAll: delta('csumwatch_capture_dropped_total'),
    cpuSeconds: cpu,
    cpuPct10k: agentPackets > 0 ? (cpu / agentPackets) * 1e6 : NaN,
    rssMaxKiB,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const NUMERIC: (keyof Step)[] = ['queries', 'sent', 'completed', 'lost', 'dnsperfSeconds', 'achievedQps', 'tcpdumpCaptured', 'tcpdumpDropped', 'agentPackets', 'agentPacketsAll', 'ratio', 'agentDropped', 'agentDroppedAll', 'agentDnsQueries', 'agentDnsAnswered', 'agentDnsLost', 'cpuSeconds', 'cpuPct10k', 'rssMaxKiB'];

function medians(steps: Step[]): Record<string, number | string> {
  const out: Record<string, number | string> = { rate: steps[0].rate, runs: steps.length };
  for (const k of NUMERIC) out[k] = median(steps.map((s) => s[k] as number));
  return out;
}

function table(rows: Record<string, number | string>[]): string {
  const cols: [string, (r: Record<string, number | string>) => string][] = [
    ['rate', (r) => String(r.rate)],
    ['sent', (r) => n0(r.sent)],
    ['completed', (r) => n0(r.completed)],
    ['lost', (r) => n0(r.lost)],
    ['qps', (r) => n0(r.achievedQps)],
    ['tcpdump', (r) => n0(r.tcpdumpCaptured)],
    ['td drop', (r) => n0(r.tcpdumpDropped)],
    ['agent eth0', (r) => n0(r.agentPackets)],
    ['agent/td', (r) => `${((r.ratio as number) * 100).toFixed(2)}%`],
    ['agent drop', (r) => n0(r.agentDropped)],
    ['dns q', (r) => n0(r.agentDnsQueries)],
    ['dns ans', (r) => n0(r.agentDnsAnswered)],
    ['dns lost', (r) => n0(r.agentDnsLost)],
    ['cpu s', (r) => (r.cpuSeconds as number).toFixed(2)],
    ['%core/10kpps', (r) => (r.cpuPct10k as number).toFixed(1)],
    ['rss MiB', (r) => ((r.rssMaxKiB as number) / 1024).toFixed(0)],
  ];
  const cells = [cols.map(([h]) => h), ...rows.map((r) => cols.map(([, f]) => f(r)))];
  const w = cols.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  return cells.map((c) => '  ' + c.map((x, i) => (i === 0 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ')).join('\n');
}

function n0(v: number | string): string {
  return Number.isNaN(v as number) ? '-' : Math.round(v as number).toString();
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const { values: v } = parseArgs({
    options: {
      runs: { type: 'string', default: process.env.CSW_BENCH_AGENT_RUNS ?? '3' },
      rates: { type: 'string', default: process.env.CSW_BENCH_AGENT_RATES ?? '2000,5000,10000,20000,max' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const runs = Number(v.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error(`--runs: want 1 to 20, got ${v.runs}`);
  const rates = v.rates!.split(',');
  for (const r of rates) if (r !== 'max' && !(Number.isInteger(Number(r)) && Number(r) >= 1 && Number(r) <= 100_000)) throw new Error(`--rates: want 1 to 100000 or 'max', got ${r}`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('bench agent: must run as root (network namespaces)');
  for (const tool of ['tcpdump', 'dnsperf', 'curl']) {
    if (run('sh', ['-c', `command -v ${tool}`], { allowFail: true }).status !== 0) throw new Error(`${tool} is missing: run scripts/setup.sh`);
  }
  const log = (s: string) => (v.json ? process.stderr : process.stdout).write(s + '\n');

  const dir = mkdtempSync(join(tmpdir(), 'csw-bench-agent-'));
  const steps: Step[] = [];
  let agent: ChildProcess | null = null;
  let rss: RssSampler | null = null;
  let stop: { exit: Exit | null; seconds: number } | null = null;
  let lab: Lab;
  try {
    lab = labUp({ ...DEFAULT_CONFIG, name: LAB });
    log(`csumwatch agent benchmark: lab ${LAB}, ${runs} runs per rate, medians; node ${process.version}, ${cpus().length} x ${cpus()[0].model}`);
    agent = startInNode2(process.execPath, [join(ROOT, 'bin', 'csumwatch'), 'agent', '--listen', LISTEN, '--dns-timeout', '1', '--log-level', 'warn'], join(dir, 'agent.log'));
    if (agent.pid === undefined) throw new Error('starting the agent: no pid');
    const pid = agent.pid;
    await waitReady(agent);
    checkPid(pid, 'node');
    rss = new RssSampler(pid, 3600_000);
    // One unreported step so that the first reported one does not pay for the JIT.
    await step(lab, pid, rss, dir, '2000', 'warm');
    for (let i = 0; i < runs; i++) {
      for (const [j, rate] of rates.entries()) {
        const s = await step(lab, pid, rss, dir, rate, `r${i}s${j}`);
        steps.push(s);
        log(`  run ${i + 1}/${runs} ${rate.padStart(5)}: sent ${s.sent} completed ${s.completed}, tcpdump ${s.tcpdumpCaptured} (dropped ${s.tcpdumpDropped}), agent ${s.agentPackets} (dropped ${s.agentDropped}) = ${(s.ratio * 100).toFixed(2)}%, agent dns lost ${s.agentDnsLost}, cpu ${s.cpuSeconds.toFixed(2)} s`);
      }
    }
    await rss.stop();
    rss = null;
    const t0 = Date.now();
    agent.kill('SIGTERM');
    const ex = await exited(agent, 5000);
    stop = { exit: ex, seconds: (Date.now() - t0) / 1000 };
    if (ex === null) agent.kill('SIGKILL');
    agent = null;
  } finally {
    if (rss) await rss.stop();
    if (agent) {
      agent.kill('SIGKILL');
      await exited(agent, 5000);
    }
    labDown(LAB);
  }

  const rows = rates.map((r) => medians(steps.filter((s) => s.rate === r)));
  const clean = stop!.exit !== null && stop!.exit.code === 0;
  const stopText = stop!.exit === null ? 'did not exit within 5 s of SIGTERM (killed)' : `exited ${stop!.exit.code ?? stop!.exit.signal} after ${stop!.seconds.toFixed(2)} s`;
  const warnings = readFileSync(join(dir, 'agent.log'), 'utf8').trim();
  rmSync(dir, { recursive: true, force: true });
  if (v.json) {
    process.stdout.write(JSON.stringify({ lab: LAB, iface: IFACE, filter: FILTER, runs, rates, medians: rows, steps, agentStop: { ...stop, clean }, agentLog: warnings }) + '\n');
  } else {
    log(`\nmedians of ${runs} runs; ${IFACE} of ${NS}, filter '${FILTER}'; agent CPU per 10k eth0 packets/s in % of one core (it also captures vxlan0)`);
    log(table(rows));
    log('  (sent/completed/lost/qps: dnsperf; tcpdump, td drop: tcpdump on eth0; agent eth0, agent drop: csumwatch_packets_total and\n'
      + '   csumwatch_capture_dropped_total for eth0; dns q/ans/lost: the agent\'s csumwatch_dns_*_total, to compare with dnsperf\'s)');
    log(`\nagent on SIGTERM: ${stopText}${clean ? '' : '  <-- not a clean shutdown'}`);
    if (warnings) log(`agent log (warn and above):\n${warnings}`);
  }
  return clean ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`bench agent: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
