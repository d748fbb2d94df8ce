// DNS transaction table: matches responses to queries, recognises retransmissions and copies of
// one packet seen on two interfaces, measures latency, and decides each transaction's outcome.
//
// A transaction is keyed by client address and port, server address and port, DNS ID and the
// question (name, type, class), as CONTRACT.md fixes. It lives in a bounded table of typed arrays
// (open addressing with linear probing), so observing a packet allocates nothing. Two lists order
// the slots for the timeout sweep: pending transactions by first query, answered ones by answer.
// Answered transactions linger for the timeout to recognise late duplicates and retransmissions,
// and are the first evicted when the table is full, so lingering never pushes out a pending query.
// A transaction leaves the table on timeout, at finish() or when evicted for room; only then is its
// outcome counted. An answered transaction evicted before its lingering ended leaves a tombstone
// (its key's hash and a fingerprint of its question, in a small two-way table) for the rest of
// the timeout: a late copy of its query or answer is then recognised as a copy, never taken for
// a new transaction that would end lost. A flood of unanswered queries that fills the table can
// push answered transactions out; it can no longer make them look lost (tombstones.ts). Names
// are copied into a ring arena and turned into strings only for transactions that were lost
// (name-arena.ts). How an unanswered transaction is judged is outcome.ts's.
//
// The kernel drop tracer reports packets the kernel dropped (kernelDrop): a dropped query or
// response marks its transaction, which if it ends unanswered is lost with cause kernel_drop and
// the kernel's reason, or with cause checksum when a bad checksum was also seen on the wire (one
// loss, counted once). The tracer's events usually arrive before the capture hands over the
// packet, so a drop whose transaction is not in the table yet waits for it in a small table of
// its own, for the timeout (held-drops.ts).

import { decodeDns, nextTcpMessage, RCODE_SLOTS, rcodeSlot } from '../decode/dns';
import { DnsView, ENCAP_NONE, Frame, LAYER_COUNT } from '../decode/frame';
import { Status } from '../decode/status';
import { HeldDrops } from './held-drops';
import { LatencyHistogram } from './histogram';
import { LostCause, LostNames, LostRecord, LostRing, LostTransaction } from './lost';
import { NameArena } from './name-arena';
import { blamedLayer, lostCause, mergePlain, unjudged } from './outcome';
import { CAUSE_CHECKSUM, CAUSE_EVICTED, CAUSE_KERNEL_DROP, CAUSE_TIMEOUT, LOST_CAUSES, ServerStats } from './servers';
import { StreamSink, TcpStreams } from './tcpstreams';
import { Tombstones } from './tombstones';
import { TxKey } from './txkey';

export type { LostCause, LostTransaction } from './lost';

/** A packet the kernel dropped, as the correlator needs it (src/capture/ebpf.ts DropEvent). */
export interface KernelDrop {
  b: Uint8Array;
  /** 4 or 6. */
  family: number;
  /** Offsets of the source and destination addresses in b (4 or 16 bytes). */
  srcOffset: number;
  dstOffset: number;
  sport: number;
  dport: number;
  /** The start of the DNS message in b and how many of its bytes are there. */
  dnsOffset: number;
  dnsLength: number;
  /** The kernel's reason, as an index into the caller's reason names. */
  reason: number;
}

export interface CorrelatorOptions {
  /** Transactions kept in flight at once; the oldest is evicted (and counted) for room. */
  capacity?: number;
  /** A query unanswered this long is lost (microseconds). Default 5 s, the resolv.conf default. */
  timeoutUs?: number;
  /** How many recent lost transactions to keep for reports and /debug/lost. */
  lostListSize?: number;
  /** Distinct lost names counted for the "top lost names" list before the rest fold into one. */
  lostNamesLimit?: number;
  /** Per-server counters to keep as well (the live agent's metrics). */
  servers?: ServerStats;
  /** Names of kernel drop reasons by index (KernelDrop.reason), for lost transactions. */
  reasonName?: (reason: number) => string;
}

const STATE_FREE = 0;
const STATE_PENDING = 1;
const STATE_ANSWERED = 2;
/**
 * A good response whose query has not been seen (yet): live captures hand over each interface
 * and direction in its own batches, so an answer can arrive before its query. It waits on the
 * answered list for the timeout; a query that comes makes it an answered transaction, else it
 * ends as an orphan response.
 */
const STATE_ORPHAN = 3;
const LIST_PENDING = 0;
const LIST_ANSWERED = 1;

/** Two sightings of one query on different interfaces this close together are one packet. */
const SAME_PACKET_US = 2000;
/** Sweep for timeouts at most this often in capture time. */
const SWEEP_EVERY_US = 100_000;

export class DnsCorrelator implements StreamSink {
  // Counters: plain numbers, read by reports and collectors.
  queries = 0;
  responses = 0;
  answered = 0;
  unanswered = 0;
  lostToChecksum = 0;
  retransmissions = 0;
  duplicateResponses = 0;
  /** Responses that match no transaction in the table (query not captured, or already timed out). */
  orphanResponses = 0;
  /** DNS messages whose question could not be decoded, so they key no transaction. */
  unkeyed = 0;
  /** Pending transactions pushed out of a full table before their timeout (counted unanswered). */
  evicted = 0;
  /** Kernel drops of DNS packets reported by the tracer. */
  kernelDrops = 0;
  /** ...of which matched a transaction (at once or once it was seen). */
  kernelDropsMatched = 0;
  /**
   * ...of which did not: shorter than a DNS header, or their transaction was never seen within
   * the timeout (not captured). Matched + unmatched + those still waiting = kernelDrops.
   */
  get kernelDropsUnmatched(): number {
    return this.dropsUnkeyed + this.held.unmatched;
  }
  /** Kernel drops too short, or of a family, to key a transaction. */
  private dropsUnkeyed = 0;
  /** Lost transactions of which the kernel dropped a packet and no bad checksum was seen. */
  lostToKernelDrop = 0;
  /**
   * Transactions that ended without an answer, no bad checksum and no kernel drop, while the
   * capture could have missed their answer (see unjudgedUntil): neither answered nor lost.
   */
  unjudged = 0;
  /** Answered transactions for an A and for an AAAA question (the doctor's IPv6 check). */
  answeredA = 0;
  answeredAAAA = 0;
  /** Responses by RCODE (4 bits). */
  /** Responses by RCODE counter slot (rcodeSlot: the extended RCODE where EDNS carries one). */
  readonly rcodes = new Float64Array(RCODE_SLOTS);
  /** Lost-to-checksum transactions by their failing layer. */
  readonly lostByLayer = new Float64Array(LAYER_COUNT);
  /** ...of which the bad field held only the pseudo-header sum. */
  readonly lostPseudoOnly = new Float64Array(LAYER_COUNT);
  readonly latency = new LatencyHistogram();

  private readonly timeoutUs: number;
  private readonly lostListSize: number;
  private readonly lostNamesLimit: number;
  private readonly servers: ServerStats | null;
  private readonly reasonName: (reason: number) => string;
  /** Server index per slot, into `servers`. */
  private readonly serverOf: Int32Array;
  /** Kernel drop reason + 1 per slot; 0 when the kernel dropped none of its packets. */
  private readonly dropReason: Uint16Array;

  // Slot storage.
  private readonly family: Uint8Array;
  private readonly addrs: Int32Array; // 8 words a slot: client[4] then server[4]
  private readonly ports: Uint16Array; // client, server
  private readonly dnsId: Uint16Array;
  private readonly qtype: Uint16Array;
  private readonly qclass: Uint16Array;
  private readonly nameH1: Int32Array;
  private readonly nameH2: Int32Array;
  private readonly nameLen: Uint16Array;
  private readonly nameAt: Float64Array;
  private readonly state: Uint8Array;
  // Bit per Layer: LAYER_COUNT (9) needs 16 bits.
  private readonly badMask: Uint16Array;
  private readonly pseudoMask: Uint16Array;
  private readonly plainBad: Uint16Array;
  private readonly rcodeOf: Uint8Array;
  private readonly plainPseudo: Uint16Array;
  /** The tunnel (ENCAP_*) the transaction was seen inside, ENCAP_NONE if only plain. */
  private readonly encap: Uint8Array;
  private readonly queryCount: Uint16Array;
  private readonly firstTs: Float64Array;
  private readonly lastQueryTs: Float64Array;
  private readonly lastIf: Int32Array;
  private readonly hashOf: Int32Array;
  private readonly answeredTs: Float64Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  /** Oldest and newest slot of each list: [pending, answered]. */
  private readonly head = new Int32Array([-1, -1]);
  private readonly tail = new Int32Array([-1, -1]);
  private freeTop: number;
  private readonly freeList: Int32Array;
  private live = 0;

  // Hash index: slot + 1 per entry, 0 empty. Power-of-two size, at most half full.
  private readonly index: Int32Array;
  private readonly mask: number;

  private readonly names: NameArena;
  /** The key of the packet being observed. */
  private readonly key = new TxKey();
  /** Kernel drops waiting for their transaction. */
  private readonly held: HeldDrops;
  private readonly dropDns = new DnsView();
  /** The later messages of a TCP segment, decoded one at a time. */
  private readonly tcpMsg = new DnsView();
  /** DNS-over-TCP flows: how far each stream was read, and the start of a message not yet whole. */
  readonly tcp: TcpStreams;
  // The frame being observed, for the stream reader's calls back (StreamSink).
  private curB: Uint8Array = new Uint8Array(0);
  private curF: Frame = new Frame();
  private curIf = 0;

  /** Answered transactions evicted before their lingering ended. */
  private readonly tombs: Tombstones;
  /** Copies of evicted answered transactions recognised by their tombstone. */
  tombstoneHits = 0;

  private lastSweep = 0;
  /** Transactions first seen at or before this time (µs) are not called lost on a timeout. */
  private judgeAfterUs = -Infinity;
  /** Capture time of the frame being observed, µs (see observeNow). */
  nowUs = 0;
  private readonly lostRing: LostRing;
  private readonly lostNames: LostNames;
  /** What recordLost hands over (one object, refilled). */
  private readonly lostRec: LostRecord;

  constructor(opts: CorrelatorOptions = {}) {
    const cap = opts.capacity ?? 65536;
    if (!Number.isInteger(cap) || cap < 1 || cap > 1 << 24) throw new RangeError(`capacity out of range: ${cap}`);

    this.timeoutUs = opts.timeoutUs ?? 5_000_000;
    this.lostListSize = opts.lostListSize ?? 100;
    this.lostNamesLimit = opts.lostNamesLimit ?? 10_000;
    this.servers = opts.servers ?? null;
    this.reasonName = opts.reasonName ?? ((r) => `reason_${r}`);
    this.lostRing = new LostRing(this.lostListSize, this.reasonName);
    this.lostNames = new LostNames(this.lostNamesLimit);
    this.tcp = new TcpStreams(this.timeoutUs);
    this.held = new HeldDrops(this.timeoutUs);
    this.serverOf = new Int32Array(this.servers ? cap : 0);
    this.dropReason = new Uint16Array(cap);
    this.family = new Uint8Array(cap);
    this.addrs = new Int32Array(cap * 8);
    this.ports = new Uint16Array(cap * 2);
    this.dnsId = new Uint16Array(cap);
    this.qtype = new Uint16Array(cap);
    this.qclass = new Uint16Array(cap);
    this.nameH1 = new Int32Array(cap);
    this.nameH2 = new Int32Array(cap);
    this.nameLen = new Uint16Array(cap);
    this.nameAt = new Float64Array(cap);
    this.state = new Uint8Array(cap);
    this.badMask = new Uint16Array(cap);
    this.pseudoMask = new Uint16Array(cap);
    this.plainBad = new Uint16Array(cap);
    this.rcodeOf = new Uint8Array(cap);
    this.plainPseudo = new Uint16Array(cap);
    this.encap = new Uint8Array(cap);
    this.queryCount = new Uint16Array(cap);
    this.firstTs = new Float64Array(cap);
    this.lastQueryTs = new Float64Array(cap);
    this.lastIf = new Int32Array(cap);
    this.hashOf = new Int32Array(cap);
    this.answeredTs = new Float64Array(cap);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
    this.freeList = new Int32Array(cap);
    for (let i = 0; i < cap; i++) this.freeList[i] = cap - 1 - i;
    this.freeTop = cap;
    let size = 2;
    while (size < cap * 2) size *= 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
    // As many sets as the table has slots (rounded up): two ways each.
    this.tombs = new Tombstones(size / 2, this.timeoutUs);
    // Room for the names of every slot at their typical length, and never less than 64 KiB.
    this.names = new NameArena(Math.max(65536, Math.min(cap, 1 << 20) * 64));
    this.lostRec = {
      tsUs: 0, family: 4, addrs: this.addrs, addrsAt: 0, clientPort: 0, serverPort: 0, id: 0, qtype: 0, cause: 'timeout',
      layer: -1, pseudoOnly: false, reason: -1, queries: 0, encap: ENCAP_NONE, name: null, nameAt: 0, nameLen: 0,
    };
  }

  /** Transactions in the table now (pending or answered and lingering). */
  get inFlight(): number {
    return this.live;
  }

  /** Feeds one decoded frame captured at tsUs on interface ifIndex. */
  observe(b: Uint8Array, f: Frame, tsUs: number, ifIndex: number): void {
    this.nowUs = tsUs;
    this.observeNow(b, f, ifIndex);
  }

  /**
   * observe() for a frame captured at nowUs, which the caller has just set. A timestamp in µs is
   * past the small integers, and a float64 passed to a call that is not inlined is boxed: one
   * allocation per frame, where a field is written in place.
   */
  observeNow(b: Uint8Array, f: Frame, ifIndex: number): void {
    const tsUs = this.nowUs;
    if (tsUs - this.lastSweep >= SWEEP_EVERY_US) {
      this.sweep(tsUs);
      this.lastSweep = tsUs;
    }
    const d = f.dns;
    if (d.tcpPayload >= 0) {
      this.curB = b;
      this.curF = f;
      this.curIf = ifIndex;
      this.tcp.read(b, f, tsUs, this);
    } else if (d.present) this.observeMessage(b, f, d, ifIndex, b);
  }

  /** The segment's messages as the decoder found them: the first, and those pipelined after it. */
  private observeSegment(b: Uint8Array, f: Frame, ifIndex: number): void {
    const d = f.dns;
    if (!d.present) return;
    this.observeMessage(b, f, d, ifIndex, b);
    if (d.tcpNext < 0) return;
    // Into a view of the correlator's own: the frame's stays as the decoder left it.
    const m = this.tcpMsg;
    m.tcpNext = d.tcpNext;
    m.tcpEnd = d.tcpEnd;
    m.inner = d.inner;
    while (nextTcpMessage(b, m)) this.observeMessage(b, f, m, ifIndex, b);
  }

  /** StreamSink: a message of the TCP stream of the frame being observed. */
  streamMessage(d: DnsView, mb: Uint8Array): void {
    this.observeMessage(this.curB, this.curF, d, this.curIf, mb);
  }

  /** StreamSink: the TCP segment of the frame being observed, read on its own. */
  streamSegment(): void {
    this.observeSegment(this.curB, this.curF, this.curIf);
  }

  /**
   * One DNS message d of the frame f being observed (f.dns, or a later one of its TCP stream).
   * b holds the frame (addresses, ports), mb the message (b, or a TCP tail the message was
   * joined in).
   */
  private observeMessage(b: Uint8Array, f: Frame, d: DnsView, ifIndex: number, mb: Uint8Array): void {
    const tsUs = this.nowUs;
    const isQuery = d.qr === 0;
    if (isQuery) this.queries++;
    else {
      this.responses++;
      this.rcodes[rcodeSlot(d.rcode)]++;
    }
    if (!d.keyed) {
      this.unkeyed++;
      return;
    }
    const h = this.key.fromStack(b, d.inner ? f.inner : f.outer, isQuery, d.id);
    let slot = this.find(h, d);
    const bad = f.badMask();
    if (slot < 0 && this.tombs.has(h, Tombstones.fingerprint(d.nameHash1 | 0, d.nameHash2 | 0, d.qtype, d.qclass), tsUs)) {
      // A copy of a transaction that was answered and then evicted: never a new one.
      // A query copy is most likely the other interface's sighting of one packet (the table no
      // longer knows which interface saw it first), so it counts as nothing; an answer copy is a
      // duplicate response, as it would have been in the table.
      this.tombstoneHits++;
      if (!isQuery) this.duplicateResponses++;
      return;
    }
    if (isQuery) {
      if (slot < 0) {
        slot = this.insert(h, mb, f, d, true);
      } else if (this.state[slot] === STATE_ORPHAN) {
        this.adopt(slot, tsUs);
      } else if (this.lastIf[slot] !== ifIndex && tsUs - this.lastQueryTs[slot] <= SAME_PACKET_US) {
        // The same query seen again on another interface (underlay and vxlan device): one packet.
      } else {
        this.retransmissions++;
        this.queryCount[slot]++;
        if (this.servers) this.servers.queries[this.serverOf[slot]]++;
      }
      this.lastQueryTs[slot] = tsUs;
      this.lastIf[slot] = ifIndex;
      if (f.encap !== ENCAP_NONE) this.encap[slot] = f.encap;
      if (bad !== 0) this.noteBad(slot, bad, f.pseudoOnlyBad, f.encap);
      return;
    }
    if (slot < 0) {
      if (bad !== 0) {
        this.orphanResponses++;
        return;
      }
      // Hold the answer for its query (see STATE_ORPHAN).
      slot = this.insert(h, mb, f, d, false);
      this.unlinkList(slot, LIST_PENDING);
      this.state[slot] = STATE_ORPHAN;
      this.answeredTs[slot] = tsUs;
      this.rcodeOf[slot] = rcodeSlot(d.rcode);
      this.queryCount[slot] = 0;
      if (f.encap !== ENCAP_NONE) this.encap[slot] = f.encap;
      this.appendList(slot, LIST_ANSWERED);
      return;
    }
    if (f.encap !== ENCAP_NONE) this.encap[slot] = f.encap;
    if (bad !== 0) {
      // A response that fails a checksum never reaches the client: not an answer.
      this.noteBad(slot, bad, f.pseudoOnlyBad, f.encap);
      return;
    }
    if (this.state[slot] === STATE_ANSWERED || this.state[slot] === STATE_ORPHAN) {
      this.duplicateResponses++;
      return;
    }
    this.unlinkList(slot, LIST_PENDING);
    this.state[slot] = STATE_ANSWERED;
    this.answeredTs[slot] = tsUs;
    this.appendList(slot, LIST_ANSWERED);
    // An answer stamped before its query (the capture clock stepped back) took no time: a
    // negative latency would take the per-server sum, a counter, down.
    const latency = Math.max(0, tsUs - this.firstTs[slot]);
    this.latency.record(latency);
    this.countAnswer(slot);
    if (this.servers) this.servers.answered(this.serverOf[slot], rcodeSlot(d.rcode), latency);
  }

  /**
   * Notes a DNS packet the kernel dropped (query or response, by its QR bit) at tsUs. Returns
   * true when its transaction is in the table now; otherwise the drop waits for it (see above).
   */
  kernelDrop(k: KernelDrop, tsUs: number): boolean {
    this.kernelDrops++;
    const d = this.dropDns;
    d.reset();
    if (k.dnsLength < 12 || (k.family !== 4 && k.family !== 6)) {
      this.dropsUnkeyed++;
      return false;
    }
    // The tracer copies the message's first bytes: a question cut short leaves it unkeyed, and
    // the transaction is then found by addresses, ports and ID alone.
    const st = decodeDns(k.b, k.dnsOffset, k.dnsOffset + k.dnsLength, k.dnsOffset + 0xffff, d);
    const q = d.qr === 0;
    const h = this.key.at(k.b, k.family, q ? k.srcOffset : k.dstOffset, q ? k.dstOffset : k.srcOffset, q ? k.sport : k.dport, q ? k.dport : k.sport, d.id);
    const slot = this.find(h, st === Status.OK && d.keyed ? d : null);
    if (slot >= 0) {
      this.kernelDropsMatched++;
      if (this.dropReason[slot] === 0) this.dropReason[slot] = k.reason + 1;
      return true;
    }
    this.held.hold(this.key, h, k.reason, tsUs);
    return false;
  }

  /**
   * Ends every pending transaction whose first query, and every answered one whose answer, is older
   * than the timeout at nowUs.
   */
  sweep(nowUs: number): void {
    const h = this.head;
    while (h[LIST_PENDING] >= 0 && nowUs - this.firstTs[h[LIST_PENDING]] >= this.timeoutUs) this.finalize(h[LIST_PENDING], 'timeout');
    while (h[LIST_ANSWERED] >= 0 && nowUs - this.answeredTs[h[LIST_ANSWERED]] >= this.timeoutUs) this.finalize(h[LIST_ANSWERED], 'timeout');
    this.held.sweep(nowUs);
  }

  /**
   * The capture may have missed packets up to tsUs (it dropped some, or it was starting and not
   * every socket ran yet): a transaction first seen then, and still open, may have had its answer
   * among them. If it ends unanswered with no bad checksum and no kernel drop, it is counted
   * `unjudged`, not lost: the agent cannot tell. Later transactions are judged as usual.
   */
  unjudgedUntil(tsUs: number): void {
    if (tsUs > this.judgeAfterUs) this.judgeAfterUs = tsUs;
  }

  /** End of input: every transaction still in the table ends now. */
  finish(): void {
    const h = this.head;
    while (h[LIST_ANSWERED] >= 0) this.finalize(h[LIST_ANSWERED], 'end_of_capture');
    while (h[LIST_PENDING] >= 0) this.finalize(h[LIST_PENDING], 'end_of_capture');
  }

  /** The most recent lost transactions, newest first. */
  lost(): LostTransaction[] {
    return this.lostRing.list();
  }

  /** Names of lost transactions with their counts, most lost first. */
  topLostNames(limit: number): Array<{ name: string; lost: number }> {
    return this.lostNames.top(limit);
  }

  // --- internals ---

  /** The slot has the scratch key's family, addresses, ports and ID, and (unless d is null) d's question. */
  private matches(slot: number, d: DnsView | null): boolean {
    const k = this.key;
    if (this.family[slot] !== k.family || this.dnsId[slot] !== k.id) return false;
    if (this.ports[slot * 2] !== k.clientPort || this.ports[slot * 2 + 1] !== k.serverPort) return false;
    if (d !== null) {
      if (this.qtype[slot] !== d.qtype || this.qclass[slot] !== d.qclass || this.nameLen[slot] !== d.nameLength) return false;
      if (this.nameH1[slot] !== (d.nameHash1 | 0) || this.nameH2[slot] !== (d.nameHash2 | 0)) return false;
    }
    return k.sameWords(this.addrs, slot * 8);
  }

  private find(h: number, d: DnsView | null): number {
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const e = this.index[i];
      if (e === 0) return -1;
      if (this.hashOf[e - 1] === h && this.matches(e - 1, d)) return e - 1;
    }
  }

  private countAnswer(slot: number): void {
    const q = this.qtype[slot];
    if (q === 1) this.answeredA++;
    else if (q === 28) this.answeredAAAA++;
  }

  /** A transaction was just inserted with the key: takes the kernel drops held for it. */
  private takeDrop(slot: number, h: number, tsUs: number): void {
    const n = this.held.take(this.key, h, tsUs);
    if (n === 0) return;
    this.kernelDropsMatched += n;
    this.dropReason[slot] = this.held.takenReason + 1;
  }

  /** The query of a held answer arrived: the transaction is answered, latency from this query. */
  private adopt(slot: number, tsUs: number): void {
    this.state[slot] = STATE_ANSWERED;
    this.firstTs[slot] = tsUs;
    this.queryCount[slot] = 1;
    const latency = Math.max(0, this.answeredTs[slot] - tsUs);
    this.latency.record(latency);
    this.countAnswer(slot);
    if (this.servers) {
      this.servers.queries[this.serverOf[slot]]++;
      this.servers.answered(this.serverOf[slot], this.rcodeOf[slot], latency);
    }
  }

  /** Inserts the scratch key's transaction, first seen at nowUs; mb holds the message d. */
  private insert(h: number, mb: Uint8Array, f: Frame, d: DnsView, isQuery: boolean): number {
    const tsUs = this.nowUs;
    if (this.freeTop === 0) {
      // Room first from answered transactions (only lingering), else the oldest pending one.
      const victim = this.head[LIST_ANSWERED] >= 0 ? this.head[LIST_ANSWERED] : this.head[LIST_PENDING];
      this.finalize(victim, 'evicted');
    }
    const slot = this.freeList[--this.freeTop];
    const k = this.key;
    this.family[slot] = k.family;
    k.storeWords(this.addrs, slot * 8);
    this.ports[slot * 2] = k.clientPort;
    this.ports[slot * 2 + 1] = k.serverPort;
    this.dnsId[slot] = d.id;
    this.qtype[slot] = d.qtype;
    this.qclass[slot] = d.qclass;
    this.nameH1[slot] = d.nameHash1 | 0;
    this.nameH2[slot] = d.nameHash2 | 0;
    this.nameLen[slot] = d.nameLength;
    this.nameAt[slot] = this.names.store(mb, d);
    this.state[slot] = STATE_PENDING;
    this.badMask[slot] = 0;
    this.pseudoMask[slot] = 0;
    this.plainBad[slot] = 0;
    this.plainPseudo[slot] = 0;
    this.encap[slot] = f.encap;
    this.dropReason[slot] = 0;
    this.queryCount[slot] = 1;
    this.firstTs[slot] = tsUs;
    this.hashOf[slot] = h;
    if (this.servers) {
      const srv = this.servers.indexOf(k.server, k.family, tsUs);
      this.serverOf[slot] = srv;
      this.servers.live[srv]++;
      if (isQuery) this.servers.queries[srv]++;
    }
    this.appendList(slot, LIST_PENDING);
    // Index it.
    let i = h & this.mask;
    while (this.index[i] !== 0) i = (i + 1) & this.mask;
    this.index[i] = slot + 1;
    this.live++;
    if (this.held.size > 0) this.takeDrop(slot, h, tsUs);
    return slot;
  }

  /**
   * Records a packet's bad layers. A packet seen without a tunnel (on the vxlan or geneve device,
   * after decapsulation) is kept apart: if the transaction is also seen encapsulated (on the
   * underlay), its plain layers are the inner layers of that sighting, and are blamed as vxlan.* or
   * geneve.* at the end.
   */
  private noteBad(slot: number, bad: number, pseudo: number, encap: number): void {
    if (encap === ENCAP_NONE) {
      this.plainBad[slot] |= bad;
      this.plainPseudo[slot] |= pseudo & bad;
      return;
    }
    this.badMask[slot] |= bad;
    this.pseudoMask[slot] |= pseudo & bad;
  }

  /** Counts the outcome of a transaction and frees its slot. */
  private finalize(slot: number, why: LostCause): void {
    const dropped = this.dropReason[slot] !== 0;
    if (this.state[slot] === STATE_ORPHAN) {
      this.orphanResponses++;
    } else if (this.state[slot] === STATE_ANSWERED) {
      this.answered++;
      if (why === 'evicted') {
        this.tombs.bury(this.hashOf[slot], Tombstones.fingerprint(this.nameH1[slot], this.nameH2[slot], this.qtype[slot], this.qclass[slot]), this.answeredTs[slot]);
      }
    } else if (unjudged(this.firstTs[slot], this.judgeAfterUs, why, this.badMask[slot] | this.plainBad[slot], dropped)) {
      this.unjudged++;
    } else {
      this.unanswered++;
      if (why === 'evicted') this.evicted++;
      const encap = this.encap[slot];
      const bad = mergePlain(this.badMask[slot], this.plainBad[slot], encap);
      const pseudo = mergePlain(this.pseudoMask[slot], this.plainPseudo[slot], encap);
      this.badMask[slot] = bad;
      this.pseudoMask[slot] = pseudo;
      const layer = blamedLayer(bad, pseudo);
      if (layer >= 0) {
        this.lostToChecksum++;
        this.lostByLayer[layer]++;
        if ((pseudo & (1 << layer)) !== 0) this.lostPseudoOnly[layer]++;
      }
      const cause = lostCause(bad, dropped, why);
      if (cause === 'kernel_drop') this.lostToKernelDrop++;
      this.recordLost(slot, cause, layer);
      if (this.servers) {
        const c = cause === 'checksum' ? CAUSE_CHECKSUM : cause === 'kernel_drop' ? CAUSE_KERNEL_DROP : why === 'evicted' ? CAUSE_EVICTED : CAUSE_TIMEOUT;
        this.servers.lost[this.serverOf[slot] * LOST_CAUSES.length + c]++;
      }
    }
    this.unlink(slot);
  }

  /** Hands the lost transaction in slot to the lost list and the name counts, allocating nothing. */
  private recordLost(slot: number, cause: LostCause, layer: number): void {
    // The name's bytes, unless the arena has wrapped past them.
    const at = this.nameAt[slot];
    const kept = this.names.holds(at);
    const o = this.names.offsetOf(at);
    this.lostNames.add(kept ? this.names.bytes : null, o, this.nameLen[slot]);
    if (this.lostListSize === 0) return;
    const r = this.lostRec;
    r.tsUs = this.firstTs[slot];
    r.family = this.family[slot];
    r.addrsAt = slot * 8;
    r.clientPort = this.ports[slot * 2];
    r.serverPort = this.ports[slot * 2 + 1];
    r.id = this.dnsId[slot];
    r.qtype = this.qtype[slot];
    r.cause = cause;
    r.layer = layer;
    r.pseudoOnly = layer >= 0 && (this.pseudoMask[slot] & (1 << layer)) !== 0;
    r.reason = this.dropReason[slot] - 1;
    r.queries = this.queryCount[slot];
    r.encap = this.encap[slot];
    r.name = kept ? this.names.bytes : null;
    r.nameAt = o;
    r.nameLen = this.nameLen[slot];
    this.lostRing.add(r);
  }

  private appendList(slot: number, list: number): void {
    const t = this.tail[list];
    this.prev[slot] = t;
    this.next[slot] = -1;
    if (t >= 0) this.next[t] = slot;
    else this.head[list] = slot;
    this.tail[list] = slot;
  }

  private unlinkList(slot: number, list: number): void {
    const p = this.prev[slot];
    const n = this.next[slot];
    if (p >= 0) this.next[p] = n;
    else this.head[list] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail[list] = p;
  }

  /** Removes a slot from its list and from the index (backward-shift deletion keeps probes short). */
  private unlink(slot: number): void {
    this.unlinkList(slot, this.state[slot] === STATE_PENDING ? LIST_PENDING : LIST_ANSWERED);
    const m = this.mask;
    let i = this.hashOf[slot] & m;
    while (this.index[i] !== slot + 1) i = (i + 1) & m;
    for (let j = (i + 1) & m; this.index[j] !== 0; j = (j + 1) & m) {
      const home = this.hashOf[this.index[j] - 1] & m;
      // Move entry j back into the hole at i when its home is not cyclically in (i, j].
      if (((j - home) & m) >= ((j - i) & m)) {
        this.index[i] = this.index[j];
        i = j;
      }
    }
    this.index[i] = 0;
    if (this.servers) this.servers.live[this.serverOf[slot]]--;
    this.state[slot] = STATE_FREE;
    this.freeList[this.freeTop++] = slot;
    this.live--;
  }
}

/**
 * A capture timestamp (µs since the epoch) in ISO 8601, or null when a Date cannot hold it (a
 * pcapng timestamp has 64 bits, a Date about ±8.64e18 µs).
 */
export function isoTime(tsUs: number): string | null {
  const d = new Date(tsUs / 1000);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
