// npm run bench (datapath part): what the always-on agent costs a busy node, in one run, on each
// datapath, interleaved with runs without it.
//
// A lab `cswdp` (two nodes, VXLAN 4789, no fault injected, transmit offload off as the lab
// default, so the kernel computes every checksum). The agent runs on node2 at its default
// settings (plus --listen on loopback and --vtep-series all, which only chooses which series are
// printed, so that per-peer counts can be read), started afresh for every run:
//   none    no agent;
//   kernel  --datapath auto (the default): the eBPF socket filter counts VXLAN in the kernel;
//   pcap    --datapath pcap: the libpcap fallback, which copies every VXLAN packet.
// The order rotates every round so that drift cancels; the tables give medians.
//
// 1. Bulk: iperf3 TCP from node1's overlay address to node2's for --seconds after one omitted
//    second, as fast as the lab carries. Per run: throughput (receiver), the agent's CPU
//    (utime+stime of its process, /proc/PID/stat) over the transfer's wall time, its capture
//    drops, and its per-peer VXLAN packet counts (csumwatch_vtep_packets_total, rx and tx)
//    against node2's eth0 packet counters (ip -s link) across the same window.
// 2. Flood: iperf3 UDP with 16-byte datagrams at full speed through the tunnel (the most packets
//    per second the lab makes) while dnsperf sends --flood-queries distinct queries at 2 000/s to
//    the DNS server on node2. The agent must see every query dnsperf sent and call lost exactly
//    the ones dnsperf lost, with no capture drop.
// 3. Kernel cost per packet, two ways. In isolation: the filter, loaded in this process, run by
//    the kernel over one frame 20 000 times (BPF_PROG_TEST_RUN) for built frames of each kind and
//    for every Ethernet frame of real captures from other projects' test corpora
//    (../shared/external-captures, or CSW_EXTERNAL_CAPTURES; read, never copied). In place: one
//    more kernel run of the bulk workload with kernel.bpf_stats_enabled=1 (which adds clock reads
//    of its own, so it is kept out of part 1): run_time_ns / run_cnt from bpftool, and run_cnt
//    against the packets of eth0 and vxlan0, the two captures the filter runs on.
//
// usage: node dist/bench/datapath.js [--rounds N] [--seconds S] [--flood-rounds N]
//          [--flood-seconds S] [--flood-queries N] [--parts bulk,flood,cost]
//          [--modes none,kernel,pcap[,kernel-notracer]] [--json]
// Needs root (namespaces, BPF), iperf3, dnsperf, bpftool and curl. Traffic stays inside the
// lab's namespaces; the lab and every process in it are removed on the way out. Prints markdown
// tables, then (with --json) one JSON line with every run; exits 1 when a check fails.

import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KernelFilter } from '../src/capture/kfilter';
import { LINKTYPE_ETHERNET, readCaptureFile } from '../src/capture/replay';
import { DEFAULT_CONFIG } from '../src/lab/config';
import { inNs, run, sleepMs } from '../src/lab/tools';
import { Lab, labDown, labUp } from '../src/lab/lab';
import { get, metric, startAgent, stopAgent, waitFor } from '../test/support/agent';
import * as P from '../test/support/packets';
import { cpuSeconds, programOf } from '../test/support/proc';

const LAB = 'cswdp';
const LISTEN = '127.0.0.1:9476';
const BASE = `http://${LISTEN}`;
const IPERF_PORT = 5201;
const FLOOD_LEN = 16;
const FLOOD_QPS = 2000;
/** Wait after the agent is ready before measuring. */
const SETTLE_MS = 3000;

/** kernel-notracer: the kernel datapath with the drop tracer off (--bpf off), to tell their costs apart. */
type Mode = 'none' | 'kernel' | 'pcap' | 'kernel-notracer';
const ALL_MODES: Mode[] = ['none', 'kernel', 'pcap', 'kernel-notracer'];
let MODES: Mode[] = ['none', 'kernel', 'pcap'];

let json = false;
const log = (s: string) => (json ? process.stderr : process.stdout).write(s + '\n');

function rotate<T>(xs: readonly T[], n: number): T[] {
  const k = n % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// ---------------------------------------------------------------------------------------------
// The agent under test

interface Agent {
  proc: ChildProcess;
  pid: number;
  logFile: string;
}

function agentPid(ns: string, p: ChildProcess): number {
  // `ip netns exec` execs, so the spawned pid is the agent's node process.
  const exe = programOf(p.pid!);
  if (exe !== 'node') throw new Error(`starting the agent in ${ns}: pid ${p.pid} runs ${exe}, not node`);
  return p.pid!;
}

function start(lab: Lab, mode: Exclude<Mode, 'none'>, dir: string, tag: string, procs: ChildProcess[]): Agent {
  const ns = lab.node(2).ns;
  const logFile = join(dir, `agent-${tag}.log`);
  const args = ['--listen', LISTEN, '--vtep-series', 'all', '--log-level', 'warn'];
  if (mode === 'pcap') args.push('--datapath', 'pcap');
  if (mode === 'kernel-notracer') args.push('--bpf', 'off');
  const proc = startAgent(ns, logFile, args, procs);
  waitFor(`the agent (${mode}) to capture eth0`, () => {
    if (proc.exitCode !== null) throw new Error(`the agent (${mode}) exited ${proc.exitCode}: ${readFileSync(logFile, 'utf8').trim()}`);
    const r = get(ns, `${BASE}/metrics`);
    return r.status === 200 && metric(r.body, 'csumwatch_capture_running', { iface: 'eth0' }) === 1 ? true : undefined;
  }, 20_000);
  const page = get(ns, `${BASE}/metrics`).body;
  const want = mode === 'kernel-notracer' ? 'kernel' : mode;
  if (metric(page, 'csumwatch_datapath', { mode: want }) !== 1) throw new Error(`the agent runs datapath ${['kernel', 'pcap'].find((m) => metric(page, 'csumwatch_datapath', { mode: m }) === 1)}, not ${want}: ${readFileSync(logFile, 'utf8').trim()}`);
  return { proc, pid: agentPid(ns, proc), logFile };
}

async function stop(a: Agent | null): Promise<void> {
  if (!a) return;
  const r = await stopAgent(a.proc);
  if (r !== 0) throw new Error(`stopping the agent: ${r}: ${readFileSync(a.logFile, 'utf8').trim()}`);
}

interface Scrape {
  rx: number;
  tx: number;
  dropped: number;
  dnsQueries: number;
  dnsLost: number;
  bad: number;
}

function scrape(lab: Lab): Scrape {
  const r = get(lab.node(2).ns, `${BASE}/metrics`);
  if (r.status !== 200) throw new Error(`scraping the agent: HTTP ${r.status}`);
  const peer = { peer: lab.node(1).underlay };
  return {
    rx: metric(r.body, 'csumwatch_vtep_packets_total', { ...peer, direction: 'rx' }),
    tx: metric(r.body, 'csumwatch_vtep_packets_total', { ...peer, direction: 'tx' }),
    dropped: metric(r.body, 'csumwatch_capture_dropped_total'),
    dnsQueries: metric(r.body, 'csumwatch_dns_queries_total'),
    dnsLost: metric(r.body, 'csumwatch_dns_lost_total'),
    bad: metric(r.body, 'csumwatch_vtep_packets_total', { result: 'bad' }),
  };
}

// ---------------------------------------------------------------------------------------------
// Workloads

interface Iperf {
  gbps: number;
  packets: number;
}

/** Starts the iperf3 client in node1 against a one-shot server in node2; resolves with its JSON. */
function iperf3(lab: Lab, seconds: number, udp: boolean): Promise<Iperf> {
  const srv = lab.node(2);
  const cli = lab.node(1);
  const server = spawn('ip', ['netns', 'exec', srv.ns, 'iperf3', '-s', '-1', '-B', srv.overlay, '-p', String(IPERF_PORT)], { stdio: 'ignore' });
  server.on('error', () => undefined);
  waitFor('the iperf3 server', () => (inNs(srv.ns, 'ss', ['-Htln', `sport = :${IPERF_PORT}`]).stdout.trim() ? true : undefined), 5000);
  const args = ['netns', 'exec', cli.ns, 'iperf3', '-c', srv.overlay, '-B', cli.overlay, '-p', String(IPERF_PORT), '-t', String(seconds), '-O', '1', '-J', '--connect-timeout', '3000'];
  if (udp) args.push('-u', '-b', '0', '-l', String(FLOOD_LEN));
  return new Promise((resolve, reject) => {
    const c = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const t = setTimeout(() => c.kill('SIGKILL'), (seconds + 20) * 1000);
    c.on('close', (code) => {
      clearTimeout(t);
      server.kill('SIGKILL');
      let j: { error?: string; end?: { sum_received?: { bits_per_second: number }; sum?: { bits_per_second: number; packets: number } } };
      try {
        j = JSON.parse(out);
      } catch {
        return reject(new Error(`iperf3: exit ${code}, no JSON`));
      }
      if (j.error || code !== 0 || !j.end) return reject(new Error(`iperf3${udp ? ' -u' : ''}: ${j.error ?? `exit ${code}`}`));
      if (udp) resolve({ gbps: j.end.sum!.bits_per_second / 1e9, packets: j.end.sum!.packets });
      else resolve({ gbps: j.end.sum_received!.bits_per_second / 1e9, packets: NaN });
    });
  });
}

interface Run {
  part: 'bulk' | 'flood' | 'cost';
  mode: Mode;
  round: number;
  gbps: number;
  seconds: number;
  /** eth0 of node2 across the window. */
  ifRx: number;
  ifTx: number;
  pps: number;
  /** The agent's (NaN without it). */
  cores: number;
  rx: number;
  tx: number;
  dropped: number;
  bad: number;
  /** |agent - interface| / interface, rx and tx together. */
  countError: number;
  dnsSent?: number;
  dnsLost?: number;
  agentDnsQueries?: number;
  agentDnsLost?: number;
  nsPerPacket?: number;
  filterRuns?: number;
  vxlan0Packets?: number;
}

async function once(lab: Lab, part: Run['part'], mode: Mode, round: number, o: { seconds: number; queries: number }, dir: string, procs: ChildProcess[]): Promise<Run> {
  const agent = mode === 'none' ? null : start(lab, mode, dir, `${part}-${mode}-${round}`, procs);
  try {
    // Past the agent's start-up work (its first interface scan, doctor run and kernel reads):
    // what a node pays for always, not once.
    sleepMs(agent ? SETTLE_MS : 500);
    const m0 = agent ? scrape(lab) : null;
    const c0 = lab.linkPackets(2, 'eth0');
    const cpu0 = agent ? cpuSeconds(agent.pid) : 0;
    const t0 = process.hrtime.bigint();
    const work = iperf3(lab, o.seconds, part === 'flood');
    let dns: { sent: number; lost: number } | null = null;
    if (part === 'flood') {
      sleepMs(1500); // past iperf3's omitted second
      const r = lab.dnsperf({ queries: o.queries, qps: FLOOD_QPS, timeoutS: 1, prefix: `f${round}${mode}` });
      dns = { sent: r.sent, lost: r.lost };
    }
    const ip = await work;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu1 = agent ? cpuSeconds(agent.pid) : 0;
    sleepMs(1500); // past the DNS timeout (1 s), so lost queries are counted, and the kernel counts' 200 ms memo
    const c1 = lab.linkPackets(2, 'eth0');
    const m1 = agent ? scrape(lab) : null;
    const ifRx = c1.rx - c0.rx;
    const ifTx = c1.tx - c0.tx;
    const rx = m1 && m0 ? m1.rx - m0.rx : NaN;
    const tx = m1 && m0 ? m1.tx - m0.tx : NaN;
    return {
      part, mode, round,
      gbps: ip.gbps,
      seconds,
      ifRx, ifTx,
      pps: (ifRx + ifTx) / seconds,
      cores: agent ? (cpu1 - cpu0) / seconds : NaN,
      rx, tx,
      dropped: m1 && m0 ? m1.dropped - m0.dropped : NaN,
      bad: m1 && m0 ? m1.bad - m0.bad : NaN,
      countError: (Math.abs(rx - ifRx) + Math.abs(tx - ifTx)) / (ifRx + ifTx),
      ...(dns ? { dnsSent: dns.sent, dnsLost: dns.lost, agentDnsQueries: m1 && m0 ? m1.dnsQueries - m0.dnsQueries : NaN, agentDnsLost: m1 && m0 ? m1.dnsLost - m0.dnsLost : NaN } : {}),
    };
  } finally {
    await stop(agent);
  }
}

/** run_time_ns and run_cnt of the capture filter program (name truncated by the kernel to 15 bytes). */
function filterStats(): { ns: number; runs: number } {
  const progs = JSON.parse(run('bpftool', ['-j', 'prog', 'show']).stdout) as { name?: string; run_time_ns?: number; run_cnt?: number }[];
  const p = progs.filter((x) => x.name && 'csw_capture_filter'.startsWith(x.name) && x.name.length >= 8);
  if (p.length !== 1) throw new Error(`bpftool prog show: want one csw_capture_filter program, found ${p.length}`);
  return { ns: p[0].run_time_ns ?? 0, runs: p[0].run_cnt ?? 0 };
}

async function cost(lab: Lab, seconds: number, dir: string, procs: ChildProcess[]): Promise<Run> {
  const key = '/proc/sys/kernel/bpf_stats_enabled';
  const was = readFileSync(key, 'utf8').trim();
  run('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1']);
  const agent = start(lab, 'kernel', dir, 'cost', procs);
  try {
    sleepMs(500);
    const s0 = filterStats();
    const c0 = lab.linkPackets(2, 'eth0');
    const v0 = lab.linkPackets(2, 'vxlan0');
    const t0 = process.hrtime.bigint();
    const ip = await iperf3(lab, seconds, false);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const s1 = filterStats();
    const c1 = lab.linkPackets(2, 'eth0');
    const v1 = lab.linkPackets(2, 'vxlan0');
    const runs = s1.runs - s0.runs;
    const pkts = c1.rx - c0.rx + c1.tx - c0.tx;
    // The filter runs on both captures: eth0's packets and vxlan0's (fewer: vxlan0 merges with GRO).
    const vx = v1.rx - v0.rx + v1.tx - v0.tx;
    return {
      part: 'cost', mode: 'kernel', round: 0, gbps: ip.gbps, seconds: dt, ifRx: c1.rx - c0.rx, ifTx: c1.tx - c0.tx, pps: pkts / dt,
      cores: NaN, rx: NaN, tx: NaN, dropped: NaN, bad: NaN, countError: NaN,
      nsPerPacket: (s1.ns - s0.ns) / runs, filterRuns: runs, vxlan0Packets: vx,
    };
  } finally {
    await stop(agent);
    run('sysctl', ['-q', '-w', `kernel.bpf_stats_enabled=${was}`]);
  }
}

// ---------------------------------------------------------------------------------------------
// The filter's cost per packet, in isolation: the loaded program run by the kernel over one frame
// many times (BPF_PROG_TEST_RUN), for built frames of each kind and for every Ethernet frame of
// real captures from other projects' test corpora.

const EXTERNAL = process.env.CSW_EXTERNAL_CAPTURES ?? join(__dirname, '..', '..', '..', 'shared', 'external-captures');
const MICRO_REPEAT = 20_000;
const MICRO_FILES = ['sv-vxlan-decoder-03.pcap', 'sv-vxlan-non-zero-reserved-fields.pcap', 'tcpdump-gso-ipv4-vxlan-ipv4.pcap', 'tcpdump-gso-ipv6-vxlan-ipv6.pcap', 'gopacket-test_dns.pcap', 'sv-dns-bug-1158.pcap',
  'tcpdump-geneve.pcap', 'tcpdump-geneve-gcp.pcap', 'sv-geneve-decoder.pcap'];

interface Micro {
  what: string;
  frames: number;
  copied: number;
  median: number;
  min: number;
  max: number;
}

function microCost(): Micro[] {
  const k = new KernelFilter({ vxlanPorts: [4789, 8472], genevePorts: [6081], dnsPorts: [53], snaplen: 262144, copyVxlan: false, tableSize: 1024 });
  try {
    const measure = (what: string, frames: Buffer[]): Micro => {
      let copied = 0;
      const ns = frames.map((f) => {
        const r = k.run(f, MICRO_REPEAT);
        if (r.verdict > 0) copied++;
        return r.ns;
      });
      return { what, frames: frames.length, copied, median: median(ns), min: Math.min(...ns), max: Math.max(...ns) };
    };
    const inner = { link: { kind: 'eth' as const }, ip: { v: 4 as const, src: '10.244.1.5', dst: '10.244.0.7' } };
    const outer = (l4inner: P.L4Spec): Buffer => P.build({ link: { kind: 'eth' }, ip: { v: 4, src: '10.200.0.1', dst: '10.200.0.2' }, l4: { kind: 'udp', sport: 40000, dport: 4789, vxlan: { vni: 42, inner: { ...inner, l4: l4inner } } } }).bytes;
    const out: Micro[] = [
      measure('built: VXLAN, inner TCP 1398 bytes (bulk)', [outer({ kind: 'tcp', sport: 5201, dport: 40000, payload: Buffer.alloc(1398) })]),
      measure('built: VXLAN, inner DNS query', [P.vxlanDns()]),
      measure('built: Geneve, inner TCP 1398 bytes (bulk; the general path)', [P.build(P.geneveSpec({ ...inner, l4: { kind: 'tcp', sport: 5201, dport: 40000, payload: Buffer.alloc(1398) } })).bytes]),
      measure('built: Geneve with an 8-byte option (OVN), inner DNS query', [P.geneveDns({ options: [{ cls: 0x0102, type: 0x80, data: [0, 0, 0, 1] }] })]),
      measure('built: plain DNS query', [P.plainDns()]),
      measure('built: plain UDP, not DNS', [P.build({ link: { kind: 'eth' }, ip: { v: 4, src: '10.200.0.1', dst: '10.200.0.2' }, l4: { kind: 'udp', sport: 40000, dport: 9999, payload: Buffer.alloc(64) } }).bytes]),
    ];
    for (const file of MICRO_FILES) {
      const path = join(EXTERNAL, file);
      if (!existsSync(path)) {
        log(`  (skipping ${file}: not in ${EXTERNAL}; set CSW_EXTERNAL_CAPTURES)`);
        continue;
      }
      const frames: Buffer[] = [];
      readCaptureFile(path, (r) => {
        if (r.linkType === LINKTYPE_ETHERNET && r.capLen >= 14) frames.push(Buffer.from(r.buf.subarray(r.off, r.off + r.capLen)));
      });
      if (frames.length) out.push(measure(`real: ${file}`, frames));
    }
    return out;
  } finally {
    k.close();
  }
}

// ---------------------------------------------------------------------------------------------

function n(v: number | undefined, digits = 0): string {
  return v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);
}

function table(head: string[], rows: string[][]): string {
  const line = (c: string[]) => `| ${c.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  const { values: v } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '5' },
      'flood-rounds': { type: 'string', default: '3' },
      'flood-seconds': { type: 'string', default: '8' },
      'flood-queries': { type: 'string', default: '10000' },
      parts: { type: 'string', default: 'bulk,flood,cost' },
      modes: { type: 'string', default: 'none,kernel,pcap' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  json = v.json!;
  const int = (name: string, s: string, lo: number, hi: number) => {
    const x = Number(s);
    if (!Number.isInteger(x) || x < lo || x > hi) throw new Error(`--${name}: want ${lo} to ${hi}, got ${s}`);
    return x;
  };
  MODES = v.modes!.split(',') as Mode[];
  for (const m of MODES) if (!ALL_MODES.includes(m)) throw new Error(`--modes: want ${ALL_MODES.join(', ')}, got ${m}`);
  if (MODES[0] !== 'none') throw new Error('--modes: the first must be none, which the ratios are against');
  const parts = new Set(v.parts!.split(','));
  for (const p of parts) if (!['bulk', 'flood', 'cost'].includes(p)) throw new Error(`--parts: want bulk, flood or cost, got ${p}`);
  const rounds = parts.has('bulk') ? int('rounds', v.rounds!, 1, 50) : 0;
  const seconds = int('seconds', v.seconds!, 2, 60);
  const floodRounds = parts.has('flood') ? int('flood-rounds', v['flood-rounds']!, 0, 20) : 0;
  const floodSeconds = int('flood-seconds', v['flood-seconds']!, 4, 60);
  const floodQueries = int('flood-queries', v['flood-queries']!, 1, 100_000);
  if (floodQueries / FLOOD_QPS > floodSeconds - 2) throw new Error(`--flood-queries: ${floodQueries} at ${FLOOD_QPS}/s do not fit in --flood-seconds ${floodSeconds} (minus 2 s)`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('bench datapath: must run as root (namespaces, BPF)');
  for (const tool of ['iperf3', 'dnsperf', 'bpftool', 'curl']) {
    if (run('sh', ['-c', `command -v ${tool}`], { allowFail: true }).status !== 0) throw new Error(`${tool} is missing: run scripts/setup.sh`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'csw-bench-datapath-'));
  const procs: ChildProcess[] = [];
  const runs: Run[] = [];
  const micro: Micro[] = [];
  const onSignal = () => {
    for (const p of procs) p.kill('SIGKILL');
    labDown(LAB);
    process.exit(130);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  labDown(LAB);
  let lab: Lab;
  try {
    lab = labUp({ ...DEFAULT_CONFIG, name: LAB });
    log(`csumwatch datapath benchmark: lab ${LAB}; ${rounds} bulk rounds of ${seconds} s, ${floodRounds} flood rounds of ${floodSeconds} s; node ${process.version}, ${cpus().length} x ${cpus()[0].model}`);
    await iperf3(lab, 2, false); // warm-up, unreported
    for (let r = 0; r < rounds; r++) {
      for (const mode of rotate(MODES, r)) {
        const x = await once(lab, 'bulk', mode, r, { seconds, queries: 0 }, dir, procs);
        runs.push(x);
        log(`  bulk ${r + 1}/${rounds} ${mode.padEnd(15)} ${x.gbps.toFixed(2)} Gbit/s, ${n(x.pps / 1000)} kpkt/s on eth0, agent ${n(x.cores, 3)} cores, rx ${x.rx}/${x.ifRx} tx ${x.tx}/${x.ifTx}, dropped ${n(x.dropped)}`);
      }
    }
    for (let r = 0; r < floodRounds; r++) {
      for (const mode of rotate(MODES, r)) {
        const x = await once(lab, 'flood', mode, r, { seconds: floodSeconds, queries: floodQueries }, dir, procs);
        runs.push(x);
        log(`  flood ${r + 1}/${floodRounds} ${mode.padEnd(15)} ${n(x.pps / 1000)} kpkt/s on eth0, dnsperf sent ${x.dnsSent} lost ${x.dnsLost}, agent queries ${n(x.agentDnsQueries)} lost ${n(x.agentDnsLost)}, dropped ${n(x.dropped)}, agent ${n(x.cores, 3)} cores`);
      }
    }
    if (parts.has('cost')) {
      micro.push(...microCost());
      const c = await cost(lab, seconds, dir, procs);
      runs.push(c);
      log(`  cost: ${n(c.nsPerPacket, 1)} ns per packet over ${c.filterRuns} filter runs; eth0 carried ${c.ifRx + c.ifTx} packets`);
    }
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    labDown(LAB);
    rmSync(dir, { recursive: true, force: true });
  }

  const failures: string[] = [];
  const bulk = (m: Mode) => runs.filter((x) => x.part === 'bulk' && x.mode === m);
  const flood = (m: Mode) => runs.filter((x) => x.part === 'flood' && x.mode === m);
  const base = median(bulk('none').map((x) => x.gbps));
  const baseFlood = median(flood('none').map((x) => x.pps));
  if (rounds > 0) log('\nBulk: iperf3 TCP node1 → node2 through VXLAN (medians; ratio = throughput / median without the agent, range over rounds)');
  if (rounds > 0) log(table(['datapath', 'Gbit/s', 'ratio', 'ratio range', 'eth0 kpkt/s', 'agent cores', 'capture drops', 'count error (rx+tx vs eth0)', 'bad'], MODES.map((m) => {
    const xs = bulk(m);
    const ratios = xs.map((x) => x.gbps / base);
    return [m, n(median(xs.map((x) => x.gbps)), 2), n(median(ratios), 3), `${n(Math.min(...ratios), 3)}-${n(Math.max(...ratios), 3)}`, n(median(xs.map((x) => x.pps)) / 1000), n(median(xs.map((x) => x.cores)), 3), n(median(xs.map((x) => x.dropped))), m === 'none' ? '-' : `${(median(xs.map((x) => x.countError)) * 100).toFixed(3)}% (max ${(Math.max(...xs.map((x) => x.countError)) * 100).toFixed(3)}%)`, n(median(xs.map((x) => x.bad)))];
  })));
  if (floodRounds > 0) {
    log(`\nFlood: iperf3 UDP ${FLOOD_LEN}-byte datagrams at full speed through VXLAN, with dnsperf ${floodQueries} queries at ${FLOOD_QPS}/s (medians)`);
    log(table(['datapath', 'eth0 kpkt/s', 'vs none', 'dnsperf sent', 'dnsperf lost', 'agent queries', 'agent lost', 'capture drops', 'agent cores'], MODES.map((m) => {
      const xs = flood(m);
      const med = (f: (x: Run) => number | undefined) => median(xs.map((x) => f(x) ?? NaN));
      return [m, n(med((x) => x.pps) / 1000), n(med((x) => x.pps) / baseFlood, 3), n(med((x) => x.dnsSent)), n(med((x) => x.dnsLost)), n(med((x) => x.agentDnsQueries)), n(med((x) => x.agentDnsLost)), n(med((x) => x.dropped)), n(med((x) => x.cores), 3)];
    })));
  }
  const c = runs.find((x) => x.part === 'cost');
  if (c) log(`\nKernel cost in place: the capture filter ran ${c.filterRuns} times (eth0 carried ${c.ifRx + c.ifTx} packets; vxlan0 ${c.vxlan0Packets}, merged by GRO before its capture sees them), ${n(c.nsPerPacket, 1)} ns per run, ${n(c.nsPerPacket! * c.filterRuns! / (c.ifRx + c.ifTx), 1)} ns per eth0 packet for both captures (kernel.bpf_stats_enabled=1, which adds clock reads of its own; one bulk run)`);
  if (micro.length) {
    log(`\nKernel cost per packet by kind (BPF_PROG_TEST_RUN, ${MICRO_REPEAT} runs per frame, median over the frames; real captures from ${EXTERNAL})`);
    log(table(['frames', 'count', 'copied', 'ns per packet (median)', 'min-max'], micro.map((m) => [m.what, String(m.frames), String(m.copied), n(m.median, 0), `${n(m.min, 0)}-${n(m.max, 0)}`])));
  }

  for (const x of bulk('kernel')) {
    if (x.dropped !== 0) failures.push(`bulk round ${x.round} kernel: ${x.dropped} capture drops`);
    if (x.countError > 0.001) failures.push(`bulk round ${x.round} kernel: per-peer counts off by ${(x.countError * 100).toFixed(3)}%`);
    if (x.bad !== 0) failures.push(`bulk round ${x.round} kernel: ${x.bad} bad packets on a healthy lab`);
  }
  for (const x of flood('kernel')) {
    if (x.agentDnsQueries !== x.dnsSent) failures.push(`flood round ${x.round} kernel: agent saw ${x.agentDnsQueries} queries, dnsperf sent ${x.dnsSent}`);
    if (x.agentDnsLost !== x.dnsLost) failures.push(`flood round ${x.round} kernel: agent lost ${x.agentDnsLost}, dnsperf ${x.dnsLost}`);
    if (x.dropped !== 0) failures.push(`flood round ${x.round} kernel: ${x.dropped} capture drops`);
  }
  // Every eth0 packet runs the filter once; vxlan0's capture sees its packets after GRO merged
  // them (its counters count them before), so it adds at most as many runs as it counts.
  if (c && (c.filterRuns! < c.ifRx + c.ifTx || c.filterRuns! > c.ifRx + c.ifTx + c.vxlan0Packets!)) failures.push(`cost: the filter ran ${c.filterRuns} times for ${c.ifRx + c.ifTx} eth0 packets and at most ${c.vxlan0Packets} vxlan0 ones`);
  for (const f of failures) log(`CHECK FAILED: ${f}`);
  if (json) process.stdout.write(JSON.stringify({ lab: LAB, rounds, seconds, floodRounds, floodSeconds, floodQueries, runs, micro, failures }) + '\n');
  return failures.length ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`bench datapath: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
