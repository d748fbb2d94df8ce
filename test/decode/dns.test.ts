// DNS header and first question (RFC 1035 §4.1): fields, compression pointer rules, name limits,
// case-insensitive hashing, copyName and nameToString.

import t from 'tap';
import fc from 'fast-check';
import * as dnsPacket from 'dns-packet';
import { copyName, MAX_NAME_LEN, nameToString, nextTcpMessage, qtypeName, rcodeName, rcodeSlot } from '../../src/decode/dns';
import { DnsView, Frame } from '../../src/decode/frame';
import { Status, statusName } from '../../src/decode/status';
import { defaultQuery, hex, plainDns, plainTcp, vxlanDns, wireName } from '../support/packets';
import { decodeAt, decodeVector, Snap } from './fixtures/harness';

const st = (s: Status): string => statusName(s);
/** Where the DNS message starts in plainDns() over IPv4 and Ethernet. */
const MSG = 14 + 20 + 8;

function dns(msg: Uint8Array | dnsPacket.Packet, o: Parameters<typeof plainDns>[0] = {}): Snap {
  return decodeAt(plainDns({ ...o, dns: msg }), 0, 0).snap;
}

/** Decodes the message in a frame and returns the question name as copyName writes it. */
function copied(msg: Uint8Array | dnsPacket.Packet, dstOffset = 0): { name: Buffer; length: number; snap: Snap } {
  const frame = plainDns({ dns: msg });
  const f = new Frame();
  const r = decodeAt(frame, 0, 0, {}, f);
  const out = Buffer.alloc(dstOffset + 300, 0xee);
  const length = r.snap.dns.nameOffset >= 0 ? copyName(frame, f.dns, out, dstOffset) : 0;
  return { name: out.subarray(dstOffset, dstOffset + length), length, snap: r.snap };
}

t.test('header and question of a query', (t) => {
  const s = decodeVector(t, plainDns({ dns: { type: 'query', id: 0x4321, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'AAAA', name: 'Example.COM', class: 'IN' }] } }));
  t.equal(s.status, st(Status.OK));
  t.match(s.dns, {
    present: true, keyed: true, inner: false, msgOffset: MSG, id: 0x4321, qr: 0, opcode: 0, rcode: 0, tc: 0, qdcount: 1,
    nameOffset: MSG + 12, nameLength: 13, qtype: 28, qclass: 1,
  });
  t.end();
});

t.test('header of responses', (t) => {
  // NXDOMAIN, truncated (TC), from port 53.
  let s = decodeVector(t, plainDns({ dns: { type: 'response', id: 7, flags: dnsPacket.TRUNCATED_RESPONSE | 3, questions: [{ type: 'A', name: 'nx.example' }] } }));
  t.equal(s.status, st(Status.OK));
  t.match(s.dns, { present: true, keyed: true, id: 7, qr: 1, tc: 1, rcode: 3, qtype: 1 });
  t.equal(s.outer.srcPort, 53);
  // Opcode 2 (STATUS) and rcode 5 (REFUSED), hand-made header: id 0x0102, QR, opcode 2, rcode 5.
  s = decodeVector(t, plainDns({ dns: hex('01 02 90 05 00 01 00 00 00 00 00 00  00  00 06 00 01'), sport: 53, dport: 33333 }));
  t.match(s.dns, { id: 0x0102, qr: 1, opcode: 2, rcode: 5, nameLength: 1, qtype: 6, qclass: 1 });
  t.equal(rcodeName(5), 'REFUSED');
  t.equal(rcodeName(15), 'RCODE15');
  t.equal(qtypeName(28), 'AAAA');
  t.equal(qtypeName(999), 'TYPE999');
  t.end();
});

t.test('EDNS extended RCODE (RFC 6891 §6.1.3): the OPT record carries the upper eight bits', (t) => {
  const opt = (extendedRcode: number) => ({ type: 'OPT' as const, name: '.', udpPayloadSize: 1232, extendedRcode, ednsVersion: 0, flags: 0, flag_do: false, options: [] });
  const answer = { type: 'A' as const, name: 'example.com', ttl: 60, data: '192.0.2.1' };
  const resp = (rcode: number, ext: number, extra: Partial<dnsPacket.Packet> = {}) =>
    dns({ type: 'response', id: 9, flags: rcode, questions: [{ type: 'A', name: 'example.com' }], answers: [answer], additionals: [opt(ext)], ...extra }, { sport: 53, dport: 33333 });
  t.equal(resp(0, 1).dns.rcode, 16, 'BADVERS: header 0, OPT 1 (16)');
  t.equal(resp(7, 1).dns.rcode, 23, 'BADCOOKIE: header 7, OPT 1 (23), not YXRRSET');
  t.equal(resp(3, 0).dns.rcode, 3, 'an OPT record with extension 0 leaves NXDOMAIN');
  t.equal(resp(2, 0, { additionals: [] }).dns.rcode, 2, 'no OPT record: the header RCODE');
  t.equal(rcodeName(rcodeSlot(16)), 'BADVERS');
  t.equal(rcodeName(rcodeSlot(23)), 'BADCOOKIE');
  t.equal(rcodeName(rcodeSlot(4095)), 'OTHER', 'values past the named ones share one slot: labels stay bounded');
  // A query's OPT record carries no RCODE; a response cut short before its OPT keeps the header's.
  t.equal(dns({ type: 'query', id: 9, flags: 0, questions: [{ type: 'A', name: 'example.com' }], additionals: [opt(1)] }).dns.rcode, 0, 'queries: untouched');
  const full = plainDns({ dns: { type: 'response', id: 9, flags: 7, questions: [{ type: 'A', name: 'example.com' }], answers: [answer], additionals: [opt(1)] }, sport: 53, dport: 33333 });
  t.equal(decodeAt(full, 0, 0, { n: full.length - 11, wireLen: full.length }).snap.dns.rcode, 7, 'OPT cut off by the capture: the header RCODE');
  t.end();
});

t.test('no question', (t) => {
  const s = decodeVector(t, plainDns({ dns: hex('ab cd 81 80 00 00 00 00 00 00 00 00') }));
  t.equal(s.status, st(Status.OK));
  t.match(s.dns, { present: true, keyed: true, qdcount: 0, nameOffset: -1, nameLength: 0 });
  t.end();
});

t.test('a backward compression pointer is followed', (t) => {
  // The question comes first in a message, so the only earlier bytes are the header's: ANCOUNT
  // 0x0161 and NSCOUNT 0x00.. make "01 61 00" at offset 6, the name "a.". The question is "www"
  // then a pointer to offset 6: www.a.
  const msg = hex(`
    00 01 01 00 00 01 01 61 00 00 00 00   # header; "a." at offset 6
    03 77 77 77 c0 06                     # www + pointer to 6
    00 01 00 01                           # A, IN
  `);
  const c = copied(msg);
  t.equal(c.snap.status, st(Status.OK));
  t.equal(c.snap.dns.nameLength, 7);
  t.equal(c.snap.dns.qtype, 1, 'the question continues after the pointer');
  t.equal(c.snap.dns.qclass, 1);
  t.same(c.name, wireName(['www', 'a']));
  t.equal(nameToString(c.name, 0, c.length), 'www.a.');
  // Same hashes as the uncompressed name.
  const plain = dns(defaultQuery('WWW.A'));
  t.equal(c.snap.dns.nameHash1, plain.dns.nameHash1);
  t.equal(c.snap.dns.nameHash2, plain.dns.nameHash2);
  decodeVector(t, plainDns({ dns: msg }));

  // A chain of six pointers through the header down to a root label at offset 0 (ID 0x0000).
  const chain = hex(`
    00 00 c0 00 c0 02 c0 04 c0 06 c0 08   # ID 0 = root at 0; each count a pointer to the one before
    c0 0a                                 # question: pointer to 10
    00 01 00 01
  `);
  const d = copied(chain);
  t.equal(d.snap.status, st(Status.OK));
  t.equal(d.snap.dns.nameLength, 1, 'the root name');
  t.same(d.name, hex('00'));
  t.equal(nameToString(d.name, 0, d.length), '.');
  t.end();
});

t.test('pointer rules', (t) => {
  const hdr = '12 34 01 00 00 01 00 00 00 00 00 00';
  // Forward pointer: to offset 0x20, past the pointer itself.
  t.equal(dns(hex(`${hdr} c0 20 00 01 00 01 ${'00 '.repeat(30)}`)).status, st(Status.DNS_POINTER_FORWARD));
  // A label then a forward pointer.
  t.equal(dns(hex(`${hdr} 01 61 c0 10 00 01 00 01 00 00`)).status, st(Status.DNS_POINTER_FORWARD));
  // A pointer to itself (offset 12).
  t.equal(dns(hex(`${hdr} c0 0c 00 01 00 01`)).status, st(Status.DNS_POINTER_FORWARD));
  // A loop: label "a" then a pointer back to it, forever.
  t.equal(dns(hex(`${hdr} 01 61 c0 0c 00 01 00 01`)).status, st(Status.DNS_POINTER_HOPS_EXCEEDED));
  // A loop over a long label: the name grows past 255 octets before the hop limit.
  t.equal(dns(hex(`${hdr} 3f ${'78 '.repeat(63)} c0 0c 00 01 00 01`)).status, st(Status.DNS_NAME_TOO_LONG));
  // Pointer whose second byte is past the message end.
  t.equal(dns(hex(`${hdr} c0`)).status, st(Status.DNS_NAME_OVERRUN));
  // 0x40 and 0x80 label types are reserved (RFC 6891 §5 retired 0x40 extended labels).
  t.equal(dns(hex(`${hdr} 41 61 00 00 01 00 01`)).status, st(Status.DNS_LABEL_TYPE_RESERVED));
  t.equal(dns(hex(`${hdr} 81 61 00 00 01 00 01`)).status, st(Status.DNS_LABEL_TYPE_RESERVED));
  // After a valid label too.
  t.equal(dns(hex(`${hdr} 01 61 40 00 00 01 00 01`)).status, st(Status.DNS_LABEL_TYPE_RESERVED));
  t.end();
});

t.test('name length limit: 255 octets', (t) => {
  const x = (n: number): string => 'x'.repeat(n);
  // 64 + 64 + 64 + 62 + 1 = 255.
  const max = Buffer.concat([hex('12 34 01 00 00 01 00 00 00 00 00 00'), wireName([x(63), x(63), x(63), x(61)]), hex('00 01 00 01')]);
  const c = copied(max);
  t.equal(c.snap.status, st(Status.OK));
  t.equal(c.snap.dns.nameLength, MAX_NAME_LEN);
  t.same(c.name, wireName([x(63), x(63), x(63), x(61)]));
  // One more octet.
  const over = Buffer.concat([hex('12 34 01 00 00 01 00 00 00 00 00 00'), wireName([x(63), x(63), x(63), x(62)]), hex('00 01 00 01')]);
  t.equal(dns(over).status, st(Status.DNS_NAME_TOO_LONG));
  t.end();
});

t.test('overruns and truncation', (t) => {
  const hdr = '12 34 01 00 00 01 00 00 00 00 00 00';
  t.equal(dns(hex('12 34 01 00 00 01 00 00 00 00 00')).status, st(Status.DNS_HEADER_OVERRUN), '11-byte message');
  t.equal(dns(hex(`${hdr} 05 61 62`)).status, st(Status.DNS_NAME_OVERRUN), 'label past the end');
  t.equal(dns(hex(`${hdr} 01 61`)).status, st(Status.DNS_NAME_OVERRUN), 'no root label');
  t.equal(dns(hex(`${hdr} 01 61 00 00 01 00`)).status, st(Status.DNS_QUESTION_OVERRUN), 'three bytes of type and class');
  t.equal(dns(hex(`${hdr} 00`)).status, st(Status.DNS_QUESTION_OVERRUN));
  // The same messages cut by the capture, not by the sender: truncated.
  const full = plainDns({ dns: defaultQuery('truncated.example') });
  for (const cut of [MSG + 5, MSG + 12, MSG + 15, full.length - 2]) {
    const s = decodeAt(full, 0, 0, { n: cut }).snap;
    t.equal(s.status, st(Status.TRUNCATED), `captured to ${cut} of ${full.length}`);
  }
  t.end();
});

t.test('hashes ignore ASCII case only', (t) => {
  const h = (name: string): [number, number] => {
    const s = dns(defaultQuery(name));
    return [s.dns.nameHash1, s.dns.nameHash2];
  };
  t.same(h('ExAmPlE.CoM'), h('example.com'));
  t.same(h('KUBERNETES.default.SVC.cluster.local'), h('kubernetes.default.svc.cluster.local'));
  t.notSame(h('example.com'), h('example.org'));
  t.notSame(h('a.bc'), h('ab.c'), 'label boundaries count');
  t.notSame(h('a'), h('a.a'));
  // Latin-1 É (0xc9) and é (0xe9) are different octets: DNS folds ASCII only (RFC 4343).
  const latin = (b: number): Snap => dns(Buffer.concat([hex('12 34 01 00 00 01 00 00 00 00 00 00'), wireName([[b]]), hex('00 01 00 01')]));
  t.not(latin(0xc9).dns.nameHash1, latin(0xe9).dns.nameHash1);
  // The same name inside VXLAN hashes the same.
  const v = decodeAt(vxlanDns({ inner: { dns: defaultQuery('EXAMPLE.com') } }), 0, 0).snap;
  t.same([v.dns.nameHash1, v.dns.nameHash2], h('example.com'));
  t.end();
});

t.test('hash equality under random case changes', (t) => {
  const label = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_'.split('')), minLength: 1, maxLength: 20 });
  fc.assert(
    fc.property(fc.array(label, { minLength: 1, maxLength: 5 }), fc.array(fc.boolean(), { minLength: 100, maxLength: 100 }), (labels, upper) => {
      const name = labels.join('.');
      const mixed = name.split('').map((c, i) => (upper[i % 100] ? c.toUpperCase() : c)).join('');
      const a = dns(defaultQuery(name)).dns;
      const b = dns(defaultQuery(mixed)).dns;
      return a.nameHash1 === b.nameHash1 && a.nameHash2 === b.nameHash2 && a.nameLength === b.nameLength;
    }),
    { numRuns: 500 },
  );
  t.pass('500 names');
  t.end();
});

/** Presentation form, written here independently: \. and \\ escaped, other non-printables \DDD. */
function present(labels: number[][]): string {
  if (labels.length === 0) return '.';
  return labels.map((l) => l.map((c) => (c === 0x2e || c === 0x5c ? '\\' + String.fromCharCode(c) : c > 0x20 && c < 0x7f ? String.fromCharCode(c) : '\\' + String(c).padStart(3, '0'))).join('')).join('.') + '.';
}

t.test('copyName and nameToString round trip', (t) => {
  const labels: (string | number[])[] = ['A.b', 'c\\d', ' x', [0x00, 0x7f, 0xff, 0x80], 'UPPER-case', '_srv'];
  const msg = Buffer.concat([hex('12 34 01 00 00 01 00 00 00 00 00 00'), wireName(labels), hex('00 21 00 01')]);
  for (const dstOffset of [0, 7]) {
    const c = copied(msg, dstOffset);
    t.equal(c.snap.status, st(Status.OK));
    const lower = labels.map((l) => (typeof l === 'string' ? [...Buffer.from(l.toLowerCase(), 'latin1')] : l));
    t.same(c.name, wireName(lower), 'copyName writes the lower-cased wire name');
    t.equal(c.length, c.snap.dns.nameLength);
    t.equal(nameToString(c.name, 0, c.length), 'a\\.b.c\\\\d.\\032x.\\000\\127\\255\\128.upper-case._srv.');
    t.equal(nameToString(c.name, 0, c.length), present(lower));
  }
  t.equal(nameToString(hex('00'), 0, 1), '.');
  t.end();
});

t.test('copyName follows pointers and matches nameToString on random names', (t) => {
  const labelArb = fc.uint8Array({ minLength: 1, maxLength: 63 });
  fc.assert(
    fc.property(fc.array(labelArb, { minLength: 0, maxLength: 3 }), fc.uint8Array({ minLength: 0, maxLength: 4 }), (head, tail) => {
      // The tail (one label of up to 4 octets, or the root) sits at offset 6 of the header, in the
      // ANCOUNT/NSCOUNT/ARCOUNT fields; the question is the head labels, then a pointer to it.
      const header = hex('12 34 01 00 00 01 00 00 00 00 00 00');
      if (tail.length > 0) wireName([[...tail]]).copy(header, 6);
      const labels = [...head.map((l) => [...l]), ...(tail.length > 0 ? [[...tail]] : [])];
      fc.pre(labels.reduce((a, l) => a + l.length + 1, 1) <= 255);
      const q = wireName(head.map((l) => [...l]));
      const msg = Buffer.concat([header, q.subarray(0, q.length - 1), hex('c0 06 00 01 00 01')]);
      const c = copied(msg);
      if (c.snap.status !== st(Status.OK)) return false;
      const lower = labels.map((l) => l.map((b) => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b)));
      return c.name.equals(wireName(lower)) && c.length === c.snap.dns.nameLength && nameToString(c.name, 0, c.length) === present(lower);
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 names');
  t.end();
});

t.test('DNS ports', (t) => {
  // Default: 53 at either end.
  t.equal(dns(defaultQuery(), { sport: 53, dport: 40000 }).dns.present, true);
  t.equal(dns(defaultQuery(), { sport: 40000, dport: 53 }).dns.present, true);
  t.equal(dns(defaultQuery(), { sport: 40000, dport: 5353 }).dns.present, false);
  // Configured ports replace the default.
  const s = decodeAt(plainDns({ dport: 5353 }), 0, 0, { opts: { dnsPorts: [5353] } }).snap;
  t.equal(s.dns.present, true);
  t.equal(decodeAt(plainDns({ dport: 53 }), 0, 0, { opts: { dnsPorts: [5353] } }).snap.dns.present, false);
  // DNS over TCP is not decoded.
  t.equal(decodeAt(plainTcp({ dport: 53 }), 0, 0).snap.dns.present, false);
  t.end();
});

t.test('DNS over TCP: every message of a segment, not only the first (RFC 7766 §6.2.1.1)', (t) => {
  const q = (id: number) => dnsPacket.encode({ type: 'query', id, flags: 0, questions: [{ type: 'A', name: `q${id}.example` }] });
  const framed = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);
  const three = Buffer.concat([framed(q(1)), framed(q(2)), framed(q(3))]);
  const frame = plainTcp({ payload: three, dport: 53 });
  const f = new Frame();
  decodeAt(frame, 0, 0, {}, f);
  t.equal(f.dns.id, 1, 'the decoder reads the first');
  const ids = [f.dns.id];
  const m = new DnsView();
  Object.assign(m, { tcpNext: f.dns.tcpNext, tcpEnd: f.dns.tcpEnd, inner: f.dns.inner });
  while (nextTcpMessage(frame, m)) ids.push(m.id);
  t.same(ids, [1, 2, 3], 'nextTcpMessage the others, in order');
  t.equal(f.dns.id, 1, "the frame's own view is left alone");
  // A message that runs past the segment is not read (split across segments).
  const cut = plainTcp({ payload: Buffer.concat([framed(q(1)), framed(q(2)).subarray(0, 10)]), dport: 53 });
  const g = new Frame();
  decodeAt(cut, 0, 0, {}, g);
  const m2 = new DnsView();
  Object.assign(m2, { tcpNext: g.dns.tcpNext, tcpEnd: g.dns.tcpEnd });
  t.notOk(nextTcpMessage(cut, m2), 'the cut second message is not read');
  t.end();
});
