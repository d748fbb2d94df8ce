// csumwatch lab demo: the VMware failure and the kernel's NAT bug, caught by csumwatch, next to
// the ground truth, in under a minute, without a cluster.
//
//   1. healthy           dnsperf through the tunnel; nothing lost
//   2. VMware fault      node1's injector leaves 30% of queries' inner UDP checksum at the
//                        pseudo-header sum (a NIC that never completed the offload)
//   3. fault off         nothing lost again
//   4. kernel bug        node1 NATs the VXLAN port (--random-fully) with offload on vxlan0:
//                        every query lost; then the fix, ethtool ... tx-checksum-ip-generic off
// Every number on the left is csumwatch's, from its analysis of tcpdump captures; on the right
// the injector's counters, dnsperf's and the kernel's. The lab is removed at the end, also on
// failure.

import { toText, verdict } from '../analyze/report';
import { CSUM_NAMES, Csum } from '../decode/checksum';
import { Layer } from '../decode/frame';
import { checkConfig, DEFAULT_CONFIG, LabConfig } from './config';
import { requireTools } from './tools';
import { labDown, labUp } from './lab';
import { measure, Measurement, TapResult } from './measure';

export interface DemoOptions {
  name: string;
  out: (s: string) => void;
  log: (line: string) => void;
  /** Queries per step (default 500). */
  queries?: number;
}

const FAULT_P = 0.3;

export function runDemo(o: DemoOptions): number {
  const q = o.queries ?? 500;
  const started = Date.now();
  const say = (s = '') => o.out(s + '\n');
  const cfg: LabConfig = { ...DEFAULT_CONFIG, name: o.name };
  checkConfig(cfg);
  requireTools(['dnsperf', 'tcpdump', 'iptables']);
  try {
    let lab = labUp(cfg);
    const t = lab.topo;
    say(`csumwatch lab demo: ${t.nodes.length} nodes in network namespaces (${t.nodes.map((n) => n.ns).join(', ')}),`);
    say(`VXLAN ${cfg.port} over a veth underlay, dnsmasq for CoreDNS on ${t.dns} (node2), transmit`);
    say(`checksum offload off so checksums on the wire are real. csumwatch analyses tcpdump captures;`);
    say(`the ground truth is the fault injector's counters, dnsperf's and the kernel's.`);

    say();
    say(`1. healthy: ${q} queries from node1`);
    const healthy = measure(lab, { queries: q, prefix: 'healthy', taps: [{ node: 2, iface: 'eth0' }] });
    summary(say, healthy);

    say();
    say(`2. VMware fault: node1's NIC leaves the inner UDP checksum of ${FAULT_P * 100}% of queries at the`);
    say(`   pseudo-header sum (transmit offload never completed)`);
    lab.injector(1).configure({ mode: 'pseudo-only', probability: FAULT_P, vxlanPorts: [cfg.port], innerPort: 53, direction: 'to' });
    const fault = measure(lab, { queries: q, prefix: 'fault', taps: [{ node: 1, iface: 'eth0' }, { node: 2, iface: 'eth0' }] });
    lab.injector(1).configure({ mode: 'off', probability: 1, vxlanPorts: [cfg.port], innerPort: 53, direction: 'to' });
    const rx = fault.taps[1];
    const tx = fault.taps[0];
    table(say, [
      ['', 'csumwatch', 'ground truth'],
      ['queries damaged', String(rx.analysis.stats.count(Layer.VXLAN_UDP, Csum.BAD)), `${fault.nodes[0].damaged}  (injector, node1 eth0)`],
      ['queries lost', String(rx.analysis.dns.unanswered), `${fault.dnsperf.lost}  (dnsperf)`],
      ['  of them to checksums', String(rx.analysis.dns.lostToChecksum), `${fault.nodes[1].udpInCsumErrors}  (node2 Udp InCsumErrors)`],
      ['sender capture: bad', String(badTotal(tx)), '0  (node1 sees its own offload pending:'],
      ['                partial', String(tx.analysis.stats.count(Layer.VXLAN_UDP, Csum.PARTIAL)), `${fault.nodes[0].damaged}  not an error on the sending side)`],
    ]);
    say(`   csumwatch on node2 eth0: ${verdict(rx.analysis)}`);

    say();
    say(`3. fault off: ${q} queries`);
    summary(say, measure(lab, { queries: q, prefix: 'off', taps: [{ node: 2, iface: 'eth0' }] }));

    say();
    say('4. kernel bug: node1 NATs the VXLAN port (iptables MASQUERADE --random-fully) while vxlan0');
    say('   keeps transmit checksum offload on; the outer UDP checksum is not updated for the new port');
    lab = labUp({ ...cfg, nat: true });
    const nq = Math.min(q, 200);
    const nat = measure(lab, { queries: nq, prefix: 'nat', taps: [{ node: 2, iface: 'eth0' }] });
    const nrx = nat.taps[0];
    table(say, [
      ['', 'csumwatch', 'ground truth'],
      ['outer UDP checksum bad', String(nrx.analysis.stats.count(Layer.UDP, Csum.BAD)), `${nat.nodes[1].udpInCsumErrors}  (node2 Udp InCsumErrors)`],
      ['queries lost', String(nrx.analysis.dns.unanswered), `${nat.dnsperf.lost} of ${nat.dnsperf.sent}  (dnsperf)`],
      ['  of them to checksums', String(nrx.analysis.dns.lostToChecksum), ''],
    ]);
    say('   the fix, on node1: ethtool -K vxlan0 tx-checksum-ip-generic off');
    lab.setFeature(1, 'vxlan0', 'tx-checksum-ip-generic', false);
    summary(say, measure(lab, { queries: nq, prefix: 'fixed', taps: [{ node: 2, iface: 'eth0' }] }));

    say();
    say('what csumwatch said about the capture of step 2 (node2 eth0):');
    say(indent(toText(rx.analysis).replace(/^[^\n]*\n/, ''), '  ').trimEnd());
    say();
    say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s; \`csumwatch lab up\` builds the lab to explore by hand.`);
    return ok(fault) && ok(nat) ? 0 : 1;
  } finally {
    labDown(o.name);
  }
}

/** csumwatch's counts agree with the ground truth. */
function ok(m: Measurement): boolean {
  const rx = m.taps[m.taps.length - 1];
  return rx.analysis.dns.unanswered === m.dnsperf.lost && rx.analysis.dns.lostToChecksum === m.dnsperf.lost;
}

function badTotal(t: TapResult): number {
  let n = 0;
  for (let l = 0; l <= Layer.VXLAN_TCP; l++) n += t.analysis.stats.count(l, Csum.BAD);
  return n;
}

function summary(say: (s?: string) => void, m: Measurement): void {
  const p = m.dnsperf;
  say(`   dnsperf: ${p.sent} sent, ${p.completed} answered, ${p.lost} lost`);
  for (const t of m.taps) {
    const d = t.analysis.dns;
    say(`   csumwatch on node${t.node} ${t.iface}: ${t.analysis.stats.frames} frames, ${badTotal(t)} ${CSUM_NAMES[Csum.BAD]} checksums; ` +
      `${d.answered} answered, ${d.unanswered} lost (${d.lostToChecksum} to checksums)`);
  }
}

function table(say: (s?: string) => void, rows: string[][]): void {
  for (const r of rows) say(`   ${r[0].padEnd(26)}${r[1].padStart(10)}    ${r[2]}`);
}

function indent(s: string, pre: string): string {
  return s.split('\n').map((l) => (l === '' ? l : pre + l)).join('\n');
}

