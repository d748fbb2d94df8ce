// VXLAN (RFC 7348): the inner stack's checksums, the tunnel's own UDP checksum (zero allowed over
// IPv6, local checksum offload), port selection, and every truncated length of a VXLAN DNS frame.

import t, { Test } from 'tap';
import { Csum } from '../../src/decode/checksum';
import { DIR_RX, DIR_TX, DIR_UNKNOWN, Frame, Layer, LAYER_COUNT } from '../../src/decode/frame';
import { Decoder } from '../../src/decode/decoder';
import { isMalformed, Status, statusName } from '../../src/decode/status';
import {
  build, Built, defaultResponse, ethernet, FrameSpec, hex, plainDnsSpec, plainTcpSpec, vxlanDns, vxlanDnsSpec, VxlanDnsOpts, vxlanSpec,
} from '../support/packets';
import { decodeAt, decodeVector, flipByte, Snap, statusOf } from './fixtures/harness';

const st = (s: Status): string => statusName(s);

// Ethernet, IPv4 192.168.1.10 -> 192.168.1.20 (DF), UDP 51234 -> 4789, VXLAN VNI 42, inner Ethernet,
// IPv4 10.0.0.1 -> 10.0.0.53, UDP 40000 -> 53, DNS query A k8s.io (id 0xbeef). Checked with tshark.
const VX = hex(`
  02 00 00 00 00 0b 02 00 00 00 00 0a 08 00                    # outer Ethernet
  45 00 00 66 1c 46 40 00 40 11 9a d2 c0 a8 01 0a c0 a8 01 14  # outer IPv4
  c8 22 12 b5 00 52 77 55                                      # outer UDP
  08 00 00 00 00 00 2a 00                                      # VXLAN, I flag, VNI 42
  02 00 00 00 00 0b 02 00 00 00 00 0a 08 00                    # inner Ethernet
  45 00 00 34 1c 46 00 00 40 11 4a 3e 0a 00 00 01 0a 00 00 35  # inner IPv4
  9c 40 00 35 00 20 e1 c8                                      # inner UDP
  be ef 01 00 00 01 00 00 00 00 00 00 03 6b 38 73 02 69 6f 00  # DNS
  00 01 00 01
`);
const O_IP = 14;
const O_UDP = 34;
const VXH = 42;
const I_IP = 64;
const I_UDP = 84;
const DNS = 92;

t.test('the literal VXLAN DNS query', (t) => {
  const s = decodeVector(t, VX);
  t.equal(s.status, st(Status.OK));
  t.equal(s.vxlan, true);
  t.equal(s.vni, 42);
  t.same(s.csum, [Csum.OK, Csum.OK, -1, Csum.OK, Csum.OK, -1, -1, -1, -1]);
  t.equal(s.outer.dstPort, 4789);
  t.equal(s.inner.ipOffset, I_IP);
  t.equal(s.inner.l4Offset, I_UDP);
  t.equal(s.dns.present, true);
  t.equal(s.dns.inner, true);
  t.equal(s.dns.msgOffset, DNS);
  t.equal(s.dns.id, 0xbeef);
  t.equal(s.statusInner, false);
  t.end();
});

t.test('checksum pairs for every layer', (t) => {
  // outer ipv4: the outer TTL.
  let s = decodeVector(t, flipByte(VX, O_IP + 8));
  t.same(s.csum, [Csum.BAD, Csum.OK, -1, Csum.OK, Csum.OK, -1, -1, -1, -1], 'outer ipv4');
  // outer udp: a reserved VXLAN byte, covered by the outer UDP checksum only.
  s = decodeVector(t, flipByte(VX, VXH + 1));
  t.same(s.csum, [Csum.OK, Csum.BAD, -1, Csum.OK, Csum.OK, -1, -1, -1, -1], 'outer udp');
  // outer udp: its own field.
  s = decodeVector(t, flipByte(VX, O_UDP + 7, 0x10));
  t.same(s.csum, [Csum.OK, Csum.BAD, -1, Csum.OK, Csum.OK, -1, -1, -1, -1], 'outer udp field');
  // vxlan.ipv4: the inner TTL (the outer UDP checksum covers it too).
  s = decodeVector(t, flipByte(VX, I_IP + 8));
  t.equal(s.csum[Layer.VXLAN_IPV4], Csum.BAD, 'vxlan.ipv4');
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.OK);
  t.equal(s.csum[Layer.UDP], Csum.BAD);
  // vxlan.udp: a DNS byte.
  s = decodeVector(t, flipByte(VX, DNS + 1));
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.BAD, 'vxlan.udp');
  t.equal(s.csum[Layer.VXLAN_IPV4], Csum.OK);
  // Inner Ethernet addresses are covered by the outer UDP checksum only.
  s = decodeVector(t, flipByte(VX, 50 + 3));
  t.same(s.csum, [Csum.OK, Csum.BAD, -1, Csum.OK, Csum.OK, -1, -1, -1, -1], 'inner MAC');

  // vxlan.tcp over IPv6 inside IPv6.
  const tcp = build(vxlanSpec(plainTcpSpec({ v: 6 }), { outerV: 6 }));
  s = decodeVector(t, tcp.bytes);
  t.equal(s.status, st(Status.OK));
  t.same(s.csum, [-1, Csum.OK, -1, -1, -1, Csum.OK, -1, -1, -1]);
  s = decodeVector(t, flipByte(tcp.bytes, tcp.bytes.length - 2));
  t.equal(s.csum[Layer.VXLAN_TCP], Csum.BAD, 'vxlan.tcp');
  t.equal(s.csum[Layer.UDP], Csum.BAD);
  // vxlan.tcp over IPv4 inside IPv4.
  const tcp4 = build(vxlanSpec(plainTcpSpec({ v: 4 }))).bytes;
  t.same(decodeVector(t, tcp4).csum, [Csum.OK, Csum.OK, -1, Csum.OK, -1, Csum.OK, -1, -1, -1]);
  t.equal(decodeVector(t, flipByte(tcp4, tcp4.length - 1)).csum[Layer.VXLAN_TCP], Csum.BAD);
  t.end();
});

t.test('outer UDP zero checksum: none over IPv4 and over IPv6', (t) => {
  let s = decodeVector(t, vxlanDns({ outerUdpCsum: 'zero' }));
  t.equal(s.csum[Layer.UDP], Csum.NONE);
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.OK);
  s = decodeVector(t, vxlanDns({ outerV: 6, outerUdpCsum: 'zero' }));
  t.equal(s.csum[Layer.UDP], Csum.NONE, 'a tunnel\'s outer UDP/IPv6 may be zero (RFC 6935)');
  t.equal(s.status, st(Status.OK));
  s = decodeVector(t, vxlanDns({ outerV: 6, outerUdpCsum: 'zero' }), { dir: DIR_RX });
  t.equal(s.csum[Layer.UDP], Csum.NONE, 'received, too');
  // The inner UDP/IPv6 is not a tunnel header: zero is bad there.
  s = decodeVector(t, vxlanDns({ outerV: 6, outerUdpCsum: 'zero', inner: { v: 6, udpCsum: 'zero' } }));
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.BAD);
  // And the inner UDP/IPv4 zero is none.
  s = decodeVector(t, vxlanDns({ inner: { v: 4, udpCsum: 'zero' } }));
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.NONE);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.end();
});

function lcoFrame(o: VxlanDnsOpts = {}): Built {
  return build(vxlanDnsSpec({ outerUdpCsum: 'lco', ...o, inner: { udpCsum: 'pseudo', ...(o.inner ?? {}) } }));
}

t.test('local checksum offload: outer verified as if the inner were complete', (t) => {
  for (const [ov, iv] of [[4, 4], [4, 6], [6, 4], [6, 6]] as const) {
    const f = lcoFrame({ outerV: ov, inner: { v: iv } });
    t.not(f.marks.field, build(vxlanDnsSpec({ outerV: ov, inner: { v: iv, udpCsum: 'pseudo' } })).marks.field,
      'the lco outer field differs from one computed over the bytes as sent');
    for (const dir of [DIR_UNKNOWN, DIR_TX]) {
      const s = decodeVector(t, f.bytes, { dir });
      t.equal(s.csum[Layer.VXLAN_UDP], Csum.PARTIAL, `outer v${ov} inner v${iv} dir ${dir}: inner partial`);
      t.equal(s.csum[Layer.UDP], Csum.OK, `outer v${ov} inner v${iv} dir ${dir}: outer ok`);
      t.equal(s.pseudoOnlyBad, 0);
    }
    // Received: a NIC on the way never completed the inner checksum.
    const s = decodeVector(t, f.bytes, { dir: DIR_RX });
    t.equal(s.csum[Layer.VXLAN_UDP], Csum.BAD, `outer v${ov} inner v${iv} received: inner bad`);
    t.equal(s.pseudoOnlyBad & (1 << Layer.VXLAN_UDP), 1 << Layer.VXLAN_UDP, 'pseudo-only bit for vxlan.udp');
    t.equal(s.csum[Layer.UDP], Csum.BAD, 'the outer checksum, as on the wire, does not verify either');
  }
  t.end();
});

t.test('local checksum offload with an inner TCP segment', (t) => {
  const spec = vxlanSpec({ ...plainTcpSpec({ v: 4, csum: 'pseudo' }) }, { outerUdpCsum: 'lco' });
  const f = build(spec).bytes;
  let s = decodeVector(t, f, { dir: DIR_TX });
  t.equal(s.csum[Layer.VXLAN_TCP], Csum.PARTIAL);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  s = decodeVector(t, f, { dir: DIR_RX });
  t.equal(s.csum[Layer.VXLAN_TCP], Csum.BAD);
  t.equal(s.pseudoOnlyBad & (1 << Layer.VXLAN_TCP), 1 << Layer.VXLAN_TCP);
  t.end();
});

t.test('local checksum offload: other combinations', (t) => {
  // The outer checksum computed over the bytes as sent (pseudo inner field included) verifies as is.
  let s = decodeVector(t, build(vxlanDnsSpec({ outerUdpCsum: 'correct', inner: { udpCsum: 'pseudo' } })).bytes);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.PARTIAL);
  // lco with a complete inner checksum is just a correct checksum.
  s = decodeVector(t, build(vxlanDnsSpec({ outerUdpCsum: 'lco', inner: { udpCsum: 'correct' } })).bytes);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.OK);
  // An lco outer checksum with one bit wrong is bad.
  const f = lcoFrame();
  s = decodeVector(t, flipByte(f.bytes, O_UDP + 7, 0x01));
  t.equal(s.csum[Layer.UDP], Csum.BAD);
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.PARTIAL);
  // An lco frame with an inner payload byte changed: the NIC completes the inner checksum over
  // whatever payload it is given, and the lco outer checksum does not depend on that payload
  // (it is the outer sum up to the inner field plus the complement of the pseudo-header sum), so
  // both still hold.
  s = decodeVector(t, flipByte(f.bytes, f.bytes.length - 1));
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.PARTIAL);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  // But a byte covered only by the outer checksum (VXLAN reserved) makes the outer bad.
  s = decodeVector(t, flipByte(f.bytes, VXH + 2));
  t.equal(s.csum[Layer.UDP], Csum.BAD);
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.PARTIAL);
  // So does an inner header byte in front of the inner transport checksum (inner TTL changes the
  // inner IPv4 checksum too; the outer sum up to the inner field changes).
  s = decodeVector(t, flipByte(f.bytes, I_IP + 8));
  t.equal(s.csum[Layer.UDP], Csum.BAD);
  // The inner partial with a flipped inner IPv4 header: the outer lco still holds (the NIC would
  // complete only the transport checksum).
  const spec = vxlanDnsSpec({ outerUdpCsum: 'lco', inner: { udpCsum: 'pseudo', ipCsum: 'flip' } });
  s = decodeVector(t, build(spec).bytes);
  t.equal(s.csum[Layer.VXLAN_IPV4], Csum.BAD);
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.PARTIAL);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  // Both partial (UDP tunnel GSO: the outer checksum is left to the NIC too).
  const both = build(vxlanDnsSpec({ outerUdpCsum: 'pseudo', inner: { udpCsum: 'pseudo' } })).bytes;
  s = decodeVector(t, both, { dir: DIR_TX });
  t.equal(s.csum[Layer.UDP], Csum.PARTIAL);
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.PARTIAL);
  s = decodeVector(t, both, { dir: DIR_RX });
  t.equal(s.csum[Layer.UDP], Csum.BAD);
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.BAD);
  t.equal(s.pseudoOnlyBad, (1 << Layer.UDP) | (1 << Layer.VXLAN_UDP));
  // Outer partial itself (sent by this host, outer offload pending) is reported as partial.
  s = decodeVector(t, build(vxlanDnsSpec({ outerUdpCsum: 'pseudo' })).bytes, { dir: DIR_TX });
  t.equal(s.csum[Layer.UDP], Csum.PARTIAL);
  t.end();
});

t.test('port selection', (t) => {
  const on = (port: number, o: VxlanDnsOpts = {}): Buffer => vxlanDns({ vxlanPort: port, ...o });
  // Defaults: 4789 and 8472.
  for (const port of [4789, 8472]) {
    const s = decodeVector(t, on(port));
    t.equal(s.vxlan, true, `${port} by default`);
    t.equal(s.csum[Layer.VXLAN_UDP], Csum.OK);
  }
  // --vxlan-port 4789 replaces the set: 8472 is plain UDP.
  let s = decodeVector(t, on(8472), { opts: { vxlanPorts: [4789] } });
  t.equal(s.vxlan, false, '8472 with only 4789 configured');
  t.equal(s.status, st(Status.OK));
  t.same(s.csum, [Csum.OK, Csum.OK, -1, -1, -1, -1, -1, -1, -1]);
  t.equal(s.dns.present, false);
  s = decodeVector(t, on(4789), { opts: { vxlanPorts: [4789] } });
  t.equal(s.vxlan, true);
  s = decodeVector(t, on(4789), { opts: { vxlanPorts: [8472] } });
  t.equal(s.vxlan, false, '4789 with only 8472 configured');
  s = decodeVector(t, on(8472), { opts: { vxlanPorts: [8472] } });
  t.equal(s.vxlan, true);
  // A custom port.
  s = decodeVector(t, on(6000), { opts: { vxlanPorts: [6000, 4789] } });
  t.equal(s.vxlan, true);
  t.equal(decodeVector(t, on(6000)).vxlan, false, 'not by default');
  // Outer UDP/IPv6 zero on a port that is not configured: a plain UDP/IPv6 zero, bad.
  s = decodeVector(t, on(8472, { outerV: 6, outerUdpCsum: 'zero' }), { opts: { vxlanPorts: [4789] } });
  t.equal(s.csum[Layer.UDP], Csum.BAD);
  s = decodeVector(t, on(8472, { outerV: 6, outerUdpCsum: 'zero' }));
  t.equal(s.csum[Layer.UDP], Csum.NONE);
  // The source port does not make a frame VXLAN.
  s = decodeVector(t, vxlanDns({ vxlanPort: 9999, vxlanSport: 4789 }));
  t.equal(s.vxlan, false);
  // Out of range ports are refused when the decoder is made.
  t.throws(() => new Decoder({ vxlanPorts: [0] }), RangeError);
  t.throws(() => new Decoder({ vxlanPorts: [65536] }), RangeError);
  t.throws(() => new Decoder({ dnsPorts: [53.5] }), RangeError);
  t.end();
});

t.test('VXLAN header', (t) => {
  let s = decodeVector(t, vxlanDns({ vni: 0xabcdef }));
  t.equal(s.vni, 0xabcdef);
  // I flag clear (RFC 7348 §5: MUST be set).
  s = decodeVector(t, vxlanDns({ vxlanFlags: 0x00 }));
  t.equal(s.status, st(Status.VXLAN_I_FLAG_CLEAR));
  t.equal(s.vxlan, false);
  t.equal(s.csum[Layer.UDP], Csum.OK, 'the outer checksum is still verified');
  t.equal(s.csum[Layer.VXLAN_UDP], -1);
  // Other flag bits set besides I (reserved, ignored on receipt).
  s = decodeVector(t, vxlanDns({ vxlanFlags: 0xff }));
  t.equal(s.status, st(Status.OK));
  t.equal(s.vxlan, true);
  // UDP payload of 4 bytes to 4789: no room for a VXLAN header.
  const tiny = plainDnsSpec({ dport: 4789, dns: hex('08 00 00 00') });
  s = decodeVector(t, build(tiny).bytes);
  t.equal(s.status, st(Status.VXLAN_HEADER_OVERRUN));
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.end();
});

t.test('inner frames', (t) => {
  // An inner 802.1Q tag.
  let s = decodeVector(t, vxlanDns({ inner: { link: { kind: 'eth', vlans: [{ tpid: 0x8100, vid: 7 }] } } }));
  t.equal(s.status, st(Status.OK));
  t.equal(s.innerVlanTags, 1);
  t.equal(s.vlanTags, 0);
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.OK);
  // An outer tag and IPv6 outer with extension headers.
  s = decodeVector(t, vxlanDns({ outerV: 6, outerExt: [{ kind: 'hbh' }, { kind: 'dst' }], outerLink: { kind: 'eth', vlans: [{ tpid: 0x8100, vid: 3 }] } }));
  t.equal(s.status, st(Status.OK));
  t.equal(s.vlanTags, 1);
  t.same(s.csum, [-1, Csum.OK, -1, Csum.OK, Csum.OK, -1, -1, -1, -1]);
  // An inner ARP frame: not IP, inside the tunnel; the outer is fine.
  const arp = ethernet(hex('0001 0800 06 04 0001  02 00 00 00 00 0a  0a 00 00 01  00 00 00 00 00 00  0a 00 00 35'), 0x0806);
  const spec = vxlanDnsSpec();
  const outer = { ...spec, l4: { kind: 'udp' as const, sport: 51234, dport: 4789, payload: Buffer.concat([hex('08 00 00 00 00 00 2a 00'), arp]) } };
  s = decodeVector(t, build(outer).bytes);
  t.equal(s.status, st(Status.NOT_IP));
  t.equal(s.statusInner, true);
  t.equal(s.vxlan, true);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  // An inner frame too short for Ethernet.
  const cut = { ...spec, l4: { kind: 'udp' as const, sport: 51234, dport: 4789, payload: Buffer.concat([hex('08 00 00 00 00 00 2a 00'), arp.subarray(0, 10)]) } };
  s = decodeVector(t, build(cut).bytes);
  t.equal(s.status, st(Status.ETHERNET_TOO_SHORT));
  t.equal(s.statusInner, true);
  // A malformed inner IPv4 header (IHL 4).
  const bad = vxlanDnsSpec();
  ((bad.l4 as { vxlan: { inner: FrameSpec } }).vxlan.inner.ip as { ihl?: number }).ihl = 4;
  s = decodeVector(t, build(bad).bytes);
  t.equal(s.status, st(Status.IPV4_IHL_TOO_SMALL));
  t.equal(s.statusInner, true);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  // VXLAN inside VXLAN: the inner UDP to 4789 is not decoded a second time.
  const nested = vxlanSpec(vxlanDnsSpec());
  s = decodeVector(t, build(nested).bytes);
  t.equal(s.status, st(Status.OK));
  t.same(s.csum, [Csum.OK, Csum.OK, -1, Csum.OK, Csum.OK, -1, -1, -1, -1]);
  t.end();
});

/** End of the bytes each layer's checksum needs, from the builder's marks (-1: layer absent). */
function needs(b: Built): number[] {
  const m = b.marks;
  const n = new Array<number>(LAYER_COUNT).fill(-1);
  const len = b.bytes.length;
  if (m.ipHeaderLen && b.bytes[m.ip] >> 4 === 4) n[Layer.IPV4] = m.ip + m.ipHeaderLen;
  n[Layer.UDP] = len;
  const i = m.inner!;
  if (b.bytes[i.ip] >> 4 === 4) n[Layer.VXLAN_IPV4] = i.ip + i.ipHeaderLen;
  n[Layer.VXLAN_UDP] = len;
  return n;
}

function everyLength(t: Test, b: Built, dir: number, questionEnd: number): void {
  const bytes = b.bytes;
  const need = needs(b);
  const full = decodeAt(bytes, 3, 0xaa, { dir }).snap;
  t.equal(full.status, st(Status.OK), 'full length decodes OK');
  const problems: string[] = [];
  const f = new Frame();
  for (let n = 0; n <= bytes.length; n++) {
    let s: Snap;
    try {
      s = decodeAt(bytes, 11, 0xaa, { n, wireLen: bytes.length, dir }, f).snap;
    } catch (e) {
      problems.push(`n=${n} threw ${String(e)}`);
      continue;
    }
    const want = n === bytes.length ? Status.OK : n >= questionEnd ? -1 : Status.TRUNCATED;
    if (want >= 0 && statusOf(s) !== want) problems.push(`n=${n} status ${s.status}`);
    if (want < 0 && statusOf(s) !== Status.OK && statusOf(s) !== Status.TRUNCATED) problems.push(`n=${n} status ${s.status}`);
    for (let l = 0; l < LAYER_COUNT; l++) {
      const r = s.csum[l];
      if (r === Csum.BAD) problems.push(`n=${n} layer ${l} bad`);
      if (need[l] < 0) {
        if (r !== -1) problems.push(`n=${n} layer ${l} absent but ${r}`);
      } else if (n < need[l]) {
        if (r !== -1 && r !== Csum.UNVERIFIABLE) problems.push(`n=${n} layer ${l} needs ${need[l]} bytes, got ${r}`);
      } else if (r !== full.csum[l]) problems.push(`n=${n} layer ${l} is ${r}, full frame ${full.csum[l]}`);
    }
    // Once a transport header is captured, a cut segment is counted as unverifiable, not dropped.
    if (n < bytes.length && n >= b.marks.l4 + 8 && s.csum[Layer.UDP] !== Csum.UNVERIFIABLE) problems.push(`n=${n} outer udp ${s.csum[Layer.UDP]}`);
    if (n < bytes.length && n >= b.marks.inner!.l4 + 8 && s.csum[Layer.VXLAN_UDP] !== Csum.UNVERIFIABLE) problems.push(`n=${n} inner udp ${s.csum[Layer.VXLAN_UDP]}`);

    // The packet itself that short (wire length = captured length): malformed, never a throw.
    try {
      const w = decodeAt(bytes, 11, 0xaa, { n, wireLen: n, dir }, f).snap;
      if (n < bytes.length && !isMalformed(statusOf(w))) problems.push(`n=${n} wireLen=n status ${w.status}`);
      if (n < bytes.length && w.csum.some((r) => r === Csum.BAD)) problems.push(`n=${n} wireLen=n has bad`);
    } catch (e) {
      problems.push(`n=${n} wireLen=n threw ${String(e)}`);
    }
  }
  t.same(problems, [], `${bytes.length + 1} lengths`);
}

t.test('every truncated length of a VXLAN DNS query', (t) => {
  const cases: [string, Built, number][] = [
    ['v4 in v4', build(vxlanDnsSpec()), DIR_UNKNOWN],
    ['v6 in v6', build(vxlanDnsSpec({ outerV: 6, inner: { v: 6 } })), DIR_UNKNOWN],
    ['v4 in v6 with tags', build(vxlanDnsSpec({ outerV: 6, outerLink: { kind: 'eth', vlans: [{ tpid: 0x88a8, vid: 1 }, { tpid: 0x8100, vid: 2 }] } })), DIR_RX],
    ['lco + partial inner, sent', lcoFrame(), DIR_TX],
    ['lco + partial inner, received', lcoFrame(), DIR_RX],
  ];
  for (const [name, b, dir] of cases) {
    t.test(name, (t) => {
      // A query ends with its question: every shorter capture is truncated.
      const fullSnap = decodeAt(b.bytes, 0, 0, { dir }).snap;
      if (dir === DIR_RX && name.includes('lco')) {
        // Received lco + partial inner: the full frame has bad checksums; only check no bad appears early.
        const problems: string[] = [];
        for (let n = 0; n < b.bytes.length; n++) {
          const s = decodeAt(b.bytes, 11, 0xaa, { n, wireLen: b.bytes.length, dir }).snap;
          if (statusOf(s) !== Status.TRUNCATED) problems.push(`n=${n} ${s.status}`);
          for (const l of [Layer.UDP, Layer.VXLAN_UDP]) if (s.csum[l] === Csum.BAD) problems.push(`n=${n} layer ${l} bad`);
        }
        t.same(problems, []);
        t.equal(fullSnap.csum[Layer.VXLAN_UDP], Csum.BAD);
      } else {
        everyLength(t, b, dir, b.bytes.length + 1);
      }
      t.end();
    });
  }
  t.end();
});

t.test('every truncated length of a VXLAN DNS response with an answer', (t) => {
  const b = build(vxlanDnsSpec({ inner: { dns: defaultResponse('svc.cluster.local') } }));
  // The question ends 12 + name + 4 bytes into the message; past that the DNS decoder has all it needs.
  const qEnd = b.marks.inner!.dns + 12 + 'svc.cluster.local'.length + 2 + 4;
  everyLength(t, b, DIR_UNKNOWN, qEnd);
  t.end();
});

t.test('VXLAN decoder reuse: a plain frame after a VXLAN frame', (t) => {
  const d = new Decoder();
  const f = new Frame();
  d.decode(VX, 0, VX.length, VX.length, 1, 0, f);
  const plain = build(plainDnsSpec()).bytes;
  d.decode(plain, 0, plain.length, plain.length, 1, 0, f);
  const fresh = decodeAt(plain, 0, 0).snap;
  t.equal(f.vxlan, false);
  t.same(Array.from(f.csum), fresh.csum);
  t.equal(f.inner.ipVersion, 0);
  t.equal(f.dns.inner, false);
  t.end();
});

t.test('VXLAN inside VXLAN: DNS found at the second and third level, keyed by its own addresses', (t) => {
  // A DNS query from 10.9.9.1:40000 to 10.9.9.53, in a VXLAN tunnel carried inside another.
  const dnsSpec = plainDnsSpec({ src: '10.9.9.1', dst: '10.9.9.53', sport: 40000 });
  const middle = vxlanSpec(dnsSpec, { vni: 7 });
  middle.ip = { v: 4, src: '172.16.0.1', dst: '172.16.0.2', df: true };
  for (const [what, spec] of [['two levels', vxlanSpec(middle, { vni: 42 })], ['three levels', vxlanSpec(vxlanSpec(middle, { vni: 5 }), { vni: 42 })]] as const) {
    const b = build(spec as FrameSpec).bytes;
    const f = new Frame();
    new Decoder().decode(b, 0, b.length, b.length, 1, DIR_RX, f);
    t.equal(f.status, Status.OK, `${what}: decoded to the end`);
    t.ok(f.dns.present && f.dns.inner && f.dns.qr === 0, `${what}: the DNS query is seen`);
    t.same([...b.subarray(f.inner.srcOffset, f.inner.srcOffset + 4)], [10, 9, 9, 1], `${what}: the transaction's client is the innermost source`);
    t.equal(f.inner.srcPort, 40000, `${what}: and its port`);
    t.equal(f.vni, 42, `${what}: the VNI is the outer tunnel's`);
    t.equal(f.csum[Layer.VXLAN_UDP], Csum.OK, `${what}: the first inner level's checksums are verified`);
  }
  // Bounded: four levels deep is past MAX_VXLAN_DEPTH, and the DNS there is not looked for.
  const four = build(vxlanSpec(vxlanSpec(vxlanSpec(middle, { vni: 4 }), { vni: 5 }), { vni: 42 }) as FrameSpec).bytes;
  const f = new Frame();
  new Decoder().decode(four, 0, four.length, four.length, 1, DIR_RX, f);
  t.notOk(f.dns.present, 'four levels: not followed');
  t.end();
});
