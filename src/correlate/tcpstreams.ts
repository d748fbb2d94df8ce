// DNS over TCP is a stream (RFC 7766 §8): a message may begin in one segment and end in a later
// one, as a large answer does, or a client that writes the 2-byte length and the message apart.
// The correlator reads each flow's stream (one direction of a connection) through this table: how
// far the stream has been read (the sequence number the next segment must carry), and the start
// of a message that a later segment completes (the tail). A segment that ends where the stream
// was already read to, or before, is a copy (the underlay's and the vxlan device's sightings of
// one packet) or a retransmission, and is not read again.
//
// Bounded: at most `flows` flows (the least recently seen gives way; one not seen for the DNS
// timeout is no longer followed), at most MAX_TAIL bytes a tail and `maxBytes` in all; past a
// bound a tail is given up (counted), never the agent's memory.
// Allocation-free once warm: flow keys and positions in typed arrays, a buffer per flow slot kept
// for its next tails (up to KEEP_BUFFER bytes).

import { decodeDns } from '../decode/dns';
import { DnsView, Frame } from '../decode/frame';
import { Status } from '../decode/status';

/** What reads the messages of the streams (the correlator; the fuzzer's tally). */
export interface StreamSink {
  /** A whole message of a stream, joined across segments: d decoded from mb. */
  streamMessage(d: DnsView, mb: Uint8Array): void;
  /** The segment is read on its own: the messages the decoder found in it (f.dns and those after). */
  streamSegment(): void;
}

/** A DNS message over TCP is at most 2 + 65535 bytes. */
export const MAX_TAIL = 2 + 65535;
/** A segment is at most this long (an IPv4 datagram; GRO merges up to it). */
const MAX_SEGMENT = 65536;
const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const KEY_WORDS = 11; // family, src[4], dst[4], sport, dport

export class TcpStreams {
  /** Tails given up: a bound was reached, or their flow gave way to a newer one. */
  dropped = 0;
  /** Tails whose continuation never came: a segment was missing, or the flow went quiet. */
  gaps = 0;
  /** Messages read whole across segments: begun in one, ended in a later one. */
  joined = 0;

  private readonly keys: Int32Array;
  private readonly hashes: Int32Array;
  /** The sequence number that continues the flow (uint32). */
  private readonly nextSeq: Float64Array;
  private readonly lastUs: Float64Array;
  private readonly used: Uint8Array;
  private readonly bufs: Uint8Array[];
  private readonly lens: Int32Array;
  /** 1: the flow's message boundaries are known (from its SYN, or a message that decoded). */
  private readonly synced: Uint8Array;
  /** The sequence number of the flow's SYN, -1 when none was seen. */
  private readonly isn: Float64Array;
  /** Flow by key hash (a collision makes a second flow unfindable, which only means it is read as new). */
  private readonly byHash = new Map<number, number>();
  private held = 0;
  private count = 0;
  private readonly key = new Int32Array(KEY_WORDS);
  private keyHash = 0;
  private readonly msg = new DnsView();

  /** ageUs: a flow not seen for this long is no longer followed (its tail is a gap). */
  constructor(readonly ageUs = 5_000_000, readonly flows = 256, readonly maxBytes = 1 << 20) {
    this.keys = new Int32Array(flows * KEY_WORDS);
    this.hashes = new Int32Array(flows);
    this.nextSeq = new Float64Array(flows);
    this.lastUs = new Float64Array(flows);
    this.used = new Uint8Array(flows);
    this.bufs = new Array<Uint8Array>(flows).fill(EMPTY);
    this.lens = new Int32Array(flows);
    this.synced = new Uint8Array(flows);
    this.isn = new Float64Array(flows).fill(-1);
  }

  /** Flows followed now. */
  get size(): number {
    return this.count;
  }

  /** Bytes held in tails now. */
  get bytes(): number {
    return this.held;
  }

  /**
   * Reads a DNS-over-TCP segment (f decoded from b, f.dns.tcpPayload >= 0) seen at nowUs as part
   * of its flow's stream, handing sink what it holds:
   * - a SYN starts the flow's stream afresh (a new connection on the same ports starts at another
   *   sequence number); FIN and RST end it, after their payload;
   * - a segment that ends where the stream was already read to, or before, is a copy or a
   *   retransmission, and is not read again;
   * - one that continues the stream (or overlaps its end: a retransmission that carries new bytes
   *   too) is read on from where the stream was, joined to the start of a message an earlier
   *   segment began, and every whole message goes to streamMessage;
   * - otherwise (a flow not followed yet, or after a gap) it is read on its own (streamSegment),
   *   and what its last message leaves over is kept for the next segment, if the stream's message
   *   boundaries are known: from its SYN, or where its first message decoded.
   * A segment that failed a checksum is not part of the stream (the receiver drops it and the
   * sender sends it again), nor one the capture cut short: both are read on their own and change
   * nothing of the stream. Everything here depends only on the segments and their times, in
   * order, so that two readers fed the same agree.
   */
  read(b: Uint8Array, f: Frame, nowUs: number, sink: StreamSink): void {
    const d = f.dns;
    if (!d.tcpWhole || f.badMask() !== 0) {
      sink.streamSegment();
      return;
    }
    const s = d.inner ? f.inner : f.outer;
    let flow = this.find(b, s.ipVersion, s.srcOffset, s.ipOffset + (s.ipVersion === 4 ? 16 : 24), s.srcPort, s.dstPort, nowUs);
    const p = d.tcpPayload;
    const end = d.tcpPayloadEnd;
    const syn = (d.tcpFlags & TCP_SYN) !== 0;
    const closes = (d.tcpFlags & (TCP_FIN | TCP_RST)) !== 0;
    // The first payload byte's sequence number: a SYN takes one (TCP Fast Open data follows it).
    const start = (d.tcpSeq + (syn ? 1 : 0)) % 4294967296;
    const next = (start + (end - p)) % 4294967296;
    if (syn && flow >= 0) {
      // The same SYN again (its copy on the other interface, or resent) changes nothing; another
      // is a new connection on the same ports.
      if (this.isn[flow] === d.tcpSeq) return;
      this.drop(flow);
      this.free(flow);
      flow = -1;
    }
    if (flow >= 0) {
      if (((next - this.nextSeq[flow]) | 0) <= 0) {
        if (closes && next === this.nextSeq[flow]) this.close(flow);
        return;
      }
      const skip = (this.nextSeq[flow] - start) | 0; // bytes of it already read (overlap), >= 0 when it continues
      // An unsynced stream (followed from mid-connection, or after a gap) is read a segment at a
      // time until one starts with a message that decodes.
      if (skip >= 0 && this.synced[flow] === 1) {
        const carried = this.lens[flow];
        if (this.append(flow, b, p + skip, end, next, nowUs)) this.readTail(flow, carried, d.inner, sink);
        if (closes) this.close(flow);
        return;
      }
      if (skip < 0) {
        this.drop(flow); // a gap: the bytes in between never came
        this.synced[flow] = 0;
      }
    }
    sink.streamSegment();
    let q = end;
    const synced = syn || d.present;
    if (synced) {
      // Where the segment's last whole message ends: the rest begins a message a later one completes.
      q = p;
      while (q + 2 <= end) {
        const e = q + 2 + ((b[q] << 8) | b[q + 1]);
        if (e > end) break;
        q = e;
      }
    }
    flow = this.track(flow, b, q, end, next, nowUs);
    this.synced[flow] = synced ? 1 : 0;
    if (syn) this.isn[flow] = d.tcpSeq;
    if (closes) this.close(flow);
  }

  /** The connection ends: a message left partial is a gap, and the flow is no longer followed. */
  private close(flow: number): void {
    this.drop(flow);
    this.free(flow);
  }

  /**
   * Hands every whole message in flow's buffer to sink, and keeps the rest; the first `carried`
   * bytes came from earlier segments (a message starting there was joined).
   */
  private readTail(flow: number, carried: number, inner: boolean, sink: StreamSink): void {
    const buf = this.bufs[flow];
    const len = this.lens[flow];
    const m = this.msg;
    let q = 0;
    while (q + 2 <= len) {
      const end = q + 2 + ((buf[q] << 8) | buf[q + 1]);
      if (end > len) break;
      m.reset();
      if (decodeDns(buf, q + 2, end, end, m) === Status.OK) {
        m.inner = inner;
        if (q < carried) this.joined++;
        sink.streamMessage(m, buf);
      }
      q = end;
    }
    this.consume(flow, q);
  }

  /**
   * Loads a segment's flow as the scratch key: IP version, the source and destination addresses
   * at srcOff and dstOff in b, the ports. Returns the flow, or -1 when it is not followed (a flow
   * not seen for ageUs before nowUs no longer is).
   */
  find(b: Uint8Array, version: number, srcOff: number, dstOff: number, sport: number, dport: number, nowUs: number): number {
    const k = this.key;
    const n = version === 4 ? 1 : 4;
    k[0] = version;
    for (let i = 0; i < 4; i++) {
      const s = srcOff + i * 4;
      const d = dstOff + i * 4;
      k[1 + i] = i < n ? (b[s] << 24) | (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3] : 0;
      k[5 + i] = i < n ? (b[d] << 24) | (b[d + 1] << 16) | (b[d + 2] << 8) | b[d + 3] : 0;
    }
    k[9] = sport;
    k[10] = dport;
    let h = 0x9e3779b9;
    for (let i = 0; i < KEY_WORDS; i++) h = Math.imul(h ^ k[i], 0x85ebca6b) ^ (h >>> 13);
    this.keyHash = h | 0;
    const f = this.byHash.get(this.keyHash);
    if (f === undefined || !this.sameKey(f)) return -1;
    if (nowUs - this.lastUs[f] >= this.ageUs) {
      this.drop(f);
      this.free(f);
      return -1;
    }
    return f;
  }

  /** The sequence number that continues flow f. */
  next(f: number): number {
    return this.nextSeq[f];
  }

  /**
   * Appends b[p..end) to flow f's tail; the flow then continues at nextSeq. False, and the tail
   * given up, when that passes a bound.
   */
  append(f: number, b: Uint8Array, p: number, end: number, nextSeq: number, nowUs: number): boolean {
    this.nextSeq[f] = nextSeq;
    this.lastUs[f] = nowUs;
    const n = end - p;
    const len = this.lens[f];
    if (n <= 0) return true;
    if (this.held + n > this.maxBytes) this.reap(nowUs);
    // The tail is part of one message (at most MAX_TAIL); with the segment appended, at most one
    // segment more.
    if (len > MAX_TAIL || n > MAX_SEGMENT || this.held + n > this.maxBytes) {
      this.clear(f);
      this.dropped++;
      return false;
    }
    this.room(f, len + n);
    this.bufs[f].set(b.subarray(p, end), len);
    this.lens[f] = len + n;
    this.held += n;
    return true;
  }

  /** Drops the first `consumed` bytes of flow f's tail (the messages read from it). */
  consume(f: number, consumed: number): void {
    const len = this.lens[f];
    if (consumed >= len) {
      this.clear(f);
      return;
    }
    if (consumed > 0) this.bufs[f].copyWithin(0, consumed, len);
    this.lens[f] = len - consumed;
    this.held -= consumed;
  }

  /** Empties flow f's tail; a tail with bytes in it is a gap (its continuation did not come). */
  drop(f: number): void {
    if (this.lens[f] > 0) this.gaps++;
    this.clear(f);
  }

  /**
   * Follows the scratch key's flow (from find; f its flow or -1) from a segment read on its own:
   * the flow continues at nextSeq, with b[p..end) (possibly nothing) as its tail.
   */
  track(f: number, b: Uint8Array, p: number, end: number, nextSeq: number, nowUs: number): number {
    if (f < 0) {
      f = this.take();
      for (let i = 0; i < KEY_WORDS; i++) this.keys[f * KEY_WORDS + i] = this.key[i];
      this.hashes[f] = this.keyHash;
      this.byHash.set(this.keyHash, f);
      this.used[f] = 1;
      this.count++;
    } else {
      this.drop(f);
    }
    this.append(f, b, p, end, nextSeq, nowUs);
    return f;
  }

  /** Lets go of every flow not seen for ageUs (their tails hold the byte budget for nothing). */
  private reap(nowUs: number): void {
    for (let f = 0; f < this.flows; f++) {
      if (this.used[f] === 1 && nowUs - this.lastUs[f] >= this.ageUs) {
        this.drop(f);
        this.free(f);
      }
    }
  }

  private free(f: number): void {
    if (this.used[f] === 0) return;
    this.isn[f] = -1;
    this.clear(f);
    if (this.byHash.get(this.hashes[f]) === f) this.byHash.delete(this.hashes[f]);
    this.used[f] = 0;
    this.count--;
  }

  private clear(f: number): void {
    this.held -= this.lens[f];
    this.lens[f] = 0;
    // A large buffer goes back to the heap: kept, 256 of them could hold 16 MiB for nothing.
    if (this.bufs[f].length > KEEP_BUFFER) this.bufs[f] = EMPTY;
  }

  /** A free flow slot, or the least recently seen flow's. */
  private take(): number {
    let oldest = 0;
    for (let f = 0; f < this.flows; f++) {
      if (this.used[f] === 0) return f;
      if (this.lastUs[f] < this.lastUs[oldest]) oldest = f;
    }
    if (this.lens[oldest] > 0) this.dropped++;
    this.free(oldest);
    return oldest;
  }

  /** A buffer of at least n bytes for flow f: grown by doubling, kept for the flow's next tails. */
  private room(f: number, n: number): void {
    const cur = this.bufs[f];
    if (cur.length >= n) return;
    let size = Math.max(512, cur.length);
    while (size < n) size *= 2;
    const next = new Uint8Array(Math.min(size, MAX_TAIL + MAX_SEGMENT));
    next.set(cur.subarray(0, this.lens[f]));
    this.bufs[f] = next;
  }

  private sameKey(f: number): boolean {
    if (this.used[f] === 0) return false;
    for (let i = 0; i < KEY_WORDS; i++) if (this.keys[f * KEY_WORDS + i] !== this.key[i]) return false;
    return true;
  }
}

const EMPTY = new Uint8Array(0);
/** Buffers up to this size stay with their flow slot for the next tails. */
const KEEP_BUFFER = 4096;
