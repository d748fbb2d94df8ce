// The lost transactions the correlator keeps for people: the most recent ones (a ring, for
// /debug/lost and analyze's report) and the count of lost transactions per query name (the top
// names). Both are kept in typed arrays, the names as their wire bytes, and become objects and
// strings only when read: a flood of unanswered queries loses thousands of transactions a second,
// and an object and three strings for each were garbage enough to grow the agent's heap by tens
// of MiB and keep it there.

import { MAX_NAME_LEN, nameToString, qtypeName } from '../decode/dns';
import { ENCAP_GENEVE, ENCAP_VXLAN, LAYER_NAMES } from '../decode/frame';
import { addrString } from './addrtable';

export type LostCause = 'checksum' | 'kernel_drop' | 'timeout' | 'end_of_capture' | 'evicted';
/** Causes by their code in the ring. */
const CAUSES: readonly LostCause[] = ['checksum', 'kernel_drop', 'timeout', 'end_of_capture', 'evicted'];

/** A transaction that ended without an answer: kept in the bounded most-recent list. */
export interface LostTransaction {
  /** First query, microseconds since the epoch. */
  tsUs: number;
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  id: number;
  name: string;
  qtype: string;
  cause: LostCause;
  /**
   * The layer blamed, e.g. "vxlan.udp": the outermost whose checksum was bad in one of its packets,
   * or, where a field held only the pseudo-header sum, that layer (the root cause). null if none.
   */
  layer: string | null;
  /** True when that bad field held only the pseudo-header sum (an offload never completed). */
  pseudoOnly: boolean;
  /** The kernel's drop reason (e.g. "udp_csum") when the kernel drop tracer saw a packet of it dropped. */
  reason: string | null;
  queries: number;
  /** Seen inside VXLAN. */
  vxlan: boolean;
  /** Seen inside Geneve. */
  geneve: boolean;
}

/** One lost transaction as the correlator hands it over: numbers, and its name's wire bytes. */
export interface LostRecord {
  tsUs: number;
  /** 4 or 6. */
  family: number;
  /** Address words: client[4] then server[4], at addrsAt. */
  addrs: Int32Array;
  addrsAt: number;
  clientPort: number;
  serverPort: number;
  id: number;
  qtype: number;
  cause: LostCause;
  /** Index into LAYER_NAMES, or -1. */
  layer: number;
  pseudoOnly: boolean;
  /** Kernel drop reason, or -1. */
  reason: number;
  queries: number;
  /** The tunnel it was seen inside (ENCAP_*). */
  encap: number;
  /** The question name in wire form (lower case, uncompressed) at name[nameAt..nameAt+nameLen), or null when no longer kept. */
  name: Uint8Array | null;
  nameAt: number;
  nameLen: number;
}

export const OTHER_NAMES = '(other names)';
export const NAME_GONE = '(name no longer kept)';

/** The most recent `size` lost transactions. Arrays grow by doubling up to size, as entries come. */
export class LostRing {
  private cap = 0;
  private count = 0;
  private next = 0;
  private ts = new Float64Array(0);
  private addrs = new Int32Array(0);
  private nums = new Int32Array(0); // per entry: family, clientPort, serverPort, id, qtype, cause, layer, pseudoOnly, reason, queries, encap, nameLen (-1: gone)
  private names = new Uint8Array(0); // MAX_NAME_LEN + 1 per entry

  constructor(readonly size: number, private readonly reasonName: (reason: number) => string) {}

  add(r: LostRecord): void {
    if (this.size === 0) return;
    if (this.count < this.size && this.count === this.cap) this.grow(Math.min(this.size, Math.max(16, this.cap * 2)));
    const i = this.next;
    this.ts[i] = r.tsUs;
    for (let j = 0; j < 8; j++) this.addrs[i * 8 + j] = r.addrs[r.addrsAt + j];
    const n = this.nums;
    const o = i * NUMS;
    n[o] = r.family;
    n[o + 1] = r.clientPort;
    n[o + 2] = r.serverPort;
    n[o + 3] = r.id;
    n[o + 4] = r.qtype;
    n[o + 5] = CAUSES.indexOf(r.cause);
    n[o + 6] = r.layer;
    n[o + 7] = r.pseudoOnly ? 1 : 0;
    n[o + 8] = r.reason;
    n[o + 9] = r.queries;
    n[o + 10] = r.encap;
    const len = r.name === null ? -1 : Math.min(r.nameLen, MAX_NAME_LEN + 1);
    n[o + 11] = len;
    if (r.name !== null) this.names.set(r.name.subarray(r.nameAt, r.nameAt + len), i * (MAX_NAME_LEN + 1));
    this.next = (i + 1) % this.size;
    if (this.count < this.size) this.count++;
  }

  /** Newest first. */
  list(): LostTransaction[] {
    const out: LostTransaction[] = [];
    for (let k = 1; k <= this.count; k++) out.push(this.entry((this.next - k + this.size) % this.size));
    return out;
  }

  private entry(i: number): LostTransaction {
    const n = this.nums;
    const o = i * NUMS;
    const v6 = n[o] === 6;
    const len = n[o + 11];
    return {
      tsUs: this.ts[i],
      client: addrString(this.addrs, i * 8, v6),
      clientPort: n[o + 1],
      server: addrString(this.addrs, i * 8 + 4, v6),
      serverPort: n[o + 2],
      id: n[o + 3],
      name: len < 0 ? NAME_GONE : nameToString(this.names, i * (MAX_NAME_LEN + 1), len),
      qtype: qtypeName(n[o + 4]),
      cause: CAUSES[n[o + 5]],
      layer: n[o + 6] >= 0 ? LAYER_NAMES[n[o + 6]] : null,
      pseudoOnly: n[o + 7] === 1,
      reason: n[o + 8] >= 0 ? this.reasonName(n[o + 8]) : null,
      queries: n[o + 9],
      vxlan: n[o + 10] === ENCAP_VXLAN,
      geneve: n[o + 10] === ENCAP_GENEVE,
    };
  }

  private grow(cap: number): void {
    const ts = new Float64Array(cap);
    ts.set(this.ts);
    const addrs = new Int32Array(cap * 8);
    addrs.set(this.addrs);
    const nums = new Int32Array(cap * NUMS);
    nums.set(this.nums);
    const names = new Uint8Array(cap * (MAX_NAME_LEN + 1));
    names.set(this.names);
    this.ts = ts;
    this.addrs = addrs;
    this.nums = nums;
    this.names = names;
    this.cap = cap;
  }
}
const NUMS = 12;

/**
 * Lost transactions per query name, for at most `limit` names; the rest count as OTHER_NAMES. An
 * open-addressing table keyed by the name's wire bytes; the bytes are appended to an arena that
 * grows by doubling (names are never removed).
 */
export class LostNames {
  private readonly hash: Int32Array;
  private readonly at: Int32Array; // entry + 1 per index slot, 0 empty
  private readonly mask: number;
  private readonly counts: Float64Array;
  private readonly nameAt: Int32Array;
  private readonly nameLen: Uint16Array;
  private bytes = new Uint8Array(4096);
  private used = 0;
  private n = 0;
  private other = 0;
  private gone = 0;

  constructor(readonly limit: number) {
    let size = 2;
    while (size < limit * 2) size *= 2;
    this.at = new Int32Array(size);
    this.mask = size - 1;
    this.hash = new Int32Array(limit);
    this.counts = new Float64Array(limit);
    this.nameAt = new Int32Array(limit);
    this.nameLen = new Uint16Array(limit);
  }

  /** Counts one lost transaction for the name b[o..o+len) (wire form), or for NAME_GONE when b is null. */
  add(b: Uint8Array | null, o: number, len: number): void {
    if (b === null) {
      this.gone++;
      return;
    }
    let h = 0x811c9dc5;
    for (let i = o; i < o + len; i++) h = Math.imul(h ^ b[i], 0x01000193);
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const e = this.at[s];
      if (e === 0) {
        if (this.n >= this.limit) {
          this.other++;
          return;
        }
        const x = this.n++;
        if (this.used + len > this.bytes.length) {
          const more = new Uint8Array(Math.max(this.bytes.length * 2, this.used + len));
          more.set(this.bytes.subarray(0, this.used));
          this.bytes = more;
        }
        this.bytes.set(b.subarray(o, o + len), this.used);
        this.hash[x] = h;
        this.nameAt[x] = this.used;
        this.nameLen[x] = len;
        this.counts[x] = 1;
        this.used += len;
        this.at[s] = x + 1;
        return;
      }
      const x = e - 1;
      if (this.hash[x] === h && this.same(x, b, o, len)) {
        this.counts[x]++;
        return;
      }
    }
  }

  /** Names with their counts, most lost first (ties by name). */
  top(limit: number): Array<{ name: string; lost: number }> {
    const all: Array<{ name: string; lost: number }> = [];
    // Only names that can make the list are turned into strings: those at or above the limit-th count.
    const order = Array.from({ length: this.n }, (_, i) => i).sort((a, b) => this.counts[b] - this.counts[a]);
    const floor = order.length > limit && limit > 0 ? this.counts[order[limit - 1]] : 0;
    for (const x of order) {
      if (this.counts[x] < floor) break;
      all.push({ name: nameToString(this.bytes, this.nameAt[x], this.nameLen[x]), lost: this.counts[x] });
    }
    if (this.other > 0) all.push({ name: OTHER_NAMES, lost: this.other });
    if (this.gone > 0) all.push({ name: NAME_GONE, lost: this.gone });
    return all.sort((a, b) => b.lost - a.lost || (a.name < b.name ? -1 : 1)).slice(0, limit);
  }

  private same(x: number, b: Uint8Array, o: number, len: number): boolean {
    if (this.nameLen[x] !== len) return false;
    const at = this.nameAt[x];
    for (let i = 0; i < len; i++) if (this.bytes[at + i] !== b[o + i]) return false;
    return true;
  }
}
