// `csumwatch analyze` on real captures from other projects' test corpora
// (../shared/external-captures, SOURCES.md says where each came from; read in place, never
// copied here; CSW_EXTERNAL_CAPTURES points elsewhere). Each case is a known way to be wrong:
// GRO-merged packets called bad, EDNS extended RCODEs read as their low four bits.

import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { cli } from '../support/cli';

const EXTERNAL = process.env.CSW_EXTERNAL_CAPTURES ?? join(__dirname, '..', '..', '..', '..', 'shared', 'external-captures');
const skip = existsSync(EXTERNAL) ? false : `no external captures at ${EXTERNAL} (set CSW_EXTERNAL_CAPTURES)`;

interface Report {
  frames: number;
  checksums: { tcp: Record<string, number>; udp: Record<string, number> };
  dns: { rcodes: Record<string, number>; responses: number };
}

function analyze(file: string): Report {
  const r = cli('analyze', '--json', join(EXTERNAL, file));
  if (r.code !== 0 && r.code !== 1) throw new Error(`analyze ${file}: exit ${r.code}: ${r.err}`);
  return JSON.parse(r.out) as Report;
}

t.test('Suricata decode-sll2-02: 79 received GRO super-packets are partial, not bad', { skip }, async (t) => {
  // Linux cooked v2 with direction; the received TCP segments merged past the MTU hold the
  // pseudo-header sum (tshark calls all 79 bad).
  const j = analyze('sv-decode-sll2-02.pcap');
  t.equal(j.frames, 159);
  t.equal(j.checksums.tcp.bad, 0, 'none bad');
  t.equal(j.checksums.tcp.partial, 79, 'the 79 merged ones partial');
  t.equal(j.checksums.tcp.ok, 80, 'the rest verified good');
});

t.test('tcpdump dns-badvers: the extended RCODE is BADVERS, not NOERROR', { skip }, async (t) => {
  const j = analyze('tcpdump-dns-badvers.pcap');
  t.ok(j.dns.rcodes.BADVERS > 0, `BADVERS counted (${JSON.stringify(j.dns.rcodes)})`);
});

t.test('tcpdump dns-badcookie: BADCOOKIE, not YXRRSET', { skip }, async (t) => {
  const j = analyze('tcpdump-dns-badcookie.pcap');
  t.equal(j.dns.rcodes.BADCOOKIE, 1, `one BADCOOKIE (${JSON.stringify(j.dns.rcodes)})`);
  t.notOk(j.dns.rcodes.YXRRSET, 'no YXRRSET');
});

t.test('tcpdump nflog and ppp: a link type not decoded is said once on stderr, not skipped in silence', { skip }, async (t) => {
  for (const [file, re] of [['tcpdump-nflog.pcap', /^csumwatch: analyze: skipped \d+ frames? of link type 239 \(NFLOG\): not decoded/m], ['tcpdump-ppp_ip_udp_dns.pcap', /^csumwatch: analyze: skipped \d+ frames? of link type (9|50) \(PPP(_HDLC)?\): not decoded/m]] as const) {
    const r = cli('analyze', join(EXTERNAL, file));
    t.match(r.err, re, `${file}: says which link type was skipped`);
    t.equal(r.err.split('\n').filter((l) => l.includes('link type')).length, 1, `${file}: once`);
  }
});

t.test('tcpdump TSO and BIG TCP captures: lengths 0 on the sender are presumed TSO, not malformed', { skip }, async (t) => {
  // A TSO segment of 2 016 bytes with IPv4 total length 0 (tcpdump: "presumed TSO"), and BIG TCP
  // super-packets over VXLAN whose outer IP and UDP lengths are 0.
  const tso = analyze('tcpdump-ipv4_tcp_http_xml_tso.pcap');
  t.equal(tso.frames, 1);
  t.same([tso.checksums.tcp.bad, tso.checksums.tcp.ok + tso.checksums.tcp.partial + tso.checksums.tcp.unverifiable], [0, 1], `TSO: its TCP checksum judged, not bad (${JSON.stringify(tso.checksums.tcp)})`);
  for (const file of ['tcpdump-bigtcp-ipv4-vxlan-ipv4.pcap', 'tcpdump-bigtcp-ipv6-vxlan-ipv6.pcap']) {
    const j = analyze(file) as Report & { malformed: number; vxlan_frames: number };
    t.equal(j.malformed, 0, `${file}: not malformed`);
    t.equal(j.vxlan_frames, 1, `${file}: decoded as VXLAN`);
  }
});

t.test('Suricata dns-tcp-multirequest-buffer: 20 pipelined queries in one TCP segment are 20 queries', { skip }, async (t) => {
  // RFC 7766 §6.2.1.1: a client may send several queries back to back; all 20 sit in one
  // segment, and 20 NXDOMAIN answers come back. Only the first message used to be read: 1 query
  // and 19 orphan responses.
  const j = analyze('sv-dns-tcp-multirequest-buffer.pcap') as Report & { dns: { queries: number; answered: number; orphan_responses: number } };
  t.equal(j.dns.queries, 20, '20 queries');
  t.equal(j.dns.responses, 20, '20 responses');
  t.equal(j.dns.answered, 20, 'each answered');
  t.equal(j.dns.orphan_responses, 0, 'no orphan');
  t.equal(j.dns.rcodes.NXDOMAIN, 20);
});

interface GeneveReport {
  frames: number;
  malformed: number;
  truncated: number;
  not_ip: number;
  geneve_frames: number;
  vxlan_frames: number;
  malformed_reasons: Record<string, number>;
  checksums: {
    ipv4: Record<string, number>; udp: Record<string, number>; tcp: Record<string, number>;
    geneve: { ipv4: Record<string, number>; udp: Record<string, number>; tcp: Record<string, number> };
    vxlan: { ipv4: Record<string, number>; udp: Record<string, number>; tcp: Record<string, number> };
  };
  dns: { queries: number; responses: number; answered: number; unanswered: number; lost_to_checksum: number };
}

/** The counts that are not zero, as "layer.result": n. */
function nonZero(c: GeneveReport['checksums']): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (o: Record<string, unknown>, p: string): void => {
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'number') { if (v !== 0) out[p + k] = v; } else walk(v as Record<string, unknown>, `${p}${k}.`);
    }
  };
  walk(c as unknown as Record<string, unknown>, '');
  return out;
}

// The four Geneve captures, each judged as tshark 4 judges it (checksum status per header, with
// ip/udp/tcp checksum checking on): every header tshark calls good is ok here, a zero outer UDP
// checksum is none ("not present"), and what the snap length cut is unverifiable.
t.test('tcpdump geneve (OVS, 6081, options, the C bit): every inner header verified, none malformed', { skip }, async (t) => {
  // 39 frames: inner ICMP and SSH over TCP; 19 carry an 8-byte critical option (class 0, type
  // 0x80) with the C bit set. tshark: 39 × 2 IPv4 headers good, 33 inner TCP good, outer UDP 0.
  const j = analyze('tcpdump-geneve.pcap') as unknown as GeneveReport;
  t.equal(j.frames, 39);
  t.equal(j.geneve_frames, 39, 'every frame decoded as Geneve');
  t.equal(j.malformed, 0);
  t.same(nonZero(j.checksums), { 'ipv4.ok': 39, 'udp.none': 39, 'geneve.ipv4.ok': 39, 'geneve.tcp.ok': 33 });
});

t.test('tcpdump geneve-gcp: protocol type 0x0800, an IPv4 packet with no Ethernet header, three options', { skip }, async (t) => {
  // Google Cloud's Geneve: options of 8, 20 and 12 bytes, the inner TCP checksum correct (tcpdump, tshark).
  const j = analyze('tcpdump-geneve-gcp.pcap') as unknown as GeneveReport;
  t.equal(j.frames, 1);
  t.equal(j.malformed, 0);
  t.same(nonZero(j.checksums), { 'ipv4.ok': 1, 'udp.none': 1, 'geneve.ipv4.ok': 1, 'geneve.tcp.ok': 1 });
});

t.test('Suricata geneve-decoder: inner ARP is not IP, inner ICMP verified', { skip }, async (t) => {
  const j = analyze('sv-geneve-decoder.pcap') as unknown as GeneveReport;
  t.equal(j.frames, 10);
  t.equal(j.malformed, 0);
  t.equal(j.not_ip, 2, 'the two ARP frames inside the tunnel');
  t.same(nonZero(j.checksums), { 'ipv4.ok': 10, 'udp.none': 10, 'geneve.ipv4.ok': 8 });
});

t.test('Zeek geneve-vxlan-dns-truncated: DNS inside VXLAN inside Geneve is found and correlated', { skip }, async (t) => {
  // A query to 1.1.1.1 for corelight.com and its answer, each inside VXLAN (4789) inside Geneve
  // (IPv4 directly, 6081), cut by the snap length inside the DNS message: the header and question
  // are there. tshark: every IPv4 header good, every UDP checksum unverified (cut).
  const j = analyze('zeek-geneve-vxlan-dns-truncated.pcap') as unknown as GeneveReport;
  t.equal(j.frames, 2);
  t.equal(j.malformed, 0);
  t.equal(j.geneve_frames, 2, 'the outermost tunnel is Geneve');
  t.same(nonZero(j.checksums), { 'ipv4.ok': 2, 'udp.unverifiable': 2, 'geneve.ipv4.ok': 2, 'geneve.udp.unverifiable': 2 });
  t.same([j.dns.queries, j.dns.responses, j.dns.answered, j.dns.unanswered], [1, 1, 1, 0], 'the query answered');
  // Without the Geneve port the tunnel, and the DNS in it, are not looked into.
  const r = cli('analyze', '--json', '--geneve-port', '7000', join(EXTERNAL, 'zeek-geneve-vxlan-dns-truncated.pcap'));
  const off = JSON.parse(r.out) as GeneveReport;
  t.equal(off.geneve_frames, 0);
  t.equal(off.dns.queries, 0);
});
