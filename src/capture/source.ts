// A live packet source: what the agent needs from a capture, whatever implements it.
//
// Packets arrive in batches in a buffer the source owns and reuses: records of
//   u32 caplen | u32 wirelen | u32 ts_sec | u32 ts_usec | u32 meta | caplen bytes, padded to 4
// in host byte order (little-endian on every platform Node supports here). A batch handler must
// finish with the buffer before it returns and keep no reference into it. Every source writes
// this format (native/ring.c, native/pcap.c, the benchmarks' memory source) and readRecord() is
// its one reader.

/** Bytes before each record's packet data. */
export const RECORD_HEADER = 20;

/** meta: the packet's direction, 0 when the source does not know it (the values of DIR_RX, DIR_TX). */
export const META_DIR_MASK = 0x3;
export const META_RX = 1;
export const META_TX = 2;
/**
 * meta: the kernel marked the packet TP_STATUS_CSUMNOTREADY (skb CHECKSUM_PARTIAL): its transport
 * checksum is left for the NIC to fill (sent), or it was merged by GRO (received). A field holding
 * the pseudo-header sum is then `partial`, whatever the direction.
 */
export const META_CSUM_NOTREADY = 0x4;
/** meta: the kernel marked the packet TP_STATUS_CSUM_VALID: the NIC verified its checksum on receive. */
export const META_CSUM_VALID = 0x8;
/**
 * meta: the source reports the kernel's checksum status (the ring does, libpcap does not). With
 * neither bit above set, the kernel holds no partial checksum: no guess from the length is made.
 */
export const META_CSUM_KNOWN = 0x10;

/** One record's header, as readRecord() leaves it. */
export class RecordView {
  capLen = 0;
  wireLen = 0;
  /** µs since the epoch. */
  tsUs = 0;
  meta = 0;
  /** Where the packet's bytes start in the batch. */
  data = 0;
  /** Where the next record starts. */
  next = 0;
}

/**
 * Reads the record at off of a batch of `bytes` bytes into r. False when no whole record is left
 * (a record never claims bytes past the batch: the reader stops rather than read stale bytes).
 */
export function readRecord(b: Uint8Array, off: number, bytes: number, r: RecordView): boolean {
  if (off + RECORD_HEADER > bytes) return false;
  const capLen = (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
  const data = off + RECORD_HEADER;
  if (data + capLen > bytes) return false;
  r.capLen = capLen;
  r.wireLen = (b[off + 4] | (b[off + 5] << 8) | (b[off + 6] << 16) | (b[off + 7] << 24)) >>> 0;
  const sec = (b[off + 8] | (b[off + 9] << 8) | (b[off + 10] << 16) | (b[off + 11] << 24)) >>> 0;
  const usec = (b[off + 12] | (b[off + 13] << 8) | (b[off + 14] << 16) | (b[off + 15] << 24)) >>> 0;
  r.tsUs = sec * 1e6 + usec;
  r.meta = (b[off + 16] | (b[off + 17] << 8) | (b[off + 18] << 16) | (b[off + 19] << 24)) >>> 0;
  r.data = data;
  r.next = data + ((capLen + 3) & ~3);
  return true;
}

/** Called once per batch: `records` records in the first `bytes` bytes of `buf`. */
export type BatchHandler = (buf: Buffer, records: number, bytes: number) => void;

/** Counters since the source was opened (libpcap's pcap_stats, plus our own). */
export interface SourceStats {
  /** Packets the kernel passed to the capture (after the filter). */
  received: number;
  /** Dropped by the capture: the ring was full (libpcap ps_drop, TPACKET tp_drops). */
  dropped: number;
  /** Dropped by the interface (libpcap ps_ifdrop). */
  ifDropped: number;
  /** Packets cut short because they were larger than the whole batch buffer. */
  clipped: number;
}

export interface PacketSource {
  /** Link type of the records (tcpdump.org link-type numbers, as the decoder takes them). */
  readonly linkType: number;
  /**
   * Starts delivery. onError is called once if the capture fails (interface gone); it then stops
   * waking up, but what its ring still holds can be read with poll() until close(), which is the
   * owner's to call. An interface going down is not a failure: the capture stays open and resumes
   * when the interface is up again.
   */
  start(onBatch: BatchHandler, onError: (message: string) => void): void;
  /** Delivers whatever is waiting now; returns the number of packets. */
  poll(): number;
  stats(): SourceStats;
  close(): void;
}

/** What both capture addons (native/ring.c, native/pcap.c) share: batches into one buffer. */
export interface BatchBinding {
  start(h: object, buf: Buffer, cb: (records: number, bytesOrError: number | string) => void): void;
  dispatch(h: object): number;
  stats(h: object): [number, number, number, number];
  close(h: object): void;
}

/**
 * A live capture through one of the addons: an open handle, and the batch buffer the addon writes
 * records into. The buffer is held here for as long as the capture runs (the addon holds a
 * reference too; this one makes the ownership plain: a buffer only the native side points to
 * would be freed under it). Subclasses open the handle and read the addon's counters.
 */
export abstract class NativeSource implements PacketSource {
  abstract readonly linkType: number;
  protected handle: object | null = null;
  protected readonly batch: Buffer;
  /** The counters as last read before close, so drops counted up to an interface's loss survive. */
  protected final: SourceStats | null = null;

  constructor(protected readonly b: BatchBinding, batchBytes: number, private readonly closedError: () => Error) {
    this.batch = Buffer.alloc(batchBytes);
  }

  start(onBatch: BatchHandler, onError: (message: string) => void): void {
    const h = this.live();
    const buf = this.batch;
    let failed = false;
    this.b.start(h, buf, (records, bytes) => {
      if (records < 0) {
        // Once: the handle stays open, so that its owner can still drain the ring (poll())
        // before it closes it; a later poll may hit the same error again.
        if (!failed) onError(String(bytes));
        failed = true;
        return;
      }
      onBatch(buf, records, bytes as number);
    });
  }

  poll(): number {
    return this.handle ? this.b.dispatch(this.handle) : 0;
  }

  stats(): SourceStats {
    return this.final ?? this.counters(this.b.stats(this.live()));
  }

  /** The addon's four counters as SourceStats. */
  protected abstract counters(raw: [number, number, number, number]): SourceStats;

  close(): void {
    if (!this.handle) return;
    try {
      this.final = this.counters(this.b.stats(this.handle));
    } catch {
      this.final = { received: 0, dropped: 0, ifDropped: 0, clipped: 0 };
    }
    this.b.close(this.handle);
    this.handle = null;
  }

  get closed(): boolean {
    return this.handle === null;
  }

  protected live(): object {
    if (!this.handle) throw this.closedError();
    return this.handle;
  }
}
