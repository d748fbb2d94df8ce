// Named decode outcomes. A decoder returns one of these and never throws.
//
// TRUNCATED means the capture cut the packet (snaplen): the bytes existed on the wire but were not
// recorded. Every other non-OK status means the packet itself lies (a length field that points past
// what was sent, a header too short to be legal): it is malformed and is counted by its name.

export enum Status {
  OK = 0,
  /** Not something csumwatch decodes (ARP, LLDP, a non-IP protocol): counted, not malformed. */
  NOT_IP,
  /** The capture stopped before the end of a header or of a checksummed range. */
  TRUNCATED,

  LINK_TYPE_UNSUPPORTED,
  ETHERNET_TOO_SHORT,
  VLAN_TOO_MANY_TAGS,
  SLL_TOO_SHORT,

  IPV4_TOO_SHORT,
  IPV4_VERSION_MISMATCH,
  IPV4_IHL_TOO_SMALL,
  IPV4_TOTAL_LENGTH_TOO_SHORT,
  IPV4_TOTAL_LENGTH_EXCEEDS_FRAME,

  IPV6_TOO_SHORT,
  IPV6_VERSION_MISMATCH,
  IPV6_PAYLOAD_LENGTH_EXCEEDS_FRAME,
  IPV6_EXT_HEADER_OVERRUN,
  IPV6_TOO_MANY_EXT_HEADERS,
  IPV6_ROUTING_HEADER_INVALID,

  UDP_HEADER_OVERRUN,
  UDP_LENGTH_TOO_SHORT,
  UDP_LENGTH_EXCEEDS_IP,
  TCP_HEADER_OVERRUN,
  TCP_DATA_OFFSET_TOO_SMALL,

  VXLAN_HEADER_OVERRUN,
  VXLAN_I_FLAG_CLEAR,

  DNS_HEADER_OVERRUN,
  DNS_NAME_OVERRUN,
  DNS_NAME_TOO_LONG,
  DNS_LABEL_TYPE_RESERVED,
  DNS_POINTER_FORWARD,
  DNS_POINTER_HOPS_EXCEEDED,
  DNS_QUESTION_OVERRUN,

  // Added after the DNS reasons so that earlier values keep their numbers.
  GENEVE_HEADER_OVERRUN,
  /** Ver is not 0, the only version RFC 8926 §3.4 defines: the rest cannot be read. */
  GENEVE_VERSION_UNKNOWN,
  /** Opt Len points past the UDP datagram. */
  GENEVE_OPTIONS_OVERRUN,
  /** An option's Length runs past the options Opt Len declares. */
  GENEVE_OPTION_OVERRUN,
}

/** Number of Status values, for sizing per-status counter arrays. */
export const STATUS_COUNT = Status.GENEVE_OPTION_OVERRUN + 1;

/** True for statuses that mean the packet lies (not a short capture, not merely unsupported). */
export function isMalformed(s: Status): boolean {
  return s !== Status.OK && s !== Status.NOT_IP && s !== Status.TRUNCATED;
}

/** Lower-case reason label for logs and metrics, e.g. "udp_length_too_short". */
export function statusName(s: Status): string {
  const n = Status[s];
  return n === undefined ? `unknown_${s}` : n.toLowerCase();
}
