// The lab with its DNS server in a pod (root): `lab up --pod` puts dnsmasq in its own namespace
// behind a veth pair on the last node, on a pod subnet the other nodes route through the tunnel.
// A query is decapsulated on the node and forwarded into the pod, and a damaged inner UDP
// checksum is dropped by the pod's kernel: the pod's Udp InCsumErrors must rise by exactly the
// injector's damaged count, the node's not at all, and dnsperf must lose exactly those queries.
// Healthy runs answer every query, over an IPv4 and an IPv6 overlay; `lab down` removes the pod.
//
// Bounded: QUERIES queries per run at QPS, every run limited in time by dnsperf -l and the tool
// timeouts in src/lab/tools.ts.

import t, { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

import { Csum } from '../../src/decode/checksum';
import { ANSWER_A, DEFAULT_CONFIG, DNS_ZONE, LabConfig } from '../../src/lab/config';
import { dig } from '../../src/lab/dns';
import { inNs, run } from '../../src/lab/tools';
import { InjectDirection, InjectMode } from '../../src/lab/inject';
import { Lab, labDown, labUp } from '../../src/lab/lab';
import { measure, Measurement, Tap } from '../../src/lab/measure';
import { Snmp, snmpValue } from '../../src/node/snmp';
import { cli } from '../support/cli';
import { counts } from '../support/lab';
import { rootTest } from '../support/root';

const LAB = 'cswpod';
const LAB6 = 'cswpod6';
const LABOFF = 'cswpodo';
const QUERIES = 300;
const QPS = 3000;
const P = 0.3;
/** Long damaged queries sent one by one with dig (1 s timeout each). */
const LONG = 2;

rootTest('the lab tests (network namespaces, tc, BPF)', [LAB, LAB6, LABOFF]);

function sysctl(ns: string, key: string): string {
  return inNs(ns, 'sysctl', ['-n', key]).stdout.trim();
}

function up(name: string, c: Partial<LabConfig> = {}): Lab {
  return labUp({ ...DEFAULT_CONFIG, ...c, name, pod: true });
}

function fault(lab: Lab, node: number, mode: InjectMode, direction: InjectDirection = 'to'): void {
  lab.injector(node).configure({ mode, probability: mode === 'off' ? 1 : P, vxlanPorts: [lab.config.port], innerPort: 53, direction });
}

// On the server node: the underlay, the tunnel and the node's side of the pod's veth.
const TAPS: Tap[] = [{ node: 2, iface: 'eth0' }, { node: 2, iface: 'vxlan0' }, { node: 2, iface: 'pod0' }];

/** A healthy run: every query answered, no checksum error in any namespace. */
function assertHealthy(t: Test, m: Measurement): void {
  t.equal(m.dnsperf.sent, QUERIES, 'dnsperf sent every query');
  t.equal(m.dnsperf.lost, 0, 'every query answered');
  t.same(m.dnsperf.rcodes, { NOERROR: QUERIES }, 'all NOERROR');
  t.ok(m.pod, 'the pod\'s counters were read');
  for (const [who, k] of [...m.nodes.map((n) => [`node${n.node}`, n] as const), ['the pod', m.pod!] as const]) {
    t.equal(k.udpInCsumErrors + k.udp6InCsumErrors, 0, `${who}: no UDP checksum errors`);
    t.equal(k.ipInHdrErrors + k.ip6InHdrErrors, 0, `${who}: no IP header errors`);
    t.equal(k.ipReversePathFilter, 0, `${who}: nothing dropped by the strict reverse-path filter`);
  }
  for (const tap of m.taps) {
    t.same(counts(tap.analysis, Csum.BAD), {}, `node${tap.node} ${tap.iface}: no bad checksums`);
    t.equal(tap.analysis.dns.answered, QUERIES, `node${tap.node} ${tap.iface}: every query answered`);
  }
}

/**
 * Queries damaged on node1 (inner UDP checksum): the server node decapsulates and forwards them
 * unverified, and the pod's kernel drops them.
 */
function assertDroppedInPod(t: Test, m: Measurement, v6: boolean): void {
  const inj = m.nodes[0].injector;
  const d = inj.damaged['inner-udp'];
  t.ok(d > 0 && d < QUERIES, `the injector damaged some but not all (${d} of ${QUERIES})`);
  t.equal(m.nodes[0].damaged, d, 'only inner-udp damaged anything');
  t.equal(inj.errors, 0, 'no injector errors');
  t.equal(inj.skippedPartial, 0, 'no pending checksums with offload off');
  const csum = v6 ? 'udp6InCsumErrors' : 'udpInCsumErrors';
  t.equal(m.pod![csum], d, `the pod's ${v6 ? 'Udp6InCsumErrors' : 'Udp InCsumErrors'} rose by the damaged count`);
  t.equal(m.nodes[1][csum], 0, 'the server node\'s did not move: it forwards, it does not verify');
  t.equal(m.nodes[1].udpInCsumErrors + m.nodes[1].udp6InCsumErrors, 0, 'no checksum error on the server node at all');
  t.equal(m.dnsperf.sent, QUERIES, 'dnsperf sent every query');
  t.equal(m.dnsperf.lost, d, 'dnsperf lost exactly the damaged queries');
  const [eth0, vxlan0, pod0] = m.taps;
  t.same(counts(eth0.analysis, Csum.BAD), { 'vxlan.udp': d }, 'node2 eth0: bad inner UDP checksums arrive in the tunnel');
  t.same(counts(vxlan0.analysis, Csum.BAD), { udp: d }, 'node2 vxlan0: decapsulated, still bad');
  t.same(counts(pod0.analysis, Csum.BAD), { udp: d }, 'node2 pod0: forwarded into the pod, still bad');
  for (const tap of m.taps) {
    t.equal(tap.analysis.dns.queries, QUERIES, `node${tap.node} ${tap.iface}: every query seen`);
    t.equal(tap.analysis.dns.unanswered, d, `node${tap.node} ${tap.iface}: unanswered = damaged`);
    t.equal(tap.analysis.dns.lostToChecksum, d, `node${tap.node} ${tap.iface}: lost to checksums = damaged`);
  }
}

t.test('IPv4 overlay: the pod\'s namespace, addresses, routes, forwarding and offload', async (t) => {
  const lab = up(LAB);
  const pod = lab.topo.pod!;
  t.equal(lab.podNs, `${LAB}-pod`, 'Lab.podNs');
  t.equal(lab.dnsAddress, '10.244.100.2', 'Lab.dnsAddress is the pod\'s');
  t.same({ ns: pod.ns, address: pod.address }, { ns: `${LAB}-pod`, address: '10.244.100.2' }, 'topology: the pod');
  t.equal(lab.topo.dns, pod.address, 'topology: dns is the pod\'s address');
  t.ok(fs.existsSync(`/run/netns/${pod.ns}`), 'the pod\'s namespace exists');

  const addrs = JSON.parse(inNs(pod.ns, 'ip', ['-j', 'addr', 'show', 'dev', 'eth0']).stdout);
  t.equal(addrs[0].address, pod.macPod, 'pod eth0: its fixed MAC');
  t.same(addrs[0].addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`), ['10.244.100.2/24'], 'pod eth0: its address');
  const node0 = JSON.parse(inNs(lab.topo.server.ns, 'ip', ['-j', 'addr', 'show', 'dev', 'pod0']).stdout);
  t.equal(node0[0].address, pod.macNode, 'node2 pod0: its fixed MAC');
  t.same(node0[0].addr_info.map((a: { local: string }) => a.local), ['10.244.100.1'], 'node2 pod0: the gateway address');
  t.match(inNs(pod.ns, 'ip', ['route', 'show', 'default']).stdout, /^default via 10\.244\.100\.1 dev eth0/, 'pod: default route via pod0');
  t.match(inNs(lab.topo.client.ns, 'ip', ['route', 'show', '10.244.100.0/24']).stdout, /via 10\.244\.0\.2 dev vxlan0/, 'node1: the pod subnet via node2 through the tunnel');
  t.equal(sysctl(lab.topo.server.ns, 'net.ipv4.ip_forward'), '1', 'node2 forwards');
  t.equal(sysctl(lab.topo.client.ns, 'net.ipv4.ip_forward'), '0', 'node1 does not');
  for (const ns of [pod.ns, lab.topo.server.ns, lab.topo.client.ns]) {
    t.equal(sysctl(ns, 'net.ipv4.conf.all.rp_filter'), '1', `${ns}: strict reverse-path filtering`);
  }
  t.equal(lab.podOffload()['tx-checksum-ip-generic'], 'off', 'pod eth0: transmit checksum offload off');
  t.equal(lab.offload(2, 'pod0')['tx-checksum-ip-generic'], 'off', 'node2 pod0: transmit checksum offload off');

  t.same(dig(pod.ns, pod.address, `self.${DNS_ZONE}`), [ANSWER_A], 'dnsmasq answers in the pod');
  t.same(dig(lab.topo.client.ns, lab.topo.server.overlay, `node.${DNS_ZONE}`), [], 'and not on node2\'s overlay address');

  const r = cli('lab', 'status', '--name', LAB, '--json');
  t.equal(r.code, 0, `status --json: exit 0 ${r.err.trim()}`);
  const st = JSON.parse(r.out);
  t.equal(st.dns, '10.244.100.2', 'status --json: dns');
  t.match(st.pod, { namespace: `${LAB}-pod`, address: '10.244.100.2', node: 2 }, 'status --json: the pod');
  t.equal(st.config.pod, true, 'status --json: config.pod');
  t.match(cli('lab', 'status', '--name', LAB).out, /^pod \(cswpod-pod\) on node2 at 10\.244\.100\.2/m, 'status: the pod\'s line');
});

t.test('IPv4 overlay: healthy, every query answered', async (t) => {
  const lab = up(LAB);
  assertHealthy(t, measure(lab, { queries: QUERIES, qps: QPS, prefix: 'podok', taps: TAPS }));
});

t.test('IPv4 overlay: inner-udp on node1, queries dropped inside the pod', async (t) => {
  const lab = up(LAB);
  fault(lab, 1, 'inner-udp');
  assertDroppedInPod(t, measure(lab, { queries: QUERIES, qps: QPS, prefix: 'podbad', taps: TAPS }), false);

  // A query longer than 76 bytes of UDP (the kernel's CHECKSUM_BREAK) is not verified on
  // arrival but queued to dnsmasq's socket and dropped when dnsmasq reads it: counted all the same.
  lab.injector(1).configure({ mode: 'inner-udp', probability: 1, vxlanPorts: [lab.config.port], innerPort: 53, direction: 'to' });
  const inCsum = (s: Snmp) => snmpValue(s, 'Udp', 'InCsumErrors');
  const pod0 = inCsum(lab.podSnmp());
  const node0 = inCsum(lab.snmp(2));
  const long = `${'a'.repeat(60)}.${'b'.repeat(60)}.${DNS_ZONE}`;
  for (let i = 0; i < LONG; i++) t.same(dig(lab.topo.client.ns, lab.dnsAddress, `${i}${long}`), [], `long query ${i}: no answer`);
  t.equal(inCsum(lab.podSnmp()) - pod0, LONG, 'long queries: the pod\'s Udp InCsumErrors rose by one each');
  t.equal(inCsum(lab.snmp(2)) - node0, 0, 'long queries: the node\'s did not move');
});

t.test('IPv4 overlay: responses from the pod damaged on node2, dropped by node1', async (t) => {
  const lab = up(LAB);
  fault(lab, 2, 'inner-udp', 'from');
  const m = measure(lab, { queries: QUERIES, qps: QPS, prefix: 'podrsp', taps: [] });
  const d = m.nodes[1].injector.damaged['inner-udp'];
  t.ok(d > 0 && d < QUERIES, `the injector damaged some forwarded responses (${d} of ${QUERIES})`);
  t.equal(m.nodes[0].udpInCsumErrors, d, 'node1 Udp InCsumErrors rose by the damaged count');
  t.equal(m.pod!.udpInCsumErrors, 0, 'none in the pod');
  t.equal(m.dnsperf.lost, d, 'dnsperf lost exactly those');
});

t.test('IPv6 overlay: healthy, then inner-udp dropped inside the pod', async (t) => {
  const lab = up(LAB6, { overlay: 'ipv6' });
  t.equal(lab.dnsAddress, 'fd00:244:100::2', 'the pod\'s IPv6 address');
  t.equal(sysctl(lab.topo.server.ns, 'net.ipv6.conf.all.forwarding'), '1', 'node2 forwards IPv6');
  t.match(inNs(lab.topo.client.ns, 'ip', ['-6', 'route', 'show', 'fd00:244:100::/64']).stdout, /via fd00:244::2 dev vxlan0/, 'node1: the pod subnet via node2');
  t.equal(lab.podOffload()['tx-checksum-ip-generic'], 'off', 'pod eth0: offload off');
  assertHealthy(t, measure(lab, { queries: QUERIES, qps: QPS, prefix: 'pod6ok', taps: TAPS }));
  fault(lab, 1, 'inner-udp');
  assertDroppedInPod(t, measure(lab, { queries: QUERIES, qps: QPS, prefix: 'pod6bad', taps: TAPS }), true);
});

t.test('offload left on: the pod\'s veth keeps it too, and every query is answered', async (t) => {
  const lab = up(LABOFF, { offload: true });
  t.equal(lab.podOffload()['tx-checksum-ip-generic'], 'on', 'pod eth0: offload on');
  t.equal(lab.offload(2, 'pod0')['tx-checksum-ip-generic'], 'on', 'node2 pod0: offload on');
  const m = measure(lab, { queries: 100, qps: QPS, prefix: 'podofl', taps: [] });
  t.equal(m.dnsperf.lost, 0, 'every query answered');
  t.equal(m.pod!.udpInCsumErrors, 0, 'no checksum errors in the pod');
  labDown(LABOFF);
});

t.test('lab down removes the pod\'s namespace and the dnsmasq in it', async (t) => {
  const lab = up(LAB);
  const pids = run('ip', ['netns', 'pids', lab.podNs!]).stdout.split('\n').filter((p) => /^\d+$/.test(p));
  t.equal(pids.length, 1, 'one process in the pod: dnsmasq');
  t.match(fs.readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8'), /dnsmasq/, 'dnsmasq');
  const r = cli('lab', 'down', '--name', LAB);
  t.equal(r.code, 0, `down: exit 0 ${r.err.trim()}`);
  t.match(r.err, new RegExp(`namespace ${LAB}-pod`), 'down names the pod\'s namespace');
  t.notOk(fs.existsSync(`/run/netns/${LAB}-pod`), 'the pod\'s namespace is gone');
  t.notOk(fs.existsSync(`/proc/${pids[0]}`), 'and its dnsmasq');
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  t.notMatch(left, new RegExp(`^${LAB}-`, 'm'), 'no namespace of the lab left');
  t.equal(cli('lab', 'down', '--name', LAB).code, 0, 'down again');
});
