// A packet builder for the decoder tests, written independently of src/: its checksum arithmetic
// is a plain byte-pair loop over concatenated pseudo-header and segment, so a test that builds a
// packet here and verifies it with src/decode is not checking the decoder against itself.
// Not for the hot path: it allocates freely.
//
// Layouts: Ethernet II and IEEE 802.1Q/802.1ad tags; Linux cooked capture v1 and v2 (libpcap
// LINKTYPE_LINUX_SLL / LINKTYPE_LINUX_SLL2); IPv4 (RFC 791); IPv6 and its extension headers
// (RFC 8200, RFC 6275 type 2, RFC 6554 type 3, RFC 8754 type 4); UDP (RFC 768); TCP (RFC 9293);
// VXLAN (RFC 7348); DNS through the dns-packet library.

import * as dnsPacket from 'dns-packet';

// ---------------------------------------------------------------------------------------------
// Checksum arithmetic (RFC 1071), plainly.

/** Ones'-complement sum of the bytes as big-endian 16-bit words, folded to 16 bits. */
export function onesSum(bytes: Uint8Array): number {
  let total = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    const hi = bytes[i];
    const lo = i + 1 < bytes.length ? bytes[i + 1] : 0;
    total += hi * 256 + lo;
    while (total > 0xffff) total = (total & 0xffff) + Math.floor(total / 0x10000);
  }
  return total;
}

/** The Internet checksum over the concatenation of parts: the complement of their sum. */
export function internetChecksum(...parts: Uint8Array[]): number {
  return ~onesSum(Buffer.concat(parts)) & 0xffff;
}

// ---------------------------------------------------------------------------------------------
// Addresses.

export function ip4Bytes(a: string): Buffer {
  const parts = a.split('.').map((p) => Number(p));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 address ${a}`);
  return Buffer.from(parts);
}

export function ip6Bytes(a: string): Buffer {
  const out = Buffer.alloc(16);
  const halves = a.split('::');
  if (halves.length > 2) throw new Error(`bad IPv6 address ${a}`);
  const words = (s: string): number[] => (s === '' ? [] : s.split(':').map((w) => parseInt(w, 16)));
  const head = words(halves[0]);
  const tail = halves.length === 2 ? words(halves[1]) : [];
  if (halves.length === 1 && head.length !== 8) throw new Error(`bad IPv6 address ${a}`);
  const all = halves.length === 2 ? [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail] : head;
  if (all.length !== 8 || all.some((w) => !(w >= 0 && w <= 0xffff))) throw new Error(`bad IPv6 address ${a}`);
  all.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Specifications.

/**
 * How a checksum field is filled:
 *  - 'correct': the right value (for UDP a computed 0 is sent as 0xffff, RFC 768);
 *  - 'zero': 0;
 *  - 'pseudo': the folded pseudo-header sum, not complemented, as Linux leaves the field under
 *    CHECKSUM_PARTIAL (transmit offload not done yet);
 *  - 'flip': the right value with one bit flipped;
 *  - 'lco': outer UDP of a tunnel only: computed as if every 'pseudo' checksum inside had been
 *    completed (Linux local checksum offload);
 *  - a number: that exact field value.
 */
export type CsumMode = 'correct' | 'zero' | 'pseudo' | 'flip' | 'lco' | number;
export type IpCsumMode = 'correct' | 'zero' | 'flip' | number;

export interface Ip4Spec {
  v: 4;
  src: string;
  dst: string;
  ttl?: number;
  tos?: number;
  id?: number;
  df?: boolean;
  /** More Fragments flag. */
  mf?: boolean;
  /** Fragment offset in 8-octet units. */
  fragOffset?: number;
  /** Raw option bytes, padded here to a multiple of 4 with End of Option List (0). */
  options?: number[];
  csum?: IpCsumMode;
  /** Override the Total Length field (default: header + payload as built). */
  totalLength?: number;
  /** Override the IHL field in 32-bit words (default: from the options). */
  ihl?: number;
  /** Override the protocol field. */
  proto?: number;
}

export type Ext6 =
  | { kind: 'hbh'; options?: number[] }
  | { kind: 'dst'; options?: number[] }
  /** Routing header. Types 0, 2, 3 (uncompressed, CmprI = CmprE = 0) carry addresses in order,
   *  the last being the final destination; type 4 (SRH) carries the segment list, list[0] final. */
  | { kind: 'routing'; routingType: number; segmentsLeft: number; addresses: string[] }
  | { kind: 'fragment'; offset: number; more: boolean; id?: number }
  | { kind: 'raw'; nh: number; bytes: number[] };

export interface Ip6Spec {
  v: 6;
  src: string;
  dst: string;
  hopLimit?: number;
  flowLabel?: number;
  ext?: Ext6[];
  /** Override the Payload Length field. */
  payloadLength?: number;
}

export type IpSpec = Ip4Spec | Ip6Spec;

export interface VxlanSpec {
  vni: number;
  /** The flags byte; default 0x08 (I flag, RFC 7348 §5). */
  flags?: number;
  inner: FrameSpec;
}

/** One Geneve option, RFC 8926 §3.5: data padded here to a multiple of 4. */
export interface GeneveOption {
  cls: number;
  /** Type; its high bit is the critical bit. */
  type: number;
  data?: number[];
  /** Override the 5-bit Length (4-byte words of data). */
  length?: number;
}

export interface GeneveSpec {
  vni: number;
  /** Byte 1: O (0x80) and C (0x40) bits and reserved; default 0, or 0x40 when an option is critical. */
  flags?: number;
  /** Ver (2 bits); default 0. */
  version?: number;
  options?: GeneveOption[];
  /** Override Opt Len (6 bits, 4-byte words). */
  optLen?: number;
  /** Protocol type; default 0x6558 (Ethernet) or, for a raw inner frame, its IP ethertype. */
  protocol?: number;
  /** The frame carried: link 'eth' (protocol 0x6558) or 'raw' (an IP packet). */
  inner: FrameSpec;
  /** Bytes carried instead of inner (a non-IP payload). */
  payload?: Uint8Array;
}

export interface UdpSpec {
  kind: 'udp';
  sport: number;
  dport: number;
  csum?: CsumMode;
  /** Override the Length field. */
  length?: number;
  payload?: Uint8Array;
  dns?: dnsPacket.Packet;
  vxlan?: VxlanSpec;
  geneve?: GeneveSpec;
}

export interface TcpSpec {
  kind: 'tcp';
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** Flag bits of byte 13 (default 0x18, PSH|ACK). */
  flags?: number;
  window?: number;
  /** Option bytes, padded here to a multiple of 4 with End of Option List (0). */
  options?: number[];
  /** Override the data offset, in 32-bit words. */
  dataOffset?: number;
  csum?: CsumMode;
  payload?: Uint8Array;
}

export type L4Spec = UdpSpec | TcpSpec;

export interface Vlan {
  /** 0x8100 (802.1Q), 0x88a8 (802.1ad), 0x9100 (old QinQ). */
  tpid: number;
  vid: number;
  pcp?: number;
}

export type LinkSpec =
  | { kind: 'eth'; vlans?: Vlan[]; src?: number[]; dst?: number[]; pad?: { to: number; byte: number } }
  | { kind: 'sll'; pktType: number }
  | { kind: 'sll2'; pktType: number; ifindex?: number }
  | { kind: 'raw' };

export interface FrameSpec {
  link?: LinkSpec;
  ip: IpSpec;
  l4: L4Spec;
  /** Bytes the IP datagram carries instead of the whole L4 segment: [start, end) within the
   *  segment, for fragments (the checksum still covers the whole segment). */
  l4Slice?: [number, number];
}

/** Where the layers landed in a built frame (absolute offsets; -1 when absent). */
export interface Marks {
  ip: number;
  ipHeaderLen: number;
  l4: number;
  /** Offset of the L4 checksum field in the frame. */
  l4Field: number;
  /** The values involved in the L4 checksum: the field as written, the right value, and the
   *  folded pseudo-header sum. */
  field: number;
  correct: number;
  pseudo: number;
  vxlan: number;
  /** Offset of the Geneve header, and its length with options. */
  geneve: number;
  geneveLen: number;
  dns: number;
  inner: Marks | null;
}

export interface Built {
  bytes: Buffer;
  marks: Marks;
}

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

// ---------------------------------------------------------------------------------------------
// Link layers.

const MAC_A = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a];
const MAC_B = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b];

export function ethernet(payload: Uint8Array, ethertype: number, o: { vlans?: Vlan[]; src?: number[]; dst?: number[]; pad?: { to: number; byte: number } } = {}): Buffer {
  const parts: Buffer[] = [Buffer.from(o.dst ?? MAC_B), Buffer.from(o.src ?? MAC_A)];
  for (const v of o.vlans ?? []) {
    const tag = Buffer.alloc(4);
    tag.writeUInt16BE(v.tpid, 0);
    tag.writeUInt16BE((((v.pcp ?? 0) & 7) << 13) | (v.vid & 0x0fff), 2);
    parts.push(tag);
  }
  const et = Buffer.alloc(2);
  et.writeUInt16BE(ethertype, 0);
  parts.push(et, Buffer.from(payload));
  let frame = Buffer.concat(parts);
  if (o.pad && frame.length < o.pad.to) frame = Buffer.concat([frame, Buffer.alloc(o.pad.to - frame.length, o.pad.byte)]);
  return frame;
}

/** Linux cooked v1: packet type, ARPHRD_ETHER, address length 6, address (8), protocol. */
export function sll(payload: Uint8Array, protocol: number, pktType: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(pktType, 0);
  h.writeUInt16BE(1, 2);
  h.writeUInt16BE(6, 4);
  Buffer.from(MAC_A).copy(h, 6);
  h.writeUInt16BE(protocol, 14);
  return Buffer.concat([h, Buffer.from(payload)]);
}

/** Linux cooked v2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length, address (8). */
export function sll2(payload: Uint8Array, protocol: number, pktType: number, ifindex = 2): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(protocol, 0);
  h.writeUInt32BE(ifindex, 4);
  h.writeUInt16BE(1, 8);
  h[10] = pktType;
  h[11] = 6;
  Buffer.from(MAC_A).copy(h, 12);
  return Buffer.concat([h, Buffer.from(payload)]);
}

// ---------------------------------------------------------------------------------------------
// IP.

function pad4(bytes: number[]): number[] {
  const out = bytes.slice();
  while (out.length % 4 !== 0) out.push(0);
  return out;
}

export function ipv4Header(ip: Ip4Spec, proto: number, payloadLen: number): Buffer {
  const opts = pad4(ip.options ?? []);
  const hl = 20 + opts.length;
  const h = Buffer.alloc(hl);
  h[0] = 0x40 | ((ip.ihl ?? hl / 4) & 0x0f);
  h[1] = ip.tos ?? 0;
  h.writeUInt16BE(ip.totalLength ?? hl + payloadLen, 2);
  h.writeUInt16BE(ip.id ?? 0x1c46, 4);
  h.writeUInt16BE((ip.df ? 0x4000 : 0) | (ip.mf ? 0x2000 : 0) | ((ip.fragOffset ?? 0) & 0x1fff), 6);
  h[8] = ip.ttl ?? 64;
  h[9] = ip.proto ?? proto;
  ip4Bytes(ip.src).copy(h, 12);
  ip4Bytes(ip.dst).copy(h, 16);
  Buffer.from(opts).copy(h, 20);
  const right = internetChecksum(h);
  const mode = ip.csum ?? 'correct';
  h.writeUInt16BE(typeof mode === 'number' ? mode : mode === 'zero' ? 0 : mode === 'flip' ? right ^ 0x0001 : right, 10);
  return h;
}

const NH_HBH = 0;
const NH_ROUTING = 43;
const NH_FRAGMENT = 44;
const NH_DST = 60;

function optionsHeader(options: number[] | undefined): number[] {
  // Next header and length come first; the options fill the rest up to a multiple of 8 with Pad1
  // or PadN (RFC 8200 §4.2).
  const body = (options ?? []).slice();
  const need = (8 - ((2 + body.length) % 8)) % 8;
  if (need === 1) body.push(0);
  else if (need >= 2) body.push(1, need - 2, ...new Array<number>(need - 2).fill(0));
  return [0, (2 + body.length) / 8 - 1, ...body];
}

function extBytes(e: Ext6): { nh: number; bytes: number[] } {
  switch (e.kind) {
    case 'hbh': return { nh: NH_HBH, bytes: optionsHeader(e.options) };
    case 'dst': return { nh: NH_DST, bytes: optionsHeader(e.options) };
    case 'routing': {
      const addrs = e.addresses.map((a) => [...ip6Bytes(a)]).flat();
      const n = e.addresses.length;
      // Type 4 (RFC 8754 §2): Last Entry, Flags, Tag; others: 4 type-specific octets (zero, which
      // for type 3 means CmprI = CmprE = 0, Pad = 0: full addresses).
      const fixed = e.routingType === 4 ? [n - 1, 0, 0, 0] : [0, 0, 0, 0];
      return { nh: NH_ROUTING, bytes: [0, n * 2, e.routingType, e.segmentsLeft, ...fixed, ...addrs] };
    }
    case 'fragment': {
      const id = e.id ?? 0x12345678;
      const word = ((e.offset & 0x1fff) << 3) | (e.more ? 1 : 0);
      return { nh: NH_FRAGMENT, bytes: [0, 0, word >> 8, word & 0xff, (id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff] };
    }
    case 'raw': return { nh: e.nh, bytes: e.bytes.slice() };
  }
}

/** The IPv6 extension header chain with next-header values threaded, and the first next header. */
export function ipv6Ext(ext: Ext6[], proto: number): { first: number; bytes: Buffer } {
  const built = ext.map(extBytes);
  for (let i = 0; i < built.length; i++) {
    if (ext[i].kind === 'raw') continue;
    built[i].bytes[0] = i + 1 < built.length ? built[i + 1].nh : proto;
  }
  return { first: built.length > 0 ? built[0].nh : proto, bytes: Buffer.from(built.map((b) => b.bytes).flat()) };
}

export function ipv6Header(ip: Ip6Spec, firstNh: number, payloadLen: number): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE((6 << 28) | ((ip.flowLabel ?? 0x12345) & 0xfffff), 0);
  h.writeUInt16BE(ip.payloadLength ?? payloadLen, 4);
  h[6] = firstNh;
  h[7] = ip.hopLimit ?? 64;
  ip6Bytes(ip.src).copy(h, 8);
  ip6Bytes(ip.dst).copy(h, 24);
  return h;
}

/** The destination the transport pseudo-header uses: the final one when a routing header has segments left. */
export function finalDestination(ip: IpSpec): string {
  if (ip.v === 4) return ip.dst;
  let dst = ip.dst;
  for (const e of ip.ext ?? []) {
    if (e.kind === 'routing' && e.segmentsLeft > 0 && e.addresses.length > 0) {
      dst = e.routingType === 4 ? e.addresses[0] : e.addresses[e.addresses.length - 1];
    }
  }
  return dst;
}

/** The pseudo-header bytes (RFC 768 / RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6). */
export function pseudoHeader(ip: IpSpec, proto: number, l4Len: number, dstOverride?: string): Buffer {
  const dst = dstOverride ?? finalDestination(ip);
  if (ip.v === 4) {
    // Above 64 KiB (BIG TCP) Linux adds the length as a 32-bit value: both 16-bit halves count.
    const p = Buffer.alloc(l4Len > 0xffff ? 14 : 12);
    ip4Bytes(ip.src).copy(p, 0);
    ip4Bytes(dst).copy(p, 4);
    p[9] = proto;
    p.writeUInt16BE(l4Len & 0xffff, 10);
    if (l4Len > 0xffff) p.writeUInt16BE(l4Len >>> 16, 12);
    return p;
  }
  const p = Buffer.alloc(40);
  ip6Bytes(ip.src).copy(p, 0);
  ip6Bytes(dst).copy(p, 16);
  p.writeUInt32BE(l4Len, 32);
  p[39] = proto;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Transport.

interface Segment {
  bytes: Buffer;
  fieldOffset: number;
  field: number;
  correct: number;
  pseudo: number;
}

/**
 * Fills the checksum field of a segment. sumBytes, when given, is what the checksum is computed
 * over instead of the segment itself (local checksum offload: the segment with inner checksums completed).
 */
function fillChecksum(ip: IpSpec, proto: number, seg: Buffer, fieldOffset: number, mode: CsumMode, sumBytes: Buffer | null, dstOverride?: string): Segment {
  const pseudo = pseudoHeader(ip, proto, seg.length, dstOverride);
  seg.writeUInt16BE(0, fieldOffset);
  let correct = internetChecksum(pseudo, seg);
  if (proto === PROTO_UDP && correct === 0) correct = 0xffff;
  const pseudoFold = onesSum(pseudo);
  let field: number;
  if (typeof mode === 'number') field = mode;
  else if (mode === 'zero') field = 0;
  else if (mode === 'pseudo') field = pseudoFold;
  else if (mode === 'flip') field = correct ^ 0x0001;
  else if (mode === 'lco' && sumBytes) {
    const s = Buffer.from(sumBytes);
    s.writeUInt16BE(0, fieldOffset);
    field = internetChecksum(pseudo, s);
    if (proto === PROTO_UDP && field === 0) field = 0xffff;
  } else field = correct;
  seg.writeUInt16BE(field, fieldOffset);
  return { bytes: seg, fieldOffset, field, correct, pseudo: pseudoFold };
}

export function udpSegment(ip: IpSpec, u: UdpSpec, payload: Uint8Array, lcoPayload: Uint8Array | null = null, dstOverride?: string): Segment {
  const seg = Buffer.alloc(8 + payload.length);
  seg.writeUInt16BE(u.sport, 0);
  seg.writeUInt16BE(u.dport, 2);
  seg.writeUInt16BE(u.length ?? seg.length, 4);
  Buffer.from(payload).copy(seg, 8);
  let sumBytes: Buffer | null = null;
  if (lcoPayload) {
    sumBytes = Buffer.from(seg);
    Buffer.from(lcoPayload).copy(sumBytes, 8);
  }
  return fillChecksum(ip, PROTO_UDP, seg, 6, u.csum ?? 'correct', sumBytes, dstOverride);
}

export function tcpSegment(ip: IpSpec, s: TcpSpec, dstOverride?: string): Segment {
  const opts = pad4(s.options ?? []);
  const payload = s.payload ?? Buffer.alloc(0);
  const seg = Buffer.alloc(20 + opts.length + payload.length);
  seg.writeUInt16BE(s.sport, 0);
  seg.writeUInt16BE(s.dport, 2);
  seg.writeUInt32BE((s.seq ?? 0x01020304) >>> 0, 4);
  seg.writeUInt32BE((s.ack ?? 0) >>> 0, 8);
  seg[12] = ((s.dataOffset ?? (20 + opts.length) / 4) & 0x0f) << 4;
  seg[13] = s.flags ?? 0x18;
  seg.writeUInt16BE(s.window ?? 65535, 14);
  Buffer.from(opts).copy(seg, 20);
  Buffer.from(payload).copy(seg, 20 + opts.length);
  return fillChecksum(ip, PROTO_TCP, seg, 16, s.csum ?? 'correct', null, dstOverride);
}

export function vxlanHeader(vni: number, flags = 0x08): Buffer {
  const h = Buffer.alloc(8);
  h[0] = flags;
  h[4] = (vni >>> 16) & 0xff;
  h[5] = (vni >>> 8) & 0xff;
  h[6] = vni & 0xff;
  return h;
}

/** The Geneve header and options, RFC 8926 §3.4, for a payload of the given protocol type. */
export function geneveHeader(g: GeneveSpec, protocol: number): Buffer {
  const opts = (g.options ?? []).map((o) => {
    const data = Buffer.alloc(Math.ceil((o.data?.length ?? 0) / 4) * 4);
    Buffer.from(o.data ?? []).copy(data);
    const h = Buffer.from([o.cls >> 8, o.cls & 0xff, o.type, (o.length ?? data.length / 4) & 0x1f]);
    return Buffer.concat([h, data]);
  });
  const ob = Buffer.concat(opts);
  const h = Buffer.alloc(8);
  h[0] = ((g.version ?? 0) << 6) | ((g.optLen ?? ob.length / 4) & 0x3f);
  h[1] = g.flags ?? ((g.options ?? []).some((o) => (o.type & 0x80) !== 0) ? 0x40 : 0);
  h[2] = protocol >> 8;
  h[3] = protocol & 0xff;
  h[4] = (g.vni >>> 16) & 0xff;
  h[5] = (g.vni >>> 8) & 0xff;
  h[6] = g.vni & 0xff;
  return Buffer.concat([h, ob]);
}

function geneveProtocol(g: GeneveSpec): number {
  if (g.protocol !== undefined) return g.protocol;
  if (g.inner.link?.kind === 'raw') return g.inner.ip.v === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
  return 0x6558;
}

export function dnsMessage(p: dnsPacket.Packet): Buffer {
  return dnsPacket.encode(p);
}

// ---------------------------------------------------------------------------------------------
// Whole frames.

/** Replaces every 'pseudo' checksum mode with 'correct', recursively: the frame as the NIC would finish it. */
function completed(spec: FrameSpec): FrameSpec {
  const l4 = { ...spec.l4 } as L4Spec;
  if (l4.csum === 'pseudo') l4.csum = 'correct';
  if (l4.kind === 'udp' && l4.vxlan) l4.vxlan = { ...l4.vxlan, inner: completed(l4.vxlan.inner) };
  if (l4.kind === 'udp' && l4.geneve) l4.geneve = { ...l4.geneve, inner: completed(l4.geneve.inner) };
  return { ...spec, l4 };
}

function noMarks(): Marks {
  return { ip: -1, ipHeaderLen: 0, l4: -1, l4Field: -1, field: 0, correct: 0, pseudo: 0, vxlan: -1, geneve: -1, geneveLen: 0, dns: -1, inner: null };
}

function shift(m: Marks, by: number): Marks {
  const s = (x: number): number => (x < 0 ? x : x + by);
  return { ...m, ip: s(m.ip), l4: s(m.l4), l4Field: s(m.l4Field), vxlan: s(m.vxlan), geneve: s(m.geneve), dns: s(m.dns), inner: m.inner ? shift(m.inner, by) : null };
}

/** Builds the IP datagram of a frame spec; marks are relative to its start. */
function datagram(spec: FrameSpec): Built {
  const ip = spec.ip;
  const l4 = spec.l4;
  const marks = noMarks();
  let seg: Segment;
  let payloadOff = -1;
  let inner: Built | null = null;
  if (l4.kind === 'udp') {
    let payload: Uint8Array = l4.payload ?? Buffer.alloc(0);
    let lco: Uint8Array | null = null;
    if (l4.vxlan) {
      inner = build(l4.vxlan.inner);
      payload = Buffer.concat([vxlanHeader(l4.vxlan.vni, l4.vxlan.flags), inner.bytes]);
      if (l4.csum === 'lco') lco = Buffer.concat([vxlanHeader(l4.vxlan.vni, l4.vxlan.flags), build(completed(l4.vxlan.inner)).bytes]);
    } else if (l4.geneve) {
      const g = l4.geneve;
      const gh = geneveHeader(g, geneveProtocol(g));
      inner = g.payload ? null : build(g.inner);
      payload = Buffer.concat([gh, g.payload ?? inner!.bytes]);
      if (l4.csum === 'lco') lco = Buffer.concat([gh, g.payload ?? build(completed(g.inner)).bytes]);
      marks.geneveLen = gh.length;
    } else if (l4.dns) {
      payload = dnsMessage(l4.dns);
    }
    seg = udpSegment(ip, l4, payload, lco);
    payloadOff = 8;
  } else {
    seg = tcpSegment(ip, l4);
  }
  const body = spec.l4Slice ? seg.bytes.subarray(spec.l4Slice[0], spec.l4Slice[1]) : seg.bytes;
  let header: Buffer;
  if (ip.v === 4) {
    header = ipv4Header(ip, l4.kind === 'udp' ? PROTO_UDP : PROTO_TCP, body.length);
  } else {
    const ext = ipv6Ext(ip.ext ?? [], l4.kind === 'udp' ? PROTO_UDP : PROTO_TCP);
    header = Buffer.concat([ipv6Header(ip, ext.first, ext.bytes.length + body.length), ext.bytes]);
  }
  const hl = header.length;
  marks.ip = 0;
  marks.ipHeaderLen = ip.v === 4 ? header.length : 40;
  marks.l4 = hl;
  marks.l4Field = hl + seg.fieldOffset;
  marks.field = seg.field;
  marks.correct = seg.correct;
  marks.pseudo = seg.pseudo;
  if (l4.kind === 'udp' && l4.vxlan && inner) {
    marks.vxlan = hl + payloadOff;
    marks.inner = shift(inner.marks, hl + payloadOff + 8);
  } else if (l4.kind === 'udp' && l4.geneve) {
    marks.geneve = hl + payloadOff;
    marks.inner = inner ? shift(inner.marks, hl + payloadOff + marks.geneveLen) : null;
  } else if (l4.kind === 'udp' && l4.dns) {
    marks.dns = hl + payloadOff;
  }
  return { bytes: Buffer.concat([header, body]), marks };
}

/** Builds a whole frame from its spec: link header, IP, transport, and VXLAN or DNS inside. */
export function build(spec: FrameSpec): Built {
  const d = datagram(spec);
  const ethertype = spec.ip.v === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
  const link = spec.link ?? { kind: 'eth' };
  let bytes: Buffer;
  let at: number;
  switch (link.kind) {
    case 'eth':
      bytes = ethernet(d.bytes, ethertype, link);
      at = 14 + 4 * (link.vlans?.length ?? 0);
      break;
    case 'sll': bytes = sll(d.bytes, ethertype, link.pktType); at = 16; break;
    case 'sll2': bytes = sll2(d.bytes, ethertype, link.pktType, link.ifindex); at = 20; break;
    case 'raw': bytes = Buffer.from(d.bytes); at = 0; break;
  }
  return { bytes, marks: shift(d.marks, at) };
}

// ---------------------------------------------------------------------------------------------
// Convenience builders.

export const V4_CLIENT = '10.0.0.1';
export const V4_SERVER = '10.0.0.53';
export const V6_CLIENT = 'fd00::1';
export const V6_SERVER = 'fd00::53';
export const VTEP4_A = '192.168.1.10';
export const VTEP4_B = '192.168.1.20';
export const VTEP6_A = '2001:db8::a';
export const VTEP6_B = '2001:db8::b';

export function defaultQuery(name = 'example.com', id = 0x1234): dnsPacket.Packet {
  return { type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name, class: 'IN' }] };
}

export function defaultResponse(name = 'example.com', id = 0x1234): dnsPacket.Packet {
  return {
    type: 'response', id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: [{ type: 'A', name, class: 'IN' }],
    answers: [{ type: 'A', name, class: 'IN', ttl: 300, data: '93.184.216.34' }],
  };
}

export interface DnsFrameOpts {
  v?: 4 | 6;
  link?: LinkSpec;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  /** The DNS message: a dns-packet object, or raw bytes. Default: a query for example.com. */
  dns?: dnsPacket.Packet | Uint8Array;
  udpCsum?: CsumMode;
  ipCsum?: IpCsumMode;
  ipOptions?: number[];
  ext?: Ext6[];
}

function dnsUdp(o: DnsFrameOpts, response: boolean): UdpSpec {
  const msg = o.dns ?? defaultQuery();
  const u: UdpSpec = { kind: 'udp', sport: o.sport ?? (response ? 53 : 40000), dport: o.dport ?? (response ? 40000 : 53), csum: o.udpCsum ?? 'correct' };
  if (msg instanceof Uint8Array) u.payload = msg;
  else u.dns = msg;
  return u;
}

function isResponse(o: DnsFrameOpts): boolean {
  const m = o.dns;
  return m !== undefined && !(m instanceof Uint8Array) && m.type === 'response';
}

export function dnsIp(o: DnsFrameOpts): IpSpec {
  const v = o.v ?? 4;
  const resp = isResponse(o);
  const client = v === 4 ? V4_CLIENT : V6_CLIENT;
  const server = v === 4 ? V4_SERVER : V6_SERVER;
  const src = o.src ?? (resp ? server : client);
  const dst = o.dst ?? (resp ? client : server);
  if (v === 4) {
    const ip: Ip4Spec = { v: 4, src, dst, csum: o.ipCsum ?? 'correct' };
    if (o.ipOptions) ip.options = o.ipOptions;
    return ip;
  }
  const ip6: Ip6Spec = { v: 6, src, dst };
  if (o.ext) ip6.ext = o.ext;
  return ip6;
}

export function plainDnsSpec(o: DnsFrameOpts = {}): FrameSpec {
  return { link: o.link ?? { kind: 'eth' }, ip: dnsIp(o), l4: dnsUdp(o, isResponse(o)) };
}

/** A DNS message over UDP over IP over Ethernet (or the given link). */
export function plainDns(o: DnsFrameOpts = {}): Buffer {
  return build(plainDnsSpec(o)).bytes;
}

export interface VxlanDnsOpts {
  /** Outer IP version, default 4. */
  outerV?: 4 | 6;
  outerLink?: LinkSpec;
  outerUdpCsum?: CsumMode;
  outerIpCsum?: IpCsumMode;
  vxlanPort?: number;
  vxlanSport?: number;
  vni?: number;
  vxlanFlags?: number;
  /** The inner frame: its link must be Ethernet. */
  inner?: DnsFrameOpts;
  outerExt?: Ext6[];
}

/** The outer Ethernet and IP of a tunnel between VTEP A and VTEP B. */
function outerOf(o: VxlanDnsOpts): Pick<FrameSpec, 'link' | 'ip'> {
  const ip: IpSpec = (o.outerV ?? 4) === 4
    ? { v: 4, src: VTEP4_A, dst: VTEP4_B, df: true, csum: o.outerIpCsum ?? 'correct' }
    : { v: 6, src: VTEP6_A, dst: VTEP6_B, ...(o.outerExt ? { ext: o.outerExt } : {}) };
  return { link: o.outerLink ?? { kind: 'eth' }, ip };
}

export function vxlanSpec(inner: FrameSpec, o: VxlanDnsOpts = {}): FrameSpec {
  const vx: VxlanSpec = { vni: o.vni ?? 42, inner };
  if (o.vxlanFlags !== undefined) vx.flags = o.vxlanFlags;
  return { ...outerOf(o), l4: { kind: 'udp', sport: o.vxlanSport ?? 51234, dport: o.vxlanPort ?? 4789, csum: o.outerUdpCsum ?? 'correct', vxlan: vx } };
}

export interface GeneveDnsOpts extends Omit<VxlanDnsOpts, 'vxlanPort' | 'vxlanSport' | 'vxlanFlags'> {
  genevePort?: number;
  geneveSport?: number;
  flags?: number;
  options?: GeneveOption[];
  optLen?: number;
  version?: number;
  protocol?: number;
  payload?: Uint8Array;
}

/** inner, inside Geneve over UDP over IP over Ethernet (OVN-Kubernetes' tunnel). */
export function geneveSpec(inner: FrameSpec, o: GeneveDnsOpts = {}): FrameSpec {
  const g: GeneveSpec = { vni: o.vni ?? 42, inner };
  for (const k of ['flags', 'options', 'optLen', 'version', 'protocol', 'payload'] as const) if (o[k] !== undefined) (g as unknown as Record<string, unknown>)[k] = o[k];
  return { ...outerOf(o), l4: { kind: 'udp', sport: o.geneveSport ?? 51234, dport: o.genevePort ?? 6081, csum: o.outerUdpCsum ?? 'correct', geneve: g } };
}

/** The tunnel's inner frame: a DNS message over UDP over IP, over Ethernet unless inner.link says. */
function innerDns(o: VxlanDnsOpts): FrameSpec {
  return plainDnsSpec({ ...(o.inner ?? {}), link: o.inner?.link ?? { kind: 'eth' } });
}

export function geneveDnsSpec(o: GeneveDnsOpts = {}): FrameSpec {
  return geneveSpec(innerDns(o), o);
}

/** A DNS message over UDP over IP (over Ethernet unless inner.link is raw), inside Geneve. */
export function geneveDns(o: GeneveDnsOpts = {}): Buffer {
  return build(geneveDnsSpec(o)).bytes;
}

export function vxlanDnsSpec(o: VxlanDnsOpts = {}): FrameSpec {
  return vxlanSpec(innerDns(o), o);
}

/** A DNS message over UDP over IP over Ethernet, inside VXLAN over UDP over IP over Ethernet. */
export function vxlanDns(o: VxlanDnsOpts = {}): Buffer {
  return build(vxlanDnsSpec(o)).bytes;
}

export interface TcpFrameOpts {
  v?: 4 | 6;
  link?: LinkSpec;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  payload?: Uint8Array;
  csum?: CsumMode;
  options?: number[];
  ext?: Ext6[];
  flags?: number;
  /** Sequence number of the segment. */
  seq?: number;
}

export function plainTcpSpec(o: TcpFrameOpts = {}): FrameSpec {
  const v = o.v ?? 4;
  const src = o.src ?? (v === 4 ? V4_CLIENT : V6_CLIENT);
  const dst = o.dst ?? (v === 4 ? V4_SERVER : V6_SERVER);
  const ip: IpSpec = v === 4 ? { v: 4, src, dst, df: true } : { v: 6, src, dst, ...(o.ext ? { ext: o.ext } : {}) };
  const l4: TcpSpec = { kind: 'tcp', sport: o.sport ?? 40001, dport: o.dport ?? 443, csum: o.csum ?? 'correct', payload: o.payload ?? Buffer.from('hello, tcp') };
  if (o.options) l4.options = o.options;
  if (o.flags !== undefined) l4.flags = o.flags;
  if (o.seq !== undefined) l4.seq = o.seq;
  return { link: o.link ?? { kind: 'eth' }, ip, l4 };
}

export function plainTcp(o: TcpFrameOpts = {}): Buffer {
  return build(plainTcpSpec(o)).bytes;
}

/** Parses hex with any whitespace, comments (# to end of line) and colons ignored. */
export function hex(s: string): Buffer {
  const clean = s.replace(/#[^\n]*/g, '').replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error('bad hex');
  return Buffer.from(clean, 'hex');
}

/** The uncompressed wire form of a presentation name given as labels (bytes, unescaped). */
export function wireName(labels: (string | number[])[]): Buffer {
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = typeof l === 'string' ? Buffer.from(l, 'latin1') : Buffer.from(l);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}
