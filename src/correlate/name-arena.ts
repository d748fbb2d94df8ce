// The question names of the transactions in the table, copied into one ring of bytes as they
// are first seen: observing a packet allocates nothing, and a name becomes a string only when its
// transaction is lost. A name is never split at the ring's end; an old one is overwritten once
// the ring has wrapped past it.

import { copyName, MAX_NAME_LEN } from '../decode/dns';
import { DnsView } from '../decode/frame';

export class NameArena {
  readonly bytes: Uint8Array;
  /** Bytes written since the start (absolute position). */
  private pos = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  /** Copies d's question name from b; returns its absolute position. */
  store(b: Uint8Array, d: DnsView): number {
    const size = this.bytes.length;
    let pos = this.pos;
    if ((pos % size) + MAX_NAME_LEN > size) pos += size - (pos % size); // never split a name
    const n = d.nameOffset < 0 ? 0 : copyName(b, d, this.bytes, pos % size);
    this.pos = pos + n;
    return pos;
  }

  /** Whether the name stored at absolute position at is still there (not yet overwritten). */
  holds(at: number): boolean {
    return this.pos - at <= this.bytes.length - MAX_NAME_LEN;
  }

  /** The offset in bytes of the name stored at absolute position at. */
  offsetOf(at: number): number {
    return at % this.bytes.length;
  }
}
