// Per-DNS-server counters for the live agent: queries, responses by RCODE, lost transactions by
// cause and a latency histogram, in typed arrays indexed by server (an AddrTable index; index
// `capacity` is the overflow entry for servers past the bound). The correlator counts into it; the
// metrics collector reads it at scrape time.
//
// The series are ranked by recent activity, so that the first servers seen cannot keep them
// forever (2 000 one-packet queries to random addresses used to push the real CoreDNS into the
// overflow entry for good). When the table is full, a new server takes the entry of the one whose
// last query is oldest, once that one has been idle for `idleUs` and has no transaction in the
// table; until then it is counted in the overflow entry, so a flood of new addresses churns at
// most `capacity` series per idle period. A pinned server (the CoreDNS pods the agent knows, the
// cluster DNS addresses) takes the oldest idle-or-not entry at once, and is never given up. The
// counts of a server given up move into the overflow entry: every sum over servers stays a
// counter that only goes up.

import { RCODE_SLOTS } from '../decode/dns';
import { AddrTable, addrWords } from './addrtable';

/** Causes of a lost transaction, as the metric's `cause` label. */
export const LOST_CAUSES = ['checksum', 'kernel_drop', 'timeout', 'evicted'] as const;
export type MetricLostCause = (typeof LOST_CAUSES)[number];
export const CAUSE_CHECKSUM = 0;
export const CAUSE_KERNEL_DROP = 1;
export const CAUSE_TIMEOUT = 2;
export const CAUSE_EVICTED = 3;

/** Upper bounds of the latency buckets, in seconds (a DNS-shaped range: 250 µs to 5 s). */
export const LATENCY_BUCKETS_S: readonly number[] = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const NB = LATENCY_BUCKETS_S.length + 1; // + the +Inf bucket
const BOUNDS_US = Float64Array.from(LATENCY_BUCKETS_S, (s) => s * 1e6);

export const OVERFLOW_SERVER = '(other servers)';
/** A server without a query for this long may give its series to a new one (default). */
export const DEFAULT_IDLE_US = 120e6;
/** Pinned servers kept at most. */
const MAX_PINS = 64;

export class ServerStats {
  readonly table: AddrTable;
  readonly queries: Float64Array;
  /** [server * RCODE_SLOTS + rcodeSlot(rcode)] */
  readonly responses: Float64Array;
  /** [server * LOST_CAUSES.length + cause] */
  readonly lost: Float64Array;
  /** [server * (buckets + 1) + bucket]: non-cumulative counts; the last is +Inf. */
  readonly latencyBuckets: Float64Array;
  readonly latencySumUs: Float64Array;
  readonly latencyCount: Float64Array;
  /** Transactions in the correlator's table that count into each entry: such an entry is kept. */
  readonly live: Int32Array;
  /** Servers whose series were given to another (their counts moved into the overflow entry). */
  replaced = 0;
  private readonly lastUs: Float64Array;
  private readonly pinnedEntry: Uint8Array;
  private pins: AddrTable;
  private readonly idleUs: number;
  /** No entry can be given up before this time (µs) except to a pinned server. */
  private noVictimUntil = -Infinity;
  private readonly scratch = new Int32Array(4);

  /** idleUs: how long a server goes without a query before a new one may take its series. */
  constructor(readonly capacity = 256, idleUs = DEFAULT_IDLE_US) {
    this.table = new AddrTable(capacity, OVERFLOW_SERVER);
    const n = capacity + 1;
    this.queries = new Float64Array(n);
    this.responses = new Float64Array(n * RCODE_SLOTS);
    this.lost = new Float64Array(n * LOST_CAUSES.length);
    this.latencyBuckets = new Float64Array(n * NB);
    this.latencySumUs = new Float64Array(n);
    this.latencyCount = new Float64Array(n);
    this.live = new Int32Array(n);
    this.lastUs = new Float64Array(capacity);
    this.pinnedEntry = new Uint8Array(capacity);
    this.pins = new AddrTable(MAX_PINS, '');
    this.idleUs = idleUs;
  }

  /**
   * Index of the server whose address words are k, seen at nowUs: its own entry, a new one, the
   * entry of an idle server it replaces, or the overflow entry (see the top of the file).
   */
  indexOf(k: Int32Array, version: number, nowUs = 0): number {
    const t = this.table;
    let i = t.find(k, version);
    if (i < 0) {
      if (t.size < this.capacity) {
        i = t.lookupKey(k, version);
        this.pinnedEntry[i] = this.pins.find(k, version) >= 0 ? 1 : 0;
      } else {
        const pinned = this.pins.find(k, version) >= 0;
        if (!pinned && nowUs < this.noVictimUntil) return this.capacity;
        i = this.victim(nowUs, pinned);
        if (i < 0) return this.capacity;
        this.giveUp(i);
        t.replace(i, k, version);
        this.pinnedEntry[i] = pinned ? 1 : 0;
      }
    }
    if (nowUs > this.lastUs[i]) this.lastUs[i] = nowUs;
    return i;
  }

  /**
   * The servers that always keep their series (at most MAX_PINS addresses, text form; others are
   * ignored). Replaces the previous set; entries already held are marked at once.
   */
  pin(addresses: readonly string[]): void {
    const pins = new AddrTable(MAX_PINS, '');
    const k = this.scratch;
    for (const a of addresses) {
      const v = addrWords(a, k);
      if (v !== 0 && pins.size < MAX_PINS) pins.lookupKey(k, v);
    }
    this.pins = pins;
    for (let i = 0; i < this.table.size; i++) {
      const v = this.table.keyOf(i, k);
      this.pinnedEntry[i] = pins.find(k, v) >= 0 ? 1 : 0;
    }
  }

  /**
   * The entry with the oldest last query that may be given up, or -1: never a pinned one or one
   * with transactions in the table; unless for a pinned server, only one idle for idleUs.
   */
  private victim(nowUs: number, pinned: boolean): number {
    let best = -1;
    let bestUs = Infinity;
    for (let i = 0; i < this.capacity; i++) {
      if (this.pinnedEntry[i] === 1 || this.live[i] !== 0) continue;
      if (this.lastUs[i] < bestUs) { best = i; bestUs = this.lastUs[i]; }
    }
    if (pinned || (best >= 0 && nowUs - bestUs >= this.idleUs)) return best;
    // Nothing is idle enough: no entry can be before the oldest one is (a second at most, as a
    // transaction's end can free an older entry).
    this.noVictimUntil = Math.min(best >= 0 ? bestUs + this.idleUs : Infinity, nowUs + 1e6);
    return -1;
  }

  /** Moves entry i's counts into the overflow entry and zeroes them: its series ends. */
  private giveUp(i: number): void {
    const o = this.capacity;
    this.queries[o] += this.queries[i];
    this.queries[i] = 0;
    move(this.responses, i, o, RCODE_SLOTS);
    move(this.lost, i, o, LOST_CAUSES.length);
    move(this.latencyBuckets, i, o, NB);
    this.latencySumUs[o] += this.latencySumUs[i];
    this.latencySumUs[i] = 0;
    this.latencyCount[o] += this.latencyCount[i];
    this.latencyCount[i] = 0;
    this.lastUs[i] = 0;
    this.replaced++;
  }

  answered(i: number, rcodeSlot: number, latencyUs: number): void {
    this.responses[i * RCODE_SLOTS + rcodeSlot]++;
    let b = 0;
    while (b < NB - 1 && latencyUs > BOUNDS_US[b]) b++;
    this.latencyBuckets[i * NB + b]++;
    this.latencySumUs[i] += latencyUs;
    this.latencyCount[i]++;
  }
}

/** Adds a's `n` counters at entry i into entry o and zeroes them. */
function move(a: Float64Array, i: number, o: number, n: number): void {
  for (let j = 0; j < n; j++) {
    a[o * n + j] += a[i * n + j];
    a[i * n + j] = 0;
  }
}

