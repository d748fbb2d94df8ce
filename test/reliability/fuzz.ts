// Fuzzing the whole pipeline (issue 8): seeded random and mutated frames through the live agent's
// path and through `analyze`, with oracles checked for every frame and at every chunk.
//
//   node dist/test/reliability/fuzz.js --frames 10000000 --seed 1 [--workers 2] [--chunk 100000] [--out DIR]
//
// Seeds: every frame of every capture in test/fixtures/*.pcap* (its VXLAN frames also rewrapped
// in Geneve), and frames built with
// test/support/packets.ts for what the fixtures lack (IPv6 extension headers, DNS over TCP, VLAN
// tags, cooked v1/v2, raw IP, BSD loopback, fragments, partial checksums, long names). Each seed's
// IP datagram is re-wrapped in whatever link type a batch has. Mutations, one to five per frame:
// bit flips, bytes and 16-bit fields set to interesting values (0, 0xff, 0x80, the value +-1,
// lengths that point at the end +-1), header-length and length-field edits found through the
// decoder's own view of the frame, truncations (a snaplen: the wire length stays), extensions,
// splices of two seeds, inserted and deleted runs, DNS name, label-length and compression-pointer
// edits, VXLAN flag/VNI/port edits, Geneve version/Opt Len/flags/option-length/protocol-type edits, protocol and next-header edits, DNS ID and client-port
// rewrites into a small space (so queries and responses of different frames meet in the
// correlator), checksums fixed up after mutation (so mutations reach the deep layers) and then
// sometimes damaged on purpose (flipped, zero, pseudo-header sum only), random wire lengths,
// timestamps that jump forward past the DNS timeout and back, BIG TCP frames (a datagram past
// 64 KiB, its length field 0: one in 5000), for DNS queries now and then a file timestamp no live
// capture gives (0, past 2^53 µs, 2^64 - 256), plus purely random frames (2.5%). Frames
// that show a new behaviour (status, checksum results, DNS flags, layers: the "signature") join
// the corpus, so mutations build on what reached deeper.
//
// Whole pipeline: the frames are written as batches in src/capture/source.ts's record format into
// PacketSources handed to a real Agent (src/agent/agent.ts: started, bpf off, no link watch, no
// doctor), one interface per link type, two directions each; its batch handler, decoder, counters,
// VTEP counters, DNS correlator (with small tables, so eviction and overflow run) and metrics
// registry all run. A share of DNS frames is also reported to the correlator as a kernel drop. The
// same frames, in the same order, are written as a pcapng file per chunk (one interface per agent
// slot, epb_flags carrying the direction) and read back by analyzeFiles() (src/analyze/analyze.ts),
// whose report is rendered as JSON and text. At the end the agent's HTTP endpoints answer.
// Workers (worker_threads, one per core) each run their own stream: (seed, worker index). The
// agent's own timers run too; its capture timestamps lie in 2096, so its wall-clock sweep finds
// nothing (time is the capture's, as in analyze).
//
// Oracles (every one a failure with the stream's seed and the frame's number):
//  1. No exception: our own decodes never throw; agent.internalErrors and drops.internalErrors stay
//     0; analyzeFiles reports no error for our files; toJson/toText/the registry render.
//  2. No read outside [off, end): EVERY frame is decoded twice, at different offsets in two buffers
//     whose bytes around the frame (64 before, 256 after) are complements of each other, so every
//     byte read outside differs in all 8 bits; the two Frames must agree in every field (offsets
//     relative to the frame's start). Also: every checksum result in -1..4, status < STATUS_COUNT,
//     pseudoOnlyBad a subset of the bad layers, a keyed DNS view is present, VXLAN only over UDP.
//  3. Checksum results agree with a plain recomputation (a byte-pair loop here, not
//     src/decode/checksum.ts) over the bytes at the offsets the decoder found: every OK verifies,
//     every BAD does not (except a zero UDP field over IPv6, BAD by rule, and a tunnel's UDP
//     checksum when an inner one is partial, verified as local checksum offload computed it).
//  4. Counters consistent. A reference tally is kept from our own decodes, written independently of
//     src/agent/counters.ts and src/analyze/stats.ts, and must equal:
//     - agent.counters.packets[iface][dir][encap] (so packets counted == frames fed), .csum per
//       iface/dir/layer/result (so per layer the results sum to the headers verified),
//       .decodeErrors per iface/inner/status;
//     - agent.vtep: summed over peers, per direction ok/bad == VXLAN frames without/with a bad layer;
//     - per chunk, analyzeFiles' FrameStats: frames, malformed, truncated, notIp, vxlanFrames,
//       fragments, csum[layer][result], pseudoOnlyBad[layer], reasons and innerReasons; and the DNS
//       correlator's queries/responses (packets with QR 0/1), rcodes (sum == responses), unkeyed.
//     DNS invariants, on the agent's correlator (live) and on analyze's (after finish()):
//       answered + unanswered + retransmissions <= queries (each ended transaction began with a query);
//       answered + orphanResponses + duplicateResponses <= responses;
//       lostToChecksum + lostToKernelDrop <= unanswered; evicted <= unanswered;
//       sum(lostByLayer) == lostToChecksum; lostPseudoOnly[l] <= lostByLayer[l];
//       latency.count - answered == answered transactions still in the table (0 <= it <= inFlight;
//       == 0 once the table is empty); inFlight <= capacity;
//       kernelDropsMatched + kernelDropsUnmatched <= kernelDrops (== once every waiting drop timed out);
//       agent only: sum(servers.lost) == unanswered, lost[checksum] == lostToChecksum,
//       lost[kernel_drop] == lostToKernelDrop, lost[evicted] <= evicted,
//       sum(servers.responses) == sum(servers.latencyCount) == latency.count.
//     The analyze JSON: every CONTRACT.md bucket present, malformed == sum(malformed_reasons),
//     p50 <= p90 <= p99 <= max.
//     Metrics (Prometheus text, scraped every chunk, and OpenMetrics): every line parses, no NaN,
//     every collector_success is 1, internal_errors_total 0; the families' totals equal the
//     in-memory counters (packets, checksums by layer/result, decode errors, VTEP packets, DNS
//     queries/responses/lost by cause, latency count, orphans, transactions in flight); each
//     latency histogram's buckets rise and end at its count; series counts stay within the bounds
//     (servers and peers capped by the configuration); no counter (nor histogram bucket, sum or
//     count) goes down from one scrape to the next, no histogram sum is below 0. At the end the
//     HTTP endpoints (src/server/app.ts, as src/cli/agent.ts builds it) answer 200 with valid
//     bodies, /debug/lost bounded.
//     The agent's correlator equals, counter for counter (lost list, top names, per-server arrays
//     included), a DnsCorrelator fed the same packets and kernel drops in the same order straight
//     from the oracle's decodes (so its batches lose, reorder or re-time nothing).
//     analyze's correlator equals, counter for counter, a DnsCorrelator fed the oracle's decodes
//     directly in the same order (so the file path loses, reorders or re-times nothing).
//  5. Bounded memory: the worker's heap after the run (and RSS of the process) under fixed bounds.
//
// A failing frame is minimised (shortened, bytes zeroed, while it still fails) and written as a
// hex file (test/fixtures/fuzz/ format) to --out. Bugs found and not fixed yet are listed in
// KNOWN_OPEN: their failures are counted apart (and the run's exit status ignores them).

import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import pino from 'pino';

import { Agent } from '../../src/agent/agent';
import { AgentConfig, DEFAULT_AGENT_CONFIG } from '../../src/agent/config';
import { DIR_INDEX_RX, DIR_INDEX_TX, MAX_IFACES } from '../../src/agent/counters';
import { analyzeFiles, Analysis } from '../../src/analyze/analyze';
import { toJson, toText } from '../../src/analyze/report';
import { readCaptureFile } from '../../src/capture/replay';
import { parseMetrics, Sample, sumSamples } from '../support/exposition';
import { MemorySource } from '../support/memory-source';
import type { PcapOptions } from '../../src/capture/pcap';
import { LOST_CAUSES, ServerStats } from '../../src/correlate/servers';
import { TcpStreams } from '../../src/correlate/tcpstreams';
import { DnsCorrelator } from '../../src/correlate/transactions';
import { CSUM_COUNT, fold, pseudo4, pseudo6, sum16 } from '../../src/decode/checksum';
import { nextTcpMessage, RCODE_SLOTS, rcodeSlot } from '../../src/decode/dns';
import { Decoder, DecoderOptions, DEFAULT_MTU } from '../../src/decode/decoder';
import { DIR_RX, DIR_TX, DIR_UNKNOWN, DnsView, ENCAP_COUNT, ENCAP_GENEVE, ENCAP_LAYER_BASE, ENCAP_NONE, FRAG_FIRST, FRAG_LATER, Frame, Layer, LAYER_COUNT, LAYER_NAMES, Stack } from '../../src/decode/frame';
import { isMalformed, Status, STATUS_COUNT, statusName } from '../../src/decode/status';
import { createRegistry } from '../../src/agent/registry';
import { build } from '../../src/server/app';
import { agentViews } from '../../src/agent/views';
import { openMetrics } from '../../src/metrics/family';
import type { NetInterface } from '../../src/node/interfaces';
import * as P from '../support/packets';
import { pcapngBytes } from '../support/pcap-writer';

const ROOT = join(__dirname, '..', '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures');

/** Link types of the agent's fuzz interfaces: each tcpdump.org link type the decoder knows, and one it does not. */
export const FUZZ_LINK_TYPES: readonly number[] = [1, 113, 276, 101, 228, 229, 0, 12, 14, 147];
/** Interfaces: weight of each link type when a batch picks one (Ethernet and cooked dominate, as in real captures). */
const LINK_WEIGHTS: readonly number[] = [8, 3, 3, 2, 1, 1, 1, 1, 1, 1];
const MAX_FRAME = 9216 + 512;
/** Largest frame: BIG TCP (a datagram past 64 KiB, its length field 0), made rarely. */
const MAX_BIG = 200_000;
/** Bytes of complementary garbage written around each frame in the read-outside oracle. */
const GUARD_BEFORE = 64;
const GUARD_AFTER = 256;
/** The agent's tables, small so that eviction and overflow paths run. */
const FUZZ_CONFIG: Partial<AgentConfig> = { dnsCapacity: 128, maxServers: 16, maxPeers: 32, lostListSize: 20, dnsTimeout: 5 };
/** pcapng timestamps (hi, lo words, µs) that no live capture gives: 0, past 2^53 µs, the largest. */
const ODD_FILE_TS: ReadonlyArray<[number, number]> = [[0, 0], [0x00200000, 7], [0x7fffffff, 0xffffffff], [0xffffffff, 0xffffff00]];
/** Fixed memory bounds (the tables are bounded; a leak grows past these within a few million frames). */
export const HEAP_LIMIT_MIB = 384;
export const RSS_LIMIT_MIB = 1536;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness: xoshiro128** seeded through splitmix32.

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    let s = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
  }

  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 4294967296) * n);
  }

  chance(p: number): boolean {
    return this.u32() < p * 4294967296;
  }

  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// ---------------------------------------------------------------------------------------------
// Seeds.

export interface Seed {
  bytes: Buffer;
  linkType: number;
  /** The IP datagram inside (for re-wrapping in another link type), or null. */
  l3: Buffer | null;
  /** 4 or 6 when l3 is set. */
  v: number;
  origin: string;
}

/** Every frame of every fixture capture, in file-name order. */
export function fixtureSeeds(): Seed[] {
  const files = readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
  const dec = new Decoder();
  const f = new Frame();
  const out: Seed[] = [];
  for (const file of files) {
    readCaptureFile(join(FIXTURES, file), (r) => {
      const bytes = Buffer.from(r.buf.subarray(r.off, r.off + r.capLen));
      dec.decode(bytes, 0, bytes.length, r.wireLen, r.linkType, r.dir, f);
      out.push(seedOf(bytes, r.linkType, f, file));
    });
  }
  return out;
}

function seedOf(bytes: Buffer, linkType: number, f: Frame, origin: string): Seed {
  const v = f.outer.ipVersion;
  return { bytes, linkType, l3: v !== 0 ? bytes.subarray(f.outer.ipOffset) : null, v, origin };
}

/** Frames for the layers the fixtures lack, built with test/support/packets.ts. */
export function builtSeeds(): Seed[] {
  const specs: Array<[string, P.FrameSpec]> = [];
  const q = P.defaultQuery('svc.cluster.local', 7);
  const r = P.defaultResponse('svc.cluster.local', 7);
  const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
  const tcpDns = (m: Parameters<typeof P.dnsMessage>[0]): Buffer => {
    const msg = P.dnsMessage(m);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(msg.length, 0);
    return Buffer.concat([len, msg]);
  };
  const hbh: P.Ext6 = { kind: 'hbh', options: [5, 2, 0, 0] };
  const rt0: P.Ext6 = { kind: 'routing', routingType: 0, segmentsLeft: 1, addresses: ['fd00::99', P.V6_SERVER] };
  const rt2: P.Ext6 = { kind: 'routing', routingType: 2, segmentsLeft: 1, addresses: [P.V6_SERVER] };
  const srh: P.Ext6 = { kind: 'routing', routingType: 4, segmentsLeft: 1, addresses: [P.V6_SERVER, 'fd00::98'] };
  const rpl: P.Ext6 = { kind: 'routing', routingType: 3, segmentsLeft: 1, addresses: [P.V6_SERVER] };
  const frag: P.Ext6 = { kind: 'fragment', offset: 0, more: false };
  const ah: P.Ext6 = { kind: 'raw', nh: 51, bytes: [17, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9] };
  specs.push(['ipv6 hbh+dst+rt0+frag', P.plainDnsSpec({ v: 6, ext: [hbh, { kind: 'dst' }, rt0, frag] })]);
  specs.push(['ipv6 rt2 response', P.plainDnsSpec({ v: 6, dns: r, ext: [rt2] })]);
  specs.push(['ipv6 srh', P.plainDnsSpec({ v: 6, ext: [srh, { kind: 'dst', options: [0x1e, 3, 1, 2, 3] }] })]);
  specs.push(['ipv6 rpl', P.plainDnsSpec({ v: 6, ext: [rpl] })]);
  specs.push(['ipv6 ah', P.plainDnsSpec({ v: 6, ext: [hbh, ah] })]);
  specs.push(['ipv6 first fragment', P.plainDnsSpec({ v: 6, ext: [{ kind: 'fragment', offset: 0, more: true }] })]);
  specs.push(['ipv6 later fragment', P.plainDnsSpec({ v: 6, ext: [{ kind: 'fragment', offset: 3, more: false }] })]);
  specs.push(['tcp dns v4', P.plainTcpSpec({ dport: 53, payload: tcpDns(q) })]);
  specs.push(['tcp dns v6 response', P.plainTcpSpec({ v: 6, sport: 53, dport: 40001, payload: tcpDns(r), options: [2, 4, 5, 0xb4, 1, 3, 3, 7] })]);
  specs.push(['tcp syn to 53', P.plainTcpSpec({ dport: 53, payload: Buffer.alloc(0), flags: 0x02 })]);
  specs.push(['tcp dns inside vxlan', P.vxlanSpec(P.plainTcpSpec({ dport: 53, payload: tcpDns(q) }))]);
  specs.push(['vlan', P.plainDnsSpec({ link: { kind: 'eth', vlans: [{ tpid: 0x8100, vid: 100 }] } })]);
  specs.push(['qinq', P.plainDnsSpec({ link: { kind: 'eth', vlans: [{ tpid: 0x88a8, vid: 10 }, { tpid: 0x8100, vid: 20 }] } })]);
  specs.push(['sll out', P.plainDnsSpec({ link: { kind: 'sll', pktType: 4 } })]);
  specs.push(['sll2 in response', P.plainDnsSpec({ dns: r, link: { kind: 'sll2', pktType: 0 } })]);
  specs.push(['raw v6', P.plainDnsSpec({ v: 6, link: { kind: 'raw' } })]);
  specs.push(['ipv4 options', P.plainDnsSpec({ ipOptions: [0x94, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0] })]);
  specs.push(['udp csum pseudo', P.plainDnsSpec({ udpCsum: 'pseudo' })]);
  specs.push(['udp csum zero v6', P.plainDnsSpec({ v: 6, udpCsum: 'zero' })]);
  specs.push(['long name', P.plainDnsSpec({ dns: P.defaultQuery(long, 9) })]);
  specs.push(['aaaa response', P.plainDnsSpec({ dns: { ...r, questions: [{ type: 'AAAA', name: 'svc.cluster.local', class: 'IN' }], answers: [{ type: 'AAAA', name: 'svc.cluster.local', ttl: 5, data: 'fd00::9' }] } })]);
  specs.push(['vxlan v6 underlay ext', P.vxlanDnsSpec({ outerV: 6, outerExt: [hbh, { kind: 'dst' }], outerUdpCsum: 'zero' })]);
  specs.push(['vxlan lco', P.vxlanDnsSpec({ outerUdpCsum: 'lco', inner: { udpCsum: 'pseudo' } })]);
  specs.push(['vxlan 8472 v6 overlay', P.vxlanDnsSpec({ vxlanPort: 8472, inner: { v: 6, dns: r } })]);
  specs.push(['vxlan inner vlan', P.vxlanSpec(P.plainDnsSpec({ link: { kind: 'eth', vlans: [{ tpid: 0x8100, vid: 7 }] } }))]);
  specs.push(['vxlan I flag clear', P.vxlanDnsSpec({ vxlanFlags: 0 })]);
  const ovn = [{ cls: 0x0102, type: 0x80, data: [0, 1, 0, 2] }];
  specs.push(['geneve dns', P.geneveDnsSpec({ options: ovn })]);
  specs.push(['geneve no options response', P.geneveDnsSpec({ inner: { dns: r } })]);
  specs.push(['geneve ip inner v6 underlay', P.geneveDnsSpec({ outerV: 6, outerUdpCsum: 'zero', inner: { link: { kind: 'raw' } } })]);
  specs.push(['geneve lco', P.geneveDnsSpec({ outerUdpCsum: 'lco', options: ovn, inner: { udpCsum: 'pseudo' } })]);
  specs.push(['geneve oam', P.geneveDnsSpec({ flags: 0x80, options: [{ cls: 0xffff, type: 1, data: new Array(20).fill(7) }, { cls: 1, type: 2 }] })]);
  specs.push(['tcp dns inside geneve', P.geneveSpec(P.plainTcpSpec({ dport: 53, payload: tcpDns(q) }))]);
  specs.push(['vxlan inside geneve', P.geneveSpec(P.vxlanDnsSpec(), { options: ovn })]);
  const v4: P.Ip4Spec = { v: 4, src: P.V4_CLIENT, dst: P.V4_SERVER };
  specs.push(['ipv4 first fragment', { ip: { ...v4, mf: true }, l4: { kind: 'udp', sport: 40000, dport: 53, dns: q }, l4Slice: [0, 24] }]);
  specs.push(['ipv4 later fragment', { ip: { ...v4, fragOffset: 3 }, l4: { kind: 'udp', sport: 40000, dport: 53, dns: q }, l4Slice: [24, 40] }]);
  const out: Seed[] = [];
  const dec = new Decoder();
  const f = new Frame();
  const LINK: Record<string, number> = { eth: 1, sll: 113, sll2: 276, raw: 101 };
  for (const [name, spec] of specs) {
    const bytes = P.build(spec).bytes;
    const lt = LINK[spec.link?.kind ?? 'eth'];
    dec.decode(bytes, 0, bytes.length, bytes.length, lt, DIR_UNKNOWN, f);
    out.push(seedOf(bytes, lt, f, name));
  }
  // BSD loopback, both byte orders.
  const ip = P.plainDns({ link: { kind: 'raw' } });
  out.push({ bytes: Buffer.concat([Buffer.from([2, 0, 0, 0]), ip]), linkType: 0, l3: ip, v: 4, origin: 'null le' });
  const ip6 = P.plainDns({ v: 6, link: { kind: 'raw' } });
  out.push({ bytes: Buffer.concat([Buffer.from([0, 0, 0, 30]), ip6]), linkType: 0, l3: ip6, v: 6, origin: 'null be v6' });
  return out;
}

export function allSeeds(): Seed[] {
  const fixtures = fixtureSeeds();
  return [...fixtures, ...geneveTwins(fixtures), ...builtSeeds()];
}

/**
 * Every VXLAN frame of the fixtures again as Geneve (RFC 8926): the 8-byte VXLAN header becomes
 * a Geneve header with no options, protocol type 0x6558 and the same VNI, sent to 6081, so that
 * Geneve gets the fixtures' variety (real inner traffic, offload states, directions). The outer UDP
 * checksum is recomputed by the fix-ups that follow most mutations; where it is not, it is bad.
 */
export function geneveTwins(seeds: readonly Seed[]): Seed[] {
  const dec = new Decoder();
  const f = new Frame();
  const out: Seed[] = [];
  for (const s of seeds) {
    dec.decode(s.bytes, 0, s.bytes.length, s.bytes.length, s.linkType, DIR_UNKNOWN, f);
    if (!f.vxlan || f.outer.l4Offset < 0 || f.outer.l4Offset + 16 > s.bytes.length) continue;
    const b = Buffer.from(s.bytes);
    const u = f.outer.l4Offset;
    b[u + 2] = 6081 >> 8;
    b[u + 3] = 6081 & 0xff;
    b[u + 8] = 0; // Ver 0, Opt Len 0
    b[u + 9] = 0; // O and C clear
    b[u + 10] = 0x65; // Ethernet
    b[u + 11] = 0x58;
    // bytes 12..14 keep the VNI, 15 is reserved in both
    out.push(seedOf(b, s.linkType, f, `${s.origin} as geneve`));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The generator: one frame at a time into buf[0, len), for a given link type.

const INTERESTING8 = [0, 0xff, 0x80, 0x7f, 1, 0x40, 0xc0, 0x3f, 0x20, 0x08, 0x0f, 0x10];
const INTERESTING16 = [0, 0xffff, 0x8000, 0x7fff, 1, 0x0800, 0x86dd, 0x8100, 0x88a8, 53, 4789, 8472, 6081, 0x6558, 0xc00c, 0x00ff];
const NEXT_HEADERS = [0, 43, 44, 51, 59, 60, 6, 17, 58, 255];

/** Frames kept in the corpus for the behaviours they showed first (a ring once full). */
const MAX_CORPUS = 4096;
/** Behaviour signatures remembered (bounded, like everything else here). */
const MAX_SIGNATURES = 1 << 20;

export class Generator {
  readonly buf = Buffer.alloc(MAX_BIG + 1024);
  len = 0;
  wireLen = 0;
  private readonly tmp = Buffer.alloc(MAX_FRAME + 1024);
  private readonly rng: Rng;
  private readonly dec: Decoder;
  private readonly f = new Frame();
  private readonly corpus: Seed[] = [];
  private corpusNext = 0;
  /** Behaviour signatures seen (status, checksums, DNS, layers). */
  readonly signatures = new Set<number>();
  /** Mutation names applied to the current frame (for failure reports). */
  readonly applied: string[] = [];

  constructor(private readonly seeds: readonly Seed[], seed: number, stream: number, decoderOpts: DecoderOptions) {
    this.rng = new Rng(seed, stream);
    this.dec = new Decoder(decoderOpts);
  }

  /** Makes the next frame for a batch of this link type and direction (DIR_RX/DIR_TX). */
  next(linkType: number, dir: number): void {
    const g = this.rng;
    this.applied.length = 0;
    const roll = g.int(1000);
    if (roll < 25) {
      // Purely random bytes.
      this.len = g.int(roll < 5 ? 2000 : 200);
      for (let i = 0; i < this.len; i++) this.buf[i] = g.int(256);
      this.wireLen = this.len;
      this.applied.push('random');
      return;
    }
    const pool = this.corpus.length > 0 && g.chance(0.35) ? this.corpus : this.seeds;
    const s = g.pick(pool);
    this.wrap(s, linkType);
    this.wireLen = this.len;
    if (roll < 120) {
      // A seed as it is, only its DNS transaction moved into the small shared space.
      this.flow(dir);
      this.fixChecksums(dir);
      return;
    }
    const n = 1 + (g.chance(0.5) ? 0 : g.int(4));
    for (let i = 0; i < n; i++) this.mutate(dir);
    if (g.chance(0.7)) {
      this.fixChecksums(dir);
      if (g.chance(0.25)) this.damageChecksum(dir);
    }
    if (this.len > MAX_FRAME) this.len = MAX_FRAME;
    if (g.chance(0.0002)) this.bigTcp(dir);
    if (g.chance(0.08)) {
      // A snaplen cut: the wire length stays.
      this.wireLen = this.len;
      this.len = g.int(this.len + 1);
      this.applied.push('snaplen');
    }
    if (g.chance(0.02)) {
      this.wireLen = g.chance(0.5) ? g.int(this.len + 1) : this.len + g.int(g.chance(0.1) ? 200000 : 100);
      this.applied.push('wirelen');
    }
  }

  /** Takes a given frame as the current one (replaying a fixture). */
  load(bytes: Buffer, wireLen: number): void {
    this.len = Math.min(bytes.length, MAX_BIG);
    bytes.copy(this.buf, 0, 0, this.len);
    this.wireLen = wireLen;
    this.applied.length = 0;
    this.applied.push('fixture');
  }

  /** The frame just made decoded to f (the oracle's decode): keeps it when it shows a new behaviour. */
  feedback(f: Frame, linkType: number): void {
    let h = Math.imul(f.status + 1, 0x9e3779b1) ^ linkType;
    h = Math.imul(h ^ ((f.statusInner ? 1 : 0) | (f.vxlan ? 2 : 0) | (f.dns.present ? 4 : 0) | (f.dns.keyed ? 8 : 0) | (f.dns.qr << 4) | (f.dns.inner ? 32 : 0) | (f.encap << 6) | (f.geneveFlags << 8)), 0x85ebca6b);
    for (let l = 0; l < LAYER_COUNT; l++) h = Math.imul(h ^ (f.csum[l] + 2), 0xcc9e2d51);
    h = Math.imul(h ^ (f.outer.ipVersion | (f.inner.ipVersion << 4) | (f.outer.fragment << 8) | (f.inner.fragment << 10)), 0x1b873593);
    h = Math.imul(h ^ ((f.outer.proto & 0xff) | ((f.inner.proto & 0xff) << 8) | (f.pseudoOnlyBad << 16)), 0xe6546b64);
    h ^= h >>> 15;
    if (this.signatures.has(h) || this.signatures.size >= MAX_SIGNATURES) return;
    this.signatures.add(h);
    if (this.len === 0 || this.len > 4096) return;
    const bytes = Buffer.from(this.buf.subarray(0, this.len));
    const seed: Seed = { bytes, linkType, l3: f.outer.ipVersion !== 0 && f.outer.ipOffset < this.len ? bytes.subarray(f.outer.ipOffset) : null, v: f.outer.ipVersion, origin: 'corpus' };
    if (this.corpus.length < MAX_CORPUS) this.corpus.push(seed);
    else this.corpus[this.corpusNext++ % MAX_CORPUS] = seed;
  }

  get corpusSize(): number {
    return this.corpus.length;
  }

  /** Writes the seed into buf for the link type: as it is when it matches, else its datagram re-wrapped. */
  private wrap(s: Seed, linkType: number): void {
    const g = this.rng;
    const b = this.buf;
    if (s.linkType === linkType || s.l3 === null || g.chance(0.03)) {
      s.bytes.copy(b, 0);
      this.len = s.bytes.length;
      return;
    }
    const et = s.v === 6 ? 0x86dd : 0x0800;
    let h = 0;
    switch (linkType) {
      case 1: {
        for (let i = 0; i < 12; i++) b[i] = i < 6 ? 0x02 : 0x04;
        h = 12;
        const tags = g.chance(0.85) ? 0 : 1 + g.int(g.chance(0.9) ? 2 : 5);
        for (let t = 0; t < tags; t++) {
          const tpid = g.pick([0x8100, 0x88a8, 0x9100]);
          b[h] = tpid >> 8; b[h + 1] = tpid & 0xff; b[h + 2] = g.int(256); b[h + 3] = g.int(256);
          h += 4;
        }
        b[h] = et >> 8; b[h + 1] = et & 0xff;
        h += 2;
        break;
      }
      case 113: {
        const pkt = g.chance(0.8) ? g.pick([0, 4]) : g.int(8);
        b[0] = 0; b[1] = pkt; b[2] = 0; b[3] = 1; b[4] = 0; b[5] = 6;
        for (let i = 6; i < 14; i++) b[i] = 0x02;
        b[14] = et >> 8; b[15] = et & 0xff;
        h = 16;
        break;
      }
      case 276: {
        b[0] = et >> 8; b[1] = et & 0xff; b[2] = 0; b[3] = 0; b[4] = 0; b[5] = 0; b[6] = 0; b[7] = 2; b[8] = 0; b[9] = 1;
        b[10] = g.chance(0.8) ? g.pick([0, 4]) : g.int(8); b[11] = 6;
        for (let i = 12; i < 20; i++) b[i] = 0x02;
        h = 20;
        break;
      }
      case 0: {
        const fam = s.v === 4 ? 2 : g.pick([10, 24, 28, 30]);
        if (g.chance(0.5)) { b[0] = fam; b[1] = 0; b[2] = 0; b[3] = 0; } else { b[0] = 0; b[1] = 0; b[2] = 0; b[3] = fam; }
        h = 4;
        break;
      }
      case 147:
        h = g.int(16);
        for (let i = 0; i < h; i++) b[i] = g.int(256);
        break;
      default:
        h = 0; // raw IP: 101, 12, 14, 228, 229
    }
    const n = Math.min(s.l3.length, MAX_FRAME - h);
    s.l3.copy(b, h, 0, n);
    this.len = h + n;
  }

  /** Decodes the current frame with the generator's own decoder (to find fields to mutate). */
  private view(dir: number): Frame {
    this.dec.decode(this.buf, 0, this.len, this.len, this.linkTypeGuess, dir, this.f);
    return this.f;
  }

  /** The link type the current batch has (set by next()'s caller through linkTypeGuess). */
  linkTypeGuess = 1;

  private mutate(dir: number): void {
    const g = this.rng;
    const b = this.buf;
    const k = g.int(20);
    if (this.len === 0 && k < 16) {
      this.extend();
      return;
    }
    switch (k) {
      case 0: case 1: case 2: { // bit flip
        const i = g.int(this.len);
        b[i] ^= 1 << g.int(8);
        this.applied.push(`flip@${i}`);
        break;
      }
      case 3: case 4: { // interesting byte
        const i = g.int(this.len);
        b[i] = g.chance(0.7) ? g.pick(INTERESTING8) : (b[i] + (g.chance(0.5) ? 1 : 255)) & 0xff;
        this.applied.push(`byte@${i}`);
        break;
      }
      case 5: { // interesting 16-bit value anywhere
        if (this.len < 2) break;
        const i = g.int(this.len - 1);
        this.put16(i, g.pick(INTERESTING16));
        this.applied.push(`word@${i}`);
        break;
      }
      case 6: case 7: case 8: // a length or header-length field found through the decoder
        this.fieldEdit(dir);
        break;
      case 9: // truncate (the packet itself shorter: wire length follows)
        this.len = g.int(this.len + 1);
        this.applied.push(`truncate@${this.len}`);
        break;
      case 10:
        this.extend();
        break;
      case 11: { // splice with another seed
        const o = g.pick(this.seeds);
        const at = g.int(this.len + 1);
        const from = g.int(o.bytes.length + 1);
        const n = Math.max(0, Math.min(o.bytes.length - from, MAX_FRAME - at));
        o.bytes.copy(b, at, from, from + n);
        this.len = at + n;
        this.applied.push(`splice@${at}`);
        break;
      }
      case 12: { // insert a run
        const at = g.int(this.len + 1);
        const n = Math.max(0, Math.min(1 + g.int(g.chance(0.8) ? 8 : 64), MAX_FRAME - this.len));
        b.copy(this.tmp, 0, at, this.len);
        for (let i = 0; i < n; i++) b[at + i] = g.chance(0.5) ? 0 : g.int(256);
        this.tmp.copy(b, at + n, 0, this.len - at);
        this.len += n;
        this.applied.push(`insert@${at}+${n}`);
        break;
      }
      case 13: { // delete a run
        const at = g.int(this.len);
        const n = Math.min(1 + g.int(g.chance(0.8) ? 8 : 64), this.len - at);
        b.copy(b, at, at + n, this.len);
        this.len -= n;
        this.applied.push(`delete@${at}-${n}`);
        break;
      }
      case 14: case 15:
        this.dnsEdit(dir);
        break;
      case 16:
        this.vxlanEdit(dir);
        break;
      case 17:
        this.protoEdit(dir);
        break;
      case 18:
        this.flow(dir);
        break;
      default: { // overwrite a run with bytes of another seed
        const o = g.pick(this.seeds);
        const at = g.int(this.len);
        const from = g.int(o.bytes.length);
        const n = Math.min(1 + g.int(32), o.bytes.length - from, this.len - at);
        o.bytes.copy(b, at, from, from + n);
        this.applied.push(`overwrite@${at}`);
      }
    }
  }

  /**
   * A TCP segment grown past 64 KiB with its IP length field 0, as Linux BIG TCP leaves it on the
   * sending host (IPv4 total length 0; IPv6 payload length 0), checksums fixed.
   */
  private bigTcp(dir: number): void {
    const g = this.rng;
    const f = this.view(dir);
    const s = f.inner.ipVersion !== 0 ? f.inner : f.outer;
    if (s.ipVersion === 0 || s.ipOffset + 60 > this.len) return;
    if (s.ipVersion === 4) this.buf[s.ipOffset + 9] = 6;
    else this.buf[s.ipOffset + 6] = 6;
    const to = Math.min(MAX_BIG, s.ipOffset + 65536 + g.int(MAX_BIG - 65536 - s.ipOffset));
    this.buf.fill(g.int(256), this.len, to);
    this.len = to;
    this.put16(s.ipOffset + (s.ipVersion === 4 ? 2 : 4), 0);
    if (s.ipVersion === 4) this.buf[s.ipOffset] = 0x45;
    const tcp = s.ipOffset + (s.ipVersion === 4 ? 20 : 40);
    this.buf[tcp + 12] = 0x50;
    this.fixChecksums(dir);
    this.applied.push(`bigtcp ${to}`);
  }

  private put16(i: number, v: number): void {
    if (i < 0 || i + 1 >= this.len) return;
    this.buf[i] = (v >>> 8) & 0xff;
    this.buf[i + 1] = v & 0xff;
  }

  private extend(): void {
    const g = this.rng;
    const n = Math.max(0, Math.min(1 + g.int(g.chance(0.9) ? 64 : 1500), MAX_FRAME - this.len));
    const mode = g.int(3);
    for (let i = 0; i < n; i++) this.buf[this.len + i] = mode === 0 ? 0 : mode === 1 ? g.int(256) : this.buf[(this.len > 0 ? i % this.len : 0)];
    this.len += n;
    this.applied.push(`extend+${n}`);
  }

  /** A value for a length field: interesting, near the current value, or pointing at the frame's end +-1. */
  private lengthValue(cur: number, unit: number, base: number): number {
    const g = this.rng;
    switch (g.int(6)) {
      case 0: return g.pick([0, 1, 0xffff, 0x8000, 7, 8, 20, 40]);
      case 1: return (cur + 1) & 0xffff;
      case 2: return (cur - 1) & 0xffff;
      case 3: return Math.max(0, Math.floor((this.len - base) / unit) + g.int(3) - 1) & 0xffff;
      case 4: return (cur + g.int(64) - 32) & 0xffff;
      default: return g.int(0x10000) >>> (g.int(12));
    }
  }

  private fieldEdit(dir: number): void {
    const g = this.rng;
    const f = this.view(dir);
    const s = f.inner.ipVersion !== 0 && g.chance(0.5) ? f.inner : f.outer;
    if (s.ipVersion === 0) {
      this.applied.push('field:none');
      return;
    }
    const o = s.ipOffset;
    const which = g.int(8);
    if (s.ipVersion === 4) {
      if (which === 0) { // IHL
        this.buf[o] = (this.buf[o] & 0xf0) | g.int(16);
        this.applied.push('ipv4.ihl');
      } else if (which <= 2) { // total length
        const cur = (this.buf[o + 2] << 8) | this.buf[o + 3];
        this.put16(o + 2, this.lengthValue(cur, 1, o));
        this.applied.push('ipv4.total_length');
      } else if (which === 3) { // fragment word
        this.put16(o + 6, g.pick([0x2000, 0x0001, 0x2001, 0x4000, 0x1fff, 0]));
        this.applied.push('ipv4.frag');
      } else if (which === 4) { // version
        this.buf[o] = (g.pick([4, 6, 0, 15]) << 4) | (this.buf[o] & 0x0f);
        this.applied.push('ipv4.version');
      } else this.l4FieldEdit(s);
    } else {
      if (which <= 2) {
        const cur = (this.buf[o + 4] << 8) | this.buf[o + 5];
        this.put16(o + 4, this.lengthValue(cur, 1, o + 40));
        this.applied.push('ipv6.payload_length');
      } else if (which === 3 && s.l4Offset > o + 40) { // an extension header's length byte
        const at = o + 40 + g.int(s.l4Offset - o - 40);
        this.buf[at] = g.pick([0, 1, 2, 0xff, 0x80, (this.buf[at] + 1) & 0xff, (this.buf[at] - 1) & 0xff]);
        this.applied.push(`ipv6.ext@${at}`);
      } else if (which === 4) {
        this.buf[o] = (g.pick([6, 4, 0, 15]) << 4) | (this.buf[o] & 0x0f);
        this.applied.push('ipv6.version');
      } else this.l4FieldEdit(s);
    }
  }

  private l4FieldEdit(s: Stack): void {
    const g = this.rng;
    const o = s.l4Offset;
    if (o < 0 || o + 8 > this.len) {
      this.applied.push('l4:none');
      return;
    }
    if (s.proto === 17) {
      const cur = (this.buf[o + 4] << 8) | this.buf[o + 5];
      this.put16(o + 4, this.lengthValue(cur, 1, o));
      this.applied.push('udp.length');
    } else if (s.proto === 6 && o + 13 <= this.len) {
      if (g.chance(0.7)) {
        this.buf[o + 12] = (g.int(16) << 4) | (this.buf[o + 12] & 0x0f);
        this.applied.push('tcp.data_offset');
      } else {
        // The DNS-over-TCP length prefix, when there is payload.
        const p = o + ((this.buf[o + 12] >> 4) << 2);
        const cur = p + 2 <= this.len ? (this.buf[p] << 8) | this.buf[p + 1] : 0;
        this.put16(p, this.lengthValue(cur, 1, p + 2));
        this.applied.push('tcp.dns_length');
      }
    } else {
      this.put16(o + 4, g.int(0x10000));
      this.applied.push('l4.other');
    }
  }

  private dnsEdit(dir: number): void {
    const g = this.rng;
    const f = this.view(dir);
    const d = f.dns;
    if (!d.present) {
      // No DNS here: make a port 53 so the payload is read as DNS.
      const s = f.inner.l4Offset >= 0 ? f.inner : f.outer;
      if (s.l4Offset >= 0 && s.l4Offset + 4 <= this.len) this.put16(s.l4Offset + (g.chance(0.5) ? 0 : 2), 53);
      this.applied.push('dns:port53');
      return;
    }
    const m = d.msgOffset;
    const q = m + 12;
    switch (g.int(7)) {
      case 0: // qdcount
        this.put16(m + 4, g.pick([0, 1, 2, 0xffff]));
        this.applied.push('dns.qdcount');
        break;
      case 1: // flags: QR, opcode, TC, rcode
        this.put16(m + 2, g.int(0x10000));
        this.applied.push('dns.flags');
        break;
      case 2: case 3: { // a compression pointer somewhere in the name
        const end = d.nameLength > 0 ? q + Math.min(d.nameLength, this.len - q) : this.len;
        const at = q + g.int(Math.max(1, end - q));
        const target = g.chance(0.4) ? g.int(12) : g.chance(0.5) ? at - m - g.int(8) : at - m + g.int(3);
        this.put16(at, 0xc000 | (target & 0x3fff));
        this.applied.push(`dns.pointer@${at}->${target}`);
        break;
      }
      case 4: { // a label length
        const at = q + g.int(Math.max(1, Math.min(d.nameLength || 8, this.len - q)));
        if (at < this.len) this.buf[at] = g.pick([0, 63, 64, 0x40, 0x80, 0xc0, 0xff, (this.buf[at] + 1) & 0xff, (this.buf[at] - 1) & 0xff]);
        this.applied.push(`dns.label@${at}`);
        break;
      }
      case 5: { // a long name: labels of 63 up to (and past) 255 octets
        const labels = 3 + g.int(3);
        let p = q;
        for (let l = 0; l < labels && p + 64 < MAX_FRAME; l++) {
          this.buf[p++] = 63;
          for (let i = 0; i < 63; i++) this.buf[p++] = 0x61 + g.int(26);
        }
        this.buf[p++] = 0;
        this.buf[p++] = 0; this.buf[p++] = 1; this.buf[p++] = 0; this.buf[p++] = 1;
        if (p > this.len) this.len = p;
        this.applied.push(`dns.long_name x${labels}`);
        break;
      }
      default: // the question cut at a random point
        this.len = Math.min(this.len, q + g.int(Math.max(1, d.nameLength + 4)));
        this.applied.push('dns.cut_question');
    }
  }

  private vxlanEdit(dir: number): void {
    const g = this.rng;
    const f = this.view(dir);
    const s = f.outer;
    if (s.proto !== 17 || s.l4Offset < 0 || s.l4Offset + 16 > this.len) {
      this.applied.push('vxlan:none');
      return;
    }
    const u = s.l4Offset;
    if (f.encap === ENCAP_GENEVE && g.chance(0.6)) {
      // Geneve (RFC 8926 §3.4, §3.5): version and Opt Len, O and C, the protocol type, an option's Length.
      switch (g.int(4)) {
        case 0: this.buf[u + 8] = g.pick([0x00, 0x01, 0x3f, 0x40, 0x80, 0xc0]) | g.int(4); this.applied.push('geneve.ver_optlen'); break;
        case 1: this.buf[u + 9] = g.pick([0, 0x80, 0x40, 0xc0, 0x3f, 0xff]); this.applied.push('geneve.flags'); break;
        case 2: this.put16(u + 10, g.pick([0x6558, 0x0800, 0x86dd, 0x0806, 0, 0x8847])); this.applied.push('geneve.protocol'); break;
        default:
          if (u + 20 <= this.len) this.buf[u + 19] = g.pick([0, 1, 2, 0x1f, 0xe0]) | g.int(4);
          this.applied.push('geneve.option_length');
      }
      return;
    }
    switch (g.int(4)) {
      case 0: this.buf[u + 8] = g.pick([0, 0x08, 0x0c, 0xff, 0x88, 0x80]); this.applied.push('vxlan.flags'); break;
      case 1: this.put16(u + 12, g.int(0x10000)); this.applied.push('vxlan.vni'); break;
      case 2: this.put16(u + 2, g.pick([4789, 8472, 6081, 53, 4790, 0])); this.applied.push('udp.dport'); break;
      default: this.put16(u, g.pick([4789, 8472, 6081, 53, 12345])); this.applied.push('udp.sport');
    }
  }

  private protoEdit(dir: number): void {
    const g = this.rng;
    const f = this.view(dir);
    const s = f.inner.ipVersion !== 0 && g.chance(0.5) ? f.inner : f.outer;
    if (s.ipVersion === 4) {
      this.buf[s.ipOffset + 9] = g.pick([6, 17, 1, 0, 255]);
      this.applied.push('ipv4.proto');
    } else if (s.ipVersion === 6) {
      this.buf[s.ipOffset + 6] = g.pick(NEXT_HEADERS);
      this.applied.push('ipv6.next_header');
    } else {
      // The link's EtherType: to IPv4, IPv6, a VLAN tag or something else.
      const at = this.linkTypeGuess === 1 ? 12 : this.linkTypeGuess === 113 ? 14 : this.linkTypeGuess === 276 ? 0 : -1;
      if (at >= 0) this.put16(at, g.pick([0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806, 0x05dc]));
      this.applied.push('ethertype');
    }
  }

  /** Moves the frame's DNS transaction into a small space: ID 0..3, client port 40000 or 40001. */
  private flow(dir: number): void {
    const g = this.rng;
    const f = this.view(dir);
    const d = f.dns;
    if (!d.present || d.msgOffset + 2 > this.len) return;
    this.put16(d.msgOffset, g.int(4));
    const s = d.inner ? f.inner : f.outer;
    if (s.l4Offset >= 0 && s.l4Offset + 4 <= this.len) this.put16(s.l4Offset + (d.qr === 0 ? 0 : 2), 40000 + g.int(2));
    this.applied.push('flow');
  }

  /** Recomputes IPv4 header and transport checksums, innermost first, as a sender would. */
  private fixChecksums(dir: number): void {
    const f = this.view(dir);
    const b = this.buf;
    const end = this.len;
    for (const s of [f.inner, f.outer]) {
      if (s.ipVersion === 4) {
        const o = s.ipOffset;
        const ihl = (b[o] & 15) << 2;
        if (ihl >= 20 && o + ihl <= end) {
          b[o + 10] = 0; b[o + 11] = 0;
          const c = ~fold(sum16(b, o, o + ihl)) & 0xffff;
          b[o + 10] = c >> 8; b[o + 11] = c & 0xff;
        }
      }
      if (s.l4Offset >= 0 && s.l4End <= end && s.l4End > s.l4Offset && s.dstOffset >= 0 && s.fragment === 0 && s.l4FieldOffset + 2 <= end && s.l4FieldOffset >= s.l4Offset) {
        // Keep a zero outer UDP checksum (no checksum) as the sender chose.
        if (s === f.outer && f.encap !== ENCAP_NONE && s.l4Field === 0) continue;
        const at = s.l4FieldOffset;
        b[at] = 0; b[at + 1] = 0;
        const len = s.l4End - s.l4Offset;
        const ps = s.ipVersion === 4 ? pseudo4(b, s.srcOffset, s.dstOffset, s.proto, len) : pseudo6(b, s.srcOffset, s.dstOffset, s.proto, len);
        let c = ~fold(ps + sum16(b, s.l4Offset, s.l4End)) & 0xffff;
        if (c === 0 && s.proto === 17) c = 0xffff;
        b[at] = c >> 8; b[at + 1] = c & 0xff;
      }
    }
    this.applied.push('fix');
  }

  /** After a fix-up: one checksum flipped, zeroed, or left holding the pseudo-header sum. */
  private damageChecksum(dir: number): void {
    const g = this.rng;
    const f = this.view(dir);
    const s = f.inner.l4Offset >= 0 && g.chance(0.6) ? f.inner : f.outer;
    if (g.chance(0.2) && s.ipVersion === 4 && s.ipOffset + 12 <= this.len) {
      this.buf[s.ipOffset + 10 + g.int(2)] ^= 1 << g.int(8);
      this.applied.push('damage:ipv4');
      return;
    }
    const at = s.l4FieldOffset;
    if (s.l4Offset < 0 || at + 2 > this.len || s.dstOffset < 0) return;
    const mode = g.int(3);
    if (mode === 0) this.buf[at + g.int(2)] ^= 1 << g.int(8);
    else if (mode === 1) this.put16(at, 0);
    else {
      const len = s.l4End - s.l4Offset;
      const ps = s.ipVersion === 4 ? pseudo4(this.buf, s.srcOffset, s.dstOffset, s.proto, len) : pseudo6(this.buf, s.srcOffset, s.dstOffset, s.proto, len);
      this.put16(at, fold(ps));
    }
    this.applied.push(`damage:${['flip', 'zero', 'pseudo'][mode]}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The read-outside oracle: two decodes at different offsets, complementary bytes around the frame.

// Every field of the views, read from fresh instances, so a field added to Frame, Stack or DnsView
// is compared too. Offsets into the buffer are compared relative to where the frame starts.
const FRAME_KEYS = Object.keys(new Frame());
const STACK_KEYS = Object.keys(new Stack());
const DNS_KEYS = Object.keys(new DnsView());
const OFFSET_KEYS = new Set(['ipOffset', 'ipEnd', 'srcOffset', 'dstOffset', 'l4Offset', 'l4End', 'l4FieldOffset', 'msgOffset', 'nameOffset', 'tcpNext', 'tcpEnd', 'tcpPayload', 'tcpPayloadEnd']);

/** Compares two decodes of one frame (every field); returns the first differing field or null. */
export function frameDiff(a: Frame, oa: number, b: Frame, ob: number): string | null {
  for (const k of FRAME_KEYS) {
    const x = (a as unknown as Record<string, unknown>)[k];
    const y = (b as unknown as Record<string, unknown>)[k];
    let d: string | null = null;
    if (x instanceof Stack) d = viewDiff(x as unknown as Record<string, unknown>, oa, y as Record<string, unknown>, ob, STACK_KEYS);
    else if (x instanceof DnsView) d = viewDiff(x as unknown as Record<string, unknown>, oa, y as Record<string, unknown>, ob, DNS_KEYS);
    else if (x instanceof Int8Array) {
      const z = y as Int8Array;
      for (let i = 0; i < x.length; i++) if (x[i] !== z[i]) d = `[${i}]`;
    } else if (x !== y) d = '';
    if (d !== null) return `${k}${d === '' ? '' : d.startsWith('[') ? d : `.${d}`}`;
  }
  return null;
}

function rel(x: number, off: number): number {
  // Offsets the decoder wrote are at or after the frame's start (off >= 1 here); 0 and -1 are unset.
  return x >= off ? x - off : x;
}

function viewDiff(a: Record<string, unknown>, oa: number, b: Record<string, unknown>, ob: number, keys: readonly string[]): string | null {
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (OFFSET_KEYS.has(k) ? rel(x as number, oa) !== rel(y as number, ob) : x !== y) return k;
  }
  return null;
}

/** Range checks on one decoded frame; returns a problem or null. */
export function frameRanges(f: Frame): string | null {
  for (let l = 0; l < LAYER_COUNT; l++) if (!(f.csum[l] >= -1 && f.csum[l] < CSUM_COUNT)) return `layer ${LAYER_NAMES[l]} result ${f.csum[l]}`;
  if (!(f.status >= 0 && f.status < STATUS_COUNT)) return `status ${f.status}`;
  if ((f.pseudoOnlyBad & ~f.badMask()) !== 0) return `pseudo-only bits ${f.pseudoOnlyBad} without bad ${f.badMask()}`;
  if (f.dns.keyed && !f.dns.present) return 'dns keyed but not present';
  if (f.encap !== ENCAP_NONE && f.outer.proto !== 17) return 'tunnel over a non-UDP stack';
  if (f.vxlan !== (f.encap === 1)) return `vxlan ${f.vxlan} with encap ${f.encap}`;
  if (f.encap !== ENCAP_GENEVE && (f.geneveFlags !== 0 || f.geneveOptLen !== 0)) return 'geneve fields on a frame that is not Geneve';
  for (let l = LAYER_COUNT - 1; l >= Layer.VXLAN_IPV4; l--) {
    if (f.csum[l] >= 0 && (f.encap === ENCAP_NONE || l < ENCAP_LAYER_BASE[f.encap] || l > ENCAP_LAYER_BASE[f.encap] + 2)) return `${LAYER_NAMES[l]} result on a frame of encap ${f.encap}`;
  }
  return null;
}

/** Plain ones'-complement sum of b[o, e) as big-endian words, folded (no shortcuts: the reference). */
function plainSum(b: Uint8Array, o: number, e: number, seed: number): number {
  let s = seed;
  for (let i = o; i < e; i += 2) {
    s += b[i] * 256 + (i + 1 < e ? b[i + 1] : 0);
    if (s > 0xffffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  }
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/**
 * Every OK and BAD result recomputed plainly from the frame's bytes at the offsets the decoder
 * found: OK must verify (the sum is 0xffff), BAD must not. Exceptions by the contract: a zero UDP
 * field over IPv6 is BAD by rule, and the tunnel's UDP checksum is verified as local checksum
 * offload computed it when an inner one is partial.
 */
export function checksumsAgree(b: Uint8Array, f: Frame, end: number): string | null {
  for (let k = 0; k < 2; k++) {
    const s = k === 0 ? f.outer : f.inner;
    if (s.ipVersion === 0) continue;
    // DNS found in a tunnel inside the tunnel: f.inner is that deeper stack (its addresses key the
    // transaction), not the one the vxlan.* or geneve.* results were verified on.
    if (k === 1 && s.ipOffset !== firstInnerIp(b, f)) continue;
    const base = k === 0 ? 0 : ENCAP_LAYER_BASE[f.encap];
    const ipR = f.csum[base];
    if (s.ipVersion === 4 && (ipR === 0 || ipR === 1)) {
      const e = s.ipOffset + ((b[s.ipOffset] & 15) << 2);
      if (e > end) return `${LAYER_NAMES[base]} result ${ipR} on a header past the captured end`;
      if ((plainSum(b, s.ipOffset, e, 0) === 0xffff) !== (ipR === 0)) return `${LAYER_NAMES[base]} result ${ipR} disagrees with the plain sum`;
    }
    const layer = s.proto === 17 ? base + 1 : s.proto === 6 ? base + 2 : -1;
    if (layer < 0 || s.l4Offset < 0) continue;
    const r = f.csum[layer];
    if (r !== 0 && r !== 1) continue;
    if (r === 1 && s.l4Field === 0 && s.ipVersion === 6) continue;
    if (k === 0 && f.encap !== ENCAP_NONE && (f.csum[ENCAP_LAYER_BASE[f.encap] + 1] === 3 || f.csum[ENCAP_LAYER_BASE[f.encap] + 2] === 3)) continue;
    if (s.l4End > end || s.dstOffset < 0) return `${LAYER_NAMES[layer]} result ${r} on a segment not all captured`;
    const len = s.l4End - s.l4Offset;
    const alen = s.ipVersion === 4 ? 4 : 16;
    let ps = plainSum(b, s.srcOffset, s.srcOffset + alen, 0);
    ps = plainSum(b, s.dstOffset, s.dstOffset + alen, ps) + s.proto + (len >>> 16) + (len & 0xffff);
    if ((plainSum(b, s.l4Offset, s.l4End, ps) === 0xffff) !== (r === 0)) return `${LAYER_NAMES[layer]} result ${r} disagrees with the plain sum`;
  }
  return null;
}

/**
 * Where the first tunnel's inner IP header starts, worked out from the bytes: after the outer UDP
 * header and VXLAN's 8 bytes (RFC 7348) or Geneve's 8 and its options (RFC 8926), then an
 * Ethernet header with its tags unless Geneve carries IP directly.
 */
function firstInnerIp(b: Uint8Array, f: Frame): number {
  const t = f.outer.l4Offset + 16;
  if (f.encap !== ENCAP_GENEVE) return t + 14 + 4 * f.innerVlanTags;
  const proto = (b[f.outer.l4Offset + 10] << 8) | b[f.outer.l4Offset + 11];
  return proto === 0x6558 ? t + ((b[f.outer.l4Offset + 8] & 0x3f) << 2) + 14 + 4 * f.innerVlanTags : t + ((b[f.outer.l4Offset + 8] & 0x3f) << 2);
}

/** Which oracle a problem from OutsideOracle.check belongs to. */
function oracleOf(problem: string): Failure['oracle'] {
  if (problem.startsWith('decoder threw')) return 'exception';
  if (problem.includes('outside [off, end)')) return 'outside';
  if (problem.includes('plain sum') || problem.includes('captured end') || problem.includes('not all captured')) return 'checksum';
  return 'ranges';
}

/** The decoder as the oracle uses it (replaceable in the self-test by a deliberately broken one). */
export interface FrameDecoder {
  decode(b: Uint8Array, off: number, end: number, wireLen: number, linkType: number, dir: number, f: Frame): Status;
}

export class OutsideOracle {
  private readonly a = Buffer.alloc(MAX_BIG + 4096);
  private readonly b = Buffer.alloc(MAX_BIG + 4096);
  private readonly garbage: Buffer;
  readonly fa = new Frame();
  readonly fb = new Frame();
  offA = 0;

  constructor(private readonly dec: FrameDecoder, rng: Rng) {
    this.garbage = Buffer.alloc(1 << 16);
    for (let i = 0; i < this.garbage.length; i++) this.garbage[i] = rng.int(256);
    this.garbage.copy(this.a, 0, 0, this.a.length > this.garbage.length ? this.garbage.length : this.a.length);
    for (let i = 0; i < this.b.length; i++) this.b[i] = ~this.a[i] & 0xff;
  }

  /** The buffer and offset where the frame sits for decode A (valid until the next check). */
  get bufA(): Buffer {
    return this.a;
  }

  /** Decodes frame[0, len) twice; returns null or the problem. fa holds decode A. */
  check(frame: Buffer, len: number, wireLen: number, linkType: number, dir: number, n: number): string | null {
    const offA = 1 + (n % 61);
    const offB = 100 + ((n * 7) % 53);
    const g = (n * 613) & 0x7fff;
    this.place(this.a, offA, frame, len, g, false);
    this.place(this.b, offB, frame, len, g, true);
    this.offA = offA;
    try {
      this.dec.decode(this.a, offA, offA + len, wireLen, linkType, dir, this.fa);
    } catch (err) {
      return `decoder threw: ${(err as Error).stack?.split('\n').slice(0, 3).join(' | ')}`;
    }
    try {
      this.dec.decode(this.b, offB, offB + len, wireLen, linkType, dir, this.fb);
    } catch (err) {
      return `decoder threw (second buffer): ${(err as Error).message}`;
    }
    const d = frameDiff(this.fa, offA, this.fb, offB);
    if (d !== null) return `decoded ${d} differs with different bytes outside [off, end): a read outside the packet`;
    return frameRanges(this.fa) ?? checksumsAgree(this.a, this.fa, offA + len);
  }

  private place(buf: Buffer, off: number, frame: Buffer, len: number, g: number, invert: boolean): void {
    const gb = this.garbage;
    const before = off - GUARD_BEFORE < 0 ? 0 : off - GUARD_BEFORE;
    for (let i = before; i < off; i++) buf[i] = invert ? ~gb[g + i - before] & 0xff : gb[g + i - before];
    frame.copy(buf, off, 0, len);
    const e = off + len;
    for (let i = 0; i < GUARD_AFTER; i++) buf[e + i] = invert ? ~gb[g + 100 + i] & 0xff : gb[g + 100 + i];
  }
}

// ---------------------------------------------------------------------------------------------
// The reference tally: what the counters must say, from the oracle's own decodes.

const SLOT_DIRS = MAX_IFACES * 2;

export class Tally {
  frames = 0;
  notIp = 0;
  truncated = 0;
  malformed = 0;
  vxlanFrames = 0;
  geneveFrames = 0;
  fragFirst = 0;
  fragLater = 0;
  dnsQueries = 0;
  dnsResponses = 0;
  dnsUnkeyed = 0;
  readonly rcodes = new Float64Array(RCODE_SLOTS);
  /** [(slot*2+dir)*ENCAP_COUNT+encap] */
  readonly packets = new Float64Array(SLOT_DIRS * ENCAP_COUNT);
  /** [((slot*2+dir)*LAYER_COUNT+layer)*CSUM_COUNT+result] */
  readonly csum = new Float64Array(SLOT_DIRS * LAYER_COUNT * CSUM_COUNT);
  /** [(slot*ENCAP_COUNT+where)*STATUS_COUNT+status], where: 0 outside, else the tunnel it arose in; status not OK, not NOT_IP. */
  readonly errors = new Float64Array(MAX_IFACES * ENCAP_COUNT * STATUS_COUNT);
  readonly pseudoOnly = new Float64Array(LAYER_COUNT);
  /** Tunnelled frames (VXLAN, Geneve) [dir*2+bad]. */
  readonly vtep = new Float64Array(4);
  private readonly tcpMsg = new DnsView();
  /** DNS over TCP is read as the correlator reads it: as streams, through the same reader. */
  private readonly tcp: TcpStreams;
  private curF = new Frame();
  private curB: Uint8Array = new Uint8Array(0);

  constructor(dnsTimeoutUs: number) {
    this.tcp = new TcpStreams(dnsTimeoutUs);
  }

  /** Counts frame f, decoded from b (where the later messages of a TCP segment are read), seen at tsUs. */
  add(slot: number, dir: number, f: Frame, b: Uint8Array, tsUs: number): void {
    this.frames++;
    const sd = slot * 2 + dir;
    const encap = f.vxlan ? 1 : f.encap === ENCAP_GENEVE ? 2 : 0;
    this.packets[sd * ENCAP_COUNT + encap]++;
    let bad = false;
    for (let l = 0; l < LAYER_COUNT; l++) {
      const r = f.csum[l];
      if (r < 0) continue;
      this.csum[(sd * LAYER_COUNT + l) * CSUM_COUNT + r]++;
      if (r === 1) bad = true;
      if ((f.pseudoOnlyBad >> l) & 1) this.pseudoOnly[l]++;
    }
    const st = f.status;
    if (st === Status.NOT_IP) this.notIp++;
    else if (st === Status.TRUNCATED) this.truncated++;
    else if (st !== Status.OK) this.malformed++;
    if (st !== Status.OK && st !== Status.NOT_IP) this.errors[(slot * ENCAP_COUNT + (f.statusInner ? encap : 0)) * STATUS_COUNT + st]++;
    if (encap !== 0) {
      if (encap === 1) this.vxlanFrames++;
      else this.geneveFrames++;
      this.vtep[dir * 2 + (bad ? 1 : 0)]++;
    }
    if (f.outer.fragment === FRAG_FIRST) this.fragFirst++;
    else if (f.outer.fragment === FRAG_LATER) this.fragLater++;
    const d = f.dns;
    if (d.tcpPayload >= 0) {
      this.curF = f;
      this.curB = b;
      this.tcp.read(b, f, tsUs, this);
    } else if (d.present) this.countDns(d);
  }

  /** StreamSink: a message joined across TCP segments. */
  streamMessage(d: DnsView): void {
    this.countDns(d);
  }

  /** StreamSink: a TCP segment read on its own: its messages count as the correlator counts them. */
  streamSegment(): void {
    const d = this.curF.dns;
    if (!d.present) return;
    this.countDns(d);
    const m = this.tcpMsg;
    m.tcpNext = d.tcpNext;
    m.tcpEnd = d.tcpEnd;
    m.inner = d.inner;
    while (m.tcpNext >= 0 && nextTcpMessage(this.curB, m)) this.countDns(m);
  }

  private countDns(d: DnsView): void {
    if (d.qr === 0) this.dnsQueries++;
    else {
      this.dnsResponses++;
      this.rcodes[rcodeSlot(d.rcode)]++;
    }
    if (!d.keyed) this.dnsUnkeyed++;
  }

  /** Sum of the csum counts of a layer and result over every slot and direction. */
  csumTotal(layer: number, result: number): number {
    let s = 0;
    for (let sd = 0; sd < SLOT_DIRS; sd++) s += this.csum[(sd * LAYER_COUNT + layer) * CSUM_COUNT + result];
    return s;
  }

  /** Errors of a status, outside (0) or inside a tunnel (its ENCAP_*), over every slot. */
  errorTotal(where: number, st: number): number {
    let s = 0;
    for (let slot = 0; slot < MAX_IFACES; slot++) s += this.errors[(slot * ENCAP_COUNT + where) * STATUS_COUNT + st];
    return s;
  }
}

// ---------------------------------------------------------------------------------------------
// Checks.

/**
 * Bugs found and not fixed yet, each kept as a regression fixture that test/fixtures/fuzz/README.md
 * marks (open): failures that match are counted apart, so a run still shows anything new. Remove
 * an entry when its bug is fixed.
 */
export const KNOWN_OPEN: ReadonlyArray<{ fixture: string; oracle: Failure['oracle']; message: RegExp }> = [
];

/** Collects failures: at most `limit` kept, each message once; known open bugs apart. */
export class Failures {
  readonly list: Failure[] = [];
  count = 0;
  /** Failures of KNOWN_OPEN bugs. */
  readonly known: Failure[] = [];
  knownCount = 0;
  private readonly seen = new Set<string>();
  constructor(private readonly limit = 20) {}

  add(f: Failure): void {
    if (KNOWN_OPEN.some((k) => k.oracle === f.oracle && k.message.test(f.message))) {
      this.knownCount++;
      const key = Failures.key(f.oracle, f.message);
      if (!this.seen.has(key) && this.known.length < this.limit) {
        this.seen.add(key);
        this.known.push(f);
      }
      return;
    }
    this.count++;
    if (!this.wants(f.oracle, f.message)) return;
    this.seen.add(Failures.key(f.oracle, f.message));
    this.list.push(f);
  }

  /** Whether a failure like this one would be kept (so it is worth minimising its frame). */
  wants(oracle: string, message: string): boolean {
    return !this.seen.has(Failures.key(oracle, message)) && this.list.length < this.limit;
  }

  private static key(oracle: string, message: string): string {
    return `${oracle}: ${message.replace(/\d+/g, 'N')}`;
  }
}

export interface Failure {
  oracle: 'exception' | 'outside' | 'ranges' | 'checksum' | 'counters' | 'dns' | 'metrics' | 'analyze' | 'memory';
  message: string;
  seed: number;
  worker: number;
  /** Frame number in the worker's stream (-1 for end-of-chunk checks). */
  frame: number;
  /** The (minimised) frame, hex, with its link type, direction and wire length. */
  hex?: string;
  linkType?: number;
  dir?: number;
  wireLen?: number;
  mutations?: string;
}

function eq(out: string[], what: string, got: number, want: number): void {
  if (got !== want) out.push(`${what}: ${got}, expected ${want}`);
}

function le(out: string[], what: string, a: number, b: number): void {
  if (!(a <= b)) out.push(`${what}: ${a} > ${b}`);
}

function sumOf(a: Float64Array, from = 0, to = a.length, step = 1): number {
  let s = 0;
  for (let i = from; i < to; i += step) s += a[i];
  return s;
}

/** DNS invariants of one correlator; `settled`: the table is empty and no kernel drop waits. */
export function dnsInvariants(d: DnsCorrelator, capacity: number, settled: boolean): string[] {
  const out: string[] = [];
  le(out, 'answered + unanswered + retransmissions <= queries', d.answered + d.unanswered + d.retransmissions, d.queries);
  le(out, 'answered + orphanResponses + duplicateResponses <= responses', d.answered + d.orphanResponses + d.duplicateResponses, d.responses);
  le(out, 'lostToChecksum + lostToKernelDrop <= unanswered', d.lostToChecksum + d.lostToKernelDrop, d.unanswered);
  le(out, 'evicted <= unanswered', d.evicted, d.unanswered);
  le(out, 'unkeyed <= queries + responses', d.unkeyed, d.queries + d.responses);
  eq(out, 'sum(lostByLayer) == lostToChecksum', sumOf(d.lostByLayer), d.lostToChecksum);
  for (let l = 0; l < LAYER_COUNT; l++) le(out, `lostPseudoOnly[${LAYER_NAMES[l]}] <= lostByLayer`, d.lostPseudoOnly[l], d.lostByLayer[l]);
  eq(out, 'sum(rcodes) == responses', sumOf(d.rcodes), d.responses);
  le(out, 'answered <= latency.count', d.answered, d.latency.count);
  le(out, 'latency.count - answered <= inFlight', d.latency.count - d.answered, d.inFlight);
  le(out, 'inFlight <= capacity', d.inFlight, capacity);
  le(out, 'kernel drops matched + unmatched <= kernelDrops', d.kernelDropsMatched + d.kernelDropsUnmatched, d.kernelDrops);
  le(out, 'answeredA + answeredAAAA <= answered + in flight', d.answeredA + d.answeredAAAA, d.answered + d.inFlight);
  if (settled) {
    eq(out, 'inFlight once settled', d.inFlight, 0);
    eq(out, 'latency.count == answered once settled', d.latency.count, d.answered);
    eq(out, 'kernel drops matched + unmatched == kernelDrops once settled', d.kernelDropsMatched + d.kernelDropsUnmatched, d.kernelDrops);
  }
  return out;
}

/** The agent's counters against the reference tally, and its per-server DNS counters against the correlator. */
export function agentInvariants(agent: Agent, t: Tally): string[] {
  const out: string[] = [];
  const c = agent.counters;
  for (let i = 0; i < t.packets.length; i++) if (c.packets[i] !== t.packets[i]) { out.push(`packets[${i}] (slot ${Math.floor(i / ENCAP_COUNT / 2)} dir ${Math.floor(i / ENCAP_COUNT) & 1} encap ${i % ENCAP_COUNT}): ${c.packets[i]}, expected ${t.packets[i]}`); break; }
  eq(out, 'packets counted == frames fed', sumOf(c.packets), t.frames);
  for (let i = 0; i < t.csum.length; i++) {
    if (c.csum[i] !== t.csum[i]) {
      const r = i % CSUM_COUNT;
      const l = Math.floor(i / CSUM_COUNT) % LAYER_COUNT;
      out.push(`csum slot/dir ${Math.floor(i / CSUM_COUNT / LAYER_COUNT)} layer ${LAYER_NAMES[l]} result ${r}: ${c.csum[i]}, expected ${t.csum[i]}`);
      break;
    }
  }
  for (let i = 0; i < t.errors.length; i++) {
    if (c.decodeErrors[i] !== t.errors[i]) { out.push(`decodeErrors ${statusName(i % STATUS_COUNT)}: ${c.decodeErrors[i]}, expected ${t.errors[i]}`); break; }
  }
  const v = agent.vtep;
  const peers = v.peers.count();
  le(out, 'vtep peers <= maxPeers + 1', peers, v.peers.capacity + 1);
  for (let d = 0; d < 2; d++) {
    for (let bad = 0; bad < 2; bad++) {
      let s = 0;
      for (let p = 0; p < peers; p++) s += v.packets[(p * 2 + d) * 2 + bad];
      eq(out, `vtep dir ${d} ${bad ? 'bad' : 'ok'} summed over peers`, s, t.vtep[d * 2 + bad]);
    }
  }
  const d = agent.dns;
  const s = agent.servers;
  const n = LOST_CAUSES.length;
  eq(out, 'sum(servers.lost) == unanswered', sumOf(s.lost), d.unanswered);
  eq(out, 'servers.lost[checksum] == lostToChecksum', sumOf(s.lost, 0, s.lost.length, n), d.lostToChecksum);
  eq(out, 'servers.lost[kernel_drop] == lostToKernelDrop', sumOf(s.lost, 1, s.lost.length, n), d.lostToKernelDrop);
  le(out, 'servers.lost[evicted] <= evicted', sumOf(s.lost, 3, s.lost.length, n), d.evicted);
  eq(out, 'sum(servers.responses) == latency.count', sumOf(s.responses), d.latency.count);
  eq(out, 'sum(servers.latencyCount) == latency.count', sumOf(s.latencyCount), d.latency.count);
  le(out, 'servers <= maxServers + 1', s.table.count(), s.table.capacity + 1);
  eq(out, 'DNS queries (QR 0 packets)', d.queries, t.dnsQueries);
  eq(out, 'DNS responses (QR 1 packets)', d.responses, t.dnsResponses);
  eq(out, 'DNS unkeyed', d.unkeyed, t.dnsUnkeyed);
  eq(out, 'internalErrors', agent.internalErrors, 0);
  eq(out, 'drops.internalErrors', agent.drops.internalErrors, 0);
  return out;
}

/** One chunk's analysis against the chunk's tally. */
export function analysisInvariants(a: Analysis, t: Tally, capacity: number): string[] {
  const out: string[] = [];
  const st = a.stats;
  for (const fl of a.files) if (fl.error !== null) out.push(`analyze error: ${fl.error}`);
  eq(out, 'frames', st.frames, t.frames);
  eq(out, 'malformed', st.malformed, t.malformed);
  eq(out, 'truncated', st.truncated, t.truncated);
  eq(out, 'notIp', st.notIp, t.notIp);
  eq(out, 'vxlanFrames', st.vxlanFrames, t.vxlanFrames);
  eq(out, 'geneveFrames', st.geneveFrames, t.geneveFrames);
  eq(out, 'fragmentsFirst', st.fragmentsFirst, t.fragFirst);
  eq(out, 'fragmentsLater', st.fragmentsLater, t.fragLater);
  for (let l = 0; l < LAYER_COUNT; l++) {
    for (let r = 0; r < CSUM_COUNT; r++) eq(out, `csum ${LAYER_NAMES[l]} result ${r}`, st.count(l, r), t.csumTotal(l, r));
    eq(out, `pseudoOnlyBad ${LAYER_NAMES[l]}`, st.pseudoOnlyBad[l], t.pseudoOnly[l]);
  }
  let reasons = 0;
  for (let s = 0; s < STATUS_COUNT; s++) {
    eq(out, `reasons ${statusName(s)}`, st.decodeErrors[s], s === Status.OK || s === Status.NOT_IP ? 0 : t.errorTotal(0, s));
    eq(out, `vxlanReasons ${statusName(s)}`, st.decodeErrors[STATUS_COUNT + s], s === Status.OK || s === Status.NOT_IP ? 0 : t.errorTotal(1, s));
    eq(out, `geneveReasons ${statusName(s)}`, st.decodeErrors[2 * STATUS_COUNT + s], s === Status.OK || s === Status.NOT_IP ? 0 : t.errorTotal(2, s));
    if (isMalformed(s)) reasons += st.decodeErrors[s] + st.decodeErrors[STATUS_COUNT + s] + st.decodeErrors[2 * STATUS_COUNT + s];
  }
  eq(out, 'malformed reasons sum to malformed', reasons, st.malformed);
  const d = a.dns;
  eq(out, 'DNS queries (QR 0 packets)', d.queries, t.dnsQueries);
  eq(out, 'DNS responses (QR 1 packets)', d.responses, t.dnsResponses);
  eq(out, 'DNS unkeyed', d.unkeyed, t.dnsUnkeyed);
  for (let r = 0; r < RCODE_SLOTS; r++) eq(out, `rcode ${r}`, d.rcodes[r], t.rcodes[r]);
  out.push(...dnsInvariants(d, capacity, true));
  // The report renders, and CONTRACT.md's JSON holds together.
  const j = toJson(a) as unknown as { frames: number; malformed: number; checksums: Record<string, unknown>; dns: Record<string, unknown>; malformed_reasons: Record<string, number> };
  JSON.stringify(j);
  out.push(...jsonHoles(j, ''));
  const text = toText(a);
  const hole = /\b(NaN|undefined|Infinity)\b|\[object /.exec(text);
  if (hole) out.push(`text report shows "${hole[0]}": ${text.slice(Math.max(0, hole.index - 80), hole.index + 40).replace(/\n/g, ' | ')}`);
  eq(out, 'json frames', j.frames, t.frames);
  const buckets: Array<[string[], string[]]> = [
    [['ipv4'], ['ok', 'bad']], [['udp'], ['ok', 'bad', 'none', 'partial', 'unverifiable']], [['tcp'], ['ok', 'bad', 'partial', 'unverifiable']],
    [['vxlan', 'ipv4'], ['ok', 'bad']], [['vxlan', 'udp'], ['ok', 'bad', 'none', 'partial', 'unverifiable']], [['vxlan', 'tcp'], ['ok', 'bad', 'partial', 'unverifiable']],
    [['geneve', 'ipv4'], ['ok', 'bad']], [['geneve', 'udp'], ['ok', 'bad', 'none', 'partial', 'unverifiable']], [['geneve', 'tcp'], ['ok', 'bad', 'partial', 'unverifiable']],
  ];
  for (const [path, names] of buckets) {
    let o: unknown = j.checksums;
    for (const p of path) o = (o as Record<string, unknown>)[p];
    for (const nm of names) if (typeof (o as Record<string, unknown>)[nm] !== 'number') out.push(`json checksums.${path.join('.')}.${nm} missing`);
  }
  out.push(...lostEntries((j.dns as { lost: LostEntry[] }).lost, 'json dns.lost'));
  const reasonsJson = Object.values(j.malformed_reasons).reduce((x, y) => x + y, 0);
  eq(out, 'json malformed == sum(malformed_reasons)', reasonsJson, j.malformed);
  const lat = j.dns.latency_ms as { p50: number; p90: number; p99: number; max: number };
  le(out, 'p50 <= p90', lat.p50, lat.p90);
  le(out, 'p90 <= p99', lat.p90, lat.p99);
  le(out, 'p99 <= max', lat.p99, lat.max + 0.001);
  return out;
}

/** Two correlators fed the same packets must agree on every counter. */
export function dnsParity(a: DnsCorrelator, b: DnsCorrelator, sa?: ServerStats, sb?: ServerStats): string[] {
  const out: string[] = [];
  const keys = ['queries', 'responses', 'answered', 'unanswered', 'lostToChecksum', 'retransmissions', 'duplicateResponses', 'orphanResponses', 'unkeyed', 'evicted', 'answeredA', 'answeredAAAA', 'inFlight',
    'kernelDrops', 'kernelDropsMatched', 'kernelDropsUnmatched', 'lostToKernelDrop'] as const;
  for (const k of keys) eq(out, k, a[k], b[k]);
  const la = JSON.stringify(a.lost());
  if (la !== JSON.stringify(b.lost())) out.push(`lost transactions differ: ${la.slice(0, 300)} vs ${JSON.stringify(b.lost()).slice(0, 300)}`);
  if (JSON.stringify(a.topLostNames(10)) !== JSON.stringify(b.topLostNames(10))) out.push('top lost names differ');
  if (sa && sb) {
    if (sa.table.names.join() !== sb.table.names.join()) out.push('servers differ');
    for (const k of ['queries', 'responses', 'lost', 'latencyBuckets', 'latencySumUs', 'latencyCount'] as const) {
      if (Buffer.compare(Buffer.from(sa[k].buffer), Buffer.from(sb[k].buffer)) !== 0) out.push(`servers.${k} differ`);
    }
  }
  for (let l = 0; l < LAYER_COUNT; l++) eq(out, `lostByLayer ${LAYER_NAMES[l]}`, a.lostByLayer[l], b.lostByLayer[l]);
  eq(out, 'latency count', a.latency.count, b.latency.count);
  eq(out, 'latency max', a.latency.max, b.latency.max);
  eq(out, 'latency p50', a.latency.quantile(0.5), b.latency.quantile(0.5));
  return out;
}

interface LostEntry {
  queries: number;
  cause: string;
  layer: string | null;
}

/** Lost transactions as reports show them: at least one query, a known cause, a layer exactly when the cause is checksum. */
function lostEntries(lost: LostEntry[], where: string): string[] {
  const out: string[] = [];
  for (const l of lost) {
    if (!(l.queries >= 1)) out.push(`${where} entry with ${l.queries} queries`);
    if (!['checksum', 'kernel_drop', 'timeout', 'end_of_capture', 'evicted'].includes(l.cause)) out.push(`${where} cause ${l.cause}`);
    if (l.layer !== null && !LAYER_NAMES.includes(l.layer)) out.push(`${where} layer ${l.layer}`);
    if ((l.cause === 'checksum') !== (l.layer !== null)) out.push(`${where} cause ${l.cause} with layer ${l.layer}`);
    if (out.length > 3) break;
  }
  return out;
}

/** Numbers in the JSON report that are not finite, and nulls outside the fields that may be null (a timestamp past what a Date holds is null). */
function jsonHoles(v: unknown, path: string): string[] {
  if (typeof v === 'number') return Number.isFinite(v) ? [] : [`json ${path} is ${v}`];
  if (v === null) return /\.(layer|reason|error|format|clientPod|serverPod|ts|time)$/.test(path) ? [] : [`json ${path} is null`];
  if (v === undefined) return [`json ${path} is undefined`];
  if (Array.isArray(v)) return v.length > 0 ? jsonHoles(v[0], `${path}[0]`).concat(v.length > 1 ? jsonHoles(v[v.length - 1], `${path}[${v.length - 1}]`) : []) : [];
  if (typeof v === 'object') return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => jsonHoles(x, `${path}.${k}`));
  return [];
}

/** Counter series (and histogram buckets, sums and counts) by name and labels, to compare scrapes. */
export type CounterValues = Map<string, number>;

function counterValues(samples: Sample[]): CounterValues {
  const m: CounterValues = new Map();
  for (const x of samples) {
    if (!/_total$|_bucket$|_sum$|_count$/.test(x.name) || x.name.startsWith('process_')) continue;
    m.set(`${x.name}${JSON.stringify(x.labels)}`, x.value);
    if (x.labels.server !== undefined) {
      // Per-server series may restart when a server's series goes to another (CONTRACT.md); their
      // sum over servers never may.
      const { server: _, ...rest } = x.labels;
      const k = `${x.name}${JSON.stringify(rest)} summed over server`;
      m.set(k, (m.get(k) ?? 0) + x.value);
    }
  }
  return m;
}

const REPLACED = 'csumwatch_dns_server_series_replaced_total{}';

/** The metrics text against the agent's in-memory counters, and (given the last scrape's) counters that never go down. */
export function metricsInvariants(text: string, agent: Agent, last?: { counters: CounterValues }): string[] {
  const out: string[] = [];
  const { samples, bad } = parseMetrics(text);
  const now = counterValues(samples);
  if (last) {
    let reported = 0;
    const handedOver = (now.get(REPLACED) ?? 0) > (last.counters.get(REPLACED) ?? 0);
    for (const [k, v] of now) {
      const was = last.counters.get(k);
      if (handedOver && k.includes('"server":')) continue;
      if (was !== undefined && v < was && reported++ < 3) out.push(`counter went down between scrapes: ${k} ${was} -> ${v}`);
    }
    for (const [k, v] of now) if (k.includes('_sum{') && v < 0) out.push(`histogram sum below 0: ${k} ${v}`);
    last.counters = now;
  }
  if (bad.length > 0) out.push(`unparsable metric lines: ${bad.slice(0, 3).join(' / ')}`);
  for (const x of samples) if (Number.isNaN(x.value)) out.push(`NaN: ${x.name}`);
  for (const x of samples) if (x.name === 'csumwatch_collector_success' && x.value !== 1) out.push(`collector ${x.labels.collector} failed`);
  eq(out, 'csumwatch_internal_errors_total', sumSamples(samples, 'csumwatch_internal_errors_total'), 0);
  const c = agent.counters;
  eq(out, 'csumwatch_packets_total', sumSamples(samples, 'csumwatch_packets_total'), sumOf(c.packets));
  for (let l = 0; l < LAYER_COUNT; l++) {
    for (let r = 0; r < CSUM_COUNT; r++) {
      let want = 0;
      for (let sd = 0; sd < SLOT_DIRS; sd++) want += c.csum[(sd * LAYER_COUNT + l) * CSUM_COUNT + r];
      eq(out, `csumwatch_checksums_total{layer=${LAYER_NAMES[l]},result=${r}}`, sumSamples(samples, 'csumwatch_checksums_total', { layer: LAYER_NAMES[l], result: ['ok', 'bad', 'none', 'partial', 'unverifiable'][r] }), want);
    }
  }
  eq(out, 'csumwatch_decode_errors_total', sumSamples(samples, 'csumwatch_decode_errors_total'), sumOf(c.decodeErrors));
  // Per peer that has series (a configuration may leave healthy peers out): the in-memory counts.
  const v = agent.vtep;
  let vtepSeen = 0;
  for (let p = 0; p < v.peers.count(); p++) {
    const peer = v.peers.name(p);
    if (!samples.some((x) => x.name === 'csumwatch_vtep_packets_total' && x.labels.peer === peer)) continue;
    for (let dd = 0; dd < 2; dd++) {
      for (let bad = 0; bad < 2; bad++) {
        const got = sumSamples(samples, 'csumwatch_vtep_packets_total', { peer, direction: ['rx', 'tx'][dd], result: bad ? 'bad' : 'ok' });
        if (got !== v.packets[(p * 2 + dd) * 2 + bad] && vtepSeen++ < 3) out.push(`csumwatch_vtep_packets_total{peer=${peer},dir=${dd},bad=${bad}}: ${got}, expected ${v.packets[(p * 2 + dd) * 2 + bad]}`);
      }
    }
  }
  const s = agent.servers;
  const d = agent.dns;
  eq(out, 'csumwatch_dns_queries_total', sumSamples(samples, 'csumwatch_dns_queries_total'), sumOf(s.queries));
  eq(out, 'csumwatch_dns_responses_total', sumSamples(samples, 'csumwatch_dns_responses_total'), sumOf(s.responses));
  LOST_CAUSES.forEach((cause, i) => eq(out, `csumwatch_dns_lost_total{cause=${cause}}`, sumSamples(samples, 'csumwatch_dns_lost_total', { cause }), sumOf(s.lost, i, s.lost.length, LOST_CAUSES.length)));
  eq(out, 'csumwatch_dns_lost_total == unanswered', sumSamples(samples, 'csumwatch_dns_lost_total'), d.unanswered);
  eq(out, 'csumwatch_dns_latency_seconds_count', sumSamples(samples, 'csumwatch_dns_latency_seconds_count'), sumOf(s.latencyCount));
  eq(out, 'csumwatch_dns_orphan_responses_total', sumSamples(samples, 'csumwatch_dns_orphan_responses_total'), d.orphanResponses);
  eq(out, 'csumwatch_dns_transactions_in_flight', sumSamples(samples, 'csumwatch_dns_transactions_in_flight'), d.inFlight);
  le(out, 'csumwatch_dns_transactions_in_flight <= capacity', sumSamples(samples, 'csumwatch_dns_transactions_in_flight'), agent.config.dnsCapacity);
  // Each server's histogram: cumulative buckets that rise and end at its count.
  const byServer = new Map<string, number[]>();
  for (const x of samples) {
    if (x.name !== 'csumwatch_dns_latency_seconds_bucket') continue;
    const k = x.labels.server;
    if (!byServer.has(k)) byServer.set(k, []);
    byServer.get(k)!.push(x.value);
  }
  for (const [server, b] of byServer) {
    for (let i = 1; i < b.length; i++) if (b[i] < b[i - 1]) { out.push(`latency buckets of ${server} fall`); break; }
    eq(out, `latency +Inf of ${server} == count`, b[b.length - 1], sumSamples(samples, 'csumwatch_dns_latency_seconds_count', { server }));
  }
  le(out, 'dns servers in metrics', byServer.size, s.table.capacity + 1);
  const peers = new Set(samples.filter((x) => x.name === 'csumwatch_vtep_packets_total').map((x) => x.labels.peer));
  le(out, 'vtep peers in metrics', peers.size, agent.vtep.peers.capacity + 1);
  le(out, 'series', samples.length, 20000);
  return out;
}

/** The agent's HTTP endpoints, as src/cli/agent.ts builds them, answer after the run. */
async function serverChecks(agent: Agent, registry: ReturnType<typeof createRegistry>): Promise<string[]> {
  const out: string[] = [];
  const main = build({ registry, ...agentViews(agent) });
  const debug = build({ registry, ...agentViews(agent), listener: 'debug' });
  const app = { close: async () => Promise.all([main.close(), debug.close()]) };
  try {
    for (const url of ['/metrics', '/healthz', '/readyz', '/diagnosis', '/debug/lost', '/debug/drops']) {
      const r = await (url.startsWith('/debug/') ? debug : main).inject({ method: 'GET', url });
      if (r.statusCode !== 200) out.push(`${url}: status ${r.statusCode}`);
      if (url === '/debug/lost') {
        const j = JSON.parse(r.body) as { lost: LostEntry[]; topNames: unknown[] };
        le(out, '/debug/lost entries', j.lost.length, agent.config.lostListSize);
        out.push(...lostEntries(j.lost, '/debug/lost'));
        out.push(...jsonHoles(j, '/debug/lost'));
        if (agent.dns.unanswered > 0 && agent.config.lostListSize > 0 && j.lost.length === 0) out.push('/debug/lost is empty although transactions were lost');
      } else if (url !== '/metrics' && url !== '/healthz') JSON.parse(r.body);
    }
    const om = await main.inject({ method: 'GET', url: '/metrics', headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
    if (om.statusCode !== 200 || !om.body.endsWith('# EOF\n')) out.push(`/metrics as OpenMetrics: status ${om.statusCode}`);
  } finally {
    await app.close();
  }
  return out;
}

/** The chunk's frames as one pcapng section: an interface per agent slot, epb_flags for direction. */
class PcapngChunk {
  private buf = Buffer.alloc(32 << 20);
  private at = 0;
  frames = 0;

  constructor(private readonly header: Buffer) {
    this.reset();
  }

  reset(): void {
    this.header.copy(this.buf, 0);
    this.at = this.header.length;
    this.frames = 0;
  }

  get bytes(): number {
    return this.at;
  }

  /** Appends one EPB; its timestamp is hi:lo in microseconds (the default if_tsresol). */
  push(ifId: number, data: Buffer, capLen: number, wireLen: number, hi: number, lo: number, dir: number): void {
    const pad = (capLen + 3) & ~3;
    const len = 32 + pad + 12;
    if (this.at + len > this.buf.length) {
      const nb = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(nb, 0, 0, this.at);
      this.buf = nb;
    }
    const b = this.buf;
    const o = this.at;
    b.writeUInt32LE(6, o);
    b.writeUInt32LE(len, o + 4);
    b.writeUInt32LE(ifId, o + 8);
    b.writeUInt32LE(hi, o + 12);
    b.writeUInt32LE(lo, o + 16);
    b.writeUInt32LE(capLen, o + 20);
    b.writeUInt32LE(wireLen >>> 0, o + 24);
    data.copy(b, o + 28, 0, capLen);
    b.fill(0, o + 28 + capLen, o + 28 + pad);
    const p = o + 28 + pad;
    b.writeUInt16LE(2, p); // epb_flags
    b.writeUInt16LE(4, p + 2);
    b.writeUInt32LE(dir === DIR_RX ? 1 : 2, p + 4);
    b.writeUInt32LE(0, p + 8); // opt_endofopt
    b.writeUInt32LE(len, o + len - 4);
    this.at = o + len;
    this.frames++;
  }

  write(path: string): void {
    writeFileSync(path, this.buf.subarray(0, this.at));
  }
}

// ---------------------------------------------------------------------------------------------
// One worker's run.

export interface FuzzOptions {
  frames: number;
  seed: number;
  /** The worker's index: its stream is (seed, worker). */
  worker?: number;
  /** Frames between analyze runs and metrics scrapes. */
  chunk?: number;
  /** Decoder ports; the default alternates with the worker index. */
  decoder?: DecoderOptions;
  /** Where to write minimised failing frames (hex); none when absent. */
  out?: string;
  /** Self-test hooks: a broken oracle decoder, sabotage after a batch, a changed scrape, lower memory limits. */
  hooks?: {
    oracleDecoder?: (real: Decoder) => FrameDecoder;
    agentDecoder?: (real: Decoder) => FrameDecoder;
    agent?: (agent: Agent) => void;
    afterBatch?: (agent: Agent, fed: number) => void;
    scrape?: (text: string) => string;
    afterChunk?: (a: Analysis) => void;
    heapLimitMiB?: number;
    /** Every record handed to the agent this many bytes shorter than the frame (a source that cuts). */
    shortenRecords?: number;
  };
  /** Progress lines to stderr. */
  verbose?: boolean;
  /** Agent configuration over the fuzz defaults (small tables: dnsCapacity 128, 16 servers, 32 peers). */
  config?: Partial<AgentConfig>;
  /** Replay these frames (one batch each) instead of generating: the regression fixtures. */
  fixed?: Fixture[];
}

/** What a run says, one worker's or all of them. */
interface RunTotals {
  seed: number;
  frames: number;
  seconds: number;
  framesPerSec: number;
  failures: Failure[];
  failureCount: number;
  /** Failures of KNOWN_OPEN bugs (not in failureCount). */
  known: Failure[];
  knownCount: number;
  rssMiB: number;
}

export interface FuzzResult extends RunTotals {
  worker: number;
  /** Distinct behaviour signatures seen, and the corpus they grew. */
  signatures: number;
  corpus: number;
  chunks: number;
  scrapes: number;
  heapMiB: number;
  /** What the run reached (so a test can insist that the deep paths ran). */
  reached: {
    vxlan: number; geneve: number; dnsQueries: number; dnsResponses: number; answered: number; unanswered: number; lostToChecksum: number;
    evicted: number; orphans: number; retransmissions: number; kernelDrops: number; malformed: number; truncated: number;
    statuses: number; partial: number; bad: number; analyzeFrames: number;
    /** Frames past 64 KiB whose TCP checksum was verified (BIG TCP). */
    bigTcp: number;
  };
}

export function decoderOptionsFor(worker: number): DecoderOptions {
  return worker % 2 === 0 ? {} : { vxlanPorts: [4789], genevePorts: [6081, 8472], dnsPorts: [53, 5353] };
}

export async function fuzz(opts: FuzzOptions): Promise<FuzzResult> {
  const worker = opts.worker ?? 0;
  const seed = opts.seed;
  const chunk = opts.chunk ?? 100_000;
  const hooks = opts.hooks ?? {};
  const decOpts = opts.decoder ?? decoderOptionsFor(worker);
  const seeds = allSeeds();
  const gen = new Generator(seeds, seed, worker, decOpts);
  const rng = new Rng(seed ^ 0x5bd1e995, worker);
  const realDecoder = new Decoder(decOpts);
  const oracle = new OutsideOracle(hooks.oracleDecoder ? hooks.oracleDecoder(realDecoder) : realDecoder, new Rng(seed ^ 0x27d4eb2f, worker));
  const failures = new Failures();
  const fail = (f: Omit<Failure, 'seed' | 'worker'>): void => failures.add({ seed, worker, ...f });

  // The agent, on fuzz interfaces.
  const config: AgentConfig = {
    ...DEFAULT_AGENT_CONFIG, ...FUZZ_CONFIG, ...opts.config, bpf: 'off', doctorInterval: 0, rescanInterval: 3600,
    interfaces: FUZZ_LINK_TYPES.map((lt) => `fz${lt}`),
    vxlanPorts: [...(decOpts.vxlanPorts ?? [4789, 8472])], genevePorts: [...(decOpts.genevePorts ?? [6081])], dnsPorts: [...(decOpts.dnsPorts ?? [53])],
  };
  const sources = new Map<string, MemorySource>();
  // The MTU the reference decoder and analyze assume (DEFAULT_MTU): received frames longer than
  // it are GRO-merged to all three alike.
  const ifs: NetInterface[] = config.interfaces.map((name, i) => ({
    name, ifindex: 100 + i, kind: 'physical', mtu: DEFAULT_MTU, up: true, mac: '02:00:00:00:00:01', driver: 'fuzz', addresses: [], vxlan: null,
  }));
  const agent = new Agent(config, {
    log: pino({ level: 'silent' }),
    listInterfaces: () => ifs,
    openSource: (o: PcapOptions) => {
      const s = new MemorySource(Number(o.device.slice(2)));
      sources.set(`${o.device}/${o.direction}`, s);
      return s;
    },
    watchLinks: false,
    procNet: join(FIXTURES, 'node', 'proc-net'),
  });
  hooks.agent?.(agent);
  if (hooks.agentDecoder) Reflect.set(agent, 'decoder', hooks.agentDecoder(Reflect.get(agent, 'decoder') as Decoder));
  const registry = createRegistry(agent, '0.0.0-fuzz');
  agent.start();
  const slots = config.interfaces.map((name) => agent.counters.slot(name));
  const src: MemorySource[][] = config.interfaces.map((name) => [sources.get(`${name}/in`)!, sources.get(`${name}/out`)!]);
  if (src.some((p) => !p[0] || !p[1])) throw new Error('the agent did not open every fuzz source');

  // analyze: one pcapng per chunk, interface id == agent slot.
  const idbs: Array<{ linkType: number; name: string }> = [];
  for (let slot = 0; slot < agent.counters.names.length; slot++) idbs.push({ linkType: Number(agent.counters.names[slot].slice(2)), name: agent.counters.names[slot] });
  const png = new PcapngChunk(pcapngBytes(idbs, []));
  const dir0 = mkdtempSync(join(tmpdir(), 'csw-fuzz-'));
  const chunkPath = join(dir0, 'chunk.pcapng');

  const tally = new Tally(config.dnsTimeout * 1e6);
  let chunkTally = new Tally(config.dnsTimeout * 1e6);
  // A correlator fed straight from the oracle's decodes, in feed order: analyze's must equal it.
  // analyze keeps every lost transaction of a chunk in its list, so that the report renders each.
  const analyzeLost = 1 << 16;
  const chunkCorrelator = (): DnsCorrelator => new DnsCorrelator({ capacity: config.dnsCapacity, timeoutUs: config.dnsTimeout * 1e6, lostListSize: analyzeLost });
  let refDns = chunkCorrelator();
  // The agent's correlator must equal one fed the same packets and kernel drops in the same order
  // straight from the oracle's decodes (so its batches lose, reorder or re-time nothing).
  const refServers = new ServerStats(config.maxServers);
  const liveRef = new DnsCorrelator({
    capacity: config.dnsCapacity, timeoutUs: config.dnsTimeout * 1e6, lostListSize: config.lostListSize, servers: refServers,
    reasonName: (r) => agent.drops.reasons[r] ?? `reason_${r}`,
  });
  const liveParity = (when: string): void => {
    for (const p of dnsParity(agent.dns, liveRef, agent.servers, refServers)) fail({ oracle: 'dns', message: `agent${when} against the reference correlator: ${p}`, frame: fed });
  };
  const weights: number[] = [];
  LINK_WEIGHTS.forEach((w, i) => { for (let k = 0; k < w; k++) weights.push(i); });

  let tsUs = 4_000_000_000_000_000 + worker * 1e12; // far ahead of the wall clock: the agent's own sweep timer finds nothing old
  let lastTs = tsUs;
  let fed = 0;
  let chunks = 0;
  let scrapes = 0;
  let analyzeFrames = 0;
  const started = process.hrtime.bigint();
  const reached = { vxlan: 0, geneve: 0, dnsQueries: 0, dnsResponses: 0, answered: 0, unanswered: 0, lostToChecksum: 0, evicted: 0, orphans: 0, retransmissions: 0, kernelDrops: 0, malformed: 0, truncated: 0, statuses: 0, partial: 0, bad: 0, analyzeFrames: 0, bigTcp: 0 };
  const statusesSeen = new Set<number>();
  const drop = { b: oracle.bufA as Uint8Array, family: 4, srcOffset: 0, dstOffset: 0, sport: 0, dport: 0, dnsOffset: 0, dnsLength: 0, reason: 0 };

  const reportFrame = (oracleName: Failure['oracle'], message: string, n: number, linkType: number, dir: number, check: ((b: Buffer, wireLen: number) => boolean) | null): void => {
    const len = gen.len;
    let bytes: Buffer = Buffer.from(gen.buf.subarray(0, len));
    let wireLen = gen.wireLen;
    if (check && failures.wants(oracleName, message)) ({ bytes, wireLen } = minimise(bytes, wireLen, check));
    const f: Omit<Failure, 'seed' | 'worker'> = { oracle: oracleName, message, frame: n, hex: bytes.toString('hex'), linkType, dir, wireLen, mutations: gen.applied.join(' ') };
    fail(f);
    if (opts.out && failures.list.length <= 20) saveFailure(opts.out, { seed, worker, ...f });
  };

  /** Hands the source's waiting records to the agent; a batch handler that threw is a failure. */
  const flush = (source: MemorySource, firstOfBatch: number, linkType: number, dir: number): void => {
    const errorsBefore = agent.internalErrors;
    source.poll();
    if (agent.internalErrors !== errorsBefore) {
      fail({ oracle: 'exception', message: `agent batch handler threw (internalErrors ${agent.internalErrors}) in frames ${firstOfBatch}..${fed - 1}`, frame: firstOfBatch, linkType, dir });
    }
  };

  const lastScrape = { counters: new Map() as CounterValues };
  const endChunk = async (): Promise<void> => {
    for (const pair of src) for (const s of pair) s.poll();
    chunks++;
    for (const p of agentInvariants(agent, tally)) fail({ oracle: 'counters', message: `agent: ${p}`, frame: fed });
    for (const p of dnsInvariants(agent.dns, config.dnsCapacity, false)) fail({ oracle: 'dns', message: `agent: ${p}`, frame: fed });
    liveParity('');
    if (png.frames > 0) {
      png.write(chunkPath);
      let a: Analysis | null = null;
      try {
        a = analyzeFiles([chunkPath], { vxlanPorts: config.vxlanPorts, genevePorts: config.genevePorts, dnsPorts: config.dnsPorts, dnsTimeoutUs: config.dnsTimeout * 1e6, dnsCapacity: config.dnsCapacity, lostListSize: analyzeLost });
        hooks.afterChunk?.(a);
        refDns.finish();
        analyzeFrames += a.stats.frames;
        for (const p of dnsParity(a.dns, refDns)) fail({ oracle: 'analyze', message: `analyze DNS against the reference correlator: ${p}`, frame: fed });
        for (const p of analysisInvariants(a, chunkTally, config.dnsCapacity)) fail({ oracle: 'analyze', message: `analyze: ${p}`, frame: fed });
      } catch (err) {
        fail({ oracle: 'exception', message: `analyze threw: ${(err as Error).stack?.split('\n').slice(0, 3).join(' | ')}`, frame: fed });
      }
      png.reset();
    }
    chunkTally = new Tally(config.dnsTimeout * 1e6);
    refDns = chunkCorrelator();
    try {
      let text = await registry.metrics();
      if (hooks.scrape) text = hooks.scrape(text);
      for (const p of metricsInvariants(text, agent, lastScrape)) fail({ oracle: 'metrics', message: p, frame: fed });
      const om = await openMetrics(registry);
      if (!om.endsWith('# EOF\n')) fail({ oracle: 'metrics', message: 'OpenMetrics output does not end with # EOF', frame: fed });
      scrapes++;
    } catch (err) {
      fail({ oracle: 'exception', message: `scrape threw: ${(err as Error).message}`, frame: fed });
    }
    const heap = process.memoryUsage().heapUsed / 1048576;
    if (heap > (hooks.heapLimitMiB ?? HEAP_LIMIT_MIB)) fail({ oracle: 'memory', message: `heap ${heap.toFixed(0)} MiB over the bound ${hooks.heapLimitMiB ?? HEAP_LIMIT_MIB} MiB`, frame: fed });
    if (opts.verbose) process.stderr.write(`worker ${worker}: ${fed} frames, ${gen.signatures.size} behaviours, ${failures.count} failures, heap ${heap.toFixed(0)} MiB, RSS ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB\n`);
  };

  try {
    const fixed = opts.fixed;
    const fixedBase = tsUs;
    let tsHi = 0;
    let tsLo = 0;
    while (fed < opts.frames) {
      const fx = fixed ? fixed[fed] : null;
      const iface = fx ? FUZZ_LINK_TYPES.indexOf(fx.linkType) : weights[rng.int(weights.length)];
      if (iface < 0) throw new Error(`fixture link type ${fx!.linkType} is not one of the fuzz interfaces' (${FUZZ_LINK_TYPES.join(', ')})`);
      const linkType = FUZZ_LINK_TYPES[iface];
      const dirIndex = fx ? (fx.dir === DIR_TX ? DIR_INDEX_TX : DIR_INDEX_RX) : rng.chance(0.5) ? DIR_INDEX_RX : DIR_INDEX_TX;
      const dir = dirIndex === DIR_INDEX_RX ? DIR_RX : DIR_TX;
      const source = src[iface][dirIndex];
      const slot = slots[iface];
      gen.linkTypeGuess = linkType;
      const batch = fx ? 1 : Math.min(1 + rng.int(rng.chance(0.9) ? 64 : 512), opts.frames - fed);
      const firstOfBatch = fed;
      for (let i = 0; i < batch; i++) {
        if (fx) gen.load(fx.bytes, fx.wireLen);
        else gen.next(linkType, dir);
        const len = gen.len;
        const n = fed;
        // Oracle 2: decoded twice with complementary bytes around the frame.
        const problem = oracle.check(gen.buf, len, gen.wireLen, linkType, dir, n);
        if (problem !== null) {
          const o2 = new OutsideOracle(hooks.oracleDecoder ? hooks.oracleDecoder(new Decoder(decOpts)) : new Decoder(decOpts), new Rng(1));
          reportFrame(oracleOf(problem), problem, n, linkType, dir, (b, w) => o2.check(b, b.length, w, linkType, dir, n) !== null);
        }
        // Timestamps: mostly forward, sometimes past the DNS timeout, sometimes back.
        const t = rng.int(1000);
        if (fx && fx.tsUs !== undefined) tsUs = fixedBase + fx.tsUs;
        else tsUs += t < 2 ? 6_000_000 : t < 4 ? -rng.int(2_000_000) : rng.int(3000);
        if (tsUs > lastTs) lastTs = tsUs;
        const f = oracle.fa;
        // The file's timestamp: the agent's, or now and then for a DNS query one the live capture
        // cannot give (0, past 2^53 µs, the largest 64-bit value), which only a file can hold.
        if (fx && fx.fileTs !== undefined) [tsHi, tsLo] = fx.fileTs;
        else if (!fx && f.dns.present && f.dns.qr === 0 && rng.chance(0.0005)) [tsHi, tsLo] = rng.pick(ODD_FILE_TS);
        else {
          tsHi = Math.floor(tsUs / 4294967296);
          tsLo = tsUs - tsHi * 4294967296;
        }
        tally.add(slot, dirIndex, f, oracle.bufA, tsUs);
        chunkTally.add(slot, dirIndex, f, oracle.bufA, tsHi * 4294967296 + tsLo);
        try {
          refDns.observe(oracle.bufA, f, tsHi * 4294967296 + tsLo, slot);
        } catch (err) {
          reportFrame('exception', `DnsCorrelator.observe threw: ${(err as Error).message}`, n, linkType, dir, null);
        }
        gen.feedback(f, linkType);
        if (len > 0xffff && (f.csum[2] === 0 || f.csum[2] === 1 || f.csum[5] === 0 || f.csum[5] === 1)) reached.bigTcp++;
        statusesSeen.add(f.status + (f.statusInner ? 100 : 0));
        // A share of DNS packets is also reported as dropped by the kernel, before the capture hands it over.
        if (f.dns.present && rng.chance(0.02)) {
          const s = f.dns.inner ? f.inner : f.outer;
          const capEnd = oracle.offA + len;
          drop.b = oracle.bufA;
          drop.family = s.ipVersion;
          drop.srcOffset = s.srcOffset;
          drop.dstOffset = s.ipOffset + (s.ipVersion === 4 ? 16 : 24);
          drop.sport = s.srcPort;
          drop.dport = s.dstPort;
          drop.dnsOffset = f.dns.msgOffset;
          drop.dnsLength = Math.max(0, Math.min(127, capEnd - f.dns.msgOffset) - (rng.chance(0.2) ? rng.int(20) : 0));
          drop.reason = rng.int(8);
          // What the agent was handed so far first, so that it sees packets and drops in the reference's order.
          flush(source, firstOfBatch, linkType, dir);
          const dropTs = tsUs - rng.int(500);
          try {
            agent.dns.kernelDrop(drop, dropTs);
            liveRef.kernelDrop(drop, dropTs);
          } catch (err) {
            reportFrame('exception', `kernelDrop threw: ${(err as Error).message}`, n, linkType, dir, null);
          }
        }
        // The reference sees the packet where the agent will: after any kernel drop reported for it.
        try {
          liveRef.observe(oracle.bufA, f, tsUs, slot);
        } catch (err) {
          reportFrame('exception', `DnsCorrelator.observe threw: ${(err as Error).message}`, n, linkType, dir, null);
        }
        if (!source.fits(len)) source.poll();
        const capLen = hooks.shortenRecords ? Math.max(0, len - hooks.shortenRecords) : len;
        gen.buf.copy(source.buf, source.reserve(capLen, gen.wireLen, tsUs), 0, capLen);
        png.push(slot, gen.buf, len, gen.wireLen, tsHi, tsLo, dir);
        fed++;
      }
      flush(source, firstOfBatch, linkType, dir);
      hooks.afterBatch?.(agent, fed);
      if (Math.floor(fed / chunk) !== Math.floor((fed - batch) / chunk) || fed >= opts.frames) await endChunk();
    }
    // Time passes: every transaction and waiting kernel drop times out; then the table must be empty.
    agent.dns.sweep(lastTs + 2 * config.dnsTimeout * 1e6);
    agent.dns.finish();
    liveRef.sweep(lastTs + 2 * config.dnsTimeout * 1e6);
    liveRef.finish();
    liveParity(' at the end');
    for (const p of dnsInvariants(agent.dns, config.dnsCapacity, true)) fail({ oracle: 'dns', message: `agent at the end: ${p}`, frame: fed });
    for (const p of agentInvariants(agent, tally)) fail({ oracle: 'counters', message: `agent at the end: ${p}`, frame: fed });
    const text = await registry.metrics();
    for (const p of metricsInvariants(hooks.scrape ? hooks.scrape(text) : text, agent, lastScrape)) fail({ oracle: 'metrics', message: `at the end: ${p}`, frame: fed });
    for (const p of await serverChecks(agent, registry)) fail({ oracle: 'metrics', message: `HTTP at the end: ${p}`, frame: fed });
  } finally {
    agent.stop();
    rmSync(dir0, { recursive: true, force: true });
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const d = agent.dns;
  reached.vxlan = tally.vxlanFrames;
  reached.geneve = tally.geneveFrames;
  reached.dnsQueries = d.queries;
  reached.dnsResponses = d.responses;
  reached.answered = d.answered;
  reached.unanswered = d.unanswered;
  reached.lostToChecksum = d.lostToChecksum;
  reached.evicted = d.evicted;
  reached.orphans = d.orphanResponses;
  reached.retransmissions = d.retransmissions;
  reached.kernelDrops = d.kernelDrops;
  reached.malformed = tally.malformed;
  reached.truncated = tally.truncated;
  reached.statuses = statusesSeen.size;
  for (let l = 0; l < LAYER_COUNT; l++) {
    reached.partial += tally.csumTotal(l, 3);
    reached.bad += tally.csumTotal(l, 1);
  }
  reached.analyzeFrames = analyzeFrames;
  const mem = process.memoryUsage();
  return {
    seed, worker, frames: fed, seconds, framesPerSec: fed / seconds, failures: failures.list, failureCount: failures.count, known: failures.known, knownCount: failures.knownCount,
    signatures: gen.signatures.size, corpus: gen.corpusSize, chunks, scrapes, heapMiB: mem.heapUsed / 1048576, rssMiB: mem.rss / 1048576, reached,
  };
}

/** Shortens the frame, then zeroes its bytes one by one, while `fails` still holds. */
export function minimise(bytes: Buffer, wireLen: number, fails: (b: Buffer, wireLen: number) => boolean): { bytes: Buffer; wireLen: number } {
  let b = bytes;
  if (!fails(b, wireLen)) return { bytes, wireLen };
  if (wireLen !== b.length && fails(b, b.length)) wireLen = b.length;
  for (let step = b.length >> 1; step >= 1; step >>= 1) {
    while (b.length - step >= 0 && fails(b.subarray(0, b.length - step), wireLen === b.length ? b.length - step : wireLen)) {
      if (wireLen === b.length) wireLen -= step;
      b = b.subarray(0, b.length - step);
    }
  }
  b = Buffer.from(b);
  for (let i = b.length - 1; i >= 0; i--) {
    const was = b[i];
    if (was === 0) continue;
    b[i] = 0;
    if (!fails(b, wireLen)) b[i] = was;
  }
  return { bytes: b, wireLen };
}

/** Writes a failing frame as a test/fixtures/fuzz/ hex file. */
export function saveFailure(dir: string, f: Failure): string | null {
  if (f.hex === undefined) return null;
  mkdirSync(dir, { recursive: true });
  const name = `${f.oracle}-s${f.seed}-w${f.worker}-f${f.frame}.hex`;
  const path = join(dir, name);
  writeFileSync(path, formatFixture(f));
  return path;
}

/**
 * The fixture format: `# found:` and `# seed:` lines once, then one or more frames, each its
 * `# linktype:`, `# dir:`, `# wirelen:`, optional `# ts:` (microseconds from the first) and
 * `# filets:` (the pcapng timestamp analyze reads, two 32-bit words of µs) lines, then its bytes in hex.
 */
export function formatFixture(f: Failure): string {
  return [
    `# found: ${f.oracle}: ${f.message}`,
    `# seed: ${f.seed} worker: ${f.worker} frame: ${f.frame}`,
    `# mutations: ${f.mutations ?? ''}`,
    formatFrame({ bytes: Buffer.from(f.hex ?? '', 'hex'), linkType: f.linkType ?? 1, dir: f.dir ?? DIR_RX, wireLen: f.wireLen ?? 0 }),
  ].join('\n');
}

export function formatFrame(x: Fixture): string {
  const lines = [`# linktype: ${x.linkType}`, `# dir: ${x.dir}`, `# wirelen: ${x.wireLen}`];
  if (x.tsUs !== undefined) lines.push(`# ts: ${x.tsUs}`);
  if (x.fileTs !== undefined) lines.push(`# filets: ${x.fileTs[0]} ${x.fileTs[1]}`);
  lines.push(x.bytes.toString('hex').replace(/(.{64})/g, '$1\n').trim(), '');
  return lines.join('\n');
}

export interface Fixture {
  bytes: Buffer;
  linkType: number;
  dir: number;
  wireLen: number;
  /** Capture time in microseconds from the fixture's first frame; absent: the fuzzer's clock. */
  tsUs?: number;
  /** The pcapng timestamp analyze reads (hi, lo words in µs) when it is not the live one. */
  fileTs?: [number, number];
}

/** The frames of a fixture file, in order. */
export function parseFixture(text: string): Fixture[] {
  const out: Fixture[] = [];
  let cur: Fixture | null = null;
  let hex = '';
  const close = (): void => {
    if (cur) {
      cur.bytes = P.hex(hex);
      out.push(cur);
    }
    hex = '';
  };
  for (const line of text.split('\n')) {
    const m = /^# (\w+): ?(.*)$/.exec(line);
    if (m) {
      const v = Number(m[2].trim());
      if (m[1] === 'linktype') {
        close();
        cur = { bytes: Buffer.alloc(0), linkType: v, dir: DIR_RX, wireLen: 0 };
      } else if (cur && m[1] === 'dir') cur.dir = v;
      else if (cur && m[1] === 'wirelen') cur.wireLen = v;
      else if (cur && m[1] === 'ts') cur.tsUs = v;
      else if (cur && m[1] === 'filets') cur.fileTs = m[2].trim().split(/\s+/).map(Number) as [number, number];
      continue;
    }
    if (line.startsWith('#')) continue;
    if (cur) hex += line;
  }
  close();
  if (out.length === 0) throw new Error('fixture without a "# linktype:" frame');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Several workers, one stream each.

export interface ParallelResult extends RunTotals {
  workers: FuzzResult[];
}

export async function fuzzParallel(o: { frames: number; seed: number; workers: number; chunk?: number; out?: string; verbose?: boolean }): Promise<ParallelResult> {
  const started = process.hrtime.bigint();
  const per = Math.floor(o.frames / o.workers);
  const runs = Array.from({ length: o.workers }, (_, i) => new Promise<FuzzResult>((resolve, reject) => {
    const frames = i === o.workers - 1 ? o.frames - per * (o.workers - 1) : per;
    // A hard memory bound too: a worker whose heap outgrows it dies (ERR_WORKER_OUT_OF_MEMORY), and the run fails.
    const w = new Worker(__filename, { workerData: { fuzz: { frames, seed: o.seed, worker: i, chunk: o.chunk, out: o.out, verbose: o.verbose } }, resourceLimits: { maxOldGenerationSizeMb: HEAP_LIMIT_MIB * 2 } });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`fuzz worker ${i} exited with ${code}`)); });
  }));
  const results = await Promise.all(runs);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const frames = results.reduce((s, r) => s + r.frames, 0);
  const rssMiB = process.memoryUsage().rss / 1048576;
  const failures = results.flatMap((r) => r.failures);
  if (rssMiB > RSS_LIMIT_MIB) failures.push({ oracle: 'memory', message: `RSS ${rssMiB.toFixed(0)} MiB over the bound ${RSS_LIMIT_MIB} MiB`, seed: o.seed, worker: -1, frame: -1 });
  return {
    seed: o.seed, workers: results, frames, seconds, framesPerSec: frames / seconds, failures, failureCount: results.reduce((s, r) => s + r.failureCount, 0) + (rssMiB > RSS_LIMIT_MIB ? 1 : 0),
    known: results.flatMap((r) => r.known), knownCount: results.reduce((s, r) => s + r.knownCount, 0), rssMiB,
  };
}

export function summary(r: ParallelResult): string {
  const lines = [`fuzz: ${r.frames} frames, seed ${r.seed}, ${r.workers.length} workers, ${r.seconds.toFixed(1)} s, ${Math.round(r.framesPerSec)} frames/s, RSS ${r.rssMiB.toFixed(0)} MiB`];
  for (const w of r.workers) {
    lines.push(`  worker ${w.worker} (stream seed ${w.seed}/${w.worker}): ${w.frames} frames, ${Math.round(w.framesPerSec)} frames/s, ${w.signatures} behaviours, corpus ${w.corpus}, ${w.chunks} chunks, heap ${w.heapMiB.toFixed(0)} MiB; ` +
      `vxlan ${w.reached.vxlan}, geneve ${w.reached.geneve}, dns q/r ${w.reached.dnsQueries}/${w.reached.dnsResponses}, answered ${w.reached.answered}, unanswered ${w.reached.unanswered} (checksum ${w.reached.lostToChecksum}, evicted ${w.reached.evicted}), ` +
      `orphans ${w.reached.orphans}, retransmissions ${w.reached.retransmissions}, kernel drops ${w.reached.kernelDrops}, malformed ${w.reached.malformed}, truncated ${w.reached.truncated}, statuses ${w.reached.statuses}, bad ${w.reached.bad}, partial ${w.reached.partial}, big TCP ${w.reached.bigTcp}`);
  }
  const line = (f: Failure): string => `  [${f.oracle}] worker ${f.worker} frame ${f.frame}: ${f.message}${f.hex ? ` (linktype ${f.linkType} dir ${f.dir} wirelen ${f.wireLen} hex ${f.hex.slice(0, 200)})` : ''}${f.mutations ? ` mutations: ${f.mutations}` : ''}`;
  if (r.knownCount > 0) {
    lines.push(`known open bugs (test/fixtures/fuzz/README.md): ${r.knownCount} failures`);
    for (const f of r.known) lines.push(line(f));
  }
  lines.push(`failures: ${r.failureCount}`);
  for (const f of r.failures) lines.push(line(f));
  return lines.join('\n');
}

if (!isMainThread && workerData?.fuzz) {
  fuzz(workerData.fuzz as FuzzOptions).then((r) => parentPort!.postMessage(r), (err) => { throw err; });
} else if (require.main === module) {
  const { values } = parseArgs({
    options: {
      frames: { type: 'string', default: '1000000' },
      seed: { type: 'string', default: '1' },
      workers: { type: 'string', default: '2' },
      chunk: { type: 'string', default: '100000' },
      out: { type: 'string', default: '/tmp/csumwatch-fuzz' },
      verbose: { type: 'boolean', default: false },
    },
  });
  fuzzParallel({ frames: Number(values.frames), seed: Number(values.seed), workers: Number(values.workers), chunk: Number(values.chunk), out: values.out, verbose: values.verbose }).then((r) => {
    console.log(summary(r));
    process.exitCode = r.failureCount > 0 ? 1 : 0;
  }, (err) => {
    console.error(`fuzz: ${(err as Error).stack}`);
    process.exitCode = 1;
  });
}
