// Kernel drops waiting for their DNS transaction. The tracer's events usually arrive before the
// capture hands over the packet, so a drop whose transaction is not in the table yet is held
// here, by its transaction's key, for the timeout: a ring of keys indexed by key hash.

import { TxKey } from './txkey';

/** Kernel drops held at once; the oldest gives way. */
const HELD = 4096;

export class HeldDrops {
  /** Drops that never met their transaction: given up for room, or held past the timeout. */
  unmatched = 0;

  private readonly family = new Uint8Array(HELD);
  private readonly addrs = new Int32Array(HELD * 8);
  private readonly ports = new Uint16Array(HELD * 2);
  private readonly id = new Uint16Array(HELD);
  private readonly reason = new Uint16Array(HELD);
  private readonly ts = new Float64Array(HELD);
  private readonly hash = new Int32Array(HELD);
  /** Drops an entry holds (a retransmission dropped again joins its entry); 0: free. */
  private readonly count = new Uint16Array(HELD);
  private readonly index = new Map<number, number>();
  private nextEntry = 0;

  constructor(private readonly timeoutUs: number) {}

  get size(): number {
    return this.index.size;
  }

  /** Holds a drop with key k (hash h) and the kernel's reason, seen at tsUs. */
  hold(k: TxKey, h: number, reason: number, tsUs: number): void {
    const older = this.index.get(h);
    if (older !== undefined && this.is(older, k)) {
      // The same transaction dropped again (a retransmission): its entry holds both.
      if (this.count[older] < 0xffff) this.count[older]++;
      else this.unmatched++;
      this.ts[older] = tsUs;
      return;
    }
    const i = this.nextEntry;
    this.nextEntry = (i + 1) % HELD;
    if (this.count[i] > 0) {
      // The oldest entry gives way: its drops never met their transaction.
      if (this.index.get(this.hash[i]) === i) this.index.delete(this.hash[i]);
      this.giveUp(i);
    }
    if (older !== undefined && this.count[older] > 0) {
      // Another key with the same hash: the index keeps one entry per hash, the newer.
      this.giveUp(older);
    }
    this.family[i] = k.family;
    k.storeWords(this.addrs, i * 8);
    this.ports[i * 2] = k.clientPort;
    this.ports[i * 2 + 1] = k.serverPort;
    this.id[i] = k.id;
    this.reason[i] = reason;
    this.ts[i] = tsUs;
    this.hash[i] = h;
    this.count[i] = 1;
    this.index.set(h, i);
  }

  /**
   * A transaction with key k (hash h) was just seen at tsUs: takes the drops held for it.
   * Returns how many it takes (0: none held, or held too long ago) and sets takenReason.
   */
  take(k: TxKey, h: number, tsUs: number): number {
    const i = this.index.get(h);
    if (i === undefined || !this.is(i, k)) return 0;
    const n = this.count[i];
    this.index.delete(h);
    this.count[i] = 0;
    if (Math.abs(tsUs - this.ts[i]) >= this.timeoutUs) {
      this.unmatched += n;
      return 0;
    }
    this.takenReason = this.reason[i];
    return n;
  }

  /** The kernel's reason of the drops take() returned last. */
  takenReason = 0;

  /** Gives up the drops held longer than the timeout at nowUs. */
  sweep(nowUs: number): void {
    if (this.index.size === 0) return;
    for (const [hash, i] of this.index) {
      if (nowUs - this.ts[i] < this.timeoutUs) continue;
      this.index.delete(hash);
      this.giveUp(i);
    }
  }

  private giveUp(i: number): void {
    this.unmatched += this.count[i];
    this.count[i] = 0;
  }

  /** Entry i holds drops and has key k. */
  private is(i: number, k: TxKey): boolean {
    if (this.count[i] === 0 || this.family[i] !== k.family || this.id[i] !== k.id) return false;
    if (this.ports[i * 2] !== k.clientPort || this.ports[i * 2 + 1] !== k.serverPort) return false;
    const a = this.addrs;
    const o = i * 8;
    for (let j = 0; j < 8; j++) if (a[o + j] !== k.words[j]) return false;
    return true;
  }
}
