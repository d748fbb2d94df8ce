// Property tests (fast-check), bounded to 2000 runs each:
//  1. the decoder never throws on random bytes, random off/end/wireLen/link type/direction;
//  2. nor on valid frames from the builder after random flips, inserts, deletes and truncations;
//  3. it reads nothing outside [off, end): every index it touches is recorded through a Proxy, and
//     the result does not change when the bytes outside are changed (the checksum sums read
//     through a DataView on the buffer's memory, which no Proxy sees: for them the second check
//     is the one, and test/reliability/fuzz.ts makes it on every fuzzed frame);
//  4. every checksum result is -1..4 and every status a known Status;
//  5. random valid frames with random checksum modes decode to the results CONTRACT.md says.

import t, { Test } from 'tap';
import fc from 'fast-check';
import * as dnsPacket from 'dns-packet';
import { Csum } from '../../src/decode/checksum';
import { Decoder, DecoderOptions } from '../../src/decode/decoder';
import { DIR_RX, DIR_TX, Frame, Layer, LAYER_COUNT } from '../../src/decode/frame';
import { Status, STATUS_COUNT } from '../../src/decode/status';
import { build, Built, CsumMode, Ext6, FrameSpec, IpSpec, L4Spec, LinkSpec, Marks } from '../support/packets';
import { snapshot } from './fixtures/harness';

const RUNS = 2000;
const LINK_TYPES = [0, 1, 12, 14, 101, 113, 228, 229, 276];
const LINK_OF: Record<LinkSpec['kind'], number> = { eth: 1, sll: 113, sll2: 276, raw: 101 };

const decoders: Decoder[] = [new Decoder(), new Decoder({ vxlanPorts: [4789], dnsPorts: [53, 5353] })];

function checkRanges(f: Frame): string | null {
  for (let l = 0; l < LAYER_COUNT; l++) if (f.csum[l] < -1 || f.csum[l] > Csum.UNVERIFIABLE) return `layer ${l} result ${f.csum[l]}`;
  if (!(f.status >= 0 && f.status < STATUS_COUNT)) return `status ${f.status}`;
  if (f.pseudoOnlyBad & ~f.badMask()) return `pseudo-only bits ${f.pseudoOnlyBad} without bad ${f.badMask()}`;
  return null;
}

/** A view of buf that records every index read outside [off, end). */
function guarded(buf: Buffer, off: number, end: number, outside: string[]): Buffer {
  return new Proxy(buf, {
    get(target, prop) {
      if (typeof prop === 'string') {
        const i = Number(prop);
        if (prop === 'NaN' || (!Number.isNaN(i) && (!Number.isInteger(i) || i < off || i >= end))) outside.push(prop);
      }
      return Reflect.get(target, prop, target);
    },
  });
}

interface Run {
  bytes: Uint8Array;
  off: number;
  n: number;
  wireLen: number;
  linkType: number;
  dir: number;
  dec: number;
}

/** Decodes a run three ways (two garbage fills, and a guarded buffer); returns a problem or null. */
function check(r: Run, fillA: number, fillB: Uint8Array): string | null {
  const d = decoders[r.dec];
  const place = (fill: (buf: Buffer) => void): Buffer => {
    const buf = Buffer.alloc(r.off + r.n + 40);
    fill(buf);
    Buffer.from(r.bytes.subarray(0, r.n)).copy(buf, r.off);
    return buf;
  };
  const a = place((b) => b.fill(fillA));
  const b = place((b) => { for (let i = 0; i < b.length; i++) b[i] = fillB[i % fillB.length]; });
  const fa = new Frame();
  const fb = new Frame();
  const fg = new Frame();
  const outside: string[] = [];
  try {
    d.decode(a, r.off, r.off + r.n, r.wireLen, r.linkType, r.dir, fa);
    d.decode(b, r.off, r.off + r.n, r.wireLen, r.linkType, r.dir, fb);
    d.decode(guarded(a, r.off, r.off + r.n, outside), r.off, r.off + r.n, r.wireLen, r.linkType, r.dir, fg);
  } catch (e) {
    return `threw ${String(e)}`;
  }
  const range = checkRanges(fa);
  if (range) return range;
  if (outside.length > 0) return `read outside [${r.off}, ${r.off + r.n}): ${outside.slice(0, 5).join(',')}`;
  const sa = JSON.stringify(snapshot(fa));
  if (sa !== JSON.stringify(snapshot(fb))) return `result depends on bytes outside: ${sa} vs ${JSON.stringify(snapshot(fb))}`;
  if (sa !== JSON.stringify(snapshot(fg))) return 'guarded result differs';
  return null;
}

function assertProperty<T>(t: Test, name: string, arb: fc.Arbitrary<T>, pred: (v: T) => string | null): void {
  const out = fc.check(fc.property(arb, (v) => {
    const p = pred(v);
    if (p !== null) throw new Error(p);
  }), { numRuns: RUNS });
  t.notOk(out.failed, name + (out.failed ? `: ${String(fc.defaultReportMessage(out))}` : ''));
}

t.test('1. random bytes: no throw, no read outside, results in range', (t) => {
  const arb = fc.uint8Array({ minLength: 0, maxLength: 160 }).chain((bytes) =>
    fc.record({
      bytes: fc.constant(bytes),
      off: fc.integer({ min: 0, max: 9 }),
      n: fc.integer({ min: 0, max: bytes.length }),
      wireLen: fc.integer({ min: 0, max: 400 }),
      linkType: fc.oneof(fc.constantFrom(...LINK_TYPES), fc.integer({ min: 0, max: 300 })),
      dir: fc.integer({ min: 0, max: 3 }),
      dec: fc.integer({ min: 0, max: 1 }),
    }));
  assertProperty(t, 'random bytes', fc.tuple(arb, fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 1, maxLength: 17 })), ([r, a, b]) => check(r, a, b));
  t.end();
});

// ---------------------------------------------------------------------------------------------
// Random valid frames.

const PORTS = fc.integer({ min: 1024, max: 60000 }).filter((p) => p !== 4789 && p !== 8472 && p !== 5353 && p !== 6081);
const label = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-'.split('')), minLength: 1, maxLength: 15 });
const dnsName = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
const V4 = ['10.0.0.1', '10.0.0.53', '192.168.7.9', '172.16.255.254', '1.2.3.4'];
const V6 = ['fd00::1', 'fd00::53', '2001:db8::1234:5678', 'fe80::1', '::1', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'];

const ip4: fc.Arbitrary<IpSpec> = fc.record({
  v: fc.constant(4 as const),
  src: fc.constantFrom(...V4),
  dst: fc.constantFrom(...V4),
  ttl: fc.integer({ min: 1, max: 255 }),
  id: fc.integer({ min: 0, max: 0xffff }),
  df: fc.boolean(),
  options: fc.constantFrom<number[]>([], [0x94, 4, 0, 0], [1, 1, 1, 0], [7, 7, 4, 0, 0, 0, 0, 0]),
  csum: fc.constantFrom<'correct' | 'flip'>('correct', 'correct', 'flip'),
});

const routing: fc.Arbitrary<Ext6> = fc.oneof(
  fc.record({ kind: fc.constant('routing' as const), routingType: fc.constant(2), segmentsLeft: fc.integer({ min: 0, max: 1 }), addresses: fc.array(fc.constantFrom(...V6), { minLength: 1, maxLength: 1 }) }),
  fc.array(fc.constantFrom(...V6), { minLength: 1, maxLength: 3 }).chain((addresses) =>
    fc.record({ kind: fc.constant('routing' as const), routingType: fc.constantFrom(0, 4), segmentsLeft: fc.integer({ min: 0, max: addresses.length }), addresses: fc.constant(addresses) })),
);

const ext6: fc.Arbitrary<Ext6[]> = fc.record({
  hbh: fc.boolean(),
  dst1: fc.boolean(),
  rt: fc.option(routing, { nil: undefined }),
  frag: fc.boolean(),
  dst2: fc.boolean(),
}).map((e) => {
  const out: Ext6[] = [];
  if (e.hbh) out.push({ kind: 'hbh', options: [5, 2, 0, 0] });
  if (e.dst1) out.push({ kind: 'dst' });
  if (e.rt) out.push(e.rt);
  if (e.frag) out.push({ kind: 'fragment', offset: 0, more: false }); // atomic: a whole datagram
  if (e.dst2) out.push({ kind: 'dst', options: [0x1e, 3, 1, 2, 3] });
  return out;
});

const ip6: fc.Arbitrary<IpSpec> = fc.record({
  v: fc.constant(6 as const),
  src: fc.constantFrom(...V6),
  dst: fc.constantFrom(...V6),
  hopLimit: fc.integer({ min: 1, max: 255 }),
  flowLabel: fc.integer({ min: 0, max: 0xfffff }),
  ext: ext6,
});

const udpMode = fc.constantFrom<CsumMode>('correct', 'correct', 'zero', 'pseudo', 'flip');
const tcpMode = fc.constantFrom<CsumMode>('correct', 'correct', 'zero', 'pseudo', 'flip');

const dnsMsg: fc.Arbitrary<dnsPacket.Packet> = fc.record({
  response: fc.boolean(),
  id: fc.integer({ min: 0, max: 0xffff }),
  name: dnsName,
  qtype: fc.constantFrom<dnsPacket.RecordType>('A', 'AAAA', 'TXT', 'SRV', 'PTR'),
  rcode: fc.integer({ min: 0, max: 5 }),
}).map((m) => m.response
  ? { type: 'response', id: m.id, flags: m.rcode | dnsPacket.RECURSION_AVAILABLE, questions: [{ type: m.qtype, name: m.name, class: 'IN' }], answers: [{ type: 'A', name: m.name, ttl: 30, data: '10.1.2.3' }] }
  : { type: 'query', id: m.id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: m.qtype, name: m.name, class: 'IN' }] });

const l4: fc.Arbitrary<L4Spec> = fc.oneof(
  fc.record({ kind: fc.constant('udp' as const), sport: PORTS, dport: fc.constant(53), csum: udpMode, dns: dnsMsg }),
  fc.record({ kind: fc.constant('udp' as const), sport: fc.constant(53), dport: PORTS, csum: udpMode, dns: dnsMsg }),
  fc.record({ kind: fc.constant('udp' as const), sport: PORTS, dport: PORTS, csum: udpMode, payload: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({
    kind: fc.constant('tcp' as const), sport: PORTS, dport: PORTS, csum: tcpMode, payload: fc.uint8Array({ maxLength: 40 }),
    flags: fc.integer({ min: 0, max: 255 }), options: fc.constantFrom<number[]>([], [2, 4, 5, 0xb4], [1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8], [1, 3, 3, 7]),
  }),
);

const stack: fc.Arbitrary<{ ip: IpSpec; l4: L4Spec }> = fc.record({ ip: fc.oneof(ip4, ip6), l4 });

const vlans = (max: number) => fc.array(fc.record({ tpid: fc.constantFrom(0x8100, 0x88a8, 0x9100), vid: fc.integer({ min: 0, max: 4095 }), pcp: fc.integer({ min: 0, max: 7 }) }), { maxLength: max });

const outerLink: fc.Arbitrary<LinkSpec> = fc.oneof(
  fc.record({ kind: fc.constant('eth' as const), vlans: vlans(2), pad: fc.record({ to: fc.constant(60), byte: fc.integer({ min: 0, max: 255 }) }) }),
  fc.record({ kind: fc.constant('sll' as const), pktType: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('sll2' as const), pktType: fc.integer({ min: 0, max: 7 }) }),
  fc.constant({ kind: 'raw' as const }),
);

interface Case {
  spec: FrameSpec;
  dir: number;
}

const plainCase: fc.Arbitrary<Case> = fc.record({ link: outerLink, s: stack, dir: fc.integer({ min: 0, max: 2 }) })
  .map(({ link, s, dir }) => ({ spec: { link, ip: s.ip, l4: s.l4 }, dir }));

const vxlanCase: fc.Arbitrary<Case> = fc.record({
  link: outerLink,
  ip: fc.oneof(ip4, ip6),
  sport: PORTS,
  dport: fc.constantFrom(4789, 8472),
  csum: fc.constantFrom<CsumMode>('correct', 'lco', 'lco', 'zero', 'pseudo', 'flip'),
  vni: fc.integer({ min: 0, max: 0xffffff }),
  innerVlans: vlans(1),
  inner: stack,
  dir: fc.integer({ min: 0, max: 2 }),
}).map((c) => ({
  spec: {
    link: c.link, ip: c.ip,
    l4: { kind: 'udp', sport: c.sport, dport: c.dport, csum: c.csum, vxlan: { vni: c.vni, inner: { link: { kind: 'eth', vlans: c.innerVlans }, ip: c.inner.ip, l4: c.inner.l4 } } },
  },
  dir: c.dir,
}));

const geneveOption = fc.record({
  cls: fc.integer({ min: 0, max: 0xffff }),
  type: fc.integer({ min: 0, max: 255 }),
  data: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }),
});

/** Geneve (RFC 8926): random options, O and C bits, an Ethernet (0x6558) or a bare IP payload. */
const geneveCase: fc.Arbitrary<Case> = fc.record({
  link: outerLink,
  ip: fc.oneof(ip4, ip6),
  sport: PORTS,
  csum: fc.constantFrom<CsumMode>('correct', 'lco', 'lco', 'zero', 'pseudo', 'flip'),
  vni: fc.integer({ min: 0, max: 0xffffff }),
  flags: fc.constantFrom(0, 0x80, 0x40, 0xc0, 0x3f),
  options: fc.array(geneveOption, { maxLength: 3 }),
  innerLink: fc.oneof(fc.record({ kind: fc.constant('eth' as const), vlans: vlans(1) }), fc.constant({ kind: 'raw' as const })),
  inner: stack,
  dir: fc.integer({ min: 0, max: 2 }),
}).map((c) => ({
  spec: {
    link: c.link, ip: c.ip,
    l4: { kind: 'udp', sport: c.sport, dport: 6081, csum: c.csum, geneve: { vni: c.vni, flags: c.flags, options: c.options, inner: { link: c.innerLink, ip: c.inner.ip, l4: c.inner.l4 } } },
  },
  dir: c.dir,
}));

const anyCase = fc.oneof(plainCase, vxlanCase, geneveCase);

function modeOf(l: L4Spec): CsumMode {
  return l.csum ?? 'correct';
}

/** The direction the decoder should settle on. */
function direction(c: Case): number {
  const l = c.spec.link ?? { kind: 'eth' };
  if (l.kind === 'sll' || l.kind === 'sll2') return l.pktType === 4 ? DIR_TX : l.pktType <= 3 ? DIR_RX : c.dir;
  return c.dir;
}

/** Expected result of a transport checksum from its mode (CONTRACT.md), or null to skip a collision. */
function expectL4(mode: CsumMode, l: L4Spec, v: 4 | 6, m: Marks, dir: number, tunnel: boolean): number | null {
  // Builder-side coincidences that would make the field mean something else: skip them.
  if (mode !== 'pseudo' && m.field === m.pseudo) return null;
  if (m.pseudo === m.correct) return null;
  switch (mode) {
    case 'correct': return Csum.OK;
    case 'flip': return Csum.BAD;
    case 'pseudo': return dir === DIR_RX ? Csum.BAD : Csum.PARTIAL;
    case 'zero':
      if (l.kind === 'tcp') return m.correct === 0 ? Csum.OK : Csum.BAD;
      return v === 4 || tunnel ? Csum.NONE : Csum.BAD;
    default: return null;
  }
}

interface Expect {
  csum: number[];
  pseudoOnlyBad: number;
  dns: { id: number; qr: number; nameLength: number; inner: boolean } | null;
}

function nameWireLength(name: string): number {
  return name.split('.').reduce((a, l) => a + l.length + 1, 1);
}

function dnsExpect(l: L4Spec, inner: boolean): Expect['dns'] {
  if (l.kind !== 'udp' || !l.dns || (l.sport !== 53 && l.dport !== 53)) return null;
  return { id: l.dns.id ?? 0, qr: l.dns.type === 'response' ? 1 : 0, nameLength: nameWireLength(l.dns.questions![0].name), inner };
}

function expected(c: Case, b: Built): Expect | null {
  const dir = direction(c);
  const csum = new Array<number>(LAYER_COUNT).fill(-1);
  let pob = 0;
  const ip = c.spec.ip;
  const l = c.spec.l4;
  if (ip.v === 4) csum[Layer.IPV4] = ip.csum === 'flip' ? Csum.BAD : Csum.OK;
  const vx = l.kind === 'udp' ? l.vxlan ?? l.geneve : undefined;
  if (!vx) {
    const layer = l.kind === 'udp' ? Layer.UDP : Layer.TCP;
    const r = expectL4(modeOf(l), l, ip.v, b.marks, dir, false);
    if (r === null) return null;
    csum[layer] = r;
    if (modeOf(l) === 'pseudo' && dir === DIR_RX) pob |= 1 << layer;
    return { csum, pseudoOnlyBad: pob, dns: dnsExpect(l, false) };
  }
  const inner = vx.inner;
  const im = b.marks.inner!;
  // The tunnel's layers: vxlan.* or geneve.*.
  const base = l.kind === 'udp' && l.geneve ? Layer.GENEVE_IPV4 : Layer.VXLAN_IPV4;
  if (inner.ip.v === 4) csum[base] = inner.ip.csum === 'flip' ? Csum.BAD : Csum.OK;
  const il = inner.l4;
  const ilayer = base + (il.kind === 'udp' ? Layer.UDP : Layer.TCP) - Layer.IPV4;
  const ir = expectL4(modeOf(il), il, inner.ip.v, im, dir, false);
  if (ir === null) return null;
  csum[ilayer] = ir;
  if (modeOf(il) === 'pseudo' && dir === DIR_RX) pob |= 1 << ilayer;
  // The outer UDP checksum.
  const om = modeOf(l);
  let or: number | null;
  if (om === 'lco') {
    if (b.marks.field === b.marks.pseudo) return null;
    // Complete inner: lco is a plain correct checksum. Partial inner: verified as completed.
    // Inner pseudo received: the inner is bad and the outer, as on the wire, does not verify.
    or = modeOf(il) === 'pseudo' && dir === DIR_RX ? Csum.BAD : Csum.OK;
    if (modeOf(il) === 'pseudo' && dir === DIR_RX && b.marks.field === b.marks.correct) return null;
  } else {
    or = expectL4(om, l, ip.v, b.marks, dir, true);
    if (or === null) return null;
    if (om === 'pseudo' && dir === DIR_RX) pob |= 1 << Layer.UDP;
  }
  csum[Layer.UDP] = or;
  return { csum, pseudoOnlyBad: pob, dns: dnsExpect(il, true) };
}

t.test('5. random valid frames decode to the results the contract gives', (t) => {
  const arb = fc.tuple(anyCase, fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 255 }));
  assertProperty(t, 'oracle', arb, ([c, off, garbage]) => {
    const b = build(c.spec);
    const want = expected(c, b);
    if (want === null) return null;
    const linkType = LINK_OF[(c.spec.link ?? { kind: 'eth' }).kind];
    const buf = Buffer.alloc(off + b.bytes.length + 20, garbage);
    b.bytes.copy(buf, off);
    const f = new Frame();
    decoders[0].decode(buf, off, off + b.bytes.length, b.bytes.length, linkType, c.dir, f);
    const got = { status: f.status, dir: f.dir, csum: Array.from(f.csum), pseudoOnlyBad: f.pseudoOnlyBad };
    const exp = { status: Status.OK, dir: direction(c), csum: want.csum, pseudoOnlyBad: want.pseudoOnlyBad };
    if (JSON.stringify(got) !== JSON.stringify(exp)) return `got ${JSON.stringify(got)}, expected ${JSON.stringify(exp)}`;
    if (want.dns) {
      const d = f.dns;
      const g = { present: d.present, keyed: d.keyed, id: d.id, qr: d.qr, nameLength: d.nameLength, inner: d.inner };
      const e = { present: true, keyed: true, ...want.dns };
      if (JSON.stringify(g) !== JSON.stringify(e)) return `dns ${JSON.stringify(g)}, expected ${JSON.stringify(e)}`;
    } else if (f.dns.present) return 'unexpected dns';
    // Every captured length of it: never throws, never reads outside, never bad where the full
    // frame was not. (A sample of lengths keeps the run short.)
    for (const n of [0, 13, 14, 33, 41, 49, 63, b.bytes.length >> 1, b.bytes.length - 1]) {
      if (n < 0 || n >= b.bytes.length) continue;
      const p = check({ bytes: b.bytes, off, n, wireLen: b.bytes.length, linkType, dir: c.dir, dec: 0 }, garbage, new Uint8Array([garbage ^ 0xff]));
      if (p) return `n=${n}: ${p}`;
      const g = new Frame();
      decoders[0].decode(buf, off, off + n, b.bytes.length, linkType, c.dir, g);
      for (let l = 0; l < LAYER_COUNT; l++) {
        if (g.csum[l] === Csum.BAD && want.csum[l] !== Csum.BAD) return `n=${n}: layer ${l} bad when truncated`;
      }
    }
    return null;
  });
  t.end();
});

// ---------------------------------------------------------------------------------------------
// Mutated valid frames.

type Mutation =
  | { k: 'flip'; pos: number; bit: number }
  | { k: 'set'; pos: number; val: number }
  | { k: 'insert'; pos: number; bytes: Uint8Array }
  | { k: 'delete'; pos: number; n: number }
  | { k: 'truncate'; pos: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ k: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ k: fc.constant('set' as const), pos: fc.nat(), val: fc.oneof(fc.constantFrom(0, 1, 0xff, 0xc0, 0xc1, 0x40, 0x80, 0x3f, 0x06, 0x11, 0x2b, 0x2c, 0x33, 0x3c, 0x08, 0x86, 0x81, 0x45, 0x4f, 0x60), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ k: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ k: fc.constant('delete' as const), pos: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ k: fc.constant('truncate' as const), pos: fc.nat() }),
);

function mutate(bytes: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(bytes);
  for (const m of ms) {
    if (b.length === 0) break;
    const pos = m.pos % b.length;
    switch (m.k) {
      case 'flip': b[pos] ^= 1 << m.bit; break;
      case 'set': b[pos] = m.val; break;
      case 'insert': b = Buffer.concat([b.subarray(0, pos), Buffer.from(m.bytes), b.subarray(pos)]); break;
      case 'delete': b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + m.n)]); break;
      case 'truncate': b = b.subarray(0, pos); break;
    }
  }
  return b;
}

t.test('2 + 3 + 4. mutated valid frames: no throw, no read outside, results in range', (t) => {
  const arb = fc.record({
    c: anyCase,
    ms: fc.array(mutation, { minLength: 1, maxLength: 4 }),
    off: fc.integer({ min: 0, max: 9 }),
    cut: fc.nat(),
    wire: fc.oneof(fc.constant(-1), fc.constant(-2), fc.nat({ max: 400 })),
    dir: fc.integer({ min: 0, max: 2 }),
    dec: fc.integer({ min: 0, max: 1 }),
    fillA: fc.integer({ min: 0, max: 255 }),
    fillB: fc.uint8Array({ minLength: 1, maxLength: 13 }),
  });
  assertProperty(t, 'mutated frames', arb, (v) => {
    const b = build(v.c.spec);
    const bytes = mutate(b.bytes, v.ms);
    const n = bytes.length === 0 ? 0 : v.cut % (bytes.length + 1);
    const linkType = LINK_OF[(v.c.spec.link ?? { kind: 'eth' }).kind];
    // Wire length: the whole mutated frame (-1), just what was captured (-2), or anything.
    const wireLen = v.wire === -1 ? bytes.length : v.wire === -2 ? n : v.wire;
    return check({ bytes, off: v.off, n, wireLen, linkType, dir: v.dir, dec: v.dec }, v.fillA, v.fillB);
  });
  t.end();
});

t.test('decoder options with random ports', (t) => {
  const arb = fc.record({
    c: anyCase,
    vx: fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 0, maxLength: 3 }),
    dn: fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 0, maxLength: 3 }),
  });
  const out = fc.check(fc.property(arb, (v) => {
    const opts: DecoderOptions = { vxlanPorts: [...v.vx, 4789], dnsPorts: v.dn };
    const d = new Decoder(opts);
    const b = build(v.c.spec).bytes;
    const f = new Frame();
    d.decode(b, 0, b.length, b.length, LINK_OF[(v.c.spec.link ?? { kind: 'eth' }).kind], v.c.dir, f);
    const r = checkRanges(f);
    if (r) throw new Error(r);
  }), { numRuns: 300 });
  t.notOk(out.failed, out.failed ? String(fc.defaultReportMessage(out)) : 'random decoder ports');
  t.end();
});
