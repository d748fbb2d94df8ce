// The Internet checksum (RFC 1071): ones'-complement sum of 16-bit big-endian words.
//
// Sums are carried unfolded in a float64 (exact up to 2^53, far beyond any packet) and folded once
// at the end. A header verifies when the folded sum over it, checksum field included, is 0xffff.

/** Checksum results, in the order of CONTRACT.md's buckets. Only BAD is an error. */
export enum Csum {
  OK = 0,
  BAD = 1,
  /** UDP checksum 0: "not computed" (legal over IPv4, and on a tunnel's outer IPv6 header, RFC 6935). */
  NONE = 2,
  /** Transmit offload pending: the field holds only the pseudo-header sum (outbound or unknown direction). */
  PARTIAL = 3,
  /** The capture did not keep every byte the checksum covers. */
  UNVERIFIABLE = 4,
}
export const CSUM_COUNT = 5;
export const CSUM_NAMES: readonly string[] = ['ok', 'bad', 'none', 'partial', 'unverifiable'];

// The sum reads four bytes at a time through a DataView over the buffer (V8 compiles getUint32 to
// one load and a byte swap; four byte loads, shifts and ors cost twice as much). The view of the
// last buffer summed is kept: callers reuse one buffer for many packets, so it is made once per
// buffer, not per packet.
let viewed: Uint8Array | null = null;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/** Unfolded sum of b[o..e) as 16-bit big-endian words; an odd last byte is padded with zero. */
export function sum16(b: Uint8Array, o: number, e: number): number {
  if (b !== viewed) {
    viewed = b;
    view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  const v = view;
  let s = 0;
  // Sixteen bytes per turn: fewer loop-carried additions than one word per turn.
  while (o + 15 < e) {
    const w0 = v.getUint32(o);
    const w1 = v.getUint32(o + 4);
    const w2 = v.getUint32(o + 8);
    const w3 = v.getUint32(o + 12);
    s += (w0 >>> 16) + (w0 & 0xffff) + (w1 >>> 16) + (w1 & 0xffff) + (w2 >>> 16) + (w2 & 0xffff) + (w3 >>> 16) + (w3 & 0xffff);
    o += 16;
  }
  while (o + 3 < e) {
    const w = v.getUint32(o);
    s += (w >>> 16) + (w & 0xffff);
    o += 4;
  }
  if (o + 1 < e) {
    s += (b[o] << 8) | b[o + 1];
    o += 2;
  }
  if (o < e) s += b[o] << 8;
  return s;
}

/** Folds an unfolded sum to 16 bits with end-around carry. */
export function fold(s: number): number {
  // Two rounds of carry folding suffice below 2^32; the first division handles larger sums exactly.
  s = (s % 0x10000) + Math.floor(s / 0x10000);
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** Unfolded IPv4 pseudo-header sum (RFC 768, RFC 9293 §3.1): addresses, protocol, L4 length. */
export function pseudo4(b: Uint8Array, srcOff: number, dstOff: number, proto: number, len: number): number {
  return ((b[srcOff] << 8) | b[srcOff + 1]) + ((b[srcOff + 2] << 8) | b[srcOff + 3]) +
    ((b[dstOff] << 8) | b[dstOff + 1]) + ((b[dstOff + 2] << 8) | b[dstOff + 3]) + proto + len;
}

/** Unfolded IPv6 pseudo-header sum (RFC 8200 §8.1): addresses, 32-bit upper-layer length, next header. */
export function pseudo6(b: Uint8Array, srcOff: number, dstOff: number, proto: number, len: number): number {
  return sum16(b, srcOff, srcOff + 16) + sum16(b, dstOff, dstOff + 16) + (len >>> 16) + (len & 0xffff) + proto;
}

/** Ones'-complement a - b on folded 16-bit values. */
export function csumSub(a: number, b: number): number {
  return fold(a + (~b & 0xffff));
}

/** Internal result of verifyTransport: BAD, and the field held exactly the pseudo-header sum. */
export const BAD_PSEUDO_ONLY = 5;

/** What verifyTransport needs to know about the segment; a subset of the decode Stack view. */
export interface TransportSegment {
  ipVersion: number;
  srcOffset: number;
  dstOffset: number;
  proto: number;
  fragment: number;
  /** A TSO segment: its field may hold the pseudo-header sum without the length (below). */
  tso: boolean;
  l4Offset: number;
  l4End: number;
  l4Field: number;
  l4Sum: number;
}

/**
 * Verifies a UDP or TCP checksum with its pseudo-header. capEnd is where the captured bytes end.
 *  - zeroResult: what a zero field means, or -1 to sum it like any other value (TCP). UDP over
 *    IPv4 and a tunnel's outer UDP over IPv6 pass NONE ("no checksum", RFC 768, RFC 6935); UDP over
 *    IPv6 elsewhere passes BAD (RFC 8200 §8.1: receivers discard it).
 *  - allowPartial: the packet was sent by the capturing host or its direction is unknown, so a field
 *    holding the pseudo-header sum is transmit offload still pending. Inbound, the same field means
 *    a NIC on the way never completed the offload: BAD_PSEUDO_ONLY.
 * Stores the folded sum in seg.l4Sum when the segment could be summed.
 */
export function verifyTransport(b: Uint8Array, seg: TransportSegment, capEnd: number, zeroResult: number, allowPartial: boolean): number {
  const field = seg.l4Field;
  if (field === 0 && zeroResult >= 0) return zeroResult;
  // A first fragment's checksum covers bytes that travel in later fragments; a final destination
  // the decoder could not resolve (dstOffset -1) leaves the pseudo-header unknown.
  if (seg.fragment !== 0 || seg.l4End > capEnd || seg.dstOffset < 0) return Csum.UNVERIFIABLE;
  const len = seg.l4End - seg.l4Offset;
  const ps = seg.ipVersion === 4
    ? pseudo4(b, seg.srcOffset, seg.dstOffset, seg.proto, len)
    : pseudo6(b, seg.srcOffset, seg.dstOffset, seg.proto, len);
  const sum = fold(ps + sum16(b, seg.l4Offset, seg.l4End));
  seg.l4Sum = sum;
  if (sum === 0xffff) return Csum.OK;
  if (field === fold(ps)) return allowPartial ? Csum.PARTIAL : BAD_PSEUDO_ONLY;
  // A TSO segment's field holds the pseudo-header sum over a length of 0: the NIC adds each
  // segment's own length as it cuts them (what Linux drivers and tcpdump's TSO captures show).
  if (seg.tso && seg.ipVersion === 4 && field === fold(pseudo4(b, seg.srcOffset, seg.dstOffset, seg.proto, 0))) return allowPartial ? Csum.PARTIAL : BAD_PSEUDO_ONLY;
  return Csum.BAD;
}

/**
 * The field value that would make a partial segment verify: the checksum the NIC should have
 * written (RFC 1071 §2(4): incremental update, sum without the field, complemented).
 */
export function completedField(seg: TransportSegment): number {
  return ~csumSub(seg.l4Sum, seg.l4Field) & 0xffff;
}
