// A packet source over memory, for driving a real Agent without a capture: the caller appends
// records (src/capture/source.ts format) and the agent receives them as one batch on poll().
// The fuzzer and the scale benchmark feed the agent through it.

import { BatchHandler, PacketSource, RECORD_HEADER, SourceStats } from '../../src/capture/source';

export class MemorySource implements PacketSource {
  readonly buf: Buffer;
  /** Records and bytes waiting for the next poll(). */
  records = 0;
  bytes = 0;
  /** Records handed to the agent so far. */
  delivered = 0;
  private onBatch: BatchHandler | null = null;

  /** size: the batch buffer, as PcapSource's default (1 MiB). */
  constructor(readonly linkType: number, size = 1 << 20) {
    this.buf = Buffer.alloc(size);
  }

  start(onBatch: BatchHandler): void {
    this.onBatch = onBatch;
  }

  /** Room for a record of capLen bytes. */
  fits(capLen: number): boolean {
    return this.bytes + RECORD_HEADER + capLen + 3 <= this.buf.length;
  }

  /**
   * Appends the header of a record of capLen bytes (wireLen on the wire, captured at tsUs) and
   * returns where its bytes go in buf: the caller copies them there. meta: META_* of
   * src/capture/source.ts (0: the direction the agent opened the source for).
   */
  reserve(capLen: number, wireLen: number, tsUs: number, meta = 0): number {
    const b = this.buf;
    const o = this.bytes;
    const sec = Math.floor(tsUs / 1e6);
    b.writeUInt32LE(capLen, o);
    b.writeUInt32LE(wireLen >>> 0, o + 4);
    b.writeUInt32LE(sec >>> 0, o + 8);
    b.writeUInt32LE(tsUs - sec * 1e6, o + 12);
    b.writeUInt32LE(meta >>> 0, o + 16);
    this.bytes = o + RECORD_HEADER + ((capLen + 3) & ~3);
    this.records++;
    return o + RECORD_HEADER;
  }

  /** Hands the waiting records to the agent as one batch. */
  poll(): number {
    const n = this.records;
    if (n === 0 || !this.onBatch) return 0;
    this.onBatch(this.buf, n, this.bytes);
    this.delivered += n;
    this.records = 0;
    this.bytes = 0;
    return n;
  }

  stats(): SourceStats {
    return { received: this.delivered, dropped: 0, ifDropped: 0, clipped: 0 };
  }

  close(): void {
    this.onBatch = null;
  }
}
