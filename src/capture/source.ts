// A live packet source: what the agent needs from a capture, whatever implements it.
//
// Packets arrive in batches in a buffer the source owns and reuses: records of
//   u32 caplen | u32 wirelen | u32 ts_sec | u32 ts_usec | caplen bytes, padded to 4
// in host byte order (little-endian on every platform Node supports here). A batch handler must
// finish with the buffer before it returns and keep no reference into it.

/** Bytes before each record's packet data. */
export const RECORD_HEADER = 16;

/** Called once per batch: `records` records in the first `bytes` bytes of `buf`. */
export type BatchHandler = (buf: Buffer, records: number, bytes: number) => void;

/** Counters since the source was opened (libpcap's pcap_stats, plus our own). */
export interface SourceStats {
  /** Packets the kernel passed to the capture (after the filter). */
  received: number;
  /** Dropped by the capture: the ring was full (libpcap ps_drop). */
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
