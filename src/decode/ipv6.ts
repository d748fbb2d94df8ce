// IPv6 header, RFC 8200 §3, and the extension headers that can precede a transport header.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Version| Traffic Class |           Flow Label                  |
//   |         Payload Length        |  Next Header  |   Hop Limit   |
//   |                 Source Address (128 bits)                     |
//   |              Destination Address (128 bits)                   |

import { FRAG_FIRST, FRAG_LATER, Stack } from './frame';
import { Status } from './status';

const NH_HOP_BY_HOP = 0;
const NH_ROUTING = 43;
const NH_FRAGMENT = 44;
const NH_AH = 51;
const NH_DEST_OPTS = 60;
const MAX_EXT_HEADERS = 8;

/**
 * Decodes the IPv6 header at o and walks hop-by-hop, routing, fragment, destination-options and AH
 * headers. On OK, proto is the upper-layer protocol and l4Offset where it starts. The pseudo-header
 * destination is the final one: the last routing hop when segments are left (RFC 8200 §8.1).
 */
export function decodeIPv6(b: Uint8Array, o: number, end: number, wireEnd: number, s: Stack): Status {
  if (o + 40 > end) return o + 40 > wireEnd ? Status.IPV6_TOO_SHORT : Status.TRUNCATED;
  if (b[o] >> 4 !== 6) return Status.IPV6_VERSION_MISMATCH;
  const payload = (b[o + 4] << 8) | b[o + 5];
  // Payload length 0 on a frame too large for 16 bits: Linux BIG TCP (or a jumbogram, RFC 2675)
  // as captured on the sending host; the frame's own length is the datagram's.
  const dEnd = payload === 0 && wireEnd - o - 40 > 0xffff ? wireEnd : o + 40 + payload;
  if (dEnd > wireEnd) return Status.IPV6_PAYLOAD_LENGTH_EXCEEDS_FRAME;
  s.ipVersion = 6;
  s.ipOffset = o;
  s.ipEnd = dEnd;
  s.srcOffset = o + 8;
  s.dstOffset = o + 24;

  let nh = b[o + 6];
  let p = o + 40;
  for (let n = 0; ; n++) {
    if (nh !== NH_HOP_BY_HOP && nh !== NH_ROUTING && nh !== NH_FRAGMENT && nh !== NH_DEST_OPTS && nh !== NH_AH) break;
    if (n === MAX_EXT_HEADERS) return Status.IPV6_TOO_MANY_EXT_HEADERS;
    if (p + 8 > dEnd) return Status.IPV6_EXT_HEADER_OVERRUN;
    if (p + 8 > end) return Status.TRUNCATED;
    // Hdr Ext Len counts 8-octet units beyond the first (RFC 8200 §4.3); AH counts 4-octet
    // units minus 2 (RFC 4302 §2.2); the fragment header is always 8 octets (RFC 8200 §4.5).
    const len = nh === NH_FRAGMENT ? 8 : nh === NH_AH ? (b[p + 1] + 2) << 2 : (b[p + 1] + 1) << 3;
    if (p + len > dEnd) return Status.IPV6_EXT_HEADER_OVERRUN;
    if (p + len > end) return Status.TRUNCATED;
    if (nh === NH_FRAGMENT) {
      const offWord = (b[p + 2] << 8) | b[p + 3];
      // Fragment Offset (13 bits) then 2 reserved bits and the M flag, RFC 8200 §4.5.
      s.fragment = offWord >> 3 !== 0 ? FRAG_LATER : (offWord & 1) !== 0 ? FRAG_FIRST : s.fragment;
    } else if (nh === NH_ROUTING && b[p + 3] !== 0) {
      const st = finalDestination(b, p, len, s);
      if (st !== Status.OK) return st;
    }
    nh = b[p];
    p += len;
  }
  s.proto = nh;
  s.l4Offset = p;
  return Status.OK;
}

/** Routing header with Segments Left > 0: the pseudo-header uses the final destination. */
function finalDestination(b: Uint8Array, p: number, len: number, s: Stack): Status {
  const type = b[p + 2];
  if (type === 0 || type === 2) {
    // Type 0 (RFC 2460, deprecated) and type 2 (RFC 6275): addresses from p + 8, the last is final.
    const n = (len - 8) >> 4;
    if (n < 1) return Status.IPV6_ROUTING_HEADER_INVALID;
    s.dstOffset = p + 8 + ((n - 1) << 4);
  } else if (type === 4) {
    // Segment routing header (RFC 8754 §2): Segment List[0] is the final segment.
    if (len < 24) return Status.IPV6_ROUTING_HEADER_INVALID;
    s.dstOffset = p + 8;
  } else {
    // Other types (RPL, RFC 6554, keeps its addresses compressed against the header's): the final
    // destination is not one run of 16 bytes here, so the transport checksum is not verified.
    s.dstOffset = -1;
  }
  return Status.OK;
}
