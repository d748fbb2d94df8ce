// The kernel capture filter (bpf/filter.bpf.c) loaded for real (root) and run by the kernel over
// frames (BPF_PROG_TEST_RUN), as a packet socket would run it: what it copies (DNS, plain or
// inside VXLAN, over IPv4 or IPv6, behind VLAN tags; VXLAN that is suspect; every VXLAN packet
// with copyVxlan), what it only counts (healthy VXLAN), and that its per-peer table and counters
// say exactly what it saw. Then the same over the frames of real captures from other projects'
// test corpora, against the user-space decoder's reading of the same frames.

import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { FILTER_STATS, KernelFilter } from '../../src/capture/kfilter';
import { LINKTYPE_ETHERNET, readCaptureFile } from '../../src/capture/replay';
import { Decoder } from '../../src/decode/decoder';
import { DIR_RX, Frame, Stack } from '../../src/decode/frame';
import { rootTest } from '../support/root';
import * as P from '../support/packets';

rootTest('the capture filter tests');

const SNAP = 4096;
const EXTERNAL = process.env.CSW_EXTERNAL_CAPTURES ?? join(__dirname, '..', '..', '..', '..', 'shared', 'external-captures');

function load(copyVxlan = false, tableSize = 64): KernelFilter {
  return new KernelFilter({ vxlanPorts: [4789, 8472], dnsPorts: [53], snaplen: SNAP, copyVxlan, tableSize });
}

function stats(k: KernelFilter): Record<string, number> {
  const s = k.stats();
  return Object.fromEntries(FILTER_STATS.map((w, i) => [w, s[i]]));
}

/** Per-peer counts as "family/dir/address" -> packets. */
function peers(k: KernelFilter): Record<string, number> {
  const out: Record<string, number> = {};
  k.readVteps((_ifindex, family, dir, addr, off, packets) => {
    const a = family === 4 ? [...addr.subarray(off, off + 4)].join('.') : addr.subarray(off, off + 16).toString('hex');
    out[`${family}/${dir === 0 ? 'rx' : 'tx'}/${a}`] = packets;
  });
  return out;
}

const inner4 = { link: { kind: 'eth' as const }, ip: { v: 4 as const, src: '10.244.1.5', dst: '10.244.0.7' } };
const tcpBulk: P.TcpSpec = { kind: 'tcp', sport: 5201, dport: 40000, payload: Buffer.alloc(1200) };
const dnsQuery: P.UdpSpec = { kind: 'udp', sport: 33000, dport: 53, dns: P.defaultQuery() };
function vxlan(l4: P.L4Spec, o: { outer6?: boolean; port?: number; flags?: number; vlans?: P.Vlan[]; innerIp?: P.IpSpec } = {}): Buffer {
  const ip: P.IpSpec = o.outer6 ? { v: 6, src: 'fd00::1', dst: 'fd00::2' } : { v: 4, src: '10.200.0.1', dst: '10.200.0.2' };
  return P.build({
    link: { kind: 'eth', vlans: o.vlans },
    ip,
    l4: { kind: 'udp', sport: 40000, dport: o.port ?? 4789, vxlan: { vni: 42, flags: o.flags, inner: { ...inner4, ...(o.innerIp ? { ip: o.innerIp } : {}), l4 } } },
  }).bytes;
}

t.test('what is copied and what is only counted', (t) => {
  const k = load();
  t.teardown(() => k.close());
  const cases: Array<[string, Buffer, boolean]> = [
    ['VXLAN 4789, inner TCP bulk', vxlan(tcpBulk), false],
    ['VXLAN 8472 (flannel), inner TCP bulk', vxlan(tcpBulk, { port: 8472 }), false],
    ['VXLAN over IPv6, inner TCP bulk', vxlan(tcpBulk, { outer6: true }), false],
    ['VXLAN behind 802.1Q, inner TCP bulk', vxlan(tcpBulk, { vlans: [{ tpid: 0x8100, vid: 100 }] }), false],
    ['VXLAN, inner DNS query', vxlan(dnsQuery), true],
    ['VXLAN over IPv6, inner DNS over IPv6', vxlan(dnsQuery, { outer6: true, innerIp: { v: 6, src: 'fd10::5', dst: 'fd10::7' } }), true],
    ['VXLAN behind QinQ, inner DNS', vxlan(dnsQuery, { vlans: [{ tpid: 0x88a8, vid: 10 }, { tpid: 0x8100, vid: 20 }] }), true],
    ['VXLAN, inner DNS over TCP', vxlan({ kind: 'tcp', sport: 33001, dport: 53, payload: Buffer.alloc(40) }), true],
    ['VXLAN with the I flag clear (suspect)', vxlan(tcpBulk, { flags: 0 }), true],
    ['plain DNS query', P.plainDns(), true],
    ['plain DNS response (source port 53)', P.build({ link: { kind: 'eth' }, ip: { v: 4, src: '10.0.0.53', dst: '10.0.0.1' }, l4: { kind: 'udp', sport: 53, dport: 33000, dns: P.defaultResponse() } }).bytes, true],
    ['plain UDP, not DNS', P.build({ link: { kind: 'eth' }, ip: { v: 4, src: '10.0.0.1', dst: '10.0.0.2' }, l4: { kind: 'udp', sport: 1000, dport: 9999, payload: Buffer.alloc(40) } }).bytes, false],
    ['ARP', Buffer.concat([Buffer.from('ffffffffffff020000000001', 'hex'), Buffer.from([0x08, 0x06]), Buffer.alloc(46)]), false],
  ];
  for (const [what, frame, copied] of cases) {
    const r = k.run(frame);
    t.equal(r.verdict, copied ? SNAP : 0, `${what}: ${copied ? 'copied' : 'not copied'}`);
  }
  const s = stats(k);
  t.equal(s.seen, cases.length, 'every frame seen');
  t.equal(s.vxlan, 9, 'every VXLAN frame counted');
  t.equal(s.tunnel_dns, 4, 'DNS inside VXLAN copied');
  t.equal(s.suspect, 1, 'the suspect one copied');
  t.equal(s.dns, 2, 'plain DNS copied');
  t.equal(s.not_copied, 6, 'the rest not copied');
  t.equal(s.vxlan_copied, 0, 'no VXLAN copied for judging without copyVxlan');
  // The test run's packets arrive (not OUTGOING): counted under the outer source.
  t.same(peers(k), { '4/rx/10.200.0.1': 7, '6/rx/fd000000000000000000000000000001': 2 }, 'per peer and family, by the outer source');
  t.end();
});

t.test('copyVxlan copies every VXLAN packet and still counts it', (t) => {
  const k = load(true);
  t.teardown(() => k.close());
  t.equal(k.run(vxlan(tcpBulk), 5).verdict, SNAP, 'bulk copied');
  t.equal(stats(k).vxlan_copied, 5);
  t.same(peers(k), { '4/rx/10.200.0.1': 5 });
  t.end();
});

t.test('a full peer table counts the rest under overflow, never loses a packet', (t) => {
  const k = load(false, 16);
  t.teardown(() => k.close());
  for (let i = 0; i < 20; i++) {
    const f = P.build({ link: { kind: 'eth' }, ip: { v: 4, src: `10.201.0.${i + 1}`, dst: '10.200.0.2' }, l4: { kind: 'udp', sport: 40000, dport: 4789, vxlan: { vni: 42, inner: { ...inner4, l4: tcpBulk } } } }).bytes;
    k.run(f, 3);
  }
  const table = Object.values(peers(k)).reduce((a, b) => a + b, 0);
  const [rx, tx] = k.overflow();
  t.equal(Object.keys(peers(k)).length, 16, 'the table holds 16 peers');
  t.equal(table + rx + tx, 60, 'table + overflow = every packet');
  t.equal(stats(k).overflow, rx, 'overflow counted in the stats too');
  t.end();
});

const noCaptures = existsSync(EXTERNAL) ? false : `no external captures at ${EXTERNAL} (set CSW_EXTERNAL_CAPTURES)`;
t.test('real captures: the filter copies exactly the frames the decoder finds DNS or suspect in', { skip: noCaptures }, (t) => {
  const files = ['sv-vxlan-decoder-03.pcap', 'sv-vxlan-decoder-01.pcap', 'sv-vxlan-non-zero-reserved-fields.pcap', 'tcpdump-gso-ipv4-vxlan-ipv4.pcap', 'tcpdump-gso-ipv6-vxlan-ipv6.pcap', 'gopacket-test_dns.pcap', 'sv-dns-bug-1158.pcap'];
  const dec = new Decoder();
  const f = new Frame();
  for (const file of files) {
    const k = load();
    let frames = 0;
    let vx = 0;
    const wrong: string[] = [];
    readCaptureFile(join(EXTERNAL, file), (r) => {
      if (r.linkType !== LINKTYPE_ETHERNET) return;
      frames++;
      const b = Buffer.from(r.buf.subarray(r.off, r.off + r.capLen));
      dec.decode(b, 0, b.length, r.wireLen, r.linkType, DIR_RX, f);
      // The filter's rule in the decoder's terms: UDP or TCP to or from port 53, outside or
      // inside VXLAN; VXLAN is UDP to a VXLAN port not from 53, suspect with its I flag clear.
      const dnsPort = (s: Stack) => (s.proto === 6 || s.proto === 17) && s.l4Offset >= 0 && (s.srcPort === 53 || s.dstPort === 53);
      const o = f.outer;
      const isVx = o.proto === 17 && o.l4Offset >= 0 && (o.dstPort === 4789 || o.dstPort === 8472) && o.srcPort !== 53;
      if (isVx) vx++;
      const suspect = isVx && (o.l4Offset + 8 >= b.length || (b[o.l4Offset + 8] & 0x08) === 0);
      const isDns = dnsPort(o) || (isVx && f.vxlan && dnsPort(f.inner));
      const want = isDns || suspect;
      const got = k.run(b).verdict > 0;
      if (got !== want) wrong.push(`frame ${frames}: filter ${got ? 'copied' : 'did not copy'}, decoder says ${isDns ? 'DNS' : suspect ? 'suspect' : 'neither'}`);
    });
    t.same(wrong, [], `${file}: ${frames} frames, copied as the decoder would`);
    t.equal(stats(k).vxlan, vx, `${file}: the ${vx} VXLAN frames counted`);
    k.close();
  }
  t.end();
});
