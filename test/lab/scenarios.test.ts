// The lab end to end (root): for every injector mode, port 8472, an IPv6 underlay, a VLAN
// underlay, an IPv6 overlay, damaged responses, the NAT --random-fully bug, offload left on and a
// vxlan device bound to the wrong interface, csumwatch's analysis of real tcpdump captures on
// both nodes and both interface kinds must equal the ground truth exactly: the injector's
// counters, dnsperf's sent and lost numbers, and the receiving kernel's /proc/net/snmp.
//
// dnsperf runs from node1 to dnsmasq on node2 (QUERIES queries, one socket, 1 s timeout). The
// injector damages a sample (probability P) of matching packets on one node's underlay egress.
// Bounded: QUERIES queries per scenario at QPS, every run limited in time by dnsperf -l and the
// tool timeouts in src/lab/tools.ts.

import t, { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { Csum } from '../../src/decode/checksum';
import { Layer, LAYER_NAMES } from '../../src/decode/frame';
import { DEFAULT_CONFIG, LabConfig } from '../../src/lab/config';
import { InjectDirection, InjectMode } from '../../src/lab/inject';
import { labUp } from '../../src/lab/lab';
import { measure, Measurement, TapResult } from '../../src/lab/measure';
import { counts } from '../support/lab';
import { rootTest } from '../support/root';

const BIN = join(__dirname, '..', '..', '..', 'bin', 'csumwatch');
const LAB = 'cswscn';
const QUERIES = 300;
const QPS = 3000;
const P = 0.3;

rootTest('the lab tests (network namespaces, tc, BPF)', [LAB]);

interface Fault {
  mode: InjectMode;
  node?: number;
  direction?: InjectDirection;
}

interface Expect {
  /** Nonzero 'bad' counts per layer, per tap "nodeN ifname"; D stands for the damaged count. */
  bad: Record<string, (d: number) => Record<string, number>>;
  /** DNS queries seen per tap (default QUERIES). */
  queriesSeen?: Record<string, (d: number) => number>;
  /** The receiving node whose kernel counts the drops, and which counter. */
  kernel: { node: number; counter: 'udpInCsumErrors' | 'ipInHdrErrors' | 'udp6InCsumErrors' };
  /** The tap whose DNS accounting must match dnsperf: the lost side's underlay. */
  dnsTap: string;
}

interface Scenario {
  name: string;
  config: Partial<LabConfig>;
  fault: Fault;
  expect: Expect;
}

const TAPS = [
  { node: 1, iface: 'eth0' },
  { node: 1, iface: 'vxlan0' },
  { node: 2, iface: 'eth0' },
  { node: 2, iface: 'vxlan0' },
];

const none = () => ({});
const innerUdp = (d: number) => ({ 'vxlan.udp': d });

const SCENARIOS: Scenario[] = [
  {
    name: 'inner-udp: inner UDP checksum damaged on node1 egress',
    config: {},
    fault: { mode: 'inner-udp' },
    expect: {
      // The damage is on the wire from node1's egress on; node2's vxlan0 gets it decapsulated.
      bad: { 'node1 eth0': innerUdp, 'node1 vxlan0': none, 'node2 eth0': innerUdp, 'node2 vxlan0': (d) => ({ udp: d }) },
      kernel: { node: 2, counter: 'udpInCsumErrors' },
      dnsTap: 'node2 eth0',
    },
  },
  {
    name: 'inner-ipv4: inner IPv4 header checksum damaged',
    config: {},
    fault: { mode: 'inner-ipv4' },
    expect: {
      bad: { 'node1 eth0': (d) => ({ 'vxlan.ipv4': d }), 'node1 vxlan0': none, 'node2 eth0': (d) => ({ 'vxlan.ipv4': d }), 'node2 vxlan0': (d) => ({ ipv4: d }) },
      kernel: { node: 2, counter: 'ipInHdrErrors' },
      dnsTap: 'node2 eth0',
    },
  },
  {
    name: 'outer-udp: outer UDP checksum damaged',
    config: {},
    fault: { mode: 'outer-udp' },
    expect: {
      // Dropped by the outer UDP checksum: never decapsulated, never seen on node2's vxlan0.
      bad: { 'node1 eth0': (d) => ({ udp: d }), 'node1 vxlan0': none, 'node2 eth0': (d) => ({ udp: d }), 'node2 vxlan0': none },
      queriesSeen: { 'node2 vxlan0': (d) => QUERIES - d },
      kernel: { node: 2, counter: 'udpInCsumErrors' },
      dnsTap: 'node2 eth0',
    },
  },
  {
    name: 'pseudo-only: the VMware pattern, with outer UDP checksums',
    config: {},
    fault: { mode: 'pseudo-only' },
    expect: {
      // Sent: partial (offload pending), not bad. Received: bad, and so is the outer checksum,
      // computed over the completed inner one (local checksum offload): the receiving kernel
      // drops it there and vxlan0 never sees it.
      bad: { 'node1 eth0': none, 'node1 vxlan0': none, 'node2 eth0': (d) => ({ udp: d, 'vxlan.udp': d }), 'node2 vxlan0': none },
      queriesSeen: { 'node2 vxlan0': (d) => QUERIES - d },
      kernel: { node: 2, counter: 'udpInCsumErrors' },
      dnsTap: 'node2 eth0',
    },
  },
  {
    name: 'port 8472 (flannel), no outer UDP checksum, pseudo-only',
    config: { port: 8472, vni: 1, udpcsum: false },
    fault: { mode: 'pseudo-only' },
    expect: {
      // With no outer checksum the packet is decapsulated and dropped at the inner one.
      bad: { 'node1 eth0': none, 'node1 vxlan0': none, 'node2 eth0': innerUdp, 'node2 vxlan0': (d) => ({ udp: d }) },
      kernel: { node: 2, counter: 'udpInCsumErrors' },
      dnsTap: 'node2 eth0',
    },
  },
  {
    name: 'IPv6 underlay, inner-udp (outer IPv6 UDP checksum kept true)',
    config: { underlay: 'ipv6' },
    fault: { mode: 'inner-udp' },
    expect: {
      bad: { 'node1 eth0': innerUdp, 'node1 vxlan0': none, 'node2 eth0': innerUdp, 'node2 vxlan0': (d) => ({ udp: d }) },
      kernel: { node: 2, counter: 'udpInCsumErrors' },
      dnsTap: 'node2 eth0',
    },
  },
  {
    name: 'IPv6 underlay, outer-udp',
    config: { underlay: 'ipv6' },
    fault: { mode: 'outer-udp' },
    expect: {
      bad: { 'node1 eth0': (d) => ({ udp: d }), 'node1 vxlan0': none, 'node2 eth0': (d) => ({ udp: d }), 'node2 vxlan0': none },
      queriesSeen: { 'node2 vxlan0': (d) => QUERIES - d },
      kernel: { node: 2, counter: 'udp6InCsumErrors' },
      dnsTap: 'node2 eth0',
    },
  },
  {
    name: 'IPv6 underlay, pseudo-only',
    config: { underlay: 'ipv6' },
    fault: { mode: 'pseudo-only' },
    expect: {
      bad: { 'node1 eth0': none, 'node1 vxlan0': none, 'node2 eth0': (d) => ({ udp: d, 'vxlan.udp': d }), 'node2 vxlan0': none },
      queriesSeen: { 'node2 vxlan0': (d) => QUERIES - d },
      kernel: { node: 2, counter: 'udp6InCsumErrors' },
      dnsTap: 'node2 eth0',
    },
  },
  {
    name: 'VLAN 100 underlay, inner-udp',
    config: { vlan: true },
    fault: { mode: 'inner-udp' },
    expect: {
      bad: { 'node1 eth0': innerUdp, 'node1 vxlan0': none, 'node2 eth0': innerUdp, 'node2 vxlan0': (d) => ({ udp: d }) },
      kernel: { node: 2, counter: 'udpInCsumErrors' },
      dnsTap: 'node2 eth0',
    },
  },
  {
    name: 'IPv6 overlay, inner-udp',
    config: { overlay: 'ipv6' },
    fault: { mode: 'inner-udp' },
    expect: {
      bad: { 'node1 eth0': innerUdp, 'node1 vxlan0': none, 'node2 eth0': innerUdp, 'node2 vxlan0': (d) => ({ udp: d }) },
      kernel: { node: 2, counter: 'udp6InCsumErrors' },
      dnsTap: 'node2 eth0',
    },
  },
  {
    name: 'responses damaged: inner-udp on node2 egress, from port 53',
    config: {},
    fault: { mode: 'inner-udp', node: 2, direction: 'from' },
    expect: {
      bad: { 'node1 eth0': innerUdp, 'node1 vxlan0': (d) => ({ udp: d }), 'node2 eth0': innerUdp, 'node2 vxlan0': none },
      kernel: { node: 1, counter: 'udpInCsumErrors' },
      dnsTap: 'node1 eth0',
    },
  },
];

/** The DNS side of a tap against dnsperf: every query seen, answered and lost as dnsperf says. */
function assertDns(t: Test, m: Measurement, tap: TapResult, d: number): void {
  const dns = tap.analysis.dns;
  t.equal(dns.queries, m.dnsperf.sent, 'csumwatch saw every query dnsperf sent');
  t.equal(dns.answered, m.dnsperf.completed, 'answered = dnsperf completed');
  t.equal(dns.unanswered, m.dnsperf.lost, 'unanswered = dnsperf lost');
  t.equal(dns.lostToChecksum, d, 'lost to checksums = damaged');
}

for (const s of SCENARIOS) {
  t.test(s.name, async (t) => {
    const lab = labUp({ ...DEFAULT_CONFIG, ...s.config, name: LAB });
    const inj = s.fault.node ?? 1;
    lab.injector(inj).configure({
      mode: s.fault.mode, probability: P, vxlanPorts: [lab.config.port], innerPort: 53, direction: s.fault.direction ?? 'to',
    });
    const m = measure(lab, { queries: QUERIES, qps: QPS, prefix: 'scn', taps: TAPS });
    const node = m.nodes[inj - 1];
    const d = node.injector.damaged[s.fault.mode];

    t.equal(m.dnsperf.sent, QUERIES, 'dnsperf sent every query');
    t.ok(d > 0 && d < QUERIES, `the injector damaged some but not all (${d} of ${QUERIES})`);
    t.equal(node.damaged, d, 'only the configured mode damaged anything');
    t.equal(node.injector.errors, 0, 'no injector errors');
    t.equal(node.injector.skippedPartial, 0, 'no pending checksums with offload off');
    t.equal(m.dnsperf.lost, d, 'dnsperf lost exactly the damaged packets\' queries');
    t.equal(m.nodes[s.expect.kernel.node - 1][s.expect.kernel.counter], d, `node${s.expect.kernel.node} kernel ${s.expect.kernel.counter} rose by the damaged count`);

    for (const tap of m.taps) {
      const key = `node${tap.node} ${tap.iface}`;
      const bad = counts(tap.analysis, Csum.BAD);
      // A sending node's capture calls a field that equals the pseudo-header sum `partial` (the
      // offload not done yet); with offload off, a damaged field can equal it by chance (one in
      // 65 536 damaged packets). Such a packet is still bad on the wire, and counted so here.
      if (!lab.config.offload && s.fault.mode !== 'pseudo-only' && tap.node === inj) {
        for (const [layer, n] of Object.entries(counts(tap.analysis, Csum.PARTIAL))) {
          t.ok(n <= 1, `${key}: ${n} ${layer} field(s) equal to the pseudo-header sum by chance`);
          bad[layer] = (bad[layer] ?? 0) + n;
        }
      }
      // Every result of the expected layers, to say what a missing bad one was counted as.
      const seen = Object.keys(s.expect.bad[key](d)).map((layer) => {
        const l = LAYER_NAMES.indexOf(layer as (typeof LAYER_NAMES)[number]);
        return `${layer} ${['ok', 'bad', 'none', 'partial', 'unverifiable'].map((r, i) => `${r} ${tap.analysis.stats.count(l, i)}`).join(', ')}`;
      }).join('; ');
      t.same(bad, s.expect.bad[key](d), `${key}: bad checksums by layer (${seen || 'none expected'})`);
      t.equal(tap.analysis.stats.malformed, 0, `${key}: nothing malformed`);
      t.equal(tap.analysis.dns.queries, s.expect.queriesSeen?.[key]?.(d) ?? QUERIES, `${key}: DNS queries seen`);
    }
    const rx = m.taps.find((x) => `node${x.node} ${x.iface}` === s.expect.dnsTap)!;
    assertDns(t, m, rx, d);

    // The same capture through `csumwatch analyze --json` as a user runs it (CONTRACT.md keys).
    const cli = spawnSync(process.execPath, [BIN, 'analyze', '--json', '--vxlan-port', String(lab.config.port), rx.capture.file], { encoding: 'utf8' });
    t.equal(cli.status, 0, 'csumwatch analyze exits 0');
    const j = JSON.parse(cli.stdout);
    t.equal(j.dns.queries, m.dnsperf.sent, 'analyze --json: dns.queries = dnsperf sent');
    t.equal(j.dns.unanswered, m.dnsperf.lost, 'analyze --json: dns.unanswered = dnsperf lost');
    t.equal(j.dns.lost_to_checksum, d, 'analyze --json: dns.lost_to_checksum = injector damaged');
    const jsonBad: Record<string, number> = {};
    for (const [layer, res] of [['ipv4', j.checksums.ipv4], ['udp', j.checksums.udp], ['vxlan.ipv4', j.checksums.vxlan.ipv4], ['vxlan.udp', j.checksums.vxlan.udp]] as const) {
      if (res.bad > 0) jsonBad[layer] = res.bad;
    }
    t.same(jsonBad, s.expect.bad[s.expect.dnsTap](d), 'analyze --json: bad checksums by layer');
    if (s.fault.mode === 'pseudo-only') {
      const tx = m.taps.find((x) => x.node === inj && x.iface === 'eth0')!;
      t.same(counts(tx.analysis, Csum.PARTIAL), { 'vxlan.udp': d }, 'the sender\'s capture calls them partial, not bad');
      if (lab.config.udpcsum) {
        // The injector made the outer checksum what local checksum offload computes: it
        // verifies with the completed inner checksum in place (CONTRACT.md), on every frame.
        t.equal(tx.analysis.stats.count(Layer.UDP, Csum.OK), tx.analysis.stats.frames, 'the sender\'s outer UDP checksums all verify as local checksum offload computed them');
      }
      t.equal(rx.analysis.stats.pseudoOnlyBad[4], d, 'received ones are bad, holding only the pseudo-header sum');
    }
  });
}

t.test('NAT --random-fully with vxlan0 offload on: every query lost to the outer UDP checksum', async (t) => {
  const lab = labUp({ ...DEFAULT_CONFIG, name: LAB, nat: true });
  const m = measure(lab, { queries: 100, qps: QPS, prefix: 'nat', taps: [{ node: 1, iface: 'eth0', filter: 'outbound and udp' }, { node: 2, iface: 'eth0' }] });
  t.equal(m.dnsperf.sent, 100);
  t.equal(m.dnsperf.lost, 100, 'dnsperf: every query lost');
  t.equal(m.nodes[1].udpInCsumErrors, 100, 'node2 Udp InCsumErrors rose by one per query');
  const [tx, rx] = m.taps;
  t.same(counts(rx.analysis, Csum.BAD), { udp: 100 }, 'node2 eth0: the outer UDP checksum is bad, nothing else');
  t.same(counts(tx.analysis, Csum.BAD), { udp: 100 }, 'node1 eth0 (sent): bad on the wire already');
  assertDns(t, m, rx, 100);

  lab.setFeature(1, 'vxlan0', 'tx-checksum-ip-generic', false);
  const fixed = measure(lab, { queries: 100, qps: QPS, prefix: 'natfix', taps: [{ node: 2, iface: 'eth0' }] });
  t.equal(fixed.dnsperf.lost, 0, 'after ethtool -K vxlan0 tx-checksum-ip-generic off: nothing lost');
  t.same(counts(fixed.taps[0].analysis, Csum.BAD), {}, 'and no bad checksums');
  t.equal(fixed.nodes[1].udpInCsumErrors, 0);
});

t.test('offload on everywhere: the sender\'s captures show partial checksums, never bad', async (t) => {
  const lab = labUp({ ...DEFAULT_CONFIG, name: LAB, offload: true });
  lab.injector(1).configure({ mode: 'pseudo-only', probability: 1, vxlanPorts: [lab.config.port], innerPort: 53, direction: 'to' });
  const m = measure(lab, {
    queries: QUERIES, qps: QPS, prefix: 'offl',
    taps: [{ node: 1, iface: 'eth0', filter: 'outbound and udp' }, { node: 1, iface: 'vxlan0', filter: 'outbound and udp' }, { node: 2, iface: 'eth0' }],
  });
  const [eth, vx, rx] = m.taps;
  t.equal(m.dnsperf.lost, 0, 'nothing lost: veth hands the pending checksum over and the receiver trusts it');
  t.equal(m.nodes[1].udpInCsumErrors, 0);
  t.equal(m.nodes[0].damaged, 0, 'the injector damages nothing whose checksum is still pending');
  t.equal(m.nodes[0].injector.skippedPartial, QUERIES, 'it skipped every query and counted it');
  t.same(counts(eth.analysis, Csum.BAD), {}, 'node1 eth0 (sent): 0 bad');
  t.same(counts(vx.analysis, Csum.BAD), {}, 'node1 vxlan0 (sent): 0 bad');
  t.same(counts(eth.analysis, Csum.PARTIAL), { 'vxlan.udp': QUERIES }, 'node1 eth0: every inner UDP checksum partial');
  t.same(counts(vx.analysis, Csum.PARTIAL), { udp: QUERIES }, 'node1 vxlan0: every UDP checksum partial');
  t.equal(eth.analysis.stats.count(1, Csum.OK), QUERIES, 'outer UDP checksums verify under local checksum offload');
  t.equal(rx.analysis.dns.lostToChecksum, 0, 'node2 eth0: no query lost to checksums');
  t.equal(rx.analysis.dns.answered, QUERIES);
});

t.test('offload on, inner-ipv4: an outer checksum complete at the hook is updated for the damage', async (t) => {
  const lab = labUp({ ...DEFAULT_CONFIG, name: LAB, offload: true });
  lab.injector(1).configure({ mode: 'inner-ipv4', probability: P, vxlanPorts: [lab.config.port], innerPort: 53, direction: 'to' });
  const m = measure(lab, { queries: QUERIES, qps: QPS, prefix: 'offip', taps: [{ node: 1, iface: 'eth0', filter: 'outbound and udp' }] });
  const d = m.nodes[0].injector.damaged['inner-ipv4'];
  const tx = m.taps[0].analysis;
  t.ok(d > 0 && d < QUERIES, `some damaged (${d} of ${QUERIES})`);
  t.equal(m.dnsperf.lost, d, 'dnsperf lost the damaged ones: the IPv4 header checksum is always verified');
  t.equal(m.nodes[1].ipInHdrErrors, d, 'node2 Ip InHdrErrors rose by the damaged count');
  t.same(counts(tx, Csum.BAD), { 'vxlan.ipv4': d }, 'node1 eth0 (sent): only the inner IPv4 checksums are bad');
  t.same(counts(tx, Csum.PARTIAL), { 'vxlan.udp': QUERIES }, 'every inner UDP checksum still pending');
  t.equal(tx.stats.count(Layer.UDP, Csum.OK), QUERIES, 'every outer UDP checksum verifies (local checksum offload, updated for the damage)');
});

t.test('vxlan0 bound to the wrong interface: sent from the wrong address, dropped by the peer', async (t) => {
  const lab = labUp({ ...DEFAULT_CONFIG, name: LAB, bind: 'eth1' });
  const q = 50;
  const m = measure(lab, { queries: q, qps: QPS, prefix: 'bind', taps: [{ node: 1, iface: 'eth0' }, { node: 1, iface: 'eth1' }, { node: 2, iface: 'eth0' }] });
  const [eth0, eth1, rx] = m.taps;
  t.equal(m.dnsperf.lost, q, 'every query lost');
  t.equal(m.nodes[1].ipReversePathFilter, q, 'node2 dropped each one in its reverse-path filter (source 10.201.0.1 on eth0)');
  t.equal(eth0.analysis.stats.vxlanFrames, q, 'node1 eth0: the routing still sends the tunnel out of eth0');
  t.equal(eth1.analysis.stats.frames, 0, 'node1 eth1: nothing, although vxlan0 is bound to it');
  t.equal(rx.analysis.dns.queries, q, 'node2 eth0: every query arrived');
  t.equal(rx.analysis.dns.answered, 0, 'none answered');
  t.same(counts(rx.analysis, Csum.BAD), {}, 'no bad checksums');
  t.equal(rx.analysis.dns.lostToChecksum, 0, 'so none is blamed on checksums');
});
