// npm run bench (scale): how the agent's memory and CPU grow with DNS transactions in flight, with
// packet rate, with VTEP peers, DNS servers and captured interfaces, and what its /metrics costs a
// 1,000-node cluster.
//
// Everything runs in process against the real pipeline, no root and no network: an Agent
// (src/agent/agent.ts) whose listInterfaces returns VXLAN devices and their underlays and whose
// openSource returns GenSource, a PacketSource that hands over generated frames in batches in the
// record format of src/capture/source.ts; BPF off, no link watch, the doctor never run; the real
// registry (src/metrics/registry.ts) and fastify app (src/server/app.ts), scraped with
// app.inject() with the Accept header Prometheus sends.
//
// Frames: templates built once by test/support/packets.ts (its own checksum arithmetic, not
// src/'s): VXLAN over IPv4 (port 4789, outer UDP checksum on) carrying DNS queries and responses
// as a pod's resolver sends them with ndots:5 (search-path NXDOMAINs, A and AAAA, CNAME chains),
// the same messages decapsulated as the VXLAN device shows them, plain DNS, and VXLAN bulk (TCP,
// 1398 bytes of payload: 1514-byte frames). Per transaction the client and server addresses, the
// client port, the DNS ID and the VTEP peer are written in place and every checksum that covers
// them is updated incrementally (RFC 1624 eqn. 3), so the generator costs little next to the
// agent. Each run checks that the agent counted every packet, found no bad checksum and no decode
// error, and saw exactly the transactions, servers and peers that were sent; a self-check at start
// shows that a field written without its checksum update is caught.
//
// CPU: process.cpuUsage() over the run minus the generator's own (bracketed per chunk): what the
// agent spends, its timers included; "pipeline" is the batch handler alone (decode, verify,
// count, correlate). Memory: each measurement runs in its own child process (node --expose-gc,
// gc before each reading) so one phase's heap cannot hide another's.
//
// usage: node dist/bench/scale.js [--parts table,rate,shape] [--seconds 3] [--txns 1000000] [--json]

import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { setImmediate as yieldLoop, setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import { Agent } from '../src/agent/agent';
import { AgentConfig, DEFAULT_AGENT_CONFIG } from '../src/agent/config';
import type { PcapOptions } from '../src/capture/pcap';
import { readRecord, RECORD_HEADER, RecordView } from '../src/capture/source';
import { parseMetrics, Sample, sumSamples } from '../test/support/exposition';
import { MemorySource } from '../test/support/memory-source';
import { Decoder } from '../src/decode/decoder';
import { DIR_RX, Frame } from '../src/decode/frame';
import { createRegistry } from '../src/agent/registry';
import type { NetInterface } from '../src/node/interfaces';
import { agentViews } from '../src/agent/views';
import { build as buildApp } from '../src/server/app';
import { build, FrameSpec, Marks, plainDnsSpec, plainTcpSpec, vxlanSpec } from '../test/support/packets';
import { memKiB } from '../test/support/proc';

const VERSION: string = require('../../package.json').version;
const MiB = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Frame templates and in-place rewriting with incremental checksum updates

/** A checksum field: at `at`, over bytes [start, end), plus the pseudo-header of the IPv4 header at `ip` (-1: none). */
interface Csum { at: number; start: number; end: number; ip: number; udp: boolean }

/** One frame to copy and rewrite; offsets are from the frame's start, -1 where absent. */
class Template {
  /** Checksums covering each byte offset (only the offsets rewritten are asked for). */
  private readonly covers: Csum[][];
  readonly local: number;
  readonly peer: number;
  readonly client: number;
  readonly server: number;
  readonly cport: number;
  readonly id: number;

  /**
   * m: build()'s marks. vxlanDir: for a VXLAN frame, 'tx' (the peer is the outer destination) or
   * 'rx' (the source). query: the inner client is the source (a query) or the destination.
   */
  constructor(readonly bytes: Buffer, m: Marks, vxlanDir: 'rx' | 'tx' | null, query: boolean, dns: boolean) {
    const csums: Csum[] = [];
    const addStack = (s: Marks): void => {
      csums.push({ at: s.ip + 10, start: s.ip, end: s.ip + s.ipHeaderLen, ip: -1, udp: false });
      csums.push({ at: s.l4Field, start: s.l4, end: bytes.length, ip: s.ip, udp: bytes[s.ip + 9] === 17 });
    };
    addStack(m);
    const inner = m.inner ?? m;
    if (m.inner) addStack(m.inner);
    this.covers = [];
    for (let x = 0; x < bytes.length; x++) {
      this.covers.push(csums.filter((c) => (x >= c.start && x < c.end && x !== c.at) || (c.ip >= 0 && x >= c.ip + 12 && x < c.ip + 20)));
    }
    this.local = vxlanDir === null ? -1 : m.ip + (vxlanDir === 'tx' ? 12 : 16);
    this.peer = vxlanDir === null ? -1 : m.ip + (vxlanDir === 'tx' ? 16 : 12);
    this.client = inner.ip + (query ? 12 : 16);
    this.server = inner.ip + (query ? 16 : 12);
    this.cport = inner.l4 + (query ? 0 : 2);
    this.id = dns ? inner.dns : -1;
    // RFC 1624 updates work on 16-bit words: every rewritten field (and checksum field) must sit
    // at an even distance from the start of each checksum covering it.
    for (const off of [this.local, this.peer, this.client, this.server, this.cport, this.id, ...csums.map((c) => c.at)]) {
      if (off < 0) continue;
      for (const c of this.covers[off]) {
        if (off >= c.start && off < c.end && (off - c.start) % 2 !== 0) throw new Error(`field at ${off} is not word-aligned in the checksum at ${c.at}`);
      }
    }
  }

  /** Writes the 16-bit word v at frame offset off of the frame at b[base...], updating every checksum over it. */
  put16(b: Buffer, base: number, off: number, v: number): void {
    const at = base + off;
    const old = (b[at] << 8) | b[at + 1];
    if (old === v) return;
    b[at] = v >>> 8;
    b[at + 1] = v & 0xff;
    const cs = this.covers[off];
    for (let i = 0; i < cs.length; i++) {
      const c = cs[i];
      const ca = base + c.at;
      // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), with end-around carry.
      let s = (~((b[ca] << 8) | b[ca + 1]) & 0xffff) + (~old & 0xffff) + v;
      s = (s & 0xffff) + (s >>> 16);
      s = (s & 0xffff) + (s >>> 16);
      let n = ~s & 0xffff;
      if (c.udp && n === 0) n = 0xffff; // RFC 768: a computed 0 is sent as all ones
      this.put16(b, base, c.at, n); // the checksum field is itself covered (the outer UDP covers the inner)
    }
  }

  put32(b: Buffer, base: number, off: number, v: number): void {
    this.put16(b, base, off, v >>> 16);
    this.put16(b, base, off + 2, v & 0xffff);
  }
}

const ip4 = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
/** The p-th VTEP peer (172.16.0.0/12), the k-th local VTEP, the s-th DNS server pod, the c-th client pod. */
const peerAddr = (p: number): number => ip4(172, 16 + ((p + 1) >>> 16), ((p + 1) >>> 8) & 255, (p + 1) & 255);
const localAddr = (k: number): number => ip4(172, 31, 255, k + 1);
const serverAddr = (s: number): number => ip4(10, 244, 128 + ((s + 1) >>> 8), (s + 1) & 255);
const clientAddr = (c: number): number => ip4(10, 245, (c + 1) >>> 8 & 255, (c + 1) & 255);
const dotted = (x: number): string => `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;

const SOA: dnsPacket.Answer = { type: 'SOA', name: 'cluster.local', ttl: 30, class: 'IN', data: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 1700000000, refresh: 7200, retry: 1800, expire: 86400, minimum: 30 } };

/** What a pod's resolver sends with ndots:5, and what CoreDNS answers. */
const QUESTIONS: Array<{ name: string; type: 'A' | 'AAAA'; rcode: 'NOERROR' | 'NXDOMAIN'; answers: dnsPacket.Answer[] }> = [
  { name: 'kubernetes.default.svc.cluster.local', type: 'A', rcode: 'NOERROR', answers: [{ type: 'A', name: 'kubernetes.default.svc.cluster.local', ttl: 5, class: 'IN', data: '10.96.0.1' }] },
  { name: 'kubernetes.default.svc.cluster.local', type: 'AAAA', rcode: 'NOERROR', answers: [] },
  { name: 'api.example.com.default.svc.cluster.local', type: 'A', rcode: 'NXDOMAIN', answers: [] },
  { name: 'api.example.com.svc.cluster.local', type: 'A', rcode: 'NXDOMAIN', answers: [] },
  { name: 'api.example.com.cluster.local', type: 'A', rcode: 'NXDOMAIN', answers: [] },
  { name: 'api.example.com', type: 'A', rcode: 'NOERROR', answers: [{ type: 'CNAME', name: 'api.example.com', ttl: 300, class: 'IN', data: 'edge.example.net' }, { type: 'A', name: 'edge.example.net', ttl: 60, class: 'IN', data: '93.184.216.34' }] },
  { name: 'redis-master.prod.svc.cluster.local', type: 'A', rcode: 'NOERROR', answers: [{ type: 'A', name: 'redis-master.prod.svc.cluster.local', ttl: 5, class: 'IN', data: '10.96.14.7' }] },
  { name: 'redis-master.prod.svc.cluster.local', type: 'AAAA', rcode: 'NOERROR', answers: [] },
];

const CLIENT0 = '10.245.0.1';
const SERVER0 = '10.244.128.1';

function dnsSpecs(q: (typeof QUESTIONS)[number]): { query: FrameSpec; response: FrameSpec } {
  const question = [{ type: q.type, name: q.name, class: 'IN' as const }];
  const query: dnsPacket.Packet = { type: 'query', id: 0x1234, flags: dnsPacket.RECURSION_DESIRED, questions: question };
  const response: dnsPacket.Packet = {
    type: 'response', id: 0x1234, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER | (q.rcode === 'NXDOMAIN' ? 3 : 0),
    questions: question, answers: q.answers, authorities: q.rcode === 'NXDOMAIN' || q.answers.length === 0 ? [SOA] : [],
  };
  return {
    query: plainDnsSpec({ src: CLIENT0, dst: SERVER0, sport: 40000, dport: 53, dns: query }),
    response: plainDnsSpec({ src: SERVER0, dst: CLIENT0, sport: 53, dport: 40000, dns: response }),
  };
}

/** A VXLAN frame (outer IPv4, UDP 4789, VNI 1) around inner, leaving on 'tx' or arriving on 'rx'. */
function encap(inner: FrameSpec, dir: 'rx' | 'tx'): FrameSpec {
  const spec = vxlanSpec(inner, { vni: 1, vxlanPort: 4789, vxlanSport: 49321 });
  const [src, dst] = dir === 'tx' ? [localAddr(0), peerAddr(0)] : [peerAddr(0), localAddr(0)];
  return { ...spec, ip: { ...spec.ip, src: dotted(src), dst: dotted(dst) } as FrameSpec['ip'] };
}

function template(spec: FrameSpec, vxlanDir: 'rx' | 'tx' | null, query: boolean, dns: boolean): Template {
  const b = build(spec);
  return new Template(b.bytes, b.marks, vxlanDir, query, dns);
}

// ---------------------------------------------------------------------------------------------
// The packet source the agent reads from

/** Generated frames of one capture (device and direction), handed over in batches. */
class GenSource extends MemorySource {
  constructor(readonly device: string, readonly direction: string) {
    super(1); // Ethernet
  }

  /** Appends a copy of frame captured at tsUs; returns where its bytes start in buf. */
  add(frame: Buffer, tsUs: number): number {
    const n = frame.length;
    if (this.bytes + RECORD_HEADER + ((n + 3) & ~3) > this.buf.length) throw new Error('batch buffer full: the chunk is too large');
    const o = this.reserve(n, n, tsUs);
    frame.copy(this.buf, o);
    return o;
  }
}

// ---------------------------------------------------------------------------------------------
// Traffic

type Mix = 'dns' | 'vxlan-dns' | 'bulk';

interface TrafficSpec {
  /** dns: plain DNS on the underlay; vxlan-dns: DNS through the tunnel; bulk: VXLAN TCP 1514-byte frames. */
  mix: Mix;
  /** This node holds the DNS clients (queries leave) or the DNS servers (queries arrive). */
  side: 'client' | 'server';
  /** Responses sent. */
  answer: boolean;
  /** VXLAN DNS also seen decapsulated on the VXLAN device (the agent's default captures). */
  decap: boolean;
  peers: number;
  servers: number;
  clients: number;
  /** VXLAN devices, each with its own underlay: 2 × pairs captured interfaces. */
  pairs: number;
}

interface PairSources { uIn: GenSource; uOut: GenSource; vIn: GenSource; vOut: GenSource }

/** Interfaces as src/node/interfaces.ts reports them: per pair an underlay (vmxnet3) and a VXLAN device bound to it. */
function interfaces(pairs: number): NetInterface[] {
  const out: NetInterface[] = [];
  for (let k = 0; k < pairs; k++) {
    const under = `ens${192 + k}`;
    out.push({ name: under, ifindex: 2 + 2 * k, kind: 'physical', mtu: 1500, up: true, mac: `00:50:56:00:00:${(k + 1).toString(16).padStart(2, '0')}`, driver: 'vmxnet3', addresses: [{ family: 'inet', address: dotted(localAddr(k)), prefix: 12 }], vxlan: null });
    out.push({
      name: k === 0 ? 'flannel.1' : `vxlan${k}`, ifindex: 3 + 2 * k, kind: 'vxlan', mtu: 1450, up: true, mac: `0a:58:0a:f4:00:${(k + 1).toString(16).padStart(2, '0')}`, driver: 'vxlan',
      addresses: [{ family: 'inet', address: `10.244.${k}.0`, prefix: 32 }],
      vxlan: { vni: 1, port: 4789, local: dotted(localAddr(k)), remote: null, link: under, udpCsum: true, learning: false },
    });
  }
  return out;
}

/** Writes transactions (or bulk frames) into the sources; every call allocates nothing. */
class Traffic {
  readonly packetsPerUnit: number;
  private readonly qEnc: Template[];
  private readonly rEnc: Template[];
  private readonly qPlain: Template[];
  private readonly rPlain: Template[];
  private readonly bulkRx: Template;
  private readonly bulkTx: Template;
  unit = 0;

  constructor(readonly spec: TrafficSpec, private readonly src: PairSources[]) {
    const qDir = spec.side === 'client' ? 'tx' : 'rx';
    const rDir = spec.side === 'client' ? 'rx' : 'tx';
    const specs = QUESTIONS.map(dnsSpecs);
    this.qEnc = specs.map((s) => template(encap(s.query, qDir), qDir, true, true));
    this.rEnc = specs.map((s) => template(encap(s.response, rDir), rDir, false, true));
    this.qPlain = specs.map((s) => template(s.query, null, true, true));
    this.rPlain = specs.map((s) => template(s.response, null, false, true));
    const payload = Buffer.alloc(1398);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 131 + 7) & 0xff;
    // TCP with the timestamp option (NOP, NOP, TS): 1450 bytes of IP in a 1450-byte VXLAN MTU.
    const tcp = plainTcpSpec({ src: CLIENT0, dst: SERVER0, sport: 43120, dport: 8080, payload, options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2] });
    this.bulkRx = template(encap(tcp, 'rx'), 'rx', true, false);
    this.bulkTx = template(encap(tcp, 'tx'), 'tx', true, false);
    const both = spec.answer ? 2 : 1;
    this.packetsPerUnit = spec.mix === 'bulk' ? 1 : spec.mix === 'dns' ? both : both * (spec.decap ? 2 : 1);
  }

  /** Writes n units (transactions, or bulk frames) at about nowUs; returns the packets written. */
  write(n: number, nowUs: number): number {
    const s = this.spec;
    for (let j = 0; j < n; j++) {
      const i = this.unit++;
      const h = Math.imul(i, 0x9e3779b1) >>> 0;
      const pair = i % s.pairs;
      const ps = this.src[pair];
      const local = localAddr(pair);
      const ts = nowUs + j;
      if (s.mix === 'bulk') {
        const t = (i & 1) === 0 ? this.bulkRx : this.bulkTx;
        const sink = (i & 1) === 0 ? ps.uIn : ps.uOut;
        const at = sink.add(t.bytes, ts);
        t.put32(sink.buf, at, t.local, local);
        t.put32(sink.buf, at, t.peer, peerAddr((i >>> 1) % s.peers));
        t.put32(sink.buf, at, t.client, clientAddr(h % s.clients));
        continue;
      }
      const q = i % QUESTIONS.length;
      const client = clientAddr((i >>> 3) % s.clients);
      const srv = h % s.servers;
      const server = serverAddr(srv);
      // The peer: the node of the server (this node is a client) or of the client (a server node).
      const peer = peerAddr(s.side === 'client' ? srv % s.peers : ((i >>> 3) % s.clients) % s.peers);
      // Linux's ephemeral ports (32768-60999: never a VXLAN port, which would decode the answer as VXLAN).
      const cport = 32768 + (i % 28232);
      const id = (Math.floor(i / 28232) * 40503 + 0x1234) & 0xffff; // distinct (port, id) for 1.8 G transactions
      const latency = 200 + (h & 1023);
      if (s.mix === 'dns') {
        this.fill(this.qPlain[q], ps.uOut, ts, -1, local, client, server, cport, id);
        if (s.answer) this.fill(this.rPlain[q], ps.uIn, ts + latency, -1, local, client, server, cport, id);
        continue;
      }
      // A query leaving goes through the VXLAN device, then the underlay; one arriving the other way.
      const out = s.side === 'client';
      this.fill(this.qEnc[q], out ? ps.uOut : ps.uIn, ts + (out ? 4 : 0), peer, local, client, server, cport, id);
      if (s.decap) this.fill(this.qPlain[q], out ? ps.vOut : ps.vIn, ts + (out ? 0 : 4), -1, local, client, server, cport, id);
      if (!s.answer) continue;
      this.fill(this.rEnc[q], out ? ps.uIn : ps.uOut, ts + latency + (out ? 0 : 4), peer, local, client, server, cport, id);
      if (s.decap) this.fill(this.rPlain[q], out ? ps.vIn : ps.vOut, ts + latency + (out ? 4 : 0), -1, local, client, server, cport, id);
    }
    return n * this.packetsPerUnit;
  }

  private fill(t: Template, sink: GenSource, ts: number, peer: number, local: number, client: number, server: number, cport: number, id: number): void {
    const b = sink.buf;
    const at = sink.add(t.bytes, ts);
    if (t.peer >= 0) {
      t.put32(b, at, t.local, local);
      t.put32(b, at, t.peer, peer);
    }
    t.put32(b, at, t.client, client);
    t.put32(b, at, t.server, server);
    t.put16(b, at, t.cport, cport);
    t.put16(b, at, t.id, id);
  }

  flush(): void {
    for (const p of this.src) {
      // In the order the kernel would hand them over: what left, then what arrived.
      p.vOut.poll();
      p.uOut.poll();
      p.uIn.poll();
      p.vIn.poll();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One agent, its app, and the measurements (child side)

interface Harness {
  agent: Agent;
  app: ReturnType<typeof buildApp>;
  traffic: Traffic;
  close(): Promise<void>;
}

async function harness(spec: TrafficSpec, cfg: Partial<AgentConfig>): Promise<Harness> {
  // Every peer gets its series (--vtep-series all), so that section 3 measures what a peer costs
  // when it has them; the default (bad) gives healthy peers none, which section 4 projects.
  const config: AgentConfig = { ...structuredClone(DEFAULT_AGENT_CONFIG), bpf: 'off', doctorInterval: 0, rescanInterval: 3600, logLevel: 'warn', vtepSeries: 'all', ...cfg };
  const log = pino({ level: config.logLevel }, pino.destination(2));
  const sources = new Map<string, GenSource>();
  const ifs = interfaces(spec.pairs);
  const agent = new Agent(config, {
    log,
    listInterfaces: () => ifs,
    openSource: (o: PcapOptions) => {
      const s = new GenSource(o.device, o.direction ?? 'inout');
      sources.set(`${o.device}/${o.direction}`, s);
      return s;
    },
    watchLinks: false,
  });
  const registry = createRegistry(agent, VERSION);
  const app = buildApp({
    registry,
    log,
    ...agentViews(agent),
    onClose: () => agent.stop(),
  });
  agent.start();
  await app.ready();
  const get = (k: string): GenSource => {
    const s = sources.get(k);
    if (!s) throw new Error(`the agent did not open ${k}`);
    return s;
  };
  const pairs: PairSources[] = [];
  for (let k = 0; k < spec.pairs; k++) {
    const u = ifs[2 * k].name;
    const v = ifs[2 * k + 1].name;
    pairs.push({ uIn: get(`${u}/in`), uOut: get(`${u}/out`), vIn: get(`${v}/in`), vOut: get(`${v}/out`) });
  }
  if (sources.size !== 4 * spec.pairs) throw new Error(`the agent opened ${sources.size} captures, expected ${4 * spec.pairs}`);
  return { agent, app, traffic: new Traffic(spec, pairs), close: () => app.close() };
}

interface Mem { rss: number; heapUsed: number; external: number; arrayBuffers: number; peakRss: number }

function mem(): Mem {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, peakRss: memKiB(process.pid, 'VmHWM') * 1024 };
}

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** Paced sending: packets are handed over this often (the agent's default --capture-timeout). */
const TICK_MS = DEFAULT_AGENT_CONFIG.captureTimeoutMs;

interface Drive { packets: number; units: number; wallS: number; processCpuS: number; genCpuS: number; pipelineCpuS: number }

/**
 * Sends until `seconds` pass or `units` are written: at `rate` packets/s (0: as fast as the agent
 * takes them), in chunks of at most `chunk` units, letting the agent's timers run in between.
 * onUnits is called at each quarter of `units`.
 */
async function drive(h: Harness, o: { rate: number; seconds: number; units: number; chunk?: number; onQuarter?: (q: number) => void }): Promise<Drive> {
  const t = h.traffic;
  const chunk = o.chunk ?? (t.spec.mix === 'bulk' ? 128 : 256);
  const t0 = process.hrtime.bigint();
  const c0 = cpuUs();
  let gen = 0;
  let pipe = 0;
  let packets = 0;
  let units = 0;
  let quarter = 1;
  const elapsed = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
  for (;;) {
    const e = elapsed();
    if (e >= o.seconds || units >= o.units) break;
    const owed = o.rate > 0 ? Math.floor((o.rate * e) / t.packetsPerUnit) - units : chunk * 8;
    const sliceEnd = Date.now() + 20;
    let left = Math.min(owed, o.units - units);
    while (left > 0) {
      const n = Math.min(chunk, left);
      const g0 = cpuUs();
      packets += t.write(n, Date.now() * 1000);
      const g1 = cpuUs();
      t.flush();
      const g2 = cpuUs();
      gen += g1 - g0;
      pipe += g2 - g1;
      units += n;
      left -= n;
      while (o.onQuarter && quarter <= 4 && units >= (o.units * quarter) / 4) o.onQuarter(quarter++);
      if (Date.now() > sliceEnd) break;
    }
    // Paced and caught up: wait for the next hand-over, as libpcap hands a block over at the
    // latest after --capture-timeout (100 ms); behind, or unpaced: only let the timers run.
    if (o.rate > 0 && left <= 0) await sleep(Math.min(TICK_MS, Math.max(1, (o.seconds - elapsed()) * 1000)));
    else await yieldLoop();
  }
  const wall = elapsed();
  return { packets, units, wallS: wall, processCpuS: (cpuUs() - c0) / 1e6, genCpuS: gen / 1e6, pipelineCpuS: pipe / 1e6 };
}

/** Prometheus's Accept header (2.x): OpenMetrics first, then the text format. */
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const TEXT_ACCEPT = 'text/plain;version=0.0.4';

function samples(body: string): Sample[] {
  const { samples: ss, bad } = parseMetrics(body);
  if (bad.length > 0) throw new Error(`unparsable exposition line: ${bad[0]}`);
  return ss;
}

/** Distinct values of a label among name's samples. */
function labelValues(ss: Sample[], name: string, label: string): Set<string> {
  const out = new Set<string>();
  for (const s of ss) if (s.name === name && s.labels[label] !== undefined) out.add(s.labels[label]);
  return out;
}

/** Samples by family (the histogram's _bucket, _sum and _count count as its own). */
function families(ss: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of ss) {
    const f = s.name.startsWith('csumwatch_dns_latency_seconds') ? 'csumwatch_dns_latency_seconds' : s.name;
    out[f] = (out[f] ?? 0) + 1;
  }
  return out;
}

interface Scrape {
  series: number;
  textBytes: number;
  textGzipBytes: number;
  omBytes: number;
  omGzipBytes: number;
  /** What the app answered to Accept-Encoding: gzip (none: it does not compress). */
  contentEncoding: string;
  textMs: number;
  omMs: number;
  /** Series whose value is 0. */
  zeroSeries: number;
  families: Record<string, number>;
  samples: Sample[];
}

async function scrape(app: Harness['app'], runs = 5): Promise<Scrape> {
  const one = async (accept: string) => {
    const t0 = process.hrtime.bigint();
    const r = await app.inject({ method: 'GET', url: '/metrics', headers: { accept, 'accept-encoding': 'gzip' } });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.statusCode !== 200) throw new Error(`/metrics answered ${r.statusCode}`);
    const enc = String(r.headers['content-encoding'] ?? 'none');
    return { body: enc === 'gzip' ? gunzipSync(r.rawPayload).toString('utf8') : r.body, ms, enc };
  };
  const text: number[] = [];
  const om: number[] = [];
  let t = await one(TEXT_ACCEPT);
  let o = await one(PROMETHEUS_ACCEPT);
  for (let i = 0; i < runs; i++) {
    t = await one(TEXT_ACCEPT);
    text.push(t.ms);
    o = await one(PROMETHEUS_ACCEPT);
    om.push(o.ms);
  }
  if (!o.body.endsWith('# EOF\n')) throw new Error('Prometheus\'s Accept header did not get OpenMetrics');
  const ss = samples(t.body);
  return {
    series: ss.length,
    textBytes: Buffer.byteLength(t.body),
    textGzipBytes: gzipSync(t.body).length,
    omBytes: Buffer.byteLength(o.body),
    omGzipBytes: gzipSync(o.body).length,
    contentEncoding: o.enc,
    textMs: median(text),
    omMs: median(om),
    zeroSeries: ss.filter((s) => s.value === 0).length,
    families: families(ss),
    samples: ss,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Throws unless the agent counted every packet sent, with no bad checksum and no decode error. */
function checkCounted(ss: Sample[], packets: number, what: string): void {
  const seen = sumSamples(ss, 'csumwatch_packets_total');
  const bad = sumSamples(ss, 'csumwatch_checksums_total', { result: 'bad' });
  const errors = sumSamples(ss, 'csumwatch_decode_errors_total');
  const internal = sumSamples(ss, 'csumwatch_internal_errors_total');
  if (seen !== packets || bad !== 0 || errors !== 0 || internal !== 0) {
    const detail = ss.filter((s) => (s.name === 'csumwatch_decode_errors_total' || (s.name === 'csumwatch_checksums_total' && s.labels.result === 'bad')) && s.value > 0).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`);
    throw new Error(`${what}: the agent counted ${seen} of ${packets} packets, ${bad} bad checksums, ${errors} decode errors, ${internal} internal errors (want all, 0, 0, 0): ${detail.join('; ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Child runs

interface TableJob { kind: 'table'; capacity: number; timeout: number; txns: number; answer: boolean }
interface RateJob { kind: 'rate'; mix: Mix; rate: number; seconds: number }
interface ShapeJob { kind: 'shape'; label: string; peers: number; servers: number; clients: number; pairs: number; side: 'client' | 'server'; units: number }
type Job = TableJob | RateJob | ShapeJob;

async function runTable(j: TableJob) {
  const base = mem();
  const h = await harness({ mix: 'vxlan-dns', side: 'client', answer: j.answer, decap: false, peers: 4, servers: 2, clients: 1000, pairs: 1 }, { dnsCapacity: j.capacity, dnsTimeout: j.timeout });
  const idle = mem();
  const quarters: number[] = [];
  const d = await drive(h, { rate: 0, seconds: 600, units: j.txns, onQuarter: () => quarters.push(mem().rss) });
  const after = mem();
  const s = await scrape(h.app, 1);
  checkCounted(s.samples, d.packets, 'table');
  const dns = h.agent.dns;
  const inFlight = sumSamples(s.samples, 'csumwatch_dns_transactions_in_flight');
  const evictedMetric = sumSamples(s.samples, 'csumwatch_dns_lost_total', { cause: 'evicted' });
  const lost = sumSamples(s.samples, 'csumwatch_dns_lost_total');
  const queries = sumSamples(s.samples, 'csumwatch_dns_queries_total');
  // What must hold: every query counted once; unanswered: the table holds min(capacity, txns) and
  // the rest were evicted, counted in the metric; answered: nothing lost or evicted.
  const want = j.answer
    ? dns.answered + inFlight === j.txns && dns.evicted === 0 && lost === 0
    : inFlight === Math.min(j.capacity, j.txns) && dns.evicted === j.txns - inFlight && evictedMetric === dns.evicted && lost === evictedMetric;
  if (queries !== j.txns || !want) {
    throw new Error(`table ${JSON.stringify(j)}: queries ${queries}, in flight ${inFlight}, answered ${dns.answered}, evicted ${dns.evicted} (metric ${evictedMetric}), lost ${lost}`);
  }
  await h.close();
  return { job: j, drive: d, base, idle, after, quarters, inFlight, evicted: dns.evicted, evictedMetric, answered: dns.answered };
}

async function runRate(j: RateJob) {
  const h = await harness({ mix: j.mix, side: 'client', answer: true, decap: true, peers: 16, servers: 2, clients: 1000, pairs: 1 }, {});
  const idle = mem();
  // Warm the JIT before the measured window, as a long-running agent is.
  await drive(h, { rate: 0, seconds: 0.3, units: 20_000 });
  const d = await drive(h, { rate: j.rate, seconds: j.seconds, units: Number.MAX_SAFE_INTEGER });
  const after = mem();
  const s = await scrape(h.app, 1);
  checkCounted(s.samples, h.traffic.unit * h.traffic.packetsPerUnit, `rate ${j.mix} ${j.rate}`);
  await h.close();
  return { job: j, drive: d, idle, after, inFlight: sumSamples(s.samples, 'csumwatch_dns_transactions_in_flight') };
}

async function runShape(j: ShapeJob) {
  const cfg: Partial<AgentConfig> = {};
  const h = await harness({ mix: 'vxlan-dns', side: j.side, answer: true, decap: true, peers: j.peers, servers: j.servers, clients: j.clients, pairs: j.pairs }, cfg);
  await drive(h, { rate: 0, seconds: 600, units: 20_000 }); // warm-up, and every peer and server seen at least once below
  const d = await drive(h, { rate: 0, seconds: 600, units: j.units });
  const after = mem();
  const s = await scrape(h.app);
  const total = h.traffic.unit * h.traffic.packetsPerUnit;
  checkCounted(s.samples, total, `shape ${JSON.stringify(j)}`);
  const maxPeers = DEFAULT_AGENT_CONFIG.maxPeers;
  const maxServers = DEFAULT_AGENT_CONFIG.maxServers;
  const peers = labelValues(s.samples, 'csumwatch_vtep_packets_total', 'peer').size;
  const servers = labelValues(s.samples, 'csumwatch_dns_queries_total', 'server').size;
  // A client node's peers are its servers' nodes; a server node's, its clients' nodes.
  const used = Math.min(j.peers, j.side === 'client' ? j.servers : j.clients);
  // src/correlate/addrtable.ts: the overflow entry is reported once the table is full.
  const wantPeers = Math.min(used, maxPeers) + (used >= maxPeers ? 1 : 0);
  const wantServers = Math.min(j.servers, maxServers) + (j.servers >= maxServers ? 1 : 0);
  const txns = h.traffic.unit;
  const q = sumSamples(s.samples, 'csumwatch_dns_queries_total');
  const r = sumSamples(s.samples, 'csumwatch_dns_responses_total');
  if (peers !== wantPeers || servers !== wantServers || q !== txns || r !== txns || sumSamples(s.samples, 'csumwatch_dns_lost_total') !== 0) {
    throw new Error(`shape ${JSON.stringify(j)}: ${peers} peers (want ${wantPeers}), ${servers} servers (want ${wantServers}), ${q} queries and ${r} responses for ${txns} transactions, ${sumSamples(s.samples, 'csumwatch_dns_lost_total')} lost`);
  }
  const scrapeCpu0 = cpuUs();
  for (let i = 0; i < 5; i++) await h.app.inject({ method: 'GET', url: '/metrics', headers: { accept: PROMETHEUS_ACCEPT } });
  const scrapeCpuMs = (cpuUs() - scrapeCpu0) / 5 / 1000;
  // What compressing the answer would cost the agent (zlib's default level, as Go's gzip writer).
  const om = (await h.app.inject({ method: 'GET', url: '/metrics', headers: { accept: PROMETHEUS_ACCEPT } })).body;
  const gz: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    gzipSync(om);
    gz.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await h.close();
  const { samples: _samples, ...rest } = s;
  void _samples;
  return { job: j, drive: d, after, scrape: { ...rest, cpuMs: scrapeCpuMs, gzipMs: median(gz) }, peersSeen: peers, serversSeen: servers };
}

async function child(j: Job): Promise<void> {
  const r = j.kind === 'table' ? await runTable(j) : j.kind === 'rate' ? await runRate(j) : await runShape(j);
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Self-check: the generator's frames verify, and a field written without its checksum update does not

function selfCheck(): void {
  const dec = new Decoder();
  const f = new Frame();
  /** Decodes b[off, off+len): true when it decoded to the end with two or more checksums verified, none bad. */
  const clean = (b: Buffer, off: number, len: number): boolean => {
    dec.decode(b, off, off + len, len, 1, DIR_RX, f);
    return f.status === 0 && f.csum.filter((c) => c >= 0).length >= 2 && f.badMask() === 0;
  };
  // Every frame of every mix, as the agent gets them.
  const src = [new GenSource('u', 'in'), new GenSource('u', 'out'), new GenSource('v', 'in'), new GenSource('v', 'out')];
  let frames = 0;
  for (const s of src) {
    s.start((b, n, bytes) => {
      const r = new RecordView();
      for (let i = 0, off = 0; i < n && readRecord(b, off, bytes, r); i++, frames++, off = r.next) {
        if (!clean(b, r.data, r.capLen)) throw new Error(`self-check: generated frame ${frames} does not verify: status ${f.status}, checksums ${[...f.csum].join(',')}`);
      }
    });
  }
  const pairs: PairSources[] = [{ uIn: src[0], uOut: src[1], vIn: src[2], vOut: src[3] }];
  for (const mix of ['dns', 'vxlan-dns', 'bulk'] as const) {
    for (const side of ['client', 'server'] as const) {
      const t = new Traffic({ mix, side, answer: true, decap: true, peers: 3000, servers: 300, clients: 5000, pairs: 1 }, pairs);
      t.write(mix === 'bulk' ? 500 : 1000, Date.now() * 1000);
      t.flush();
    }
  }
  // Each field rewritten through put16/put32 verifies; written raw (no checksum update) it must not.
  const q = dnsSpecs(QUESTIONS[5]);
  for (const dir of ['rx', 'tx'] as const) {
    for (const t of [template(encap(q.query, dir), dir, true, true), template(encap(q.response, dir), dir, false, true)]) {
      for (const [field, width] of [['local', 4], ['peer', 4], ['client', 4], ['server', 4], ['cport', 2], ['id', 2]] as const) {
        const off = t[field];
        const v = (t.bytes.readUIntBE(off, width) ^ (width === 4 ? 0x00010203 : 0x0a0b)) >>> 0;
        const good = Buffer.from(t.bytes);
        if (width === 4) t.put32(good, 0, off, v);
        else t.put16(good, 0, off, v);
        const raw = Buffer.from(t.bytes);
        raw.writeUIntBE(v, off, width);
        if (good.readUIntBE(off, width) !== v || !clean(good, 0, good.length)) throw new Error(`self-check: ${field} rewritten with its checksum updates does not verify`);
        if (clean(raw, 0, raw.length)) throw new Error(`self-check: ${field} written without its checksum updates was not caught`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Parent: run the children, print the tables and the projection

function spawnChild(j: Job): any {
  const r = spawnSync(process.execPath, ['--expose-gc', __filename, '--child', JSON.stringify(j)], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 300_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{')) throw new Error(`child ${JSON.stringify(j)} failed (status ${r.status}${r.signal ? `, ${r.signal}` : ''}): ${r.stderr.slice(-1500)}`);
  return JSON.parse(last);
}

const mib = (b: number): string => (b / MiB).toFixed(1);
const kib = (b: number): string => (b / 1024).toFixed(1);
const k = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(Math.round(n)));
const grp = (n: number): string => Math.round(n).toLocaleString('en-US').replace(/,/g, ' ');

function log(line = ''): void {
  process.stdout.write(line + '\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      parts: { type: 'string', default: 'table,rate,shape' },
      seconds: { type: 'string', default: '3' },
      txns: { type: 'string', default: '1000000' },
      json: { type: 'boolean', default: false },
      child: { type: 'string' },
    },
  });
  if (values.child) return child(JSON.parse(values.child) as Job);
  const parts = new Set(values.parts!.split(','));
  const seconds = Number(values.seconds);
  const txns = Number(values.txns);
  const started = Date.now();
  selfCheck();
  const all: Record<string, unknown> = {};
  log(`# csumwatch scale benchmark: node ${process.version}, ${cpus().length} × ${cpus()[0].model}`);
  log('generator self-check: frames verify at every layer; a field rewritten without its checksum update is caught');

  if (parts.has('table')) {
    const jobs: TableJob[] = [
      { kind: 'table', capacity: 1 << 20, timeout: 60, txns, answer: false },
      { kind: 'table', capacity: DEFAULT_AGENT_CONFIG.dnsCapacity, timeout: 60, txns, answer: false },
      { kind: 'table', capacity: DEFAULT_AGENT_CONFIG.dnsCapacity, timeout: DEFAULT_AGENT_CONFIG.dnsTimeout, txns, answer: true },
    ];
    const rs = jobs.map(spawnChild);
    all.table = rs;
    log('\n## 1. DNS transactions in flight (one child process each; VXLAN queries on the underlay)\n');
    log('| case | `--dns-capacity` | transactions | in flight after | evicted (`csumwatch_dns_lost_total{cause="evicted"}`) | insert: wall | µs agent CPU per transaction | table allocated (arrayBuffers) | RSS: empty process → agent idle → after | RSS growth per transaction in flight | heapUsed after |');
    log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |');
    for (const r of rs) {
      const j = r.job as TableJob;
      const name = j.answer ? 'answered (query + response), default timeout 5 s' : j.capacity > 65536 ? 'unanswered, within a 60 s timeout' : 'unanswered, default capacity';
      const agentCpu = r.drive.processCpuS - r.drive.genCpuS;
      log(`| ${name} | ${grp(j.capacity)} | ${grp(j.txns)} | ${grp(r.inFlight)} | ${grp(r.evictedMetric)} | ${r.drive.wallS.toFixed(2)} s | ${((agentCpu / j.txns) * 1e6).toFixed(2)} | ${mib(r.idle.arrayBuffers - r.base.arrayBuffers)} MiB | ${mib(r.base.rss)} → ${mib(r.idle.rss)} → ${mib(r.after.rss)} MiB | ${Math.round((r.after.rss - r.idle.rss) / r.inFlight)} B | ${mib(r.after.heapUsed)} MiB |`);
    }
    const ans = rs[2];
    log(`\nRSS during the answered million, at each quarter: ${ans.quarters.map((x: number) => `${mib(x)} MiB`).join(', ')} (peak ${mib(ans.after.peakRss)} MiB).`);
  }

  if (parts.has('rate')) {
    const rates = [10_000, 50_000, 100_000, 200_000, 0];
    const mixes: Mix[] = ['dns', 'vxlan-dns', 'bulk'];
    const rs: any[] = [];
    for (const rate of rates) for (const mix of mixes) rs.push(spawnChild({ kind: 'rate', mix, rate, seconds }));
    all.rate = rs;
    log(`\n## 2. Packet rate (${seconds} s a step, one child process each, after a 0.3 s warm-up)\n`);
    log('Mixes: `dns` plain DNS on the underlay (query out, answer in); `vxlan-dns` DNS through the tunnel, each packet seen on the underlay and decapsulated on flannel.1 (4 packets per transaction); `bulk` VXLAN TCP, 1514-byte frames, 16 peers.\n');
    log('| mix | target pkt/s | achieved pkt/s | agent CPU (cores) | agent CPU s per M packets | of which pipeline | generator (not counted) | RSS idle → after | heapUsed | arrayBuffers | DNS in flight |');
    log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const mix of mixes) {
      for (const r of rs.filter((x) => x.job.mix === mix)) {
        const d = r.drive as Drive;
        const agentCpu = d.processCpuS - d.genCpuS;
        log(`| ${mix} | ${r.job.rate ? k(r.job.rate) : 'max'} | ${k(d.packets / d.wallS)} | ${(agentCpu / d.wallS).toFixed(3)} | ${((agentCpu / d.packets) * 1e6).toFixed(2)} | ${((d.pipelineCpuS / d.packets) * 1e6).toFixed(2)} | ${((d.genCpuS / d.packets) * 1e6).toFixed(2)} | ${mib(r.idle.rss)} → ${mib(r.after.rss)} MiB | ${mib(r.after.heapUsed)} MiB | ${mib(r.after.arrayBuffers)} MiB | ${grp(r.inFlight)} |`);
      }
    }
  }

  if (parts.has('shape')) {
    const units = 100_000;
    const jobs: ShapeJob[] = [];
    const mp = DEFAULT_AGENT_CONFIG.maxPeers;
    const ms = DEFAULT_AGENT_CONFIG.maxServers;
    for (const peers of [1, 10, 100, 1000, 2000]) jobs.push({ kind: 'shape', label: `${peers} peer${peers > 1 ? 's' : ''}${peers > mp ? ` (over --max-peers ${mp})` : ''}`, peers, servers: 2, clients: 2000, pairs: 1, side: 'server', units });
    for (const servers of [1, 16, 64, 256, 512]) jobs.push({ kind: 'shape', label: `${servers} DNS server${servers > 1 ? 's' : ''}${servers > ms ? ` (over --max-servers ${ms})` : ''}`, peers: 4, servers, clients: 2000, pairs: 1, side: 'client', units });
    for (const pairs of [1, 2, 4]) jobs.push({ kind: 'shape', label: `${pairs * 2} interfaces`, peers: 4, servers: 2, clients: 2000, pairs, side: 'client', units });
    const rs = jobs.map(spawnChild);
    all.shape = rs;
    log(`\n## 3. VTEP peers, DNS servers, interfaces (${grp(units)} VXLAN DNS transactions, ${grp(units * 4)} packets, as fast as taken; one child each)\n`);
    log('Peers: this node hosts CoreDNS (2 servers) and its clients sit on N other nodes. Servers: this node\'s 2 000 client pods query N servers on 4 peers. Interfaces: N VXLAN devices with an underlay each (2 = flannel.1 and ens192, the other rows).\n');
    log(`| case | µs agent CPU per packet | RSS after | heapUsed | series | text bytes | text gzip | OpenMetrics bytes (what Prometheus asks for) | OpenMetrics gzip | \`Content-Encoding\` to \`gzip\` | scrape (text / OpenMetrics), median of 5 | scrape CPU | gzip would cost |`);
    log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |');
    for (const r of rs) {
      const j = r.job as ShapeJob;
      const name = j.label;
      const d = r.drive as Drive;
      const s = r.scrape;
      log(`| ${name} | ${(((d.processCpuS - d.genCpuS) / d.packets) * 1e6).toFixed(2)} | ${mib(r.after.rss)} MiB | ${mib(r.after.heapUsed)} MiB | ${grp(s.series)} | ${kib(s.textBytes)} KiB | ${kib(s.textGzipBytes)} KiB | ${kib(s.omBytes)} KiB | ${kib(s.omGzipBytes)} KiB | ${s.contentEncoding} | ${s.textMs.toFixed(1)} / ${s.omMs.toFixed(1)} ms | ${s.cpuMs.toFixed(1)} ms | ${s.gzipMs.toFixed(1)} ms |`);
    }
    projection(rs);
  }
  log(`\nTotal wall time: ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  if (values.json) log(JSON.stringify(all));
}

// ---------------------------------------------------------------------------------------------
// The 1,000-node projection

/** Least squares: the coefficients c minimising |X c - y| (normal equations, Gaussian elimination). */
function leastSquares(X: number[][], y: number[]): number[] {
  const n = X[0].length;
  const A = Array.from({ length: n }, (_, i) => [...Array.from({ length: n }, (_, j) => X.reduce((a, row) => a + row[i] * row[j], 0)), y.reduce((a, v, r) => a + X[r][i] * v, 0)]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const m = A[r][c] / A[c][c];
      for (let k = c; k <= n; k++) A[r][k] -= m * A[c][k];
    }
  }
  return A.map((row, i) => row[n] / row[i]);
}

function projection(rs: any[]): void {
  // Per node, linear in interfaces, DNS server entries and VTEP peer entries (as the series show
  // them: the overflow entry counts as one), fitted over every run of section 3.
  const X = rs.map((r) => [1, r.job.pairs * 2, r.serversSeen, r.peersSeen]);
  const keys = ['series', 'omBytes', 'omGzipBytes', 'textBytes'] as const;
  const per = {} as Record<(typeof keys)[number], { base: number; iface: number; server: number; peer: number; residual: number }>;
  for (const key of keys) {
    const y = rs.map((r) => r.scrape[key] as number);
    const [base, iface, server, peer] = leastSquares(X, y);
    const residual = Math.max(...y.map((v, i) => Math.abs(base + iface * X[i][1] + server * X[i][2] + peer * X[i][3] - v) / v));
    per[key] = { base, iface, server, peer, residual };
  }
  const find = (label: string) => {
    const r = rs.find((x) => x.job.label === label);
    if (!r) throw new Error(`projection: no run ${label}`);
    return r;
  };
  const p1 = find('1 peer');
  const p1000 = find('1000 peers');
  const f = per.series;
  const fam1000 = p1000.scrape.families as Record<string, number>;
  const fam1 = p1.scrape.families as Record<string, number>;
  log('\n## 4. Projection for a 1,000-node cluster\n');
  log(`Fitted over the ${rs.length} runs of section 3 (largest deviation ${(f.residual * 100).toFixed(1)}% for series, ${(per.omBytes.residual * 100).toFixed(1)}% for bytes), per node: **series = ${f.base.toFixed(0)} + ${f.iface.toFixed(1)} × interfaces + ${f.server.toFixed(1)} × DNS servers + ${f.peer.toFixed(2)} × VTEP peers** (each term bounded: \`--max-servers\` ${DEFAULT_AGENT_CONFIG.maxServers} and \`--max-peers\` ${DEFAULT_AGENT_CONFIG.maxPeers}, then one overflow entry). Bytes per series: ${(per.omBytes.peer / f.peer).toFixed(0)} (peer), ${(per.omBytes.server / f.server).toFixed(0)} (server), ${(per.omBytes.iface / f.iface).toFixed(0)} (interface) in OpenMetrics; gzip cuts a scrape to ${((p1000.scrape.omGzipBytes / p1000.scrape.omBytes) * 100).toFixed(0)}% at 1 000 peers, and the agent answers Prometheus's \`Accept-Encoding: gzip\` with ${p1000.scrape.contentEncoding === 'none' ? 'no' : p1000.scrape.contentEncoding} encoding.\n`);
  log('Series by family, 1 peer → 1 000 peers (2 interfaces, 2 servers): ' + Object.keys(fam1000).filter((x) => fam1000[x] !== fam1[x] || fam1000[x] >= 20).sort((a, b) => fam1000[b] - fam1000[a]).map((x) => `\`${x}\` ${fam1[x] ?? 0} → ${fam1000[x]}`).join(', ') + '.\n');
  // `peers` below are the peers with series: with --vtep-series all every peer the node talks to,
  // with the default (bad) only those that sent or received a bad packet (none on a healthy node).
  const s256 = find('256 DNS servers');
  const histPerServer = (s256.scrape.families['csumwatch_dns_latency_seconds'] as number) / s256.serversSeen;
  type Node = { count: number; ifs: number; servers: number; peers: number };
  const nodeSeries = (n: Node) => f.base + f.iface * n.ifs + f.server * n.servers + f.peer * n.peers;
  const nodeBytes = (n: Node, key: 'omBytes' | 'omGzipBytes') => {
    const b = per[key];
    return b.base + b.iface * n.ifs + b.server * n.servers + b.peer * n.peers;
  };
  // CoreDNS under cluster-proportional-autoscaler's defaults (nodesPerReplica 16): 63 pods at 1 000 nodes.
  const dnsPods = Math.ceil(1000 / 16);
  const scenarios: Array<{ name: string; nodes: Node[] }> = [
    { name: 'default (`--vtep-series bad`), healthy: no peer has a bad packet', nodes: [{ count: 1000, ifs: 2, servers: dnsPods, peers: 0 }] },
    { name: 'default, healthy, `--max-servers 8`: the first 8 CoreDNS pods by address and `(other servers)`', nodes: [{ count: 1000, ifs: 2, servers: 9, peers: 0 }] },
    { name: 'default, 10 nodes whose NICs break checksums: every node has series for those 10 peers', nodes: [{ count: 1000, ifs: 2, servers: dnsPods, peers: 10 }] },
    { name: `\`--vtep-series all\`, \`--vtep-packets dns\`: a client node's peers are the ${dnsPods} nodes running CoreDNS; those see every node`, nodes: [{ count: 1000 - dnsPods, ifs: 2, servers: dnsPods, peers: dnsPods }, { count: dnsPods, ifs: 2, servers: dnsPods, peers: 999 }] },
    { name: '`--vtep-series all`, pod traffic with 100 peers a node; CoreDNS nodes see every node', nodes: [{ count: 1000 - dnsPods, ifs: 2, servers: dnsPods, peers: 100 }, { count: dnsPods, ifs: 2, servers: dnsPods, peers: 999 }] },
    { name: '`--vtep-series all`, full-mesh VTEP peers (or the default with every node broken)', nodes: [{ count: 1000, ifs: 2, servers: dnsPods, peers: 999 }] },
  ];
  log(`Scenarios: 1 000 nodes, each with one VXLAN device and its underlay (2 interfaces), ${dnsPods} CoreDNS pods (cluster-proportional-autoscaler's default of one per 16 nodes), every node's pods querying all of them.\n`);
  log('| scenario | series per node (max) | OpenMetrics per scrape, max (gzip) | cluster series | cluster bytes per scrape round (gzip) | samples/s at 30 s | samples/s at 15 s |');
  log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const sc of scenarios) {
    const series = sc.nodes.reduce((a, n) => a + n.count * nodeSeries(n), 0);
    const bytes = sc.nodes.reduce((a, n) => a + n.count * nodeBytes(n, 'omBytes'), 0);
    const gz = sc.nodes.reduce((a, n) => a + n.count * nodeBytes(n, 'omGzipBytes'), 0);
    const worst = sc.nodes.reduce((a, n) => (nodeSeries(n) > nodeSeries(a) ? n : a));
    log(`| ${sc.name} | ${grp(nodeSeries(worst))} | ${kib(nodeBytes(worst, 'omBytes'))} KiB (${kib(nodeBytes(worst, 'omGzipBytes'))} KiB) | ${k(series)} | ${mib(bytes)} MiB (${mib(gz)} MiB) | ${k(series / 30)} | ${k(series / 15)} |`);
  }
  const full = { count: 1000, ifs: 2, servers: dnsPods, peers: 999 };
  const vtepShare = (f.peer * 999) / nodeSeries(full);
  const histShare = (histPerServer * dnsPods) / nodeSeries(full);
  log(`\nWith every peer's series \`csumwatch_vtep_packets_total{peer,direction,result}\` is ${(vtepShare * 100).toFixed(0)}% of the series (${grp(f.peer * 999)} a node, ${k(f.peer * 999 * 1000)} in the cluster) and the per-server latency histogram ${(histShare * 100).toFixed(0)}% (${histPerServer.toFixed(0)} series per server).`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`scale: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
