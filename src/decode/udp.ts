// UDP header, RFC 768.
//
//    0      7 8     15 16    23 24    31
//   +--------+--------+--------+--------+
//   |     Source      |   Destination   |
//   |      Port       |      Port       |
//   |     Length      |    Checksum     |

import { Stack } from './frame';
import { Status } from './status';

/**
 * Decodes the UDP header at s.l4Offset. dEnd is the end of the IP datagram, capEnd of the captured
 * bytes. A first fragment carries only part of the datagram, so its length may exceed dEnd.
 */
export function decodeUdp(b: Uint8Array, capEnd: number, dEnd: number, s: Stack, firstFragment: boolean): Status {
  const o = s.l4Offset;
  if (o + 8 > dEnd) return Status.UDP_HEADER_OVERRUN;
  if (o + 8 > capEnd) return Status.TRUNCATED;
  // Length 0 on a datagram too long for 16 bits: BIG TCP over a UDP tunnel as the sender captures
  // it (the jumbogram rule of RFC 2675 §4): the UDP datagram runs to the end of the IP one.
  const len = b[o + 4] === 0 && b[o + 5] === 0 && dEnd - o > 0xffff ? dEnd - o : (b[o + 4] << 8) | b[o + 5];
  if (len < 8) return Status.UDP_LENGTH_TOO_SHORT;
  if (!firstFragment && o + len > dEnd) return Status.UDP_LENGTH_EXCEEDS_IP;
  s.srcPort = (b[o] << 8) | b[o + 1];
  s.dstPort = (b[o + 2] << 8) | b[o + 3];
  s.l4End = o + len;
  s.l4FieldOffset = o + 6;
  s.l4Field = (b[o + 6] << 8) | b[o + 7];
  return Status.OK;
}
