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
