// npm run bench (third part): what the kernel drop tracer (bpf/drops.bpf.c) costs, in one run.
//
// 1. Throughput with and without the tracer. A lab `cswbb` (two nodes, VXLAN 4789) carries
//    dnsperf's queries from node1 to dnsmasq on node2 (a fixed number of distinct queries, as
//    fast as the lab answers) and iperf3 TCP and UDP (-b 0) for a fixed time after one omitted
//    second, server on node2's overlay address, client on node1's. Every workload runs with no
//    tracer ('off'), with the tp_btf program and with the raw_tp one, interleaved (the order
//    rotates every round) so that drift cancels; the table gives medians, the ratio to 'off' and
//    the range of the per-round ratios. The tracer is configured as the agent's default (the
//    agent's event reasons, events for DNS and VXLAN packets only, 1 MiB ring, a drain every
//    second) and loaded in this process, which reads its events while the workload runs (the
//    handler only counts them: the agent's correlation work is not included).
//    kfree_skb fires only on drops, so two workloads drop on purpose: the lab's injector damages
//    the inner UDP checksum of 30% of the DNS queries, or of the iperf3 UDP datagrams, and node2
//    drops them (udp_csum). For DNS, dnsperf then waits for its timeout: a short one (20 ms,
//    500 queries in flight) keeps the rate set by the server. For iperf3 the damage starts
//    0.5 s into the omitted second, after the datagram that opens the UDP test (iperf3 3.12
//    waits for it forever). Unthrottled UDP also overflows the server's socket (socket_rcvbuff).
//    The tracer's UDP counts of udp_csum, socket_rcvbuff and no_socket are checked against
//    Udp InCsumErrors, RcvbufErrors and NoPorts of /proc/net/snmp, summed over the lab's nodes.
// 2. Cost per drop and ring-buffer loss under a drop flood. Two namespaces of this benchmark's
//    own (cswbb-ftx, cswbb-frx, a veth pair, 10.213.0.0/30) and one sender process
//    (bench/ebpf-flood.ts) that sends 32-byte datagrams to 10.213.0.2:53 as fast as it can, for
//    a bounded count and time, where nothing listens: every datagram is a no_socket drop
//    (port-unreachable answers are turned off in the receiver with icmp_msgs_per_sec=0, so the
//    sender only sends). Variants, interleaved: no tracer; the tracer counting only (no event
//    reason selected); events for no_socket with scope 'all' into a 1 MiB ring nobody reads
//    (the cost of building an event, then of losing it); and events read by this process
//    through a 64 KiB and a 1 MiB ring. Per run: the sender's rate, Udp NoPorts in the receiver
//    (which must equal the tracer's no_socket count for UDP), events written, delivered and
//    lost (events + lost must equal the no_socket count), this process's CPU per event and how
//    often its main thread was woken. Cost per drop = 1e9/rate(variant) - 1e9/rate(off).
//
// usage: node dist/bench/ebpf.js [--rounds N] [--dns-rounds N] [--seconds S] [--queries N]
//          [--flood-rounds N] [--flood-packets N] [--flood-seconds S] [--parts lab,flood]
// Needs root (namespaces, BPF), dnsperf and iperf3. Traffic stays inside namespaces this
// benchmark creates; it removes them and every process in them on the way out, also on SIGINT
// and SIGTERM. Prints markdown tables, then one JSON line with every run; exits 1 when a check
// fails.

import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { AttachType, DEFAULT_EVENT_REASONS, DROP_PROTOS, DropTracer, dropReasonNames, REASON_SLOTS } from '../src/capture/ebpf';
import { DEFAULT_CONFIG, DNS_ZONE } from '../src/lab/config';
import { parseDnsperf } from '../src/lab/dns';
import { run } from '../src/lab/tools';
import { cpuBusy } from '../test/support/proc';
import { InjectConfig } from '../src/lab/inject';
import { Lab, labDown, labUp } from '../src/lab/lab';
import { parseSnmp, snmpValue } from '../src/node/snmp';

const FLOOD_JS = join(__dirname, 'ebpf-flood.js');
const LAB = 'cswbb';
const FLOOD_TX = `${LAB}-ftx`;
const FLOOD_RX = `${LAB}-frx`;
const FLOOD_SRC = '10.213.0.1';
const FLOOD_DST = '10.213.0.2';
const FLOOD_PORT = 53;
const IPERF_PORT = 5201;
/** iperf3 UDP payload: the inner TCP MSS over vxlan0's 1450-byte MTU, so no fragments. */
const UDP_LEN = 1398;
/** dnsperf's -Q: far above what the lab can carry. */
const MAX_QPS = 1_000_000;
/** Share of the DNS queries (or iperf3 UDP datagrams) whose inner UDP checksum is damaged. */
const DAMAGE = 0.3;
const RING_1M = 1 << 20;
const RING_64K = 1 << 16;

type Mode = 'off' | AttachType;
const MODES: Mode[] = ['off', 'tp_btf', 'raw_tp'];

const log = (s: string) => process.stderr.write(s + '\n');

/** xs rotated left by n: the order of the variants in round n. */
function rotate<T>(xs: readonly T[], n: number): T[] {
  const k = n % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

// ---------------------------------------------------------------------------------------------
// Processes: started asynchronously, so that this process reads the tracer's ring meanwhile

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs cmd in namespace ns (`ip netns exec` execs, so the child is cmd); killed after timeoutMs. */
function runIn(ns: string, cmd: string, args: string[], timeoutMs: number): Promise<Done> {
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr, timedOut });
    };
    p.on('error', (err) => {
      stderr += err.message;
      done(null, null);
    });
    p.on('close', done);
  });
}

function failure(what: string, d: Done): Error {
  const why = d.timedOut ? 'timed out' : `exit ${d.code ?? d.signal}`;
  const first = d.stderr.trim().split('\n')[0] || d.stdout.trim().split('\n')[0] || '';
  return new Error(`${what}: ${why}${first ? ': ' + first : ''}`);
}

/** Resolves true when p exits within ms. */
function exited(p: ChildProcess, ms: number): Promise<boolean> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}


/** Voluntary context switches of this process's main thread (where the ring is read): its wakeups. */
function wakeups(): number {
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
}

/** The inode number of named network namespace ns: what the tracer reports as an event's netns. */
function nsInode(ns: string): number {
  return statSync(`/run/netns/${ns}`).ino;
}

/** /proc/net/snmp of namespace ns. */
function snmpOf(ns: string): ReturnType<typeof parseSnmp> {
  return parseSnmp(run('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp']).stdout);
}

// ---------------------------------------------------------------------------------------------
// The tracer, loaded and read in this process

/** Drop-reason names by slot, from the running kernel's BTF (set by main). */
let reasonNames: string[] = [];
const slotOf = (name: string): number => {
  const i = reasonNames.indexOf(name);
  if (i < 0) throw new Error(`drop reason ${name}: not in this kernel's enum skb_drop_reason`);
  return i;
};

interface TraceConfig {
  attach: AttachType;
  ringBytes: number;
  eventSlots: number[];
  scope: 'dns-vxlan' | 'all';
  /**
   * Inode numbers of this benchmark's network namespaces. The tracer sees the whole host: events
   * from other namespaces (another test running meanwhile) are counted apart, so that the checks
   * against this benchmark's /proc/net/snmp can leave them out.
   */
  home: number[];
  /** false: nothing reads the ring, which fills and then loses every event (default true). */
  read?: boolean;
}

interface TraceResult {
  program: string;
  drops: number;
  events: number;
  lost: number;
  unparsed: number;
  /** Events handed to the handler. */
  delivered: number;
  /** Events from outside TraceConfig.home: all, and those of UDP packets by reason name. */
  foreign: number;
  foreignUdp: Record<string, number>;
  clipped: number;
  ringErrors: string[];
  /** Kernel drop counts by reason name, summed over protocols and of UDP packets only; nonzero only. */
  reasons: Record<string, number>;
  reasonsUdp: Record<string, number>;
  /** no_socket drops of UDP packets, and of every protocol. */
  noSocketUdp: number;
  noSocketAll: number;
}

/** One tracer attachment: opened, read while a workload runs, then closed by finish(). */
class Tracing {
  private readonly tr: DropTracer;
  private readonly timer: NodeJS.Timeout;
  private delivered = 0;
  private foreign = 0;
  /** Events from outside home of UDP packets, by reason slot. */
  private readonly foreignUdp = new Float64Array(REASON_SLOTS);
  private readonly ringErrors: string[] = [];

  constructor(readonly c: TraceConfig, vxlanPort: number) {
    this.tr = DropTracer.open({
      attach: c.attach, ringBytes: c.ringBytes, vxlanPorts: [vxlanPort], dnsPorts: [53], eventSlots: c.eventSlots, eventScope: c.scope,
    });
    const home = new Set(c.home);
    const udp = DROP_PROTOS.indexOf('udp');
    try {
      if (c.read !== false) {
        this.tr.start((ev) => {
          this.delivered++;
          if (home.has(ev.netns)) return;
          this.foreign++;
          if (ev.proto === udp) this.foreignUdp[ev.slot]++;
        }, (msg) => this.ringErrors.push(msg));
      }
    } catch (err) {
      this.tr.close();
      throw err;
    }
    // As the agent does: a drain every second in case a wakeup was missed.
    this.timer = setInterval(() => this.tr.poll(), 1000);
  }

  /** Drains the ring, reads the counters and detaches. */
  finish(): TraceResult {
    clearInterval(this.timer);
    try {
      this.tr.poll();
      const s = this.tr.readStats();
      const counts = new Float64Array(REASON_SLOTS * DROP_PROTOS.length);
      this.tr.readCounts(counts);
      const reasons: Record<string, number> = {};
      const reasonsUdp: Record<string, number> = {};
      const foreignUdp: Record<string, number> = {};
      const udp = DROP_PROTOS.indexOf('udp');
      const bySlot = (slot: number) => {
        let n = 0;
        for (let p = 0; p < DROP_PROTOS.length; p++) n += counts[slot * DROP_PROTOS.length + p];
        return n;
      };
      for (let slot = 0; slot < REASON_SLOTS; slot++) {
        const n = bySlot(slot);
        if (n > 0) reasons[reasonNames[slot]] = n;
        const u = counts[slot * DROP_PROTOS.length + udp];
        if (u > 0) reasonsUdp[reasonNames[slot]] = u;
        if (this.foreignUdp[slot] > 0) foreignUdp[reasonNames[slot]] = this.foreignUdp[slot];
      }
      const ns = slotOf('no_socket');
      return {
        program: this.tr.section, ...s, delivered: this.delivered, foreign: this.foreign, foreignUdp, clipped: this.tr.clipped, ringErrors: this.ringErrors, reasons, reasonsUdp,
        noSocketUdp: counts[ns * DROP_PROTOS.length + udp], noSocketAll: bySlot(ns),
      };
    } finally {
      this.tr.close();
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.tr.close();
  }
}

let openTracing: Tracing | null = null;

/** Runs f with the tracer attached as c (or with none for null); returns f's result and the tracer's. */
async function traced<T>(c: TraceConfig | null, vxlanPort: number, f: () => Promise<T>): Promise<{ r: T; trace: TraceResult | null }> {
  if (c === null) return { r: await f(), trace: null };
  const t = new Tracing(c, vxlanPort);
  openTracing = t;
  try {
    const r = await f();
    const trace = t.finish();
    return { r, trace };
  } catch (err) {
    t.close();
    throw err;
  } finally {
    openTracing = null;
  }
}

/** Other kfree_skb tracers of this project loaded right now (another agent or test): they add their cost to every run. */
function foreignTracers(): string[] {
  const r = run('bpftool', ['-j', 'prog', 'show'], { allowFail: true });
  if (r.status !== 0) return [];
  try {
    const progs = JSON.parse(r.stdout) as { id: number; name?: string; pids?: { pid: number; comm: string }[] }[];
    return progs.filter((p) => (p.name ?? '').startsWith('csw_kfree_skb')).map((p) => `${p.name} (id ${p.id}${p.pids ? ', ' + p.pids.map((x) => `${x.comm} ${x.pid}`).join(', ') : ''})`);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Part 1: workloads in the lab

type WorkloadKey = 'dns' | 'dns-bad' | 'tcp' | 'udp' | 'udp-bad';

interface Workload {
  key: WorkloadKey;
  title: string;
  unit: string;
  /** The injector's setting on node1's underlay egress during the workload (null: off). */
  fault: Omit<InjectConfig, 'vxlanPorts'> | null;
}

const WORKLOADS: Workload[] = [
  { key: 'dns', title: 'DNS, dnsperf max rate', unit: 'answered q/s', fault: null },
  { key: 'dns-bad', title: `DNS, ${DAMAGE * 100}% of queries with a bad inner UDP checksum`, unit: 'answered q/s', fault: { mode: 'inner-udp', probability: DAMAGE, innerPort: 53, direction: 'to' } },
  { key: 'tcp', title: 'iperf3 TCP', unit: 'Gbit/s', fault: null },
  { key: 'udp', title: `iperf3 UDP -b 0 (${UDP_LEN} B)`, unit: 'Gbit/s received', fault: null },
  { key: 'udp-bad', title: `iperf3 UDP -b 0, ${DAMAGE * 100}% with a bad inner UDP checksum`, unit: 'Gbit/s received', fault: { mode: 'inner-udp', probability: DAMAGE, innerPort: IPERF_PORT, direction: 'to' } },
];

const INJECT_OFF = (port: number): InjectConfig => ({ mode: 'off', probability: 1, vxlanPorts: [port], innerPort: 53, direction: 'to' });

interface Measure {
  /** The workload's throughput, in its unit. */
  value: number;
  seconds: number;
  extra: Record<string, number>;
}

interface LabRun {
  workload: WorkloadKey;
  mode: Mode;
  round: number;
  value: number;
  seconds: number;
  extra: Record<string, number>;
  /** Busy cores of the whole machine during the run. */
  busyCores: number;
  trace: TraceResult | null;
  /** Growth of Udp counters summed over the lab's nodes. */
  snmp: { InCsumErrors: number; RcvbufErrors: number; NoPorts: number };
}

interface LabOptions {
  rounds: number;
  dnsRounds: number;
  seconds: number;
  queries: number;
}

/** dnsperf from node1 to the lab's DNS server, asynchronously; o.outstanding and o.timeoutS as dnsperf's -q and -t. */
async function dnsperf(lab: Lab, dir: string, o: { queries: number; outstanding: number; timeoutS: number; prefix: string }): Promise<Measure> {
  const file = join(dir, `${o.prefix}.txt`);
  let text = '';
  for (let i = 0; i < o.queries; i++) text += `${o.prefix}${String(i).padStart(6, '0')}.${DNS_ZONE} A\n`;
  writeFileSync(file, text);
  try {
    const limitS = Math.ceil(o.queries / 1000) + 10;
    const d = await runIn(lab.node(1).ns, 'dnsperf', ['-s', lab.dnsAddress, '-d', file, '-n', '1', '-c', '1', '-q', String(o.outstanding), '-t', String(o.timeoutS), '-Q', String(MAX_QPS), '-l', String(limitS)], (limitS + 10) * 1000);
    if (d.code !== 0) throw failure('running dnsperf', d);
    const r = parseDnsperf(d.stdout);
    const runTime = Number(/^\s*Run time \(s\):\s+([\d.]+)/m.exec(d.stdout)?.[1] ?? NaN);
    return { value: r.completed / runTime, seconds: runTime, extra: { sent: r.sent, completed: r.completed, lost: r.lost } };
  } finally {
    rmSync(file, { force: true });
  }
}

/** True once something listens on TCP port in ns. */
function listening(ns: string, port: number): boolean {
  const r = run('ip', ['netns', 'exec', ns, 'ss', '-Hltn', `sport = :${port}`], { allowFail: true });
  return r.status === 0 && r.stdout.trim() !== '';
}

/**
 * iperf3 from node1 to node2's overlay address for `seconds` after one omitted second, with a
 * one-off server. arm runs half-way through the omitted second: iperf3 3.12 opens a UDP test
 * with one datagram to the server's port and waits for it without a timeout, so damage must
 * start after that datagram.
 */
async function iperf3(lab: Lab, udp: boolean, seconds: number, arm: (() => void) | null = null): Promise<Measure> {
  const srv = lab.node(2);
  const cli = lab.node(1);
  const server = spawn('ip', ['netns', 'exec', srv.ns, 'iperf3', '-s', '-1', '-B', srv.overlay, '-p', String(IPERF_PORT)], { stdio: 'ignore' });
  server.on('error', () => undefined); // seen as never listening
  try {
    for (let i = 0; i < 50 && !listening(srv.ns, IPERF_PORT); i++) await sleep(100);
    if (!listening(srv.ns, IPERF_PORT)) throw new Error(`starting the iperf3 server in ${srv.ns}: not listening on ${IPERF_PORT} after 5 s`);
    const args = ['-c', srv.overlay, '-B', cli.overlay, '-p', String(IPERF_PORT), '-t', String(seconds), '-O', '1', '-J', '--connect-timeout', '3000'];
    if (udp) args.push('-u', '-b', '0', '-l', String(UDP_LEN));
    const client = runIn(cli.ns, 'iperf3', args, (seconds + 20) * 1000);
    if (arm) {
      await sleep(500);
      arm();
    }
    const d = await client;
    let j: { error?: string; end?: Record<string, Record<string, number>> };
    try {
      j = JSON.parse(d.stdout) as typeof j;
    } catch {
      throw failure('running iperf3 (no JSON)', d);
    }
    if (j.error || d.code !== 0 || !j.end) throw new Error(`running iperf3${udp ? ' -u' : ''}: ${j.error ?? `exit ${d.code}`}`);
    const rx = j.end.sum_received;
    const tx = j.end.sum_sent;
    if (udp) {
      const sum = j.end.sum;
      return { value: rx.bits_per_second / 1e9, seconds: rx.seconds, extra: { sentGbps: tx.bits_per_second / 1e9, packets: tx.packets, lostPackets: sum.lost_packets, lostPercent: sum.lost_percent } };
    }
    return { value: rx.bits_per_second / 1e9, seconds: rx.seconds, extra: { sentGbps: tx.bits_per_second / 1e9, retransmits: tx.retransmits } };
  } finally {
    if (!(await exited(server, 5000))) {
      server.kill('SIGKILL');
      await exited(server, 2000);
    }
  }
}

function labSnmp(lab: Lab): LabRun['snmp'] {
  const s = { InCsumErrors: 0, RcvbufErrors: 0, NoPorts: 0 };
  for (const n of lab.topo.nodes) {
    const x = snmpOf(n.ns);
    for (const k of Object.keys(s) as (keyof typeof s)[]) s[k] += snmpValue(x, 'Udp', k);
  }
  return s;
}

async function labPart(o: LabOptions, dir: string): Promise<{ runs: LabRun[]; config: TraceConfig[] }> {
  const runs: LabRun[] = [];
  const eventSlots = DEFAULT_EVENT_REASONS.map((r) => reasonNames.indexOf(r)).filter((i) => i >= 0);
  let home: number[] = [];
  const cfg = (m: Mode): TraceConfig | null => (m === 'off' ? null : { attach: m, ringBytes: RING_1M, eventSlots, scope: 'dns-vxlan', home });
  const lab = labUp({ ...DEFAULT_CONFIG, name: LAB });
  try {
    home = [lab.topo.switchNs, ...lab.topo.nodes.map((n) => n.ns)].map(nsInode);
    const port = lab.config.port;
    const injector = lab.injector(1);
    let seq = 0;
    const measure = async (w: Workload, m: Mode, round: number): Promise<LabRun> => {
      const prefix = `b${seq++}x`;
      const s0 = labSnmp(lab);
      const b0 = cpuBusy();
      const t0 = process.hrtime.bigint();
      const arm = w.fault ? () => injector.configure({ ...w.fault!, vxlanPorts: [port] }) : null;
      const { r, trace } = await traced(cfg(m), port, () => {
        switch (w.key) {
          case 'dns':
            return dnsperf(lab, dir, { queries: o.queries, outstanding: 200, timeoutS: 1, prefix });
          case 'dns-bad':
            // Lost queries wait for dnsperf's timeout: a short one, with more of them in flight,
            // keeps the rate set by the server rather than by waiting.
            arm!();
            return dnsperf(lab, dir, { queries: o.queries, outstanding: 500, timeoutS: 0.02, prefix });
          case 'tcp':
            return iperf3(lab, false, o.seconds);
          default:
            return iperf3(lab, true, o.seconds, arm);
        }
      });
      injector.configure(INJECT_OFF(port));
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const busy = (cpuBusy() - b0) / wall;
      const s1 = labSnmp(lab);
      return {
        workload: w.key, mode: m, round, value: r.value, seconds: r.seconds, extra: r.extra, busyCores: busy, trace,
        snmp: { InCsumErrors: s1.InCsumErrors - s0.InCsumErrors, RcvbufErrors: s1.RcvbufErrors - s0.RcvbufErrors, NoPorts: s1.NoPorts - s0.NoPorts },
      };
    };

    // Unreported: the first queries and the first iperf3 of a fresh lab pay for JIT and caches.
    await dnsperf(lab, dir, { queries: Math.min(o.queries, 10_000), outstanding: 200, timeoutS: 1, prefix: 'warm' });
    await iperf3(lab, false, 1);

    const rounds = Math.max(o.rounds, o.dnsRounds);
    for (let round = 0; round < rounds; round++) {
      for (const w of WORKLOADS) {
        if (round >= (w.key.startsWith('dns') ? o.dnsRounds : o.rounds)) continue;
        try {
          for (const m of rotate(MODES, round)) {
            const x = await measure(w, m, round);
            runs.push(x);
            const t = x.trace;
            log(`  round ${round + 1} ${w.key.padEnd(7)} ${m.padEnd(6)}: ${fmt(x.value)} ${w.unit}` + (t ? `, traced ${t.drops} drops, ${t.events} events, ${t.lost} lost` : ''));
          }
        } finally {
          injector.configure(INJECT_OFF(port));
        }
      }
    }
    return { runs, config: [cfg('tp_btf')!] };
  } finally {
    labDown(LAB);
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: the drop flood

interface FloodVariant {
  key: string;
  attach: AttachType | null;
  /** Events for no_socket (scope all), or counts only. */
  events: boolean;
  ringBytes: number;
  /** This process reads the ring (else it fills, and every later event is lost). */
  read: boolean;
}

const FLOOD_VARIANTS: FloodVariant[] = [
  { key: 'off', attach: null, events: false, ringBytes: 0, read: false },
  { key: 'tp_btf counts', attach: 'tp_btf', events: false, ringBytes: RING_1M, read: true },
  { key: 'raw_tp counts', attach: 'raw_tp', events: false, ringBytes: RING_1M, read: true },
  { key: 'tp_btf events 1M, not read', attach: 'tp_btf', events: true, ringBytes: RING_1M, read: false },
  { key: 'tp_btf events 64K', attach: 'tp_btf', events: true, ringBytes: RING_64K, read: true },
  { key: 'tp_btf events 1M', attach: 'tp_btf', events: true, ringBytes: RING_1M, read: true },
  { key: 'raw_tp events 1M', attach: 'raw_tp', events: true, ringBytes: RING_1M, read: true },
];

interface FloodRun {
  variant: string;
  round: number;
  /** The sender's report. */
  sent: number;
  seconds: number;
  pps: number;
  senderCpuSeconds: number;
  senderPreempted: number;
  /** Growth of Udp NoPorts in the receiving namespace: the datagrams that reached the socket layer. */
  noPorts: number;
  /** This process (the ring's reader) during the run. */
  readerCpuSeconds: number;
  readerWakeups: number;
  trace: TraceResult | null;
  checks: { countedEqualsNoPorts: boolean | null; eventsPlusLostEqualsCounted: boolean | null; deliveredEqualsEvents: boolean | null };
}

interface FloodOptions {
  rounds: number;
  packets: number;
  seconds: number;
}

/** Stops every process in the flood's namespaces (only its sender runs there) and deletes them. */
function floodDown(): void {
  for (const ns of [FLOOD_TX, FLOOD_RX]) {
    const pids = run('ip', ['netns', 'pids', ns], { allowFail: true }).stdout.split('\n').filter((p) => /^\d+$/.test(p.trim()));
    for (const p of pids) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        // gone already
      }
    }
    run('ip', ['netns', 'del', ns], { allowFail: true });
  }
}

function floodUp(): void {
  floodDown();
  for (const ns of [FLOOD_TX, FLOOD_RX]) {
    run('ip', ['netns', 'add', ns]);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  }
  run('ip', ['link', 'add', 'veth0', 'netns', FLOOD_TX, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', FLOOD_RX]);
  run('ip', ['-n', FLOOD_TX, 'addr', 'add', `${FLOOD_SRC}/30`, 'dev', 'veth0']);
  run('ip', ['-n', FLOOD_RX, 'addr', 'add', `${FLOOD_DST}/30`, 'dev', 'veth0']);
  for (const ns of [FLOOD_TX, FLOOD_RX]) run('ip', ['-n', ns, 'link', 'set', 'veth0', 'up']);
  // No port-unreachable answers: the global ICMP budget of the receiver's namespace is zero, so
  // the sender's connected socket never sees ECONNREFUSED and the flood is nothing but drops.
  run('ip', ['netns', 'exec', FLOOD_RX, 'sysctl', '-q', '-w', 'net.ipv4.icmp_msgs_per_sec=0', 'net.ipv4.icmp_msgs_burst=0']);
}

async function floodPart(o: FloodOptions): Promise<FloodRun[]> {
  const runs: FloodRun[] = [];
  const noSocket = slotOf('no_socket');
  floodUp();
  try {
    const home = [nsInode(FLOOD_TX), nsInode(FLOOD_RX)];
    const noPorts = () => snmpValue(snmpOf(FLOOD_RX), 'Udp', 'NoPorts');
    for (let round = 0; round < o.rounds; round++) {
      for (const v of rotate(FLOOD_VARIANTS, round)) {
        const cfg: TraceConfig | null = v.attach ? { attach: v.attach, ringBytes: v.ringBytes, eventSlots: v.events ? [noSocket] : [], scope: 'all', home, read: v.read } : null;
        const np0 = noPorts();
        let cpu0 = process.cpuUsage();
        let wk0 = wakeups();
        const { r: d, trace } = await traced(cfg, DEFAULT_CONFIG.port, async () => {
          cpu0 = process.cpuUsage();
          wk0 = wakeups();
          return runIn(FLOOD_TX, process.execPath, [FLOOD_JS, '--addr', FLOOD_DST, '--port', String(FLOOD_PORT), '--count', String(o.packets), '--seconds', String(o.seconds)], (o.seconds + 20) * 1000);
        });
        const cpu = process.cpuUsage(cpu0);
        const wk = wakeups() - wk0;
        const np = noPorts() - np0;
        if (d.code !== 0) throw failure('running the flood sender', d);
        const s = JSON.parse(d.stdout) as { sent: number; seconds: number; pps: number; cpuSeconds: number; preempted: number };
        const t = trace;
        const x: FloodRun = {
          variant: v.key, round, sent: s.sent, seconds: s.seconds, pps: s.pps, senderCpuSeconds: s.cpuSeconds, senderPreempted: s.preempted,
          noPorts: np, readerCpuSeconds: (cpu.user + cpu.system) / 1e6, readerWakeups: wk, trace: t,
          checks: {
            countedEqualsNoPorts: t ? t.noSocketUdp - (t.foreignUdp.no_socket ?? 0) === np : null,
            eventsPlusLostEqualsCounted: t && v.events ? t.events + t.lost === t.noSocketAll : null,
            deliveredEqualsEvents: t && v.read ? t.delivered === t.events : null,
          },
        };
        runs.push(x);
        log(`  round ${round + 1} ${v.key.padEnd(26)}: ${fmt(s.pps)} pkt/s, NoPorts ${np}` + (t ? `, counted ${t.noSocketUdp}, events ${t.events} (delivered ${t.delivered}) + lost ${t.lost} = ${t.events + t.lost}` : ''));
      }
    }
    return runs;
  } finally {
    floodDown();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function fmt(v: number): string {
  if (Number.isNaN(v)) return '-';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)} k`;
  if (a >= 100) return Math.round(v).toString();
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** A count: whole numbers, k and M above 10 000. */
function count(v: number): string {
  return Number.isNaN(v) || Math.abs(v) >= 1e4 ? fmt(v) : Math.round(v).toString();
}

function ratio(a: number, b: number): string {
  return Number.isFinite(a / b) ? `${(a / b).toFixed(3)}×` : '-';
}

function mdTable(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

interface LabSummary {
  workload: WorkloadKey;
  unit: string;
  runs: number;
  median: Record<Mode, number>;
  ratio: Record<'tp_btf' | 'raw_tp', number>;
  /** Per-round ratios to that round's 'off': their range shows the noise. */
  roundRatios: Record<'tp_btf' | 'raw_tp', number[]>;
  busyCores: Record<Mode, number>;
  tracedDropsPerSecond: Record<'tp_btf' | 'raw_tp', number>;
  events: Record<'tp_btf' | 'raw_tp', number>;
  lost: Record<'tp_btf' | 'raw_tp', number>;
}

function summarizeLab(runs: LabRun[]): LabSummary[] {
  const out: LabSummary[] = [];
  for (const w of WORKLOADS) {
    const rs = runs.filter((r) => r.workload === w.key);
    if (rs.length === 0) continue;
    const of = (m: Mode) => rs.filter((r) => r.mode === m);
    const med = (m: Mode, f: (r: LabRun) => number) => median(of(m).map(f));
    const on = ['tp_btf', 'raw_tp'] as const;
    const s: LabSummary = {
      workload: w.key, unit: w.unit, runs: of('off').length,
      median: { off: med('off', (r) => r.value), tp_btf: med('tp_btf', (r) => r.value), raw_tp: med('raw_tp', (r) => r.value) },
      ratio: { tp_btf: NaN, raw_tp: NaN },
      roundRatios: { tp_btf: [], raw_tp: [] },
      busyCores: { off: med('off', (r) => r.busyCores), tp_btf: med('tp_btf', (r) => r.busyCores), raw_tp: med('raw_tp', (r) => r.busyCores) },
      tracedDropsPerSecond: { tp_btf: NaN, raw_tp: NaN },
      events: { tp_btf: NaN, raw_tp: NaN },
      lost: { tp_btf: NaN, raw_tp: NaN },
    };
    for (const m of on) {
      s.ratio[m] = s.median[m] / s.median.off;
      for (const r of of(m)) {
        const base = of('off').find((b) => b.round === r.round);
        if (base) s.roundRatios[m].push(r.value / base.value);
      }
      s.tracedDropsPerSecond[m] = med(m, (r) => r.trace!.drops / r.seconds);
      s.events[m] = med(m, (r) => r.trace!.events);
      s.lost[m] = of(m).reduce((a, r) => a + r.trace!.lost, 0);
    }
    out.push(s);
  }
  return out;
}

/** Runs where the tracer's count of a reason differs from the snmp counter that counts the same drops. */
function labChecks(runs: LabRun[]): { what: string; ok: number; of: number; bad: string[] }[] {
  const pairs: [string, keyof LabRun['snmp']][] = [['udp_csum', 'InCsumErrors'], ['socket_rcvbuff', 'RcvbufErrors'], ['no_socket', 'NoPorts']];
  const out = [];
  for (const [reason, counter] of pairs) {
    const traced = runs.filter((r) => r.trace);
    const here = (t: TraceResult) => (t.reasonsUdp[reason] ?? 0) - (t.foreignUdp[reason] ?? 0);
    const bad = traced.filter((r) => here(r.trace!) !== r.snmp[counter]);
    out.push({
      what: `${reason} counted for UDP (less events from other namespaces) = Udp ${counter} (all lab nodes)`, ok: traced.length - bad.length, of: traced.length,
      bad: bad.map((r) => `${r.workload}/${r.mode}/round ${r.round + 1}: ${here(r.trace!)} vs ${r.snmp[counter]}`),
    });
  }
  const ev = runs.filter((r) => r.trace && r.trace.delivered !== r.trace.events);
  out.push({ what: 'events delivered = events written', ok: runs.filter((r) => r.trace).length - ev.length, of: runs.filter((r) => r.trace).length, bad: ev.map((r) => `${r.workload}/${r.mode}/round ${r.round + 1}: ${r.trace!.delivered} vs ${r.trace!.events}`) });
  return out;
}

interface FloodSummary {
  variant: string;
  runs: number;
  pps: number;
  ratio: number;
  nsPerDrop: number;
  dropsPerSecond: number;
  noPorts: number;
  counted: number;
  events: number;
  delivered: number;
  lost: number;
  lostShare: number;
  readerNsPerEvent: number;
  readerWakeupsPerSecond: number;
  eventsPerWakeup: number;
  senderPreemptedPerSecond: number;
  checks: { countedEqualsNoPorts: string; eventsPlusLostEqualsCounted: string; deliveredEqualsEvents: string };
}

function summarizeFlood(runs: FloodRun[]): FloodSummary[] {
  const offPps = median(runs.filter((r) => r.variant === 'off').map((r) => r.pps));
  return FLOOD_VARIANTS.map((v) => {
    const rs = runs.filter((r) => r.variant === v.key);
    const med = (f: (r: FloodRun) => number) => median(rs.map(f));
    const pps = med((r) => r.pps);
    const tally = (k: keyof FloodRun['checks']) => {
      const xs = rs.map((r) => r.checks[k]).filter((c) => c !== null);
      return xs.length === 0 ? '-' : `${xs.filter((c) => c).length}/${xs.length}`;
    };
    const t = (f: (x: TraceResult) => number) => med((r) => (r.trace ? f(r.trace) : NaN));
    return {
      variant: v.key, runs: rs.length, pps, ratio: pps / offPps, nsPerDrop: v.attach ? 1e9 / pps - 1e9 / offPps : NaN,
      dropsPerSecond: med((r) => r.noPorts / r.seconds), noPorts: med((r) => r.noPorts), counted: t((x) => x.noSocketUdp),
      events: t((x) => x.events), delivered: t((x) => x.delivered), lost: t((x) => x.lost), lostShare: t((x) => (x.events + x.lost > 0 ? x.lost / (x.events + x.lost) : NaN)),
      readerNsPerEvent: v.events && v.read ? med((r) => (r.trace && r.trace.delivered > 0 ? (r.readerCpuSeconds * 1e9) / r.trace.delivered : NaN)) : NaN,
      readerWakeupsPerSecond: med((r) => r.readerWakeups / r.seconds),
      eventsPerWakeup: v.events && v.read ? med((r) => (r.trace && r.readerWakeups > 0 ? r.trace.delivered / r.readerWakeups : NaN)) : NaN,
      senderPreemptedPerSecond: med((r) => r.senderPreempted / r.seconds),
      checks: { countedEqualsNoPorts: tally('countedEqualsNoPorts'), eventsPlusLostEqualsCounted: tally('eventsPlusLostEqualsCounted'), deliveredEqualsEvents: tally('deliveredEqualsEvents') },
    };
  });
}

/** Says how many events came from namespaces other than this benchmark's (the tracer sees the whole host). */
function foreignLine(traces: (TraceResult | null)[]): string {
  const ts = traces.filter((t): t is TraceResult => t !== null);
  const n = ts.reduce((a, t) => a + t.foreign, 0);
  const runs = ts.filter((t) => t.foreign > 0).length;
  return n === 0
    ? '- events from namespaces other than this benchmark\'s: none'
    : `- events from namespaces other than this benchmark's (another test on this host): ${n} in ${runs} of ${ts.length} runs; the checks leave them out`;
}

function printLab(sum: LabSummary[], runs: LabRun[], o: LabOptions): void {
  const out: string[] = [];
  out.push(`### Throughput with and without the tracer (lab ${LAB}, medians; DNS ${o.dnsRounds} rounds of ${o.queries} queries, iperf3 ${o.rounds} rounds of ${o.seconds} s)`);
  out.push('');
  const range = (xs: number[]) => (xs.length ? `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}` : '-');
  out.push(mdTable(
    ['workload', 'unit', 'off', 'tp_btf', 'tp_btf / off (rounds)', 'raw_tp', 'raw_tp / off (rounds)', 'busy cores off / tp_btf / raw_tp', 'drops/s traced', 'events (lost)'],
    sum.map((s) => {
      const w = WORKLOADS.find((x) => x.key === s.workload)!;
      return [
        w.title, s.unit, fmt(s.median.off), fmt(s.median.tp_btf), `${ratio(s.median.tp_btf, s.median.off)} (${range(s.roundRatios.tp_btf)})`,
        fmt(s.median.raw_tp), `${ratio(s.median.raw_tp, s.median.off)} (${range(s.roundRatios.raw_tp)})`,
        `${s.busyCores.off.toFixed(2)} / ${s.busyCores.tp_btf.toFixed(2)} / ${s.busyCores.raw_tp.toFixed(2)}`,
        count(s.tracedDropsPerSecond.tp_btf), `${count(s.events.tp_btf)} (${s.lost.tp_btf + s.lost.raw_tp})`,
      ];
    }),
  ));
  out.push('');
  out.push('(ratio: median with the tracer over median without; in brackets the range of the per-round ratios. busy cores: the whole');
  out.push(' 2-core machine. drops/s traced and events: medians of the tp_btf runs; lost: events lost over all tracer runs)');
  out.push('');
  for (const c of labChecks(runs)) out.push(`- ${c.what}: ${c.ok}/${c.of} runs${c.bad.length ? ' — differs: ' + c.bad.slice(0, 5).join('; ') : ''}`);
  out.push(foreignLine(runs.map((r) => r.trace)));
  const extra = (k: WorkloadKey, m: Mode, f: string) => median(runs.filter((r) => r.workload === k && r.mode === m).map((r) => r.extra[f]));
  out.push(`- dnsperf lost queries (median off / tp_btf / raw_tp): dns ${extra('dns', 'off', 'lost')} / ${extra('dns', 'tp_btf', 'lost')} / ${extra('dns', 'raw_tp', 'lost')}, `
    + `dns-bad ${extra('dns-bad', 'off', 'lost')} / ${extra('dns-bad', 'tp_btf', 'lost')} / ${extra('dns-bad', 'raw_tp', 'lost')}`);
  out.push(`- iperf3 UDP lost % (median off / tp_btf / raw_tp): udp ${extra('udp', 'off', 'lostPercent').toFixed(1)} / ${extra('udp', 'tp_btf', 'lostPercent').toFixed(1)} / ${extra('udp', 'raw_tp', 'lostPercent').toFixed(1)}, `
    + `udp-bad ${extra('udp-bad', 'off', 'lostPercent').toFixed(1)} / ${extra('udp-bad', 'tp_btf', 'lostPercent').toFixed(1)} / ${extra('udp-bad', 'raw_tp', 'lostPercent').toFixed(1)}; `
    + `TCP retransmits ${extra('tcp', 'off', 'retransmits')} / ${extra('tcp', 'tp_btf', 'retransmits')} / ${extra('tcp', 'raw_tp', 'retransmits')}`);
  process.stdout.write(out.join('\n') + '\n\n');
}

function printFlood(sum: FloodSummary[], runs: FloodRun[], o: FloodOptions): void {
  const out: string[] = [];
  out.push(`### Drop flood: no_socket drops, one sender, ${o.rounds} interleaved rounds of at most ${fmt(o.packets)} datagrams or ${o.seconds} s (medians)`);
  out.push('');
  out.push(mdTable(
    ['tracer', 'sender pkt/s', 'vs off', 'ns per drop', 'drops/s (NoPorts)', 'no_socket counted = NoPorts', 'events', 'lost', 'lost share', 'events + lost = counted', 'delivered = events', 'reader CPU ns/event', 'reader wakeups/s', 'events/wakeup', 'sender preempted/s'],
    sum.map((s) => [
      s.variant, fmt(s.pps), ratio(s.pps, s.pps / s.ratio), Number.isNaN(s.nsPerDrop) ? '-' : Math.round(s.nsPerDrop).toString(), fmt(s.dropsPerSecond),
      s.checks.countedEqualsNoPorts, count(s.events), count(s.lost), Number.isNaN(s.lostShare) ? '-' : `${(s.lostShare * 100).toFixed(1)}%`,
      s.checks.eventsPlusLostEqualsCounted, s.checks.deliveredEqualsEvents, Number.isNaN(s.readerNsPerEvent) ? '-' : Math.round(s.readerNsPerEvent).toString(),
      count(s.readerWakeupsPerSecond), Number.isNaN(s.eventsPerWakeup) ? '-' : s.eventsPerWakeup.toFixed(2), count(s.senderPreemptedPerSecond),
    ]),
  ));
  out.push('');
  out.push('(ns per drop: 1e9/rate with the tracer - 1e9/rate without, the sender\'s wall time per datagram; checks: runs that passed.');
  out.push(' reader: this process, which reads the ring; its wakeups are its main thread\'s voluntary context switches)');
  out.push('');
  out.push(foreignLine(runs.map((r) => r.trace)));
  process.stdout.write(out.join('\n') + '\n\n');
}

// ---------------------------------------------------------------------------------------------

/** dnsperf's query files. */
let workDir: string | null = null;

function cleanupSync(): void {
  try {
    openTracing?.close();
  } catch {
    // closing anyway
  }
  try {
    labDown(LAB);
  } catch (err) {
    log(`bench ebpf: removing lab ${LAB}: ${(err as Error).message}`);
  }
  floodDown();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  workDir = null;
}

async function main(): Promise<number> {
  const { values: v } = parseArgs({
    options: {
      rounds: { type: 'string', default: process.env.CSW_BENCH_EBPF_ROUNDS ?? '3' },
      'dns-rounds': { type: 'string', default: process.env.CSW_BENCH_EBPF_DNS_ROUNDS ?? '5' },
      seconds: { type: 'string', default: '4' },
      queries: { type: 'string', default: '30000' },
      'flood-rounds': { type: 'string', default: process.env.CSW_BENCH_EBPF_FLOOD_ROUNDS ?? '3' },
      'flood-packets': { type: 'string', default: '1000000' },
      'flood-seconds': { type: 'string', default: '4' },
      parts: { type: 'string', default: 'lab,flood' },
    },
    strict: true,
  });
  const int = (name: string, s: string | undefined, lo: number, hi: number): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new Error(`--${name}: want ${lo} to ${hi}, got ${s}`);
    return n;
  };
  const labO: LabOptions = {
    rounds: int('rounds', v.rounds, 1, 20), dnsRounds: int('dns-rounds', v['dns-rounds'], 1, 50),
    seconds: int('seconds', v.seconds, 1, 30), queries: int('queries', v.queries, 1000, 100_000),
  };
  const floodO: FloodOptions = {
    rounds: int('flood-rounds', v['flood-rounds'], 1, 20), packets: int('flood-packets', v['flood-packets'], 1000, 20_000_000),
    seconds: int('flood-seconds', v['flood-seconds'], 1, 30),
  };
  const parts = new Set(v.parts!.split(','));
  for (const p of parts) if (p !== 'lab' && p !== 'flood') throw new Error(`--parts: want lab and/or flood, got ${p}`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('bench ebpf: must run as root (namespaces, BPF)');
  for (const tool of ['dnsperf', 'iperf3', 'bpftool', 'ss']) {
    if (run('sh', ['-c', `command -v ${tool}`], { allowFail: true }).status !== 0) throw new Error(`${tool} is missing: run scripts/setup.sh`);
  }
  const names = dropReasonNames(null);
  if (names.error) throw new Error(`reading drop reason names: ${names.error.message}`);
  reasonNames = names.names;

  const onSignal = (sig: NodeJS.Signals) => {
    log(`bench ebpf: ${sig}: cleaning up`);
    cleanupSync();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const foreign = foreignTracers();
  log(`csumwatch drop tracer benchmark; node ${process.version}, ${cpus().length} x ${cpus()[0].model}, kernel ${run('uname', ['-r']).stdout.trim()}`);
  if (foreign.length) log(`  warning: other kfree_skb tracers are loaded and add their cost to every run: ${foreign.join('; ')}`);

  const dir = mkdtempSync(join(tmpdir(), 'csw-bench-ebpf-'));
  workDir = dir;
  const t0 = Date.now();
  let lab: { runs: LabRun[]; config: TraceConfig[] } | null = null;
  let flood: FloodRun[] | null = null;
  try {
    if (parts.has('lab')) {
      log(`part 1: throughput, lab ${LAB}`);
      lab = await labPart(labO, dir);
    }
    if (parts.has('flood')) {
      log(`part 2: drop flood, namespaces ${FLOOD_TX} -> ${FLOOD_RX}`);
      flood = await floodPart(floodO);
    }
  } finally {
    cleanupSync();
  }

  const labSum = lab ? summarizeLab(lab.runs) : null;
  const floodSum = flood ? summarizeFlood(flood) : null;
  process.stdout.write(`## csumwatch drop tracer (bpf/drops.bpf.c): cost, one run of \`node dist/bench/ebpf.js\`, ${((Date.now() - t0) / 1000).toFixed(0)} s\n\n`);
  if (labSum && lab) printLab(labSum, lab.runs, labO);
  if (floodSum && flood) printFlood(floodSum, flood, floodO);
  const foreignAfter = foreignTracers();
  process.stdout.write(JSON.stringify({
    bench: 'ebpf', node: process.version, cpus: cpus().length, kernel: run('uname', ['-r']).stdout.trim(), foreignTracers: { before: foreign, after: foreignAfter },
    lab: lab ? { options: labO, tracer: lab.config[0], summary: labSum, runs: lab.runs } : null,
    flood: flood ? { options: floodO, summary: floodSum, runs: flood } : null,
  }) + '\n');
  const checksOk = (!lab || labChecks(lab.runs).every((c) => c.bad.length === 0))
    && (!flood || flood.every((r) => Object.values(r.checks).every((c) => c !== false)));
  if (!checksOk) log('bench ebpf: some checks failed (see the tables)');
  return checksOk ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`bench ebpf: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
