// Views the decoders fill: allocated once, reused for every frame, numbers and offsets only.
// Every field is initialised in the constructor so V8 keeps one hidden class per view.

import { Status } from './status';

/** Packet direction relative to the capturing host. */
export const DIR_UNKNOWN = 0;
export const DIR_RX = 1;
export const DIR_TX = 2;

/** Checksummed layers, in CONTRACT.md order. IPv6 has no header checksum and so no entry. */
export enum Layer {
  IPV4 = 0,
  UDP = 1,
  TCP = 2,
  VXLAN_IPV4 = 3,
  VXLAN_UDP = 4,
  VXLAN_TCP = 5,
  GENEVE_IPV4 = 6,
  GENEVE_UDP = 7,
  GENEVE_TCP = 8,
}
export const LAYER_COUNT = 9;
export const LAYER_NAMES: readonly string[] = ['ipv4', 'udp', 'tcp', 'vxlan.ipv4', 'vxlan.udp', 'vxlan.tcp', 'geneve.ipv4', 'geneve.udp', 'geneve.tcp'];

/** The tunnel a frame arrived in (its outermost), and the metrics' `encap` label values. */
export const ENCAP_NONE = 0;
export const ENCAP_VXLAN = 1;
export const ENCAP_GENEVE = 2;
export const ENCAP_COUNT = 3;
export const ENCAP_NAMES: readonly string[] = ['none', 'vxlan', 'geneve'];
/** The Layer of a tunnel's inner IPv4 header; its UDP and TCP follow (the plain layers shifted). */
export const ENCAP_LAYER_BASE: readonly number[] = [Layer.IPV4, Layer.VXLAN_IPV4, Layer.GENEVE_IPV4];

/** Fragment position of an IP datagram. */
export const FRAG_NONE = 0;
export const FRAG_FIRST = 1;
export const FRAG_LATER = 2;

/** One IP stack with its transport header: the frame's own, or the one inside the tunnel. */
export class Stack {
  /** 0 when no IP header was decoded, else 4 or 6. */
  ipVersion = 0;
  ipOffset = 0;
  /** Declared end of the datagram (IPv4 total length, IPv6 payload length): Ethernet padding trimmed. */
  ipEnd = 0;
  /** Upper-layer protocol after IPv6 extension headers; -1 when none. */
  proto = -1;
  /**
   * Offsets of the source address and of the destination used in the pseudo-header (IPv6: final
   * routing hop; -1 when a routing header hides it, and the transport checksum is unverifiable).
   */
  srcOffset = 0;
  dstOffset = 0;
  fragment = FRAG_NONE;
  /** IPv4 total length 0 past the MTU: a segment handed to TSO on the sending host (see ipv4.ts). */
  tso = false;
  /** Transport header offset, or -1 when none was decoded. */
  l4Offset = -1;
  /** Declared end of the transport segment (UDP length; TCP: end of datagram). */
  l4End = 0;
  srcPort = 0;
  dstPort = 0;
  /** The transport checksum field as found on the wire. */
  l4Field = 0;
  /** Offset of that field in the buffer. */
  l4FieldOffset = 0;
  /** Folded sum over pseudo-header and segment, checksum field included (valid when verified). */
  l4Sum = 0;

  /** Takes every field of o. */
  copyFrom(o: Stack): void {
    this.ipVersion = o.ipVersion;
    this.ipOffset = o.ipOffset;
    this.ipEnd = o.ipEnd;
    this.proto = o.proto;
    this.srcOffset = o.srcOffset;
    this.dstOffset = o.dstOffset;
    this.fragment = o.fragment;
    this.tso = o.tso;
    this.l4Offset = o.l4Offset;
    this.l4End = o.l4End;
    this.srcPort = o.srcPort;
    this.dstPort = o.dstPort;
    this.l4Field = o.l4Field;
    this.l4FieldOffset = o.l4FieldOffset;
    this.l4Sum = o.l4Sum;
  }

  reset(): void {
    this.ipVersion = 0;
    this.ipOffset = 0;
    this.ipEnd = 0;
    this.proto = -1;
    this.srcOffset = 0;
    this.dstOffset = 0;
    this.fragment = FRAG_NONE;
    this.tso = false;
    this.l4Offset = -1;
    this.l4End = 0;
    this.srcPort = 0;
    this.dstPort = 0;
    this.l4Field = 0;
    this.l4FieldOffset = 0;
    this.l4Sum = 0;
  }
}

/** DNS header and first question (RFC 1035 §4.1). */
export class DnsView {
  /** A DNS header was decoded. */
  present = false;
  /** The question was decoded too, so the message can be keyed into a transaction. */
  keyed = false;
  /** The DNS message was found inside a tunnel (VXLAN or Geneve). */
  inner = false;
  msgOffset = 0;
  id = 0;
  qr = 0;
  opcode = 0;
  rcode = 0;
  tc = 0;
  qdcount = 0;
  /** Offset of the question name (compressed form, walk with copyName), or -1 without a question. */
  nameOffset = -1;
  /** Uncompressed wire length of the name (with length octets and the root), 0 without a question. */
  nameLength = 0;
  /** Two independent 32-bit hashes of the lower-cased name. */
  nameHash1 = 0;
  nameHash2 = 0;
  qtype = 0;
  qclass = 0;
  /**
   * DNS over TCP: where the next message's length prefix starts in the same segment (pipelined
   * queries, RFC 7766 §6.2.1.1), or -1; tcpEnd is where the segment's captured data ends.
   * nextTcpMessage() (dns.ts) decodes it into this view.
   */
  tcpNext = -1;
  tcpEnd = 0;
  /**
   * DNS over TCP, any segment (a handshake or an ACK too: then the payload is empty): where the
   * payload starts and where its captured part ends, the segment's sequence number and flags, and
   * whether the capture holds all of it (not cut by the snap length). -1: not DNS over TCP. The correlator reads the stream
   * from these (src/correlate/tcptails.ts); the view's own fields are the segment's first
   * message, when it starts with one that decodes.
   */
  tcpPayload = -1;
  tcpPayloadEnd = 0;
  tcpSeq = 0;
  /** The TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, ...). */
  tcpFlags = 0;
  tcpWhole = false;

  reset(): void {
    this.tcpNext = -1;
    this.tcpEnd = 0;
    this.tcpPayload = -1;
    this.tcpPayloadEnd = 0;
    this.tcpSeq = 0;
    this.tcpFlags = 0;
    this.tcpWhole = false;
    this.present = false;
    this.keyed = false;
    this.inner = false;
    this.msgOffset = 0;
    this.id = 0;
    this.qr = 0;
    this.opcode = 0;
    this.rcode = 0;
    this.tc = 0;
    this.qdcount = 0;
    this.nameOffset = -1;
    this.nameLength = 0;
    this.nameHash1 = 0;
    this.nameHash2 = 0;
    this.qtype = 0;
    this.qclass = 0;
  }
}

/** Everything decoded from one captured frame. */
export class Frame {
  /** The first problem met, or OK. Checksums decoded before it stay recorded. */
  status = Status.OK;
  /** The status arose inside the tunnel's payload (VXLAN or Geneve: see encap). */
  statusInner = false;
  dir = DIR_UNKNOWN;
  vlanTags = 0;
  outer = new Stack();
  /** The outermost tunnel (ENCAP_*): inner holds the stack it carries. */
  encap = ENCAP_NONE;
  /** True when the frame is VXLAN (encap === ENCAP_VXLAN). */
  vxlan = false;
  /** The VNI of the outermost tunnel (VXLAN or Geneve: both 24 bits). */
  vni = 0;
  /** Geneve: the O and C bits as on the wire (GENEVE_FLAG_O, GENEVE_FLAG_C), else 0. */
  geneveFlags = 0;
  /** Geneve: the options' length in bytes (Opt Len × 4), else 0. */
  geneveOptLen = 0;
  innerVlanTags = 0;
  inner = new Stack();
  /** Checksum result per Layer (a Csum value), -1 where the layer is absent or not verified. */
  readonly csum = new Int8Array(LAYER_COUNT);
  /** Bit per Layer: BAD because an inbound field held only the pseudo-header sum (offload never completed). */
  pseudoOnlyBad = 0;
  /**
   * The frame's checksums may legitimately hold only the pseudo-header sum, whatever its
   * direction: the kernel marked it checksum-not-ready (sent with offload pending, or merged by
   * GRO on receive), or, with no word from the kernel, it was received longer than the interface's
   * MTU, which only a GRO-merged packet is. Such fields are `partial`, never `bad`.
   */
  offloadPending = false;
  readonly dns = new DnsView();

  constructor() {
    this.csum.fill(-1);
  }

  reset(dir: number): void {
    this.status = Status.OK;
    this.statusInner = false;
    this.dir = dir;
    this.vlanTags = 0;
    this.outer.reset();
    this.encap = ENCAP_NONE;
    this.vxlan = false;
    this.vni = 0;
    this.geneveFlags = 0;
    this.geneveOptLen = 0;
    this.innerVlanTags = 0;
    this.inner.reset();
    // One store per Layer, not fill(): the builtin call costs more than the nine stores.
    const c = this.csum;
    c[0] = -1;
    c[1] = -1;
    c[2] = -1;
    c[3] = -1;
    c[4] = -1;
    c[5] = -1;
    c[6] = -1;
    c[7] = -1;
    c[8] = -1;
    this.pseudoOnlyBad = 0;
    this.offloadPending = false;
    this.dns.reset();
  }

  /** Bit per Layer whose checksum is BAD. */
  badMask(): number {
    let m = 0;
    for (let i = 0; i < LAYER_COUNT; i++) if (this.csum[i] === 1) m |= 1 << i;
    return m;
  }
}
