// UDP (RFC 768): checksum pairs over IPv4 and IPv6, the zero and pseudo-header-only fields, lengths.

import t from 'tap';
import { Csum } from '../../src/decode/checksum';
import { DIR_RX, DIR_TX, DIR_UNKNOWN, Layer } from '../../src/decode/frame';
import { Status, statusName } from '../../src/decode/status';
import { build, hex, internetChecksum, plainDns, plainDnsSpec, UdpSpec } from '../support/packets';
import { decodeVector, flipByte } from './fixtures/harness';

const st = (s: Status): string => statusName(s);

// Ethernet, IPv4 10.0.0.1 -> 10.0.0.53, UDP 40000 -> 53 with checksum 6d57, DNS query A example.com.
const Q4 = hex(`
  02 00 00 00 00 0b 02 00 00 00 00 0a 08 00
  45 00 00 39 1c 46 00 00 40 11 4a 39 0a 00 00 01 0a 00 00 35
  9c 40 00 35 00 25 6d 57
  12 34 01 00 00 01 00 00 00 00 00 00 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00 00 01 00 01
`);

t.test('pairs over IPv4', (t) => {
  t.equal(decodeVector(t, Q4).csum[Layer.UDP], Csum.OK);
  // Every byte of the UDP header and payload is covered: flip each in turn.
  const bad: number[] = [];
  for (let i = 34; i < Q4.length; i++) {
    const s = decodeVector(t, flipByte(Q4, i, 0x04));
    if (s.csum[Layer.UDP] !== Csum.BAD) bad.push(i);
  }
  // Byte 38/39 is the length: flipping it makes the length lie instead (no checksum result).
  t.same(bad.filter((i) => i !== 38 && i !== 39), [], 'every covered byte flipped gives bad');
  // Pseudo-header bytes: source and destination addresses, protocol.
  for (const i of [26, 29, 30, 33]) t.equal(decodeVector(t, flipByte(Q4, i)).csum[Layer.UDP], Csum.BAD, `address byte ${i}`);
  t.end();
});

t.test('pairs over IPv6', (t) => {
  const f = plainDns({ v: 6 });
  t.equal(decodeVector(t, f).csum[Layer.UDP], Csum.OK);
  t.equal(decodeVector(t, flipByte(f, f.length - 5)).csum[Layer.UDP], Csum.BAD);
  t.equal(decodeVector(t, flipByte(f, 14 + 24 + 7)).csum[Layer.UDP], Csum.BAD, 'destination address byte');
  t.end();
});

t.test('zero field', (t) => {
  let s = decodeVector(t, plainDns({ udpCsum: 'zero' }));
  t.equal(s.csum[Layer.UDP], Csum.NONE, 'UDP over IPv4, 0: no checksum, legal');
  s = decodeVector(t, plainDns({ v: 6, udpCsum: 'zero' }));
  t.equal(s.csum[Layer.UDP], Csum.BAD, 'UDP over IPv6, 0: bad (RFC 8200 §8.1)');
  t.end();
});

t.test('pseudo-header-only field: direction decides', (t) => {
  for (const v of [4, 6] as const) {
    const f = plainDns({ v, udpCsum: 'pseudo' });
    let s = decodeVector(t, f, { dir: DIR_UNKNOWN });
    t.equal(s.csum[Layer.UDP], Csum.PARTIAL, `IPv${v}, unknown direction`);
    t.equal(s.pseudoOnlyBad, 0);
    s = decodeVector(t, f, { dir: DIR_TX });
    t.equal(s.csum[Layer.UDP], Csum.PARTIAL, `IPv${v}, sent`);
    s = decodeVector(t, f, { dir: DIR_RX });
    t.equal(s.csum[Layer.UDP], Csum.BAD, `IPv${v}, received`);
    t.equal(s.pseudoOnlyBad, 1 << Layer.UDP);
    // A plainly wrong field received is bad without the pseudo-only bit.
    s = decodeVector(t, plainDns({ v, udpCsum: 'flip' }), { dir: DIR_RX });
    t.equal(s.csum[Layer.UDP], Csum.BAD);
    t.equal(s.pseudoOnlyBad, 0);
  }
  t.end();
});

t.test('a checksum that computes to 0 is sent as ffff', (t) => {
  for (const v of [4, 6] as const) {
    // Choose the first two payload bytes so that the sum over pseudo-header and segment is ffff.
    const spec = plainDnsSpec({ v, dport: 9999, dns: Buffer.alloc(10) });
    const first = build(spec).marks.correct;
    const payload = Buffer.alloc(10);
    payload.writeUInt16BE(first, 0);
    (spec.l4 as UdpSpec).payload = payload;
    const b = build(spec);
    t.equal(b.marks.field, 0xffff, `IPv${v}: the builder wrote ffff`);
    t.equal(decodeVector(t, b.bytes).csum[Layer.UDP], Csum.OK, `IPv${v}: ffff verifies`);
  }
  t.end();
});

/** The frame with `extra` bytes appended inside the IP datagram, after the UDP segment. */
function ipTrailer(f: Buffer, v: 4 | 6, extra: Buffer): Buffer {
  const g = Buffer.concat([f, extra]);
  if (v === 4) {
    g.writeUInt16BE(g.readUInt16BE(16) + extra.length, 16);
    g.writeUInt16BE(0, 24);
    g.writeUInt16BE(internetChecksum(g.subarray(14, 34)), 24);
  } else {
    g.writeUInt16BE(g.readUInt16BE(18) + extra.length, 18);
  }
  return g;
}

t.test('lengths', (t) => {
  // UDP length 8: header only.
  let s = decodeVector(t, plainDns({ dport: 9999, dns: Buffer.alloc(0) }));
  t.equal(s.status, st(Status.OK));
  t.equal(s.csum[Layer.UDP], Csum.OK);

  // UDP length 7.
  const short = plainDnsSpec({ dport: 9999, dns: Buffer.alloc(4) });
  (short.l4 as UdpSpec).length = 7;
  s = decodeVector(t, build(short).bytes);
  t.equal(s.status, st(Status.UDP_LENGTH_TOO_SHORT));
  t.equal(s.csum[Layer.UDP], -1);

  // UDP length past the datagram.
  const long = plainDnsSpec({ dport: 9999, dns: Buffer.alloc(4) });
  (long.l4 as UdpSpec).length = 13;
  s = decodeVector(t, build(long).bytes);
  t.equal(s.status, st(Status.UDP_LENGTH_EXCEEDS_IP));

  // The datagram carries bytes after the UDP segment: the checksum covers the UDP length only.
  for (const v of [4, 6] as const) {
    const f = ipTrailer(plainDns({ v }), v, Buffer.from('trailer'));
    s = decodeVector(t, f);
    t.equal(s.status, st(Status.OK), `IPv${v} trailer`);
    t.equal(s.csum[Layer.UDP], Csum.OK);
    if (v === 4) t.equal(s.csum[Layer.IPV4], Csum.OK);
    t.equal(s.dns.present, true);
  }
  t.end();
});

t.test('UDP header fields', (t) => {
  const s = decodeVector(t, Q4);
  t.equal(s.outer.srcPort, 40000);
  t.equal(s.outer.dstPort, 53);
  t.equal(s.outer.l4End, Q4.length);
  t.equal(s.outer.l4Field, 0x6d57);
  t.equal(s.outer.l4FieldOffset, 40);
  t.end();
});
