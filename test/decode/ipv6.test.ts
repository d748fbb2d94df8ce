// IPv6 (RFC 8200) and its extension headers: the pseudo-header's final destination, fragments,
// limits and lengths.

import t from 'tap';
import { Csum } from '../../src/decode/checksum';
import { FRAG_FIRST, FRAG_LATER, FRAG_NONE, Layer } from '../../src/decode/frame';
import { Status, statusName } from '../../src/decode/status';
import { build, Ext6, FrameSpec, hex, plainDns, plainDnsSpec, plainTcp, plainTcpSpec } from '../support/packets';
import { decodeVector, flipByte } from './fixtures/harness';

const st = (s: Status): string => statusName(s);

// Ethernet, IPv6 fd00::1 -> fd00::53 (flow label 12345, hop limit 64), UDP 40000 -> 53,
// DNS query A example.com (id 0x1234). Checksum checked with tshark.
const Q6 = hex(`
  02 00 00 00 00 0b 02 00 00 00 00 0a 86 dd                    # Ethernet
  60 01 23 45 00 25 11 40                                      # IPv6
  fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01              #   source
  fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 53              #   destination
  9c 40 00 35 00 25 87 37                                      # UDP
  12 34 01 00 00 01 00 00 00 00 00 00 07 65 78 61 6d 70 6c 65  # DNS
  03 63 6f 6d 00 00 01 00 01
`);

t.test('IPv6, UDP, DNS: the literal vector and its pair', (t) => {
  let s = decodeVector(t, Q6);
  t.equal(s.status, st(Status.OK));
  t.equal(s.outer.ipVersion, 6);
  t.equal(s.outer.l4Offset, 54);
  t.equal(s.outer.dstOffset, 38);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.equal(s.csum[Layer.IPV4], -1, 'IPv6 has no header checksum');
  t.same(Q6, plainDns({ v: 6 }), 'the builder produces the same bytes');
  // Source address bytes are in the pseudo-header.
  s = decodeVector(t, flipByte(Q6, 14 + 8 + 15));
  t.equal(s.csum[Layer.UDP], Csum.BAD);
  // Payload bytes are in the segment.
  s = decodeVector(t, flipByte(Q6, Q6.length - 1));
  t.equal(s.csum[Layer.UDP], Csum.BAD);
  // Flow label and hop limit are not covered.
  s = decodeVector(t, flipByte(flipByte(Q6, 14 + 3), 14 + 7));
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.end();
});

t.test('hop-by-hop and destination options', (t) => {
  const ext: Ext6[] = [{ kind: 'hbh', options: [0x05, 0x02, 0x00, 0x00] }, { kind: 'dst' }];
  const f = plainDns({ v: 6, ext });
  let s = decodeVector(t, f);
  t.equal(s.status, st(Status.OK));
  t.equal(s.outer.proto, 17);
  t.equal(s.outer.l4Offset, 14 + 40 + 16);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  // Option bytes are not covered by the transport checksum.
  s = decodeVector(t, flipByte(f, 14 + 40 + 3));
  t.equal(s.csum[Layer.UDP], Csum.OK);
  // A longer destination-options header (Hdr Ext Len 2: 24 bytes).
  s = decodeVector(t, plainDns({ v: 6, ext: [{ kind: 'dst', options: [0x1e, 16, ...new Array<number>(16).fill(7)] }] }));
  t.equal(s.outer.l4Offset, 14 + 40 + 24);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.end();
});

/** Offset of the routing header's Segments Left byte when the routing header comes first. */
const SEG_LEFT = 14 + 40 + 3;

t.test('routing type 2: the pseudo-header uses the final destination', (t) => {
  // Mobile IPv6: the IPv6 destination is the care-of address, the home address is final.
  const ext: Ext6[] = [{ kind: 'routing', routingType: 2, segmentsLeft: 1, addresses: ['fd00::99'] }];
  const f = plainDns({ v: 6, ext });
  let s = decodeVector(t, f);
  t.equal(s.status, st(Status.OK));
  t.equal(s.outer.dstOffset, 14 + 40 + 8, 'the home address');
  t.equal(s.csum[Layer.UDP], Csum.OK, 'verifies with the final destination');
  // With Segments Left 0 the destination field is already final: the same bytes no longer verify.
  const zeroLeft = Buffer.from(f);
  zeroLeft[SEG_LEFT] = 0;
  s = decodeVector(t, zeroLeft);
  t.equal(s.outer.dstOffset, 14 + 24);
  t.equal(s.csum[Layer.UDP], Csum.BAD, 'does not verify with the IPv6 destination');

  // And the converse: a checksum over the IPv6 destination verifies only while Segments Left is 0.
  const g = plainDns({ v: 6, ext: [{ kind: 'routing', routingType: 2, segmentsLeft: 0, addresses: ['fd00::99'] }] });
  t.equal(decodeVector(t, g).csum[Layer.UDP], Csum.OK);
  const g1 = Buffer.from(g);
  g1[SEG_LEFT] = 1;
  t.equal(decodeVector(t, g1).csum[Layer.UDP], Csum.BAD);

  // After hop-by-hop options, and for TCP.
  const tcp = plainTcp({ v: 6, ext: [{ kind: 'hbh' }, { kind: 'routing', routingType: 2, segmentsLeft: 1, addresses: ['fd00::99'] }] });
  s = decodeVector(t, tcp);
  t.equal(s.csum[Layer.TCP], Csum.OK);
  t.equal(s.outer.dstOffset, 14 + 40 + 8 + 8);
  t.end();
});

t.test('routing type 0 (deprecated): the last address is final', (t) => {
  const ext: Ext6[] = [{ kind: 'routing', routingType: 0, segmentsLeft: 2, addresses: ['fd00::71', 'fd00::72'] }];
  const s = decodeVector(t, plainDns({ v: 6, ext }));
  t.equal(s.outer.dstOffset, 14 + 40 + 8 + 16);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.end();
});

t.test('routing type 4 (segment routing): Segment List[0] is final', (t) => {
  // Segment List[0] = fd00::53 (final), [1] and [2] are waypoints; the active segment is [2].
  const ext: Ext6[] = [{ kind: 'routing', routingType: 4, segmentsLeft: 2, addresses: ['fd00::5', 'fd00::78', 'fd00::77'] }];
  const f = plainDns({ v: 6, dst: 'fd00::77', ext });
  let s = decodeVector(t, f);
  t.equal(s.status, st(Status.OK));
  t.equal(s.outer.dstOffset, 14 + 40 + 8);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  const zeroLeft = Buffer.from(f);
  zeroLeft[SEG_LEFT] = 0;
  s = decodeVector(t, zeroLeft);
  t.equal(s.csum[Layer.UDP], Csum.BAD, 'with no segments left the IPv6 destination is used');
  t.end();
});

t.test('routing type 3 (RPL, RFC 6554) with segments left: no false bad', (t) => {
  // CmprI = CmprE = 0: the addresses are carried whole; the last one is the final destination
  // (RFC 6554 §4.2, RFC 8200 §8.1). A checksum computed over it is right; the decoder must not call
  // the packet bad (ok, or unverifiable if it cannot tell the final destination).
  const ext: Ext6[] = [{ kind: 'routing', routingType: 3, segmentsLeft: 1, addresses: ['fd00::99'] }];
  const s = decodeVector(t, plainDns({ v: 6, ext }));
  const r = s.csum[Layer.UDP];
  t.ok(r === Csum.OK || r === Csum.UNVERIFIABLE, `RPL source route: UDP checksum result ${r} (0 ok or 4 unverifiable expected, 1 is a false bad)`);
  t.end();
});

t.test('invalid routing headers', (t) => {
  // Type 2 with Hdr Ext Len 0: no address although a segment is left.
  const t2: Ext6[] = [{ kind: 'raw', nh: 43, bytes: [17, 0, 2, 1, 0, 0, 0, 0] }];
  t.equal(decodeVector(t, plainDns({ v: 6, ext: t2 })).status, st(Status.IPV6_ROUTING_HEADER_INVALID));
  // SRH with Hdr Ext Len 0: no segment list.
  const t4: Ext6[] = [{ kind: 'raw', nh: 43, bytes: [17, 0, 4, 1, 0, 0, 0, 0] }];
  t.equal(decodeVector(t, plainDns({ v: 6, ext: t4 })).status, st(Status.IPV6_ROUTING_HEADER_INVALID));
  // The same with no segments left is fine: nothing to look up.
  const t4z: Ext6[] = [{ kind: 'raw', nh: 43, bytes: [17, 0, 4, 0, 0, 0, 0, 0] }];
  const s = decodeVector(t, plainDns({ v: 6, ext: t4z }));
  t.equal(s.status, st(Status.OK));
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.end();
});

t.test('fragment header', (t) => {
  const udp = plainDnsSpec({ v: 6, dport: 7777, dns: Buffer.alloc(64, 0x61) });
  const frag = (offset: number, more: boolean, slice: [number, number]): FrameSpec =>
    ({ ...udp, ip: { ...udp.ip, ext: [{ kind: 'fragment', offset, more }] } as FrameSpec['ip'], l4Slice: slice });
  let s = decodeVector(t, build(frag(0, true, [0, 32])).bytes);
  t.equal(s.status, st(Status.OK));
  t.equal(s.outer.fragment, FRAG_FIRST);
  t.equal(s.csum[Layer.UDP], Csum.UNVERIFIABLE);
  t.equal(s.outer.dstPort, 7777);

  s = decodeVector(t, build(frag(4, false, [32, 72])).bytes);
  t.equal(s.status, st(Status.OK));
  t.equal(s.outer.fragment, FRAG_LATER);
  t.equal(s.csum[Layer.UDP], -1);

  // An atomic fragment (offset 0, M clear, RFC 6946) is a whole datagram.
  s = decodeVector(t, build(frag(0, false, [0, 72])).bytes);
  t.equal(s.outer.fragment, FRAG_NONE);
  t.equal(s.csum[Layer.UDP], Csum.OK);

  // A TCP first fragment after a hop-by-hop header.
  const tcp = plainTcpSpec({ v: 6, payload: Buffer.alloc(100, 0x62) });
  s = decodeVector(t, build({ ...tcp, ip: { ...tcp.ip, ext: [{ kind: 'hbh' }, { kind: 'fragment', offset: 0, more: true }] } as FrameSpec['ip'], l4Slice: [0, 48] }).bytes);
  t.equal(s.outer.fragment, FRAG_FIRST);
  t.equal(s.csum[Layer.TCP], Csum.UNVERIFIABLE);
  t.end();
});

t.test('authentication header', (t) => {
  // AH: Payload Len 4 -> (4 + 2) * 4 = 24 bytes (12 fixed + 12 ICV), RFC 4302 §2.2.
  const ah: Ext6[] = [{ kind: 'raw', nh: 51, bytes: [17, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, ...new Array<number>(12).fill(0xcc)] }];
  const s = decodeVector(t, plainDns({ v: 6, ext: ah }));
  t.equal(s.status, st(Status.OK));
  t.equal(s.outer.l4Offset, 14 + 40 + 24);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.end();
});

t.test('extension header limits and lengths', (t) => {
  const dst = (n: number): Ext6[] => Array.from({ length: n }, () => ({ kind: 'dst' }) as Ext6);
  let s = decodeVector(t, plainDns({ v: 6, ext: dst(8) }));
  t.equal(s.status, st(Status.OK), 'eight extension headers');
  t.equal(s.csum[Layer.UDP], Csum.OK);
  s = decodeVector(t, plainDns({ v: 6, ext: dst(9) }));
  t.equal(s.status, st(Status.IPV6_TOO_MANY_EXT_HEADERS), 'nine');

  // Hop-by-hop claiming 88 bytes in a 45-byte payload.
  s = decodeVector(t, plainDns({ v: 6, ext: [{ kind: 'raw', nh: 0, bytes: [17, 10, 1, 4, 0, 0, 0, 0] }] }));
  t.equal(s.status, st(Status.IPV6_EXT_HEADER_OVERRUN));
  // An extension header starting where the payload ends (payload length 0, next header hop-by-hop).
  const empty = plainDns({ v: 6, ext: [{ kind: 'hbh' }] });
  empty.writeUInt16BE(0, 14 + 4);
  s = decodeVector(t, empty.subarray(0, 14 + 40));
  t.equal(s.status, st(Status.IPV6_EXT_HEADER_OVERRUN));

  // Payload length one past the frame.
  const long = Buffer.from(Q6);
  long.writeUInt16BE(long.readUInt16BE(18) + 1, 18);
  t.equal(decodeVector(t, long).status, st(Status.IPV6_PAYLOAD_LENGTH_EXCEEDS_FRAME));
  // Version 4 in an IPv6 EtherType.
  t.equal(decodeVector(t, flipByte(Q6, 14, 0x20)).status, st(Status.IPV6_VERSION_MISMATCH));
  // 39 bytes of header.
  t.equal(decodeVector(t, Q6.subarray(0, 14 + 39)).status, st(Status.IPV6_TOO_SHORT));
  // No Next Header (59): nothing above IP, no checksum.
  const none = Buffer.from(Q6.subarray(0, 14 + 40));
  none[14 + 6] = 59;
  none.writeUInt16BE(0, 14 + 4);
  s = decodeVector(t, none);
  t.equal(s.status, st(Status.OK));
  t.same(s.csum, [-1, -1, -1, -1, -1, -1, -1, -1, -1]);
  t.end();
});

t.test('UDP over IPv6 with a zero checksum is bad outside a tunnel', (t) => {
  const s = decodeVector(t, plainDns({ v: 6, udpCsum: 'zero' }));
  t.equal(s.csum[Layer.UDP], Csum.BAD);
  t.equal(s.pseudoOnlyBad, 0);
  t.end();
});
