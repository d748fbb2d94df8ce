// Link layers: Ethernet II with 802.1Q/802.1ad tags, Linux cooked capture v1 and v2, BSD loopback.
// Each returns the network-layer offset through the view and the EtherType as its result, or a
// negative Status. Direction from cooked captures is written to the frame.

import { DIR_RX, DIR_TX, Frame } from './frame';
import { Status } from './status';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100; // IEEE 802.1Q
const ETHERTYPE_QINQ = 0x88a8; // IEEE 802.1ad
const ETHERTYPE_QINQ_OLD = 0x9100; // pre-standard double tagging
const MAX_VLAN_TAGS = 4;

/** Where the network layer starts; set by the link decoders. */
export class LinkView {
  l3Offset = 0;
  ethertype = 0;
  tags = 0;
}

/** Skips 802.1Q/802.1ad tags starting at o (the EtherType position). Returns a Status. */
function skipTags(b: Uint8Array, o: number, end: number, wireEnd: number, v: LinkView): Status {
  let type = (b[o] << 8) | b[o + 1];
  let tags = 0;
  o += 2;
  while (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD) {
    if (++tags > MAX_VLAN_TAGS) return Status.VLAN_TOO_MANY_TAGS;
    // TCI (2 bytes) then the next EtherType (2 bytes), IEEE 802.1Q §9.6.
    if (o + 4 > end) return o + 4 > wireEnd ? Status.ETHERNET_TOO_SHORT : Status.TRUNCATED;
    type = (b[o + 2] << 8) | b[o + 3];
    o += 4;
  }
  v.l3Offset = o;
  v.ethertype = type;
  v.tags = tags;
  return Status.OK;
}

/**
 * Ethernet II: destination(6) source(6) EtherType(2), then optional tags.
 * A value below 0x0600 is an 802.3 length (LLC frame), not an EtherType: not IP.
 */
export function decodeEthernet(b: Uint8Array, o: number, end: number, wireEnd: number, v: LinkView): Status {
  if (o + 14 > end) return o + 14 > wireEnd ? Status.ETHERNET_TOO_SHORT : Status.TRUNCATED;
  return skipTags(b, o + 12, end, wireEnd, v);
}

// Linux packet types (include/uapi/linux/if_packet.h).
const PACKET_OUTGOING = 4;

function cookedDirection(pkttype: number, f: Frame): void {
  f.dir = pkttype === PACKET_OUTGOING ? DIR_TX : pkttype <= 3 ? DIR_RX : f.dir;
}

/**
 * Linux cooked v1 (LINKTYPE_LINUX_SLL): packet type(2) ARPHRD(2) address length(2) address(8)
 * protocol(2). The protocol is an EtherType for the link types we care about.
 */
export function decodeSll(b: Uint8Array, o: number, end: number, wireEnd: number, v: LinkView, f: Frame): Status {
  if (o + 16 > end) return o + 16 > wireEnd ? Status.SLL_TOO_SHORT : Status.TRUNCATED;
  cookedDirection((b[o] << 8) | b[o + 1], f);
  return skipTags(b, o + 14, end, wireEnd, v);
}

/**
 * Linux cooked v2 (LINKTYPE_LINUX_SLL2): protocol(2) reserved(2) ifindex(4) ARPHRD(2)
 * packet type(1) address length(1) address(8).
 */
export function decodeSll2(b: Uint8Array, o: number, end: number, wireEnd: number, v: LinkView, f: Frame): Status {
  if (o + 20 > end) return o + 20 > wireEnd ? Status.SLL_TOO_SHORT : Status.TRUNCATED;
  cookedDirection(b[o + 10], f);
  // The protocol sits at the front; tags, when present, follow the 20-byte header. Re-read the
  // first EtherType from the header, then any tags from the payload.
  const type = (b[o] << 8) | b[o + 1];
  if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD) {
    // Payload starts with a TCI and the inner EtherType: same layout as after an Ethernet tag.
    if (o + 24 > end) return o + 24 > wireEnd ? Status.SLL_TOO_SHORT : Status.TRUNCATED;
    const st = skipTags(b, o + 22, end, wireEnd, v);
    v.tags++;
    return st;
  }
  v.l3Offset = o + 20;
  v.ethertype = type;
  v.tags = 0;
  return Status.OK;
}

/** BSD loopback (LINKTYPE_NULL): a 4-byte address family in the capturing host's byte order. */
export function decodeNull(b: Uint8Array, o: number, end: number, wireEnd: number, v: LinkView): Status {
  if (o + 4 > end) return o + 4 > wireEnd ? Status.ETHERNET_TOO_SHORT : Status.TRUNCATED;
  const le = b[o] | (b[o + 1] << 8);
  const be = (b[o + 2] << 8) | b[o + 3];
  const fam = le !== 0 ? le : be;
  v.l3Offset = o + 4;
  v.tags = 0;
  // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
  v.ethertype = fam === 2 ? ETHERTYPE_IPV4 : fam === 10 || fam === 24 || fam === 28 || fam === 30 ? ETHERTYPE_IPV6 : 0;
  return Status.OK;
}

/** Raw IP: the version nibble says which. */
export function decodeRaw(b: Uint8Array, o: number, end: number, wireEnd: number, v: LinkView): Status {
  if (o + 1 > end) return o + 1 > wireEnd ? Status.IPV4_TOO_SHORT : Status.TRUNCATED;
  const ver = b[o] >> 4;
  v.l3Offset = o;
  v.tags = 0;
  v.ethertype = ver === 4 ? ETHERTYPE_IPV4 : ver === 6 ? ETHERTYPE_IPV6 : 0;
  return Status.OK;
}
