// IPv4 header, RFC 791 §3.1.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Version|  IHL  |Type of Service|          Total Length         |
//   |         Identification        |Flags|      Fragment Offset    |
//   |  Time to Live |    Protocol   |         Header Checksum       |
//   |                       Source Address                          |
//   |                    Destination Address                        |
//   |                    Options                    |    Padding    |

import { Csum, fold, sum16 } from './checksum';
import { FRAG_FIRST, FRAG_LATER, FRAG_NONE, Stack } from './frame';
import { Status } from './status';

/**
 * Decodes the IPv4 header at o. end is the end of the captured bytes, wireEnd where the frame ended
 * on the wire. On OK the stack holds the header's offsets; the header checksum result is returned
 * through csumOut[0] (OK or BAD: the header is always complete once decoded).
 */
export function decodeIPv4(b: Uint8Array, o: number, end: number, wireEnd: number, s: Stack, csumOut: Int8Array, slot: number, mtu = 0xffff): Status {
  if (o + 20 > end) return o + 20 > wireEnd ? Status.IPV4_TOO_SHORT : Status.TRUNCATED;
  if (b[o] >> 4 !== 4) return Status.IPV4_VERSION_MISMATCH;
  const ihl = (b[o] & 0x0f) << 2; // IHL counts 32-bit words, RFC 791 §3.1
  if (ihl < 20) return Status.IPV4_IHL_TOO_SMALL;
  if (o + ihl > end) return o + ihl > wireEnd ? Status.IPV4_TOO_SHORT : Status.TRUNCATED;
  // Total length 0 on a datagram longer than the MTU: a segment the sending host handed to TSO
  // (captured before the NIC cut it and wrote the lengths; tcpdump's "presumed TSO"), or Linux
  // BIG TCP (net/ipv4: tot_len is 0 above 64 KiB). The frame's own length is the datagram's. A
  // datagram no longer than the MTU with length 0 is a lie. mtu: 0xffff where unknown.
  const presumed = b[o + 2] === 0 && b[o + 3] === 0 && wireEnd - o > (mtu < 0xffff ? mtu : 0xffff);
  const total = presumed ? wireEnd - o : (b[o + 2] << 8) | b[o + 3];
  s.tso = presumed;
  if (total < ihl) return Status.IPV4_TOTAL_LENGTH_TOO_SHORT;
  // The total length trims Ethernet padding; past the frame's wire length it is a lie.
  if (o + total > wireEnd) return Status.IPV4_TOTAL_LENGTH_EXCEEDS_FRAME;

  // Header checksum: the sum over the header, field included, folds to 0xffff. Never offloaded
  // partially (the stack always fills it), so OK or BAD only.
  csumOut[slot] = fold(sum16(b, o, o + ihl)) === 0xffff ? Csum.OK : Csum.BAD;

  const fragWord = (b[o + 6] << 8) | b[o + 7];
  const fragOffset = fragWord & 0x1fff; // in 8-byte units
  const moreFragments = fragWord & 0x2000; // MF flag, RFC 791 §3.1
  s.ipVersion = 4;
  s.ipOffset = o;
  s.ipEnd = o + total;
  s.proto = b[o + 9];
  s.srcOffset = o + 12;
  s.dstOffset = o + 16;
  s.fragment = fragOffset !== 0 ? FRAG_LATER : moreFragments !== 0 ? FRAG_FIRST : FRAG_NONE;
  s.l4Offset = o + ihl;
  return Status.OK;
}
