// The decoder as a whole, case by case against CONTRACT.md's checksum semantics:
// ok | bad | none | partial | unverifiable, direction decides partial, local checksum offload,
// zero UDP checksums, fragments, routing headers, tags, cooked captures, padding, VXLAN ports.

import t from 'tap';
import { Csum } from '../../src/decode/checksum';
import { Decoder, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2 } from '../../src/decode/decoder';
import { DIR_RX, DIR_TX, DIR_UNKNOWN, Frame, Layer } from '../../src/decode/frame';
import { Status, statusName } from '../../src/decode/status';
import { build, defaultResponse, FrameSpec, plainDns, plainDnsSpec, plainTcp, vxlanDns, vxlanDnsSpec } from '../support/packets';
import { decodeAt, decodeVector, snapshot } from './fixtures/harness';

const st = (s: Status): string => statusName(s);
const DIRS = [DIR_UNKNOWN, DIR_TX, DIR_RX];

t.test('partial: sent or unknown direction; the same bytes received are bad', (t) => {
  const frames: [string, Buffer, Layer][] = [
    ['udp/ipv4', plainDns({ udpCsum: 'pseudo' }), Layer.UDP],
    ['udp/ipv6', plainDns({ v: 6, udpCsum: 'pseudo' }), Layer.UDP],
    ['tcp/ipv4', plainTcp({ csum: 'pseudo' }), Layer.TCP],
    ['tcp/ipv6', plainTcp({ v: 6, csum: 'pseudo' }), Layer.TCP],
    ['vxlan.udp', vxlanDns({ inner: { udpCsum: 'pseudo' } }), Layer.VXLAN_UDP],
  ];
  for (const [name, f, layer] of frames) {
    for (const dir of DIRS) {
      const s = decodeVector(t, f, { dir });
      if (dir === DIR_RX) {
        t.equal(s.csum[layer], Csum.BAD, `${name} received: bad`);
        t.equal(s.pseudoOnlyBad & (1 << layer), 1 << layer, `${name} received: pseudo-only bit`);
      } else {
        t.equal(s.csum[layer], Csum.PARTIAL, `${name} dir ${dir}: partial`);
        t.equal(s.pseudoOnlyBad, 0);
      }
    }
  }
  // badMask reports it.
  const f = new Frame();
  new Decoder().decode(frames[0][1], 0, frames[0][1].length, frames[0][1].length, 1, DIR_RX, f);
  t.equal(f.badMask(), 1 << Layer.UDP);
  t.end();
});

t.test('local checksum offload', (t) => {
  const lco = build(vxlanDnsSpec({ outerUdpCsum: 'lco', inner: { udpCsum: 'pseudo' } })).bytes;
  for (const dir of [DIR_UNKNOWN, DIR_TX]) {
    const s = decodeVector(t, lco, { dir });
    t.equal(s.csum[Layer.UDP], Csum.OK, `dir ${dir}: outer ok`);
    t.equal(s.csum[Layer.VXLAN_UDP], Csum.PARTIAL, `dir ${dir}: inner partial`);
  }
  const s = decodeVector(t, lco, { dir: DIR_RX });
  t.equal(s.csum[Layer.VXLAN_UDP], Csum.BAD, 'received: inner bad');
  t.ok(s.pseudoOnlyBad & (1 << Layer.VXLAN_UDP), 'received: inner pseudo-only bit');
  t.end();
});

t.test('zero UDP checksums', (t) => {
  t.equal(decodeVector(t, plainDns({ udpCsum: 'zero' })).csum[Layer.UDP], Csum.NONE, 'UDP/IPv4 zero: none');
  t.equal(decodeVector(t, plainDns({ v: 6, udpCsum: 'zero' })).csum[Layer.UDP], Csum.BAD, 'UDP/IPv6 zero, no tunnel: bad');
  t.equal(decodeVector(t, vxlanDns({ outerV: 6, outerUdpCsum: 'zero' })).csum[Layer.UDP], Csum.NONE, 'VXLAN outer UDP/IPv6 zero: none');
  t.equal(decodeVector(t, vxlanDns({ outerV: 4, outerUdpCsum: 'zero' })).csum[Layer.UDP], Csum.NONE, 'VXLAN outer UDP/IPv4 zero: none');
  t.end();
});

t.test('fragments', (t) => {
  const udp = plainDnsSpec({ dport: 7777, dns: Buffer.alloc(40, 1) });
  const v6 = plainDnsSpec({ v: 6, dport: 7777, dns: Buffer.alloc(40, 1) });
  const first4: FrameSpec = { ...udp, ip: { ...udp.ip, mf: true } as FrameSpec['ip'], l4Slice: [0, 24] };
  const later4: FrameSpec = { ...udp, ip: { ...udp.ip, fragOffset: 3 } as FrameSpec['ip'], l4Slice: [24, 48] };
  const first6: FrameSpec = { ...v6, ip: { ...v6.ip, ext: [{ kind: 'fragment', offset: 0, more: true }] } as FrameSpec['ip'], l4Slice: [0, 24] };
  const later6: FrameSpec = { ...v6, ip: { ...v6.ip, ext: [{ kind: 'fragment', offset: 3, more: false }] } as FrameSpec['ip'], l4Slice: [24, 48] };
  t.equal(decodeVector(t, build(first4).bytes).csum[Layer.UDP], Csum.UNVERIFIABLE, 'IPv4 first fragment: unverifiable');
  t.equal(decodeVector(t, build(later4).bytes).csum[Layer.UDP], -1, 'IPv4 later fragment: no result');
  t.equal(decodeVector(t, build(first6).bytes).csum[Layer.UDP], Csum.UNVERIFIABLE, 'IPv6 first fragment: unverifiable');
  t.equal(decodeVector(t, build(later6).bytes).csum[Layer.UDP], -1, 'IPv6 later fragment: no result');
  t.end();
});

t.test('routing header: the final destination is in the pseudo-header', (t) => {
  const f = plainDns({ v: 6, ext: [{ kind: 'routing', routingType: 2, segmentsLeft: 1, addresses: ['fd00::99'] }] });
  t.equal(decodeVector(t, f).csum[Layer.UDP], Csum.OK);
  const g = Buffer.from(f);
  g[14 + 40 + 3] = 0; // Segments Left 0: the IPv6 destination is used, and the checksum no longer holds.
  t.equal(decodeVector(t, g).csum[Layer.UDP], Csum.BAD);
  t.end();
});

t.test('802.1Q and QinQ', (t) => {
  let s = decodeVector(t, plainDns({ link: { kind: 'eth', vlans: [{ tpid: 0x8100, vid: 5 }] } }));
  t.equal(s.vlanTags, 1);
  t.same(s.csum, [Csum.OK, Csum.OK, -1, -1, -1, -1, -1, -1, -1]);
  s = decodeVector(t, vxlanDns({ outerLink: { kind: 'eth', vlans: [{ tpid: 0x88a8, vid: 5 }, { tpid: 0x8100, vid: 6 }] } }));
  t.equal(s.vlanTags, 2);
  t.same(s.csum, [Csum.OK, Csum.OK, -1, Csum.OK, Csum.OK, -1, -1, -1, -1]);
  t.end();
});

t.test('cooked captures: packet type 4 is outgoing, 0 is incoming', (t) => {
  for (const [kind, linkType] of [['sll', LINKTYPE_LINUX_SLL], ['sll2', LINKTYPE_LINUX_SLL2]] as const) {
    const spec = (pktType: number): Buffer => plainDns({ udpCsum: 'pseudo', link: { kind, pktType } });
    // The direction passed in is RX, but the capture says outgoing: partial allowed.
    let s = decodeVector(t, spec(4), { linkType, dir: DIR_RX });
    t.equal(s.dir, DIR_TX);
    t.equal(s.csum[Layer.UDP], Csum.PARTIAL, `${kind} type 4: partial`);
    s = decodeVector(t, spec(0), { linkType, dir: DIR_UNKNOWN });
    t.equal(s.dir, DIR_RX);
    t.equal(s.csum[Layer.UDP], Csum.BAD, `${kind} type 0: inbound, bad`);
    t.equal(s.pseudoOnlyBad, 1 << Layer.UDP);
    // A VXLAN frame seen outgoing on the underlay with lco and a partial inner checksum.
    const vx = build(vxlanDnsSpec({ outerLink: { kind, pktType: 4 }, outerUdpCsum: 'lco', inner: { udpCsum: 'pseudo' } })).bytes;
    s = decodeVector(t, vx, { linkType });
    t.equal(s.csum[Layer.UDP], Csum.OK);
    t.equal(s.csum[Layer.VXLAN_UDP], Csum.PARTIAL);
  }
  t.end();
});

t.test('Ethernet padding with nonzero bytes still verifies', (t) => {
  const f = build({ ...plainDnsSpec({ dport: 9, dns: Buffer.from('x') }), link: { kind: 'eth', pad: { to: 60, byte: 0xa5 } } }).bytes;
  t.equal(f.length, 60);
  t.same(decodeVector(t, f).csum, [Csum.OK, Csum.OK, -1, -1, -1, -1, -1, -1, -1]);
  const syn = plainTcp({ payload: Buffer.alloc(0), flags: 0x02, link: { kind: 'eth', pad: { to: 60, byte: 0xff } } });
  t.same(decodeVector(t, syn).csum, [Csum.OK, -1, Csum.OK, -1, -1, -1, -1, -1, -1]);
  t.end();
});

t.test('VXLAN ports', (t) => {
  t.equal(decodeVector(t, vxlanDns({ vxlanPort: 8472 })).vxlan, true, '8472 in the default set');
  t.equal(decodeVector(t, vxlanDns({ vxlanPort: 8472 }), { opts: { vxlanPorts: [4789] } }).vxlan, false, '--vxlan-port 4789 alone: 8472 is plain UDP');
  t.equal(decodeVector(t, vxlanDns({ vxlanPort: 4789 }), { opts: { vxlanPorts: [4789] } }).vxlan, true);
  // A DNS answer to a client whose ephemeral port happens to be a VXLAN port (found by bench/scale.ts).
  for (const port of [4789, 8472]) {
    const f = decodeVector(t, plainDns({ dns: defaultResponse(), sport: 53, dport: port }));
    t.equal(f.vxlan, false, `from 53 to ${port}: not VXLAN`);
    t.equal(f.status, 'ok');
    t.equal(f.dns.keyed, true, 'the answer is read as DNS');
    t.equal(f.dns.qr, 1);
  }
  t.end();
});

t.test('captured longer than the wire length: the captured length counts', (t) => {
  const f = plainDns();
  const s = decodeAt(f, 0, 0, { wireLen: 10 }).snap;
  t.equal(s.status, st(Status.OK));
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.end();
});

t.test('a reused Frame and Decoder carry nothing over', (t) => {
  const frames = [
    vxlanDns({ inner: { udpCsum: 'pseudo' } }),
    plainDns({ v: 6 }),
    plainTcp(),
    build({ ...plainDnsSpec({ dport: 7777, dns: Buffer.alloc(40, 1) }), ip: { v: 4, src: '10.0.0.1', dst: '10.0.0.2', fragOffset: 3 }, l4Slice: [24, 48] }).bytes,
    vxlanDns({ outerV: 6, inner: { v: 6, link: { kind: 'eth', vlans: [{ tpid: 0x8100, vid: 9 }] } } }),
    plainDns({ link: { kind: 'sll', pktType: 4 } }),
  ];
  const links = [1, 1, 1, 1, 1, LINKTYPE_LINUX_SLL];
  const d = new Decoder();
  const f = new Frame();
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < frames.length; i++) {
      d.decode(frames[i], 0, frames[i].length, frames[i].length, links[i], DIR_RX, f);
      const fresh = new Frame();
      new Decoder().decode(frames[i], 0, frames[i].length, frames[i].length, links[i], DIR_RX, fresh);
      t.same(snapshot(f), snapshot(fresh), `frame ${i}, round ${round}`);
    }
  }
  t.end();
});
