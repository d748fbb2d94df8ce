// The kernel capture filter (bpf/filter.bpf.c) loaded for real (root) and run by the kernel over
// frames (BPF_PROG_TEST_RUN), as a packet socket would run it: what it copies (DNS, plain or
// inside VXLAN or Geneve, over IPv4 or IPv6, behind VLAN tags; VXLAN and Geneve that is suspect;
// every tunnel packet with copyVxlan), what it only counts (healthy VXLAN and Geneve), and that
// its per-peer table (by encapsulation) and counters say exactly what it saw. Then the same over the frames of real captures from other projects'
// test corpora, against the user-space decoder's reading of the same frames.

import t, { Test } from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { FILTER_STATS, KERNEL_ENCAP_GENEVE, KERNEL_ENCAP_VXLAN, KernelFilter } from '../../src/capture/kfilter';
import { LINKTYPE_ETHERNET, readCaptureFile } from '../../src/capture/replay';
import { Decoder } from '../../src/decode/decoder';
import { DIR_RX, ENCAP_GENEVE, Frame, Stack } from '../../src/decode/frame';
import { rootTest } from '../support/root';
import * as P from '../support/packets';

rootTest('the capture filter tests');

const SNAP = 4096;
const EXTERNAL = process.env.CSW_EXTERNAL_CAPTURES ?? join(__dirname, '..', '..', '..', '..', 'shared', 'external-captures');

function load(copyVxlan = false, tableSize = 64): KernelFilter {
  return new KernelFilter({ vxlanPorts: [4789, 8472], genevePorts: [6081, 6082], dnsPorts: [53], snaplen: SNAP, copyVxlan, tableSize });
}

function stats(k: KernelFilter): Record<string, number> {
  const s = k.stats();
  return Object.fromEntries(FILTER_STATS.map((w, i) => [w, s[i]]));
}

/** Per-peer counts as "family/dir/address" -> packets (Geneve's as "geneve:family/dir/address"). */
function peers(k: KernelFilter): Record<string, number> {
  const out: Record<string, number> = {};
  k.readVteps((_ifindex, family, dir, encap, addr, off, packets) => {
    const a = family === 4 ? [...addr.subarray(off, off + 4)].join('.') : addr.subarray(off, off + 16).toString('hex');
    const e = encap === KERNEL_ENCAP_VXLAN ? '' : encap === KERNEL_ENCAP_GENEVE ? 'geneve:' : `encap${encap}:`;
    out[`${e}${family}/${dir === 0 ? 'rx' : 'tx'}/${a}`] = packets;
  });
  return out;
}

/** Runs each case once, checks it was copied (snap length) or not as it says, and returns the filter's stats, every frame seen. */
function runCases(t: Test, k: KernelFilter, cases: Array<[string, Buffer, boolean]>): Record<string, number> {
  for (const [what, frame, copied] of cases) {
    const r = k.run(frame);
    t.equal(r.verdict, copied ? SNAP : 0, `${what}: ${copied ? 'copied' : 'not copied'}`);
  }
  const s = stats(k);
  t.equal(s.seen, cases.length, 'every frame seen');
  return s;
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

/** inner inside Geneve from 10.210.0.1 (or fd00::11 over IPv6). */
function geneve(inner: P.FrameSpec, o: P.GeneveDnsOpts = {}): Buffer {
  const spec = P.geneveSpec(inner, o);
  spec.ip = o.outerV === 6 ? { v: 6, src: 'fd00::11', dst: 'fd00::12' } : { v: 4, src: '10.210.0.1', dst: '10.210.0.2' };
  return P.build(spec).bytes;
}
const innerEth = (l4: P.L4Spec, o: { vlans?: P.Vlan[]; ip?: P.IpSpec } = {}): P.FrameSpec => ({ link: { kind: 'eth', vlans: o.vlans }, ip: o.ip ?? inner4.ip, l4 });
const innerRaw = (l4: P.L4Spec, ip: P.IpSpec = inner4.ip): P.FrameSpec => ({ link: { kind: 'raw' }, ip, l4 });
/** OVN-Kubernetes' option (class 0x0102, type 0x80: critical, 4 bytes of data). */
const ovnOption: P.GeneveOption = { cls: 0x0102, type: 0x80, data: [0, 1, 0, 2] };

t.test('Geneve: what is copied and what is only counted, per peer under its own encapsulation', (t) => {
  const k = load();
  t.teardown(() => k.close());
  const cases: Array<[string, Buffer, boolean]> = [
    ['Geneve, inner Ethernet, TCP bulk', geneve(innerEth(tcpBulk)), false],
    ['Geneve with an 8-byte option (OVN), TCP bulk', geneve(innerEth(tcpBulk), { options: [ovnOption] }), false],
    ['Geneve on the second port, TCP bulk', geneve(innerEth(tcpBulk), { genevePort: 6082 }), false],
    ['Geneve, bare inner IPv4 (0x0800), TCP bulk', geneve(innerRaw(tcpBulk)), false],
    ['Geneve over IPv6, TCP bulk', geneve(innerEth(tcpBulk), { outerV: 6 }), false],
    ['Geneve, inner DNS query', geneve(innerEth(dnsQuery)), true],
    ['Geneve with options, inner DNS', geneve(innerEth(dnsQuery), { options: [ovnOption, { cls: 0xffff, type: 1, data: Array(20).fill(7) }] }), true],
    ['Geneve, inner DNS behind QinQ', geneve(innerEth(dnsQuery, { vlans: [{ tpid: 0x88a8, vid: 10 }, { tpid: 0x8100, vid: 20 }] })), true],
    ['Geneve, bare inner IPv4 DNS (0x0800)', geneve(innerRaw(dnsQuery)), true],
    ['Geneve over IPv6, bare inner IPv6 DNS (0x86DD)', geneve(innerRaw(dnsQuery, { v: 6, src: 'fd10::5', dst: 'fd10::7' }), { outerV: 6 }), true],
    ['Geneve, inner DNS over TCP', geneve(innerEth({ kind: 'tcp', sport: 33001, dport: 53, payload: Buffer.alloc(40) })), true],
    ['Geneve Ver 1 (suspect)', geneve(innerEth(tcpBulk), { version: 1 }), true],
    ['Geneve whose Opt Len runs past the datagram (suspect)', geneve(innerRaw({ kind: 'udp', sport: 1000, dport: 2000, payload: Buffer.alloc(8) }), { optLen: 63 }), true],
    ['Geneve, inner DNS port but an unknown protocol type', geneve(innerEth(dnsQuery), { protocol: 0x1234 }), false],
    ['UDP from port 53 to 6081: a DNS answer, not Geneve', P.build({ link: { kind: 'eth' }, ip: { v: 4, src: '10.0.0.53', dst: '10.0.0.1' }, l4: { kind: 'udp', sport: 53, dport: 6081, dns: P.defaultResponse() } }).bytes, true],
  ];
  const s = runCases(t, k, cases);
  t.equal(s.geneve, 14, 'every Geneve frame counted as Geneve');
  t.equal(s.vxlan, 0, 'none as VXLAN');
  t.equal(s.tunnel_dns, 6, 'DNS inside Geneve copied');
  t.equal(s.suspect, 2, 'bad Ver and overrunning options copied as suspect');
  t.equal(s.dns, 1, 'the answer from 53 copied as plain DNS');
  t.equal(s.not_copied, 6, 'the rest not copied');
  t.equal(s.geneve_copied, 0, 'no Geneve copied for judging without copyVxlan');
  t.same(peers(k), { 'geneve:4/rx/10.210.0.1': 12, 'geneve:6/rx/fd000000000000000000000000000011': 2 }, 'per peer and family under Geneve, by the outer source');
  t.end();
});

t.test('VXLAN and Geneve from one peer are two entries', (t) => {
  const k = load();
  t.teardown(() => k.close());
  const vx = P.build({ link: { kind: 'eth' }, ip: { v: 4, src: '10.210.0.1', dst: '10.210.0.2' }, l4: { kind: 'udp', sport: 40000, dport: 4789, vxlan: { vni: 42, inner: { ...inner4, l4: tcpBulk } } } }).bytes;
  k.run(vx, 3);
  k.run(geneve(innerEth(tcpBulk)), 5);
  t.same(peers(k), { '4/rx/10.210.0.1': 3, 'geneve:4/rx/10.210.0.1': 5 });
  t.same([stats(k).vxlan, stats(k).geneve], [3, 5]);
  t.end();
});

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
  const s = runCases(t, k, cases);
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
  t.equal(k.run(geneve(innerEth(tcpBulk)), 2).verdict, SNAP, 'Geneve bulk copied');
  t.equal(stats(k).vxlan_copied, 5);
  t.equal(stats(k).geneve_copied, 2);
  t.same(peers(k), { '4/rx/10.200.0.1': 5, 'geneve:4/rx/10.210.0.1': 2 });
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
  // Geneve from yet another peer: no room either, counted in Geneve's own overflow entry.
  k.run(geneve(innerEth(tcpBulk)), 4);
  t.same(k.overflow(KERNEL_ENCAP_GENEVE), [4, 0], 'Geneve overflow by itself');
  t.same(k.overflow(KERNEL_ENCAP_VXLAN), [rx, tx], 'VXLAN overflow unchanged');
  t.end();
});

const noCaptures = existsSync(EXTERNAL) ? false : `no external captures at ${EXTERNAL} (set CSW_EXTERNAL_CAPTURES)`;
t.test('real captures: the filter copies exactly the frames the decoder finds DNS or suspect in', { skip: noCaptures }, (t) => {
  const files = ['sv-vxlan-decoder-03.pcap', 'sv-vxlan-decoder-01.pcap', 'sv-vxlan-non-zero-reserved-fields.pcap', 'tcpdump-gso-ipv4-vxlan-ipv4.pcap', 'tcpdump-gso-ipv6-vxlan-ipv6.pcap', 'gopacket-test_dns.pcap', 'sv-dns-bug-1158.pcap',
    'sv-geneve-decoder.pcap', 'tcpdump-geneve-gcp.pcap', 'tcpdump-geneve.pcap'];
  const dec = new Decoder();
  const f = new Frame();
  for (const file of files) {
    const k = load();
    let frames = 0;
    let vx = 0;
    let gv = 0;
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
      // Geneve likewise (6081), suspect with Ver not 0 or options past the UDP datagram (RFC 8926 §3.4).
      const isGv = !isVx && o.proto === 17 && o.l4Offset >= 0 && o.dstPort === 6081 && o.srcPort !== 53;
      if (isGv) gv++;
      const u = o.l4Offset;
      const suspect = (isVx && (u + 8 >= b.length || (b[u + 8] & 0x08) === 0)) ||
        (isGv && (u + 16 > b.length || b[u + 8] >> 6 !== 0 || u + 16 + (b[u + 8] & 0x3f) * 4 > u + ((b[u + 4] << 8) | b[u + 5])));
      const isDns = dnsPort(o) || (isVx && f.vxlan && dnsPort(f.inner)) || (isGv && f.encap === ENCAP_GENEVE && dnsPort(f.inner));
      const want = isDns || suspect;
      const got = k.run(b).verdict > 0;
      if (got !== want) wrong.push(`frame ${frames}: filter ${got ? 'copied' : 'did not copy'}, decoder says ${isDns ? 'DNS' : suspect ? 'suspect' : 'neither'}`);
    });
    t.same(wrong, [], `${file}: ${frames} frames, copied as the decoder would`);
    t.equal(stats(k).vxlan, vx, `${file}: the ${vx} VXLAN frames counted`);
    t.equal(stats(k).geneve, gv, `${file}: the ${gv} Geneve frames counted`);
    k.close();
  }
  t.end();
});

// The filter looks one tunnel deep, for VXLAN as for Geneve; the decoder finds DNS up to three
// deep. So DNS in VXLAN in Geneve is not copied on the kernel datapath: this says so, and fails
// the day the filter learns nested tunnels (then it belongs with the files above).
t.test('real capture: DNS in VXLAN in Geneve is counted as Geneve, not copied', { skip: noCaptures }, (t) => {
  const k = load();
  t.teardown(() => k.close());
  const dec = new Decoder();
  const f = new Frame();
  const seen: string[] = [];
  readCaptureFile(join(EXTERNAL, 'zeek-geneve-vxlan-dns-truncated.pcap'), (r) => {
    const b = Buffer.from(r.buf.subarray(r.off, r.off + r.capLen));
    dec.decode(b, 0, b.length, r.wireLen, r.linkType, DIR_RX, f);
    const dnsInside = f.encap === ENCAP_GENEVE && (f.inner.srcPort === 53 || f.inner.dstPort === 53);
    seen.push(`decoder: ${dnsInside ? 'DNS inside Geneve' : 'no DNS'}; filter: ${k.run(b).verdict > 0 ? 'copied' : 'not copied'}`);
  });
  t.same(seen, Array(2).fill('decoder: DNS inside Geneve; filter: not copied'));
  t.same([stats(k).geneve, stats(k).tunnel_dns, stats(k).not_copied], [2, 0, 2], 'both counted as Geneve, neither copied');
  t.end();
});
