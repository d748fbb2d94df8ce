// TCP header, RFC 9293 §3.1: decoded only as far as its checksum needs.
//
//   |          Source Port          |       Destination Port        |
//   |                        Sequence Number                        |
//   |                    Acknowledgment Number                      |
//   |  Data |       |C|E|U|A|P|R|S|F|                               |
//   | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//   |           Checksum            |         Urgent Pointer        |

import { Stack } from './frame';
import { Status } from './status';

/** Decodes the TCP header at s.l4Offset; the segment runs to the end of the datagram. */
export function decodeTcp(b: Uint8Array, capEnd: number, dEnd: number, s: Stack): Status {
  const o = s.l4Offset;
  if (o + 20 > dEnd) return Status.TCP_HEADER_OVERRUN;
  if (o + 20 > capEnd) return Status.TRUNCATED;
  const dataOffset = (b[o + 12] >> 4) << 2; // in 32-bit words
  if (dataOffset < 20) return Status.TCP_DATA_OFFSET_TOO_SMALL;
  if (o + dataOffset > dEnd) return Status.TCP_HEADER_OVERRUN;
  s.srcPort = (b[o] << 8) | b[o + 1];
  s.dstPort = (b[o + 2] << 8) | b[o + 3];
  s.l4End = dEnd;
  s.l4FieldOffset = o + 16;
  s.l4Field = (b[o + 16] << 8) | b[o + 17];
  return Status.OK;
}
