// VXLAN header, RFC 7348 §5.
//
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |R|R|R|R|I|R|R|R|            Reserved                           |
//   |                VXLAN Network Identifier (VNI) |   Reserved    |
//
// Followed by the inner Ethernet frame (without FCS).

import { ENCAP_VXLAN, Frame } from './frame';
import { Status } from './status';

export const VXLAN_HEADER_LEN = 8;
const FLAG_I = 0x08; // I flag: the VNI is valid and MUST be set, RFC 7348 §5

/**
 * Decodes the VXLAN header at o; the inner Ethernet frame starts at o + 8. f: the frame to mark
 * as VXLAN with its VNI, or null for a tunnel inside the tunnel (only checked: the frame's VNI is
 * the outer tunnel's).
 */
export function decodeVxlan(b: Uint8Array, o: number, capEnd: number, dEnd: number, f: Frame | null): Status {
  if (o + VXLAN_HEADER_LEN > dEnd) return Status.VXLAN_HEADER_OVERRUN;
  if (o + VXLAN_HEADER_LEN > capEnd) return Status.TRUNCATED;
  if ((b[o] & FLAG_I) === 0) return Status.VXLAN_I_FLAG_CLEAR;
  if (f === null) return Status.OK;
  f.vxlan = true;
  f.encap = ENCAP_VXLAN;
  f.vni = (b[o + 4] << 16) | (b[o + 5] << 8) | b[o + 6];
  return Status.OK;
}
