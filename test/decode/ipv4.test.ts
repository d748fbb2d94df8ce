// IPv4 (RFC 791): header checksum, options, lengths, fragments.

import t from 'tap';
import { Csum } from '../../src/decode/checksum';
import { LINKTYPE_RAW } from '../../src/decode/decoder';
import { FRAG_FIRST, FRAG_LATER, FRAG_NONE, Layer } from '../../src/decode/frame';
import { Status, statusName } from '../../src/decode/status';
import { build, FrameSpec, hex, internetChecksum, plainDns, plainDnsSpec, plainTcpSpec } from '../support/packets';
import { decodeVector, flipByte } from './fixtures/harness';

const st = (s: Status): string => statusName(s);

// IPv4 192.168.0.1 -> 192.168.0.199, UDP, total length 115, DF, TTL 64: header checksum b861.
const HDR = hex('45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7');

t.test('a real header with its known checksum, captured to 20 of 115 bytes', (t) => {
  let s = decodeVector(t, HDR, { linkType: LINKTYPE_RAW, wireLen: 115 });
  t.equal(s.csum[Layer.IPV4], Csum.OK);
  t.equal(s.status, st(Status.TRUNCATED), 'the UDP header was not captured');
  t.equal(s.outer.ipEnd, 115);
  t.equal(s.outer.proto, 17);
  // The pair: the same header with the TTL byte changed.
  s = decodeVector(t, flipByte(HDR, 8), { linkType: LINKTYPE_RAW, wireLen: 115 });
  t.equal(s.csum[Layer.IPV4], Csum.BAD);
  // And with a byte of the checksum field itself changed.
  s = decodeVector(t, flipByte(HDR, 11, 0x80), { linkType: LINKTYPE_RAW, wireLen: 115 });
  t.equal(s.csum[Layer.IPV4], Csum.BAD);
  // Captured length = wire length = 20: the total length is a lie.
  s = decodeVector(t, HDR, { linkType: LINKTYPE_RAW });
  t.equal(s.status, st(Status.IPV4_TOTAL_LENGTH_EXCEEDS_FRAME));
  t.end();
});

t.test('every header byte is covered', (t) => {
  const frame = plainDns();
  for (let i = 14; i < 34; i++) {
    const s = decodeVector(t, flipByte(frame, i, 0x10), { });
    if (i === 14) {
      // Version nibble changed from 4 to 5.
      t.equal(s.status, st(Status.IPV4_VERSION_MISMATCH), `byte ${i - 14}`);
      continue;
    }
    if (s.csum[Layer.IPV4] !== -1) t.equal(s.csum[Layer.IPV4], Csum.BAD, `byte ${i - 14} flipped`);
    else t.ok(s.status !== st(Status.OK), `byte ${i - 14} flipped: ${s.status}`);
  }
  t.end();
});

t.test('header checksum modes', (t) => {
  t.equal(decodeVector(t, plainDns({ ipCsum: 'correct' })).csum[Layer.IPV4], Csum.OK);
  t.equal(decodeVector(t, plainDns({ ipCsum: 'flip' })).csum[Layer.IPV4], Csum.BAD);
  t.equal(decodeVector(t, plainDns({ ipCsum: 'zero' })).csum[Layer.IPV4], Csum.BAD, 'IPv4 has no "no checksum" value');
  // A bad header checksum does not stop the transport checksum from being verified.
  t.equal(decodeVector(t, plainDns({ ipCsum: 'flip' })).csum[Layer.UDP], Csum.OK);
  t.end();
});

t.test('options', (t) => {
  // Router Alert (94 04 00 00): IHL 6, covered by the header checksum.
  const ra = plainDns({ ipOptions: [0x94, 0x04, 0x00, 0x00] });
  let s = decodeVector(t, ra);
  t.equal(s.status, st(Status.OK));
  t.equal(s.csum[Layer.IPV4], Csum.OK);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.equal(s.outer.l4Offset, 14 + 24);
  s = decodeVector(t, flipByte(ra, 14 + 21));
  t.equal(s.csum[Layer.IPV4], Csum.BAD, 'an option byte is covered');
  t.equal(s.csum[Layer.UDP], Csum.OK, 'but not by the transport checksum');

  // Forty bytes of options (IHL 15): NOP padding then a timestamp option.
  const opts = [...new Array<number>(28).fill(1), 0x44, 12, 5, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
  s = decodeVector(t, plainDns({ ipOptions: opts }));
  t.equal(s.status, st(Status.OK));
  t.equal(s.outer.l4Offset, 14 + 60);
  t.equal(s.csum[Layer.IPV4], Csum.OK);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.end();
});

function withIp(patch: (s: FrameSpec) => void, base: FrameSpec = plainDnsSpec()): Buffer {
  patch(base);
  return build(base).bytes;
}

t.test('malformed headers', (t) => {
  // IHL 4 (16 bytes): too small.
  let s = decodeVector(t, withIp((s) => { if (s.ip.v === 4) s.ip.ihl = 4; }));
  t.equal(s.status, st(Status.IPV4_IHL_TOO_SMALL));
  // Total length 19, below the header length.
  s = decodeVector(t, withIp((s) => { if (s.ip.v === 4) s.ip.totalLength = 19; }));
  t.equal(s.status, st(Status.IPV4_TOTAL_LENGTH_TOO_SHORT));
  // Total length one past the frame.
  const full = plainDns();
  s = decodeVector(t, withIp((s) => { if (s.ip.v === 4) s.ip.totalLength = full.length - 14 + 1; }));
  t.equal(s.status, st(Status.IPV4_TOTAL_LENGTH_EXCEEDS_FRAME));
  // IHL 15 (60 bytes) but the frame ends after 24 header bytes.
  const long = (): FrameSpec => plainDnsSpec({ dport: 9999, dns: Buffer.alloc(60, 1) });
  s = decodeVector(t, withIp((s) => { if (s.ip.v === 4) s.ip.ihl = 15; }, long()).subarray(0, 14 + 24));
  t.equal(s.status, st(Status.IPV4_TOO_SHORT));
  // The same, but the capture was cut (wire length longer): truncated, not malformed.
  s = decodeVector(t, withIp((s) => { if (s.ip.v === 4) s.ip.ihl = 15; }, long()), { n: 14 + 24 });
  t.equal(s.status, st(Status.TRUNCATED));
  // A 19-byte datagram.
  s = decodeVector(t, full.subarray(0, 14 + 19));
  t.equal(s.status, st(Status.IPV4_TOO_SHORT));
  t.end();
});

t.test('total length shorter than the transport header claims', (t) => {
  // Total length cuts the UDP header: 20 + 6.
  let s = decodeVector(t, withIp((s) => { if (s.ip.v === 4) s.ip.totalLength = 26; }));
  t.equal(s.csum[Layer.IPV4], Csum.OK);
  t.equal(s.status, st(Status.UDP_HEADER_OVERRUN));
  // Total length cuts the UDP payload: the UDP length now exceeds the datagram.
  s = decodeVector(t, withIp((s) => { if (s.ip.v === 4) s.ip.totalLength = 40; }));
  t.equal(s.status, st(Status.UDP_LENGTH_EXCEEDS_IP));
  t.end();
});

t.test('fragments', (t) => {
  // A UDP datagram of 8 + 64 bytes split after 32 bytes of the segment (offset 4 units).
  const udp = plainDnsSpec({ dport: 7777, dns: Buffer.alloc(64, 0x61) });
  const first: FrameSpec = { ...udp, ip: { ...udp.ip, mf: true } as FrameSpec['ip'], l4Slice: [0, 32] };
  let s = decodeVector(t, build(first).bytes);
  t.equal(s.status, st(Status.OK));
  t.equal(s.outer.fragment, FRAG_FIRST);
  t.equal(s.csum[Layer.IPV4], Csum.OK);
  t.equal(s.csum[Layer.UDP], Csum.UNVERIFIABLE, 'first fragment: the checksum covers bytes not here');
  t.equal(s.outer.srcPort, 40000);
  t.equal(s.outer.dstPort, 7777);

  const later: FrameSpec = { ...udp, ip: { ...udp.ip, fragOffset: 4 } as FrameSpec['ip'], l4Slice: [32, 72] };
  s = decodeVector(t, build(later).bytes);
  t.equal(s.status, st(Status.OK));
  t.equal(s.outer.fragment, FRAG_LATER);
  t.equal(s.csum[Layer.IPV4], Csum.OK);
  t.equal(s.csum[Layer.UDP], -1, 'later fragment: no transport header, no result');
  t.equal(s.outer.l4Field, 0);

  // A middle fragment (offset and MF).
  s = decodeVector(t, build({ ...udp, ip: { ...udp.ip, fragOffset: 2, mf: true } as FrameSpec['ip'], l4Slice: [16, 32] }).bytes);
  t.equal(s.outer.fragment, FRAG_LATER);
  t.equal(s.csum[Layer.UDP], -1);

  // DF alone is not a fragment.
  s = decodeVector(t, build({ ...udp, ip: { ...udp.ip, df: true } as FrameSpec['ip'] }).bytes);
  t.equal(s.outer.fragment, FRAG_NONE);
  t.equal(s.csum[Layer.UDP], Csum.OK);

  // A TCP first fragment.
  const tcp = plainTcpSpec({ payload: Buffer.alloc(100, 0x62) });
  s = decodeVector(t, build({ ...tcp, ip: { ...tcp.ip, mf: true, df: false } as FrameSpec['ip'], l4Slice: [0, 48] }).bytes);
  t.equal(s.outer.fragment, FRAG_FIRST);
  t.equal(s.csum[Layer.TCP], Csum.UNVERIFIABLE);

  // A first fragment with a zero UDP checksum: "no checksum" needs no bytes to decide.
  s = decodeVector(t, build({ ...udp, l4: { ...udp.l4, csum: 'zero' }, ip: { ...udp.ip, mf: true } as FrameSpec['ip'], l4Slice: [0, 32] }).bytes);
  t.equal(s.csum[Layer.UDP], Csum.NONE);
  t.end();
});

t.test('the builder header checksum is the RFC 1071 checksum', (t) => {
  const b = plainDns({ ipOptions: [0x94, 4, 0, 0] }).subarray(14, 14 + 24);
  const z = Buffer.from(b);
  z[10] = z[11] = 0;
  t.equal(b.readUInt16BE(10), internetChecksum(z));
  t.end();
});
