// Tombstones of answered DNS transactions pushed out of a full table before their lingering
// ended: the hash of the key, a fingerprint of the question, and when it was answered, in a
// two-way set-associative table (the older way replaced). A late copy of the query or answer is
// then recognised as a copy for the rest of the timeout, never taken for a new transaction that
// would end lost.

export class Tombstones {
  private readonly hash: Int32Array;
  private readonly fp: Int32Array;
  private readonly ts: Float64Array;
  private readonly mask: number;

  /** sets: a power of two; two ways each. */
  constructor(sets: number, private readonly timeoutUs: number) {
    this.hash = new Int32Array(sets * 2);
    this.fp = new Int32Array(sets * 2);
    this.ts = new Float64Array(sets * 2).fill(-Infinity);
    this.mask = sets - 1;
  }

  /** The question's fingerprint: its name hashes, type and class, in one word. */
  static fingerprint(h1: number, h2: number, qtype: number, qclass: number): number {
    return (h1 ^ Math.imul(h2, 0x9e3779b1) ^ ((qtype << 16) | qclass)) | 0;
  }

  /** Leaves a tombstone for the transaction with key hash h and question fingerprint fp, answered at answeredUs. */
  bury(h: number, fp: number, answeredUs: number): void {
    const set = (h & this.mask) * 2;
    const way = this.ts[set] <= this.ts[set + 1] ? set : set + 1;
    this.hash[way] = h;
    this.fp[way] = fp;
    // It lingers as long as it would have in the table: the timeout from its answer.
    this.ts[way] = answeredUs;
  }

  /** Whether a tombstone for (h, fp) stands at tsUs. */
  has(h: number, fp: number, tsUs: number): boolean {
    const set = (h & this.mask) * 2;
    for (let w = set; w < set + 2; w++) {
      if (this.hash[w] === h && this.fp[w] === fp && tsUs - this.ts[w] <= this.timeoutUs) return true;
    }
    return false;
  }
}
