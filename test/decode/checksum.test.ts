// The ones'-complement sum (src/decode/checksum.ts) against literal vectors and against the test
// builder's own plain implementation.

import t from 'tap';
import fc from 'fast-check';
import { BAD_PSEUDO_ONLY, completedField, Csum, csumSub, fold, pseudo4, pseudo6, sum16, TransportSegment, verifyTransport } from '../../src/decode/checksum';
import { hex, internetChecksum, onesSum, pseudoHeader } from '../support/packets';

t.test('RFC 1071 §3 example', (t) => {
  // The eight bytes of RFC 1071's numerical example: sum 2ddf0, folded ddf2, checksum 220d.
  const b = hex('00 01 f2 03 f4 f5 f6 f7');
  t.equal(sum16(b, 0, b.length), 0x2ddf0);
  t.equal(fold(sum16(b, 0, b.length)), 0xddf2);
  t.equal(~fold(sum16(b, 0, b.length)) & 0xffff, 0x220d);
  // Same bytes inside a larger buffer, garbage after the range.
  const big = Buffer.alloc(40, 0xaa);
  b.copy(big, 11);
  t.equal(fold(sum16(big, 11, 19)), 0xddf2);
  // The builder agrees.
  t.equal(onesSum(b), 0xddf2);
  t.equal(internetChecksum(b), 0x220d);
  t.end();
});

t.test('IPv4 header with a known checksum', (t) => {
  // IPv4 192.168.0.1 -> 192.168.0.199, UDP, total length 115, DF, TTL 64, checksum b861.
  const h = hex('45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7');
  t.equal(fold(sum16(h, 0, 20)), 0xffff, 'verifies: sum with the field is 0xffff');
  const z = Buffer.from(h);
  z[10] = 0;
  z[11] = 0;
  t.equal(~fold(sum16(z, 0, 20)) & 0xffff, 0xb861, 'the field value recomputed');
  t.equal(internetChecksum(z), 0xb861, 'the builder computes the same');
  t.end();
});

t.test('odd lengths pad with a zero byte', (t) => {
  t.equal(sum16(hex('ab'), 0, 1), 0xab00);
  t.equal(sum16(hex('01 02 03'), 0, 3), 0x0102 + 0x0300);
  // An odd range that starts at an odd offset.
  const b = hex('ff 01 02 03 04 05 06 07 08 09 ff');
  t.equal(sum16(b, 1, 10), 0x0102 + 0x0304 + 0x0506 + 0x0708 + 0x0900);
  t.equal(sum16(b, 3, 3), 0, 'empty range');
  t.end();
});

t.test('fold', (t) => {
  t.equal(fold(0), 0);
  t.equal(fold(0xffff), 0xffff);
  t.equal(fold(0x10000), 1);
  t.equal(fold(0x1fffe), 0xffff);
  t.equal(fold(0xffffffff), 0xffff);
  t.equal(fold(2 ** 40 + 5), fold(fold(2 ** 40) + 5));
  // A large all-0xff buffer: the sum is far past 32 bits... of words; the folded value stays 0xffff.
  const big = Buffer.alloc(200_001, 0xff);
  t.equal(fold(sum16(big, 0, big.length)), onesSum(big));
  t.end();
});

t.test('csumSub undoes an addition', (t) => {
  t.equal(csumSub(fold(0x1234 + 0xabcd), 0xabcd), 0x1234);
  t.equal(csumSub(0x0001, 0x0002), 0xfffe);
  t.end();
});

t.test('pseudo-headers match the builder', (t) => {
  // IPv4: 10.0.0.1 -> 10.0.0.53, UDP, length 37.
  const v4 = hex('0a 00 00 01 0a 00 00 35');
  t.equal(fold(pseudo4(v4, 0, 4, 17, 37)), onesSum(pseudoHeader({ v: 4, src: '10.0.0.1', dst: '10.0.0.53' }, 17, 37)));
  // IPv6: fd00::1 -> fd00::53, TCP, a length above 16 bits (jumbogram-sized) to use the 32-bit field.
  const v6 = Buffer.concat([hex('fd00 0000 0000 0000 0000 0000 0000 0001'), hex('fd00 0000 0000 0000 0000 0000 0000 0053')]);
  t.equal(fold(pseudo6(v6, 0, 16, 6, 0x12345)), onesSum(pseudoHeader({ v: 6, src: 'fd00::1', dst: 'fd00::53' }, 6, 0x12345)));
  t.end();
});

function segment(b: Buffer, l4Field: number, fragment = 0): TransportSegment {
  // Raw buffer layout for these tests: 4-byte src, 4-byte dst, then the UDP segment at 8.
  return { ipVersion: 4, srcOffset: 0, dstOffset: 4, proto: 17, fragment, tso: false, l4Offset: 8, l4End: b.length, l4Field, l4Sum: 0 };
}

/** src, dst, then a UDP segment (ports 1000 -> 53, payload "hi!") with the given field. */
function udpRaw(field: number): Buffer {
  const b = hex('0a 00 00 01 0a 00 00 35  03 e8 00 35 00 0b 00 00 68 69 21');
  b.writeUInt16BE(field, 14);
  return b;
}

t.test('verifyTransport directly', (t) => {
  const pseudo = pseudoHeader({ v: 4, src: '10.0.0.1', dst: '10.0.0.53' }, 17, 11);
  const right = internetChecksum(pseudo, udpRaw(0).subarray(8));
  const ps = onesSum(pseudo);

  let b = udpRaw(right);
  let s = segment(b, right);
  t.equal(verifyTransport(b, s, b.length, Csum.NONE, true), Csum.OK);
  t.equal(s.l4Sum, 0xffff, 'l4Sum stored');
  t.equal(completedField(s), right, 'completedField of a complete segment is its own field');

  b = udpRaw(right ^ 0x8000);
  t.equal(verifyTransport(b, segment(b, right ^ 0x8000), b.length, Csum.NONE, true), Csum.BAD);

  b = udpRaw(0);
  t.equal(verifyTransport(b, segment(b, 0), b.length, Csum.NONE, true), Csum.NONE, 'zero with zeroResult NONE');
  t.equal(verifyTransport(b, segment(b, 0), b.length, Csum.BAD, true), Csum.BAD, 'zero with zeroResult BAD');

  b = udpRaw(ps);
  s = segment(b, ps);
  t.equal(verifyTransport(b, s, b.length, Csum.NONE, true), Csum.PARTIAL, 'pseudo-header sum, partial allowed');
  t.equal(completedField(s), right, 'completedField gives the value the NIC should have written');
  t.equal(verifyTransport(b, segment(b, ps), b.length, Csum.NONE, false), BAD_PSEUDO_ONLY, 'pseudo-header sum inbound');

  b = udpRaw(right);
  t.equal(verifyTransport(b, segment(b, right), b.length - 1, Csum.NONE, true), Csum.UNVERIFIABLE, 'one byte short');
  t.equal(verifyTransport(b, segment(b, right, 1), b.length, Csum.NONE, true), Csum.UNVERIFIABLE, 'first fragment');
  t.end();
});

t.test('sum16 agrees with the builder on random data and ranges', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(300), fc.nat(300), (data, a, c) => {
      const lo = Math.min(a, c) % (data.length + 1);
      const hi = Math.max(a, c) % (data.length + 1);
      const o = Math.min(lo, hi);
      const e = Math.max(lo, hi);
      return fold(sum16(data, o, e)) === onesSum(data.subarray(o, e));
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 random ranges');
  t.end();
});
