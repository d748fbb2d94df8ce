// Geneve (RFC 8926): the header and its variable-length options (bounds-checked, Opt Len in 4-byte
// words), the O and C bits, the protocol type (Ethernet, or IP with no Ethernet header, or
// neither), the inner stack verified as inside VXLAN (geneve.* layers), the tunnel's own UDP
// checksum, ports, tunnels in tunnels, and every truncated length.

import t from 'tap';
import { Csum } from '../../src/decode/checksum';
import { Decoder } from '../../src/decode/decoder';
import { DIR_RX, DIR_TX, ENCAP_GENEVE, ENCAP_NONE, ENCAP_VXLAN, Frame, Layer } from '../../src/decode/frame';
import { GENEVE_FLAG_C, GENEVE_FLAG_O } from '../../src/decode/geneve';
import { isMalformed, Status, STATUS_COUNT, statusName } from '../../src/decode/status';
import { CSUM_TALLY, REASON_PREFIXES, STATUS_TALLY, tallyFrame } from '../../src/decode/tally';
import {
  build, defaultResponse, FrameSpec, geneveDns, geneveDnsSpec, GeneveDnsOpts, geneveSpec, hex, plainDnsSpec, plainTcpSpec, vxlanSpec,
} from '../support/packets';
import { decodeAt, decodeVector, flipByte, statusOf } from './fixtures/harness';

const st = (s: Status): string => statusName(s);
const NONE3 = [-1, -1, -1];

// Ethernet, IPv4 192.168.1.10 -> 192.168.1.20 (DF), UDP 51234 -> 6081, Geneve VNI 4242 with C set and
// one critical option (class 0x0102 OVN, type 0x80, 4 bytes of data), protocol 0x6558, inner
// Ethernet, IPv4 10.0.0.1 -> 10.0.0.53, UDP 40000 -> 53, DNS query A k8s.io (id 0xbeef). Checked with
// tshark: every checksum correct, the option and the C bit as written here.
const GV = hex(`
  02 00 00 00 00 0b 02 00 00 00 00 0a 08 00                    # outer Ethernet
  45 00 00 6e 1c 46 40 00 40 11 9a ca c0 a8 01 0a c0 a8 01 14  # outer IPv4
  c8 22 17 c1 00 5a 29 81                                      # outer UDP
  02 40 65 58 00 10 92 00                                      # Geneve: Opt Len 2, C, 0x6558, VNI 4242
  01 02 80 01 00 00 00 0c                                      # option: class 0x0102, type 0x80, length 1
  02 00 00 00 00 0b 02 00 00 00 00 0a 08 00                    # inner Ethernet
  45 00 00 34 1c 46 00 00 40 11 4a 3e 0a 00 00 01 0a 00 00 35  # inner IPv4
  9c 40 00 35 00 20 e1 c8                                      # inner UDP
  be ef 01 00 00 01 00 00 00 00 00 00 03 6b 38 73 02 69 6f 00  # DNS
  00 01 00 01
`);
const GH = 42;
const I_IP = 72;
const I_UDP = 92;
const DNS = 100;

t.test('the literal Geneve DNS query', (t) => {
  const s = decodeVector(t, GV);
  t.equal(s.status, st(Status.OK));
  t.equal(s.encap, ENCAP_GENEVE);
  t.equal(s.vxlan, false, 'not VXLAN');
  t.equal(s.vni, 4242);
  t.equal(s.geneveFlags, GENEVE_FLAG_C);
  t.equal(s.geneveOptLen, 8);
  t.same(s.csum, [Csum.OK, Csum.OK, -1, ...NONE3, Csum.OK, Csum.OK, -1]);
  t.equal(s.outer.dstPort, 6081);
  t.equal(s.inner.ipOffset, I_IP);
  t.equal(s.inner.l4Offset, I_UDP);
  t.equal(s.dns.present, true);
  t.equal(s.dns.inner, true);
  t.equal(s.dns.msgOffset, DNS);
  t.equal(s.dns.id, 0xbeef);
  // Checksum pairs: one byte flipped in each checksummed header.
  t.equal(decodeVector(t, flipByte(GV, I_IP + 8)).csum[Layer.GENEVE_IPV4], Csum.BAD, 'inner IPv4 TTL flipped');
  t.equal(decodeVector(t, flipByte(GV, DNS + 1)).csum[Layer.GENEVE_UDP], Csum.BAD, 'inner DNS ID flipped');
  const outer = decodeVector(t, flipByte(GV, GH + 6));
  t.equal(outer.csum[Layer.UDP], Csum.BAD, 'VNI flipped: the outer UDP checksum covers the Geneve header');
  t.equal(outer.csum[Layer.GENEVE_UDP], Csum.OK);
  t.end();
});

t.test('options: none, several, every length the 6-bit Opt Len allows a walk of', (t) => {
  // No options: the inner frame right after the 8-byte header.
  let b = build(geneveDnsSpec({ vni: 7 }));
  let s = decodeVector(t, b.bytes);
  t.equal(s.status, st(Status.OK));
  t.equal(s.geneveOptLen, 0);
  t.equal(s.inner.ipOffset, b.marks.inner!.ip);
  t.equal(s.csum[Layer.GENEVE_UDP], Csum.OK);
  // Three options, one with no data, one with 20 bytes, one critical: tcpdump's geneve-gcp shape.
  const options = [
    { cls: 0x0132, type: 0x01, data: [0x80, 0, 0, 0xd1] },
    { cls: 0x0132, type: 0x02, data: [8, 0, 0, 0x0d, 0xc0, 0xa8, 0x64, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
    { cls: 0x0000, type: 0x83 },
  ];
  b = build(geneveDnsSpec({ options }));
  s = decodeVector(t, b.bytes);
  t.equal(s.status, st(Status.OK));
  t.equal(s.geneveOptLen, 8 + 24 + 4);
  t.equal(s.geneveFlags, GENEVE_FLAG_C, 'the builder sets C for a critical option');
  t.equal(s.inner.ipOffset, b.marks.inner!.ip);
  t.equal(s.dns.present, true);
  // The longest: Opt Len 63 (252 bytes), filled with 4-byte option headers of no data, and with one option of 124 bytes (Length 31) twice.
  const small = Array.from({ length: 63 }, (_, i) => ({ cls: 0xffff, type: i }));
  s = decodeVector(t, geneveDns({ options: small }));
  t.equal(s.status, st(Status.OK));
  t.equal(s.geneveOptLen, 252);
  const big = [{ cls: 1, type: 1, data: new Array(124).fill(0x5a) }, { cls: 1, type: 2, data: new Array(120).fill(0xa5) }];
  s = decodeVector(t, geneveDns({ options: big }));
  t.equal(s.status, st(Status.OK));
  t.equal(s.geneveOptLen, 252);
  t.equal(s.dns.present, true);
  t.end();
});

t.test('O and C bits: recorded, the payload decoded whatever they say', (t) => {
  for (const flags of [0, GENEVE_FLAG_O, GENEVE_FLAG_C, GENEVE_FLAG_O | GENEVE_FLAG_C, 0x3f]) {
    const s = decodeVector(t, geneveDns({ flags, options: [{ cls: 0x0102, type: 0x80, data: [1, 2, 3, 4] }] }));
    t.equal(s.status, st(Status.OK), `flags 0x${flags.toString(16)}`);
    t.equal(s.geneveFlags, flags & (GENEVE_FLAG_O | GENEVE_FLAG_C), 'only O and C kept, reserved bits ignored (RFC 8926 §3.4)');
    t.equal(s.csum[Layer.GENEVE_UDP], Csum.OK);
    t.equal(s.dns.present, true);
  }
  t.end();
});

t.test('protocol type: Ethernet, IP directly, or not IP', (t) => {
  // IPv4 with no Ethernet header (0x0800, Google Cloud; tcpdump's geneve-gcp.pcap).
  let s = decodeVector(t, geneveDns({ inner: { link: { kind: 'raw' } } }));
  t.equal(s.status, st(Status.OK));
  t.equal(s.innerVlanTags, 0);
  t.same(s.csum, [Csum.OK, Csum.OK, -1, ...NONE3, Csum.OK, Csum.OK, -1]);
  t.equal(s.dns.present, true);
  // IPv6 directly (0x86DD) over an IPv6 underlay with a zero outer checksum (RFC 8926 §3.3, RFC 6935).
  s = decodeVector(t, geneveDns({ outerV: 6, outerUdpCsum: 'zero', inner: { v: 6, link: { kind: 'raw' } } }));
  t.equal(s.status, st(Status.OK));
  t.same(s.csum, [-1, Csum.NONE, -1, ...NONE3, -1, Csum.OK, -1]);
  t.equal(s.dns.present, true);
  // A protocol type that is neither: not IP, inside the tunnel, not malformed; the outer still verified.
  s = decodeVector(t, geneveDns({ protocol: 0x88cc, payload: hex('02 07 04 00 00 00 00 00 01') }));
  t.equal(s.status, st(Status.NOT_IP));
  t.equal(s.statusInner, true);
  t.equal(s.encap, ENCAP_GENEVE);
  t.notOk(isMalformed(statusOf(s)));
  t.equal(s.csum[Layer.UDP], Csum.OK);
  // Ethernet carrying ARP: not IP either.
  const arp = hex('ff ff ff ff ff ff 02 00 00 00 00 0a 08 06 0001 0800 06 04 0001 02 00 00 00 00 0a 0a 00 00 01 00 00 00 00 00 00 0a 00 00 35');
  s = decodeVector(t, geneveDns({ protocol: 0x6558, payload: arp }));
  t.equal(s.status, st(Status.NOT_IP));
  t.equal(s.statusInner, true);
  t.end();
});

t.test('malformed headers and options: named, counted, never thrown', (t) => {
  const f = new Frame();
  const csum = new Float64Array(CSUM_TALLY);
  const errors = new Float64Array(STATUS_TALLY);
  const tally = (bytes: Uint8Array): string => {
    decodeAt(bytes, 0, 0, {}, f);
    tallyFrame(f, csum, 0, errors, 0);
    return statusName(f.status);
  };
  // UDP payload of 4 bytes to 6081: no room for the 8-byte header.
  let s = decodeVector(t, build(plainDnsSpec({ dport: 6081, dns: hex('00 00 65 58') })).bytes);
  t.equal(s.status, st(Status.GENEVE_HEADER_OVERRUN));
  t.equal(s.encap, ENCAP_NONE);
  t.equal(s.csum[Layer.UDP], Csum.OK, 'the outer checksum is still verified');
  // Opt Len past the datagram: 63 words declared, none sent.
  const past = geneveDns({ optLen: 63 });
  s = decodeVector(t, past);
  t.equal(s.status, st(Status.GENEVE_OPTIONS_OVERRUN));
  t.equal(s.statusInner, false, 'the tunnel header itself, not its payload');
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.equal(s.csum[Layer.GENEVE_UDP], -1);
  t.equal(tally(past), st(Status.GENEVE_OPTIONS_OVERRUN));
  t.equal(errors[Status.GENEVE_OPTIONS_OVERRUN], 1, 'counted outside the tunnel');
  // An option whose Length runs past Opt Len: one word of options, the option claims 31 more.
  s = decodeVector(t, geneveDns({ options: [{ cls: 1, type: 1, length: 31 }] }));
  t.equal(s.status, st(Status.GENEVE_OPTION_OVERRUN));
  // The last option runs one word past.
  s = decodeVector(t, geneveDns({ options: [{ cls: 1, type: 1, data: [1, 2, 3, 4] }, { cls: 1, type: 2, data: [1, 2, 3, 4], length: 2 }] }));
  t.equal(s.status, st(Status.GENEVE_OPTION_OVERRUN));
  // Ver 1: nothing after it can be read (RFC 8926 §3.4).
  s = decodeVector(t, geneveDns({ version: 1 }));
  t.equal(s.status, st(Status.GENEVE_VERSION_UNKNOWN));
  t.ok(isMalformed(Status.GENEVE_VERSION_UNKNOWN));
  // A malformed frame inside: counted under geneve.*.
  const spec = geneveDnsSpec();
  ((spec.l4 as { geneve: { inner: FrameSpec } }).geneve.inner.ip as { ihl?: number }).ihl = 4;
  const ihl = build(spec).bytes;
  s = decodeVector(t, ihl);
  t.equal(s.status, st(Status.IPV4_IHL_TOO_SMALL));
  t.equal(s.statusInner, true);
  t.equal(tally(ihl), st(Status.IPV4_IHL_TOO_SMALL));
  t.equal(errors[ENCAP_GENEVE * STATUS_COUNT + Status.IPV4_IHL_TOO_SMALL], 1, 'counted inside Geneve');
  t.equal(errors[ENCAP_VXLAN * STATUS_COUNT + Status.IPV4_IHL_TOO_SMALL], 0, 'not inside VXLAN');
  t.equal(REASON_PREFIXES[ENCAP_GENEVE], 'geneve.');
  t.end();
});

t.test('every truncated length: truncated, never malformed, results the whole frame\'s or unverifiable', (t) => {
  // decodeVector checks every length; here also that each length inside the header and options is
  // TRUNCATED, and that the options are never read past the captured bytes.
  const b = build(geneveDnsSpec({ options: [{ cls: 0x0102, type: 0x80, data: [0, 0, 0, 12] }, { cls: 0x0102, type: 0x01 }] }));
  decodeVector(t, b.bytes);
  const gh = b.marks.geneve;
  const payload = gh + b.marks.geneveLen;
  const f = new Frame();
  const wrong: string[] = [];
  for (let n = gh; n < payload + 14; n++) {
    decodeAt(b.bytes, 3, 0xff, { n, wireLen: b.bytes.length }, f);
    if (f.status !== Status.TRUNCATED) wrong.push(`n=${n}: ${statusName(f.status)}`);
    if (f.csum[Layer.UDP] !== Csum.UNVERIFIABLE) wrong.push(`n=${n}: outer UDP ${f.csum[Layer.UDP]}`);
  }
  t.same(wrong, [], 'cut in the header, the options or the inner Ethernet: truncated, outer UDP unverifiable');
  // A response with an answer, over TCP, and sent (partial allowed): every length.
  decodeVector(t, geneveDns({ inner: { dns: defaultResponse() } }), { dir: DIR_RX });
  decodeVector(t, build(geneveSpec(plainTcpSpec())).bytes, { dir: DIR_TX });
  t.end();
});

t.test('the tunnel\'s UDP checksum: zero, local checksum offload, partial', (t) => {
  let s = decodeVector(t, geneveDns({ outerUdpCsum: 'zero' }));
  t.equal(s.csum[Layer.UDP], Csum.NONE, 'zero over IPv4');
  s = decodeVector(t, geneveDns({ outerV: 6, outerUdpCsum: 'zero' }));
  t.equal(s.csum[Layer.UDP], Csum.NONE, 'zero over IPv6 on a tunnel (RFC 8926 §3.3, RFC 6935)');
  // Sent with the inner checksum partial: the outer computed as if the inner were complete.
  s = decodeVector(t, geneveDns({ outerUdpCsum: 'lco', inner: { udpCsum: 'pseudo' } }), { dir: DIR_TX });
  t.equal(s.csum[Layer.GENEVE_UDP], Csum.PARTIAL);
  t.equal(s.csum[Layer.UDP], Csum.OK, 'local checksum offload');
  // Received, the same packet: the inner field holding the pseudo-header sum is bad.
  s = decodeVector(t, geneveDns({ outerUdpCsum: 'lco', inner: { udpCsum: 'pseudo' } }), { dir: DIR_RX });
  t.equal(s.csum[Layer.GENEVE_UDP], Csum.BAD);
  t.equal(s.pseudoOnlyBad, 1 << Layer.GENEVE_UDP);
  t.end();
});

t.test('ports: 6081 by default, --geneve-port replaces the set, a DNS source port is DNS', (t) => {
  const on = (port: number, o: GeneveDnsOpts = {}): Buffer => geneveDns({ genevePort: port, ...o });
  t.equal(decodeVector(t, on(6081)).encap, ENCAP_GENEVE);
  t.equal(decodeVector(t, on(6081), { opts: { genevePorts: [7000] } }).encap, ENCAP_NONE, 'replaced');
  t.equal(decodeVector(t, on(7000), { opts: { genevePorts: [7000] } }).encap, ENCAP_GENEVE);
  t.equal(decodeVector(t, on(7000)).encap, ENCAP_NONE, 'not by default');
  t.equal(decodeVector(t, on(6081), { opts: { genevePorts: [] } }).encap, ENCAP_NONE, 'none at all');
  // The source port does not make a frame Geneve.
  t.equal(decodeVector(t, geneveDns({ genevePort: 9999, geneveSport: 6081 })).encap, ENCAP_NONE);
  // A DNS answer from port 53 to a client whose ephemeral port is 6081: DNS, not Geneve.
  const s = decodeVector(t, build(plainDnsSpec({ sport: 53, dport: 6081, dns: defaultResponse() })).bytes);
  t.equal(s.encap, ENCAP_NONE);
  t.equal(s.dns.present, true);
  t.throws(() => new Decoder({ genevePorts: [0] }), RangeError);
  t.end();
});

t.test('tunnels in tunnels: DNS found, keyed by its own addresses; layers are the outermost tunnel\'s', (t) => {
  const dnsSpec = plainDnsSpec({ src: '10.9.9.1', dst: '10.9.9.53', sport: 40000 });
  const mid = (inner: FrameSpec, kind: 'vxlan' | 'geneve', vni: number): FrameSpec => {
    const s = kind === 'vxlan' ? vxlanSpec(inner, { vni }) : geneveSpec(inner, { vni, options: [{ cls: 1, type: 1, data: [1, 2, 3, 4] }] });
    s.ip = { v: 4, src: '172.16.0.1', dst: '172.16.0.2', df: true };
    return s;
  };
  const cases: Array<[string, FrameSpec, number]> = [
    ['VXLAN in Geneve', geneveSpec(mid(dnsSpec, 'vxlan', 7), { vni: 42 }), ENCAP_GENEVE],
    ['Geneve in VXLAN', vxlanSpec(mid(dnsSpec, 'geneve', 7), { vni: 42 }), ENCAP_VXLAN],
    ['Geneve in Geneve in Geneve', geneveSpec(mid(mid(dnsSpec, 'geneve', 5), 'geneve', 7), { vni: 42 }), ENCAP_GENEVE],
  ];
  for (const [what, spec, encap] of cases) {
    const b = build(spec).bytes;
    const f = new Frame();
    new Decoder().decode(b, 0, b.length, b.length, 1, DIR_RX, f);
    t.equal(f.status, Status.OK, `${what}: decoded to the end`);
    t.equal(f.encap, encap, `${what}: the outermost tunnel`);
    t.equal(f.vni, 42, `${what}: its VNI`);
    t.ok(f.dns.present && f.dns.inner && f.dns.qr === 0, `${what}: the DNS query is seen`);
    t.same([...b.subarray(f.inner.srcOffset, f.inner.srcOffset + 4)], [10, 9, 9, 1], `${what}: the client is the innermost source`);
    const base = encap === ENCAP_GENEVE ? Layer.GENEVE_IPV4 : Layer.VXLAN_IPV4;
    t.equal(f.csum[base + 1], Csum.OK, `${what}: the first inner level's UDP is verified in its own layer`);
    t.equal(f.csum[(encap === ENCAP_GENEVE ? Layer.VXLAN_IPV4 : Layer.GENEVE_IPV4) + 1], -1, `${what}: the other tunnel's layers stay empty`);
    decodeVector(t, b);
  }
  t.end();
});

t.test('decoder reuse: a plain frame, then VXLAN, after a Geneve frame', (t) => {
  const d = new Decoder();
  const f = new Frame();
  const g = geneveDns({ options: [{ cls: 1, type: 0x80, data: [1, 2, 3, 4] }] });
  d.decode(g, 0, g.length, g.length, 1, DIR_RX, f);
  t.equal(f.encap, ENCAP_GENEVE);
  const p = build(plainDnsSpec()).bytes;
  d.decode(p, 0, p.length, p.length, 1, DIR_RX, f);
  t.equal(f.encap, ENCAP_NONE);
  t.equal(f.geneveFlags, 0);
  t.equal(f.geneveOptLen, 0);
  t.equal(f.vni, 0);
  t.same(Array.from(f.csum), [Csum.OK, Csum.OK, -1, -1, -1, -1, -1, -1, -1]);
  t.end();
});

