// TCP (RFC 9293): checksum pairs over IPv4 and IPv6, options, the pseudo-header-only field, lengths.

import t from 'tap';
import { Csum } from '../../src/decode/checksum';
import { DIR_RX, DIR_TX, DIR_UNKNOWN, Layer } from '../../src/decode/frame';
import { Status, statusName } from '../../src/decode/status';
import { build, FrameSpec, hex, plainTcp, plainTcpSpec, TcpSpec } from '../support/packets';
import { decodeVector, flipByte } from './fixtures/harness';

const st = (s: Status): string => statusName(s);

// Ethernet, IPv4 10.0.0.1 -> 10.0.0.53 (DF), TCP 40001 -> 443 SYN, MSS 1460, checksum e1ee.
// Checked with tshark. 58 bytes: as captured on the sending host, before padding.
const SYN = hex(`
  02 00 00 00 00 0b 02 00 00 00 00 0a 08 00                    # Ethernet
  45 00 00 2c 1c 46 40 00 40 06 0a 51 0a 00 00 01 0a 00 00 35  # IPv4
  9c 41 01 bb 01 02 03 04 00 00 00 00 60 02 ff ff e1 ee 00 00  # TCP
  02 04 05 b4                                                  #   MSS option
`);

t.test('the literal SYN and its pairs', (t) => {
  let s = decodeVector(t, SYN);
  t.equal(s.status, st(Status.OK));
  t.equal(s.csum[Layer.TCP], Csum.OK);
  t.equal(s.outer.srcPort, 40001);
  t.equal(s.outer.dstPort, 443);
  t.equal(s.outer.l4Field, 0xe1ee);
  t.equal(s.outer.l4End, SYN.length);
  t.same(SYN, plainTcp({ flags: 0x02, payload: Buffer.alloc(0), options: [2, 4, 5, 0xb4] }), 'the builder produces the same bytes');
  // Every TCP byte is covered, options included.
  const notBad: number[] = [];
  for (let i = 34; i < SYN.length; i++) {
    // Byte 46 holds the data offset: changing it changes the header shape instead.
    if (i === 46) continue;
    if (decodeVector(t, flipByte(SYN, i, 0x02)).csum[Layer.TCP] !== Csum.BAD) notBad.push(i);
  }
  t.same(notBad, [], 'every covered byte flipped gives bad');
  s = decodeVector(t, flipByte(SYN, 27));
  t.equal(s.csum[Layer.TCP], Csum.BAD, 'source address is in the pseudo-header');
  t.end();
});

t.test('pairs over IPv6, with options and payload', (t) => {
  const f = plainTcp({ v: 6, options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], payload: Buffer.from('GET / HTTP/1.1\r\n') });
  let s = decodeVector(t, f);
  t.equal(s.status, st(Status.OK));
  t.equal(s.csum[Layer.TCP], Csum.OK);
  s = decodeVector(t, flipByte(f, f.length - 3));
  t.equal(s.csum[Layer.TCP], Csum.BAD);
  s = decodeVector(t, flipByte(f, 14 + 40 + 22), { });
  t.equal(s.csum[Layer.TCP], Csum.BAD, 'an option byte');
  t.end();
});

t.test('odd-length segments', (t) => {
  for (const v of [4, 6] as const) {
    const f = plainTcp({ v, payload: Buffer.from('odd') });
    t.equal(decodeVector(t, f).csum[Layer.TCP], Csum.OK, `IPv${v}`);
    t.equal(decodeVector(t, flipByte(f, f.length - 1)).csum[Layer.TCP], Csum.BAD, `IPv${v}, last byte`);
  }
  t.end();
});

t.test('pseudo-header-only field: direction decides', (t) => {
  for (const v of [4, 6] as const) {
    const f = plainTcp({ v, csum: 'pseudo' });
    t.equal(decodeVector(t, f, { dir: DIR_UNKNOWN }).csum[Layer.TCP], Csum.PARTIAL);
    t.equal(decodeVector(t, f, { dir: DIR_TX }).csum[Layer.TCP], Csum.PARTIAL);
    const s = decodeVector(t, f, { dir: DIR_RX });
    t.equal(s.csum[Layer.TCP], Csum.BAD);
    t.equal(s.pseudoOnlyBad, 1 << Layer.TCP);
  }
  t.end();
});

t.test('zero field: TCP has no "no checksum"', (t) => {
  t.equal(decodeVector(t, plainTcp({ csum: 'zero' })).csum[Layer.TCP], Csum.BAD);
  t.equal(decodeVector(t, plainTcp({ v: 6, csum: 'zero' })).csum[Layer.TCP], Csum.BAD);
  // But a segment whose checksum really is 0 verifies.
  for (const v of [4, 6] as const) {
    const spec = plainTcpSpec({ v, payload: Buffer.alloc(6) });
    const first = build(spec).marks.correct;
    const payload = Buffer.alloc(6);
    payload.writeUInt16BE(first, 0);
    (spec.l4 as TcpSpec).payload = payload;
    const b = build(spec);
    t.equal(b.marks.field, 0, `IPv${v}: the checksum is 0`);
    t.equal(decodeVector(t, b.bytes).csum[Layer.TCP], Csum.OK, `IPv${v}: 0 verifies`);
  }
  t.end();
});

function tcpWith(patch: (s: TcpSpec) => void, ip?: (s: FrameSpec) => void): Buffer {
  const spec = plainTcpSpec();
  patch(spec.l4 as TcpSpec);
  if (ip) ip(spec);
  return build(spec).bytes;
}

t.test('malformed headers', (t) => {
  let s = decodeVector(t, tcpWith((l) => { l.dataOffset = 4; }));
  t.equal(s.status, st(Status.TCP_DATA_OFFSET_TOO_SMALL));
  t.equal(s.csum[Layer.TCP], -1);
  // Data offset 15 (60 bytes) in a 30-byte segment.
  s = decodeVector(t, tcpWith((l) => { l.dataOffset = 15; }));
  t.equal(s.status, st(Status.TCP_HEADER_OVERRUN));
  // IPv4 total length leaves 19 bytes for TCP.
  s = decodeVector(t, tcpWith(() => undefined, (f) => { if (f.ip.v === 4) f.ip.totalLength = 20 + 19; }));
  t.equal(s.status, st(Status.TCP_HEADER_OVERRUN));
  t.end();
});

t.test('captured short of the segment end: unverifiable, status OK', (t) => {
  const f = plainTcp({ payload: Buffer.alloc(100, 0x33) });
  const s = decodeVector(t, f, { n: 14 + 20 + 20 + 10 });
  t.equal(s.status, st(Status.OK));
  t.equal(s.csum[Layer.TCP], Csum.UNVERIFIABLE);
  t.equal(s.csum[Layer.IPV4], Csum.OK);
  t.end();
});
