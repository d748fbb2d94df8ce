// Geneve header, RFC 8926 §3.4.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |        Virtual Network Identifier (VNI)       |    Reserved   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                                                               |
//   ~                    Variable-Length Options                    ~
//   |                                                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Each option, RFC 8926 §3.5:
//
//   |          Option Class         |      Type     |R|R|R| Length  |
//   ~                  Variable-Length Option Data                  ~
//
// Followed by the payload the protocol type names: 0x6558 an Ethernet frame (Transparent Ethernet
// Bridging, what OVN-Kubernetes, Antrea, Cilium and OVS send), or an IP packet directly (0x0800,
// 0x86DD: Google Cloud's Andromeda, tcpdump's geneve-gcp.pcap).

import { ENCAP_GENEVE, Frame } from './frame';
import { Status } from './status';

export const GENEVE_HEADER_LEN = 8;
/** Protocol type of an Ethernet payload (Transparent Ethernet Bridging), RFC 8926 §3.4. */
export const GENEVE_PROTO_ETHERNET = 0x6558;
/** O bit: an OAM (control) packet, RFC 8926 §3.4. */
export const GENEVE_FLAG_O = 0x80;
/** C bit: one or more options have the critical bit set, RFC 8926 §3.4. */
export const GENEVE_FLAG_C = 0x40;

/** What decodeGeneve leaves for the caller: the payload's offset and protocol type. */
export class GeneveView {
  payloadOffset = 0;
  protocol = 0;
}

/**
 * Decodes the Geneve header at o and walks its options; the payload starts at v.payloadOffset
 * and is of protocol type v.protocol. f: the frame to mark as Geneve with its VNI, flags and
 * options length, or null for a tunnel inside the tunnel (only checked).
 *
 * An options length past the datagram (dEnd) is malformed (GENEVE_OPTIONS_OVERRUN); past the
 * captured bytes only, truncated. Options are walked only when captured whole: one whose length
 * runs past the options area is malformed (GENEVE_OPTION_OVERRUN).
 */
export function decodeGeneve(b: Uint8Array, o: number, capEnd: number, dEnd: number, v: GeneveView, f: Frame | null): Status {
  if (o + GENEVE_HEADER_LEN > dEnd) return Status.GENEVE_HEADER_OVERRUN;
  if (o + GENEVE_HEADER_LEN > capEnd) return Status.TRUNCATED;
  // Ver: 0 is the only version; a tunnel endpoint drops any other, RFC 8926 §3.4.
  if (b[o] >> 6 !== 0) return Status.GENEVE_VERSION_UNKNOWN;
  // Opt Len: the options' length in 4-byte multiples, not counting the 8-byte header, §3.4.
  const optEnd = o + GENEVE_HEADER_LEN + ((b[o] & 0x3f) << 2);
  if (optEnd > dEnd) return Status.GENEVE_OPTIONS_OVERRUN;
  if (optEnd > capEnd) return Status.TRUNCATED;
  // Each option: a 4-byte header, then Length (5 bits) 4-byte multiples of data, §3.5.
  // Opt Len and each step are multiples of 4, so an option's header always fits where p < optEnd.
  for (let p = o + GENEVE_HEADER_LEN; p < optEnd; ) {
    p += 4 + ((b[p + 3] & 0x1f) << 2);
    if (p > optEnd) return Status.GENEVE_OPTION_OVERRUN;
  }
  v.payloadOffset = optEnd;
  v.protocol = (b[o + 2] << 8) | b[o + 3];
  if (f === null) return Status.OK;
  f.encap = ENCAP_GENEVE;
  f.vni = (b[o + 4] << 16) | (b[o + 5] << 8) | b[o + 6];
  f.geneveFlags = b[o + 1] & (GENEVE_FLAG_O | GENEVE_FLAG_C);
  f.geneveOptLen = optEnd - o - GENEVE_HEADER_LEN;
  return Status.OK;
}
