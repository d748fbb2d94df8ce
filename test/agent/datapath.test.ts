// The kernel datapath in the lab (root). The agent on node2 counts VXLAN in its eBPF socket
// filter: per peer and direction, its counts must equal node2's eth0 packet counters exactly (the
// lab sends nothing else on eth0), with DNS still exact and no capture drop. Then GRO is turned on
// for node2's eth0: received VXLAN frames are merged past the MTU and their checksum fields hold
// only the pseudo-header sum (tshark calls them bad). The agent on the kernel datapath reads the
// kernel's CSUMNOTREADY mark, the libpcap fallback and `csumwatch analyze` of a capture of the
// same traffic use the MTU rule: none of them may call one `bad`. Every wait and load is bounded.

import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';

import { DEFAULT_CONFIG } from '../../src/lab/config';
import { inNs, sleepMs } from '../../src/lab/tools';
import { Lab } from '../../src/lab/lab';
import { cli } from '../support/cli';
import { labWithDir } from '../support/lab';
import { rootTest } from '../support/root';
import { get, metric, startAgent, stopAgent, waitReady } from '../support/agent';
import { tsharkChecksums } from '../support/tshark';

const LAB = 'cswdt';
const NS = `${LAB}-node2`;
const KERNEL = 'http://127.0.0.1:9475';
const PCAP = 'http://127.0.0.1:9476';
const IPERF_PORT = 5201;

const procs = rootTest('the datapath tests', [LAB]);

/** iperf3 TCP of `bytes` from node1's overlay address to node2's (bounded by a 60 s kill). */
function iperf3(lab: Lab, bytes: string): void {
  const srv = lab.node(2);
  const cli1 = lab.node(1);
  const server = spawn('ip', ['netns', 'exec', srv.ns, 'iperf3', '-s', '-1', '-B', srv.overlay, '-p', String(IPERF_PORT)], { stdio: 'ignore' });
  procs.push(server);
  for (let i = 0; i < 50 && !inNs(srv.ns, 'ss', ['-Htln', `sport = :${IPERF_PORT}`]).stdout.trim(); i++) sleepMs(100);
  const r = inNs(cli1.ns, 'iperf3', ['-c', srv.overlay, '-B', cli1.overlay, '-p', String(IPERF_PORT), '-n', bytes, '--connect-timeout', '3000'], { timeoutMs: 60_000, allowFail: true });
  if (r.status !== 0) throw new Error(`iperf3: exit ${r.status}: ${r.stderr.trim() || r.stdout.trim()}`);
}

function page(base: string): string {
  const r = get(NS, `${base}/metrics`);
  if (r.status !== 200) throw new Error(`${base}/metrics: HTTP ${r.status}`);
  return r.body;
}

t.test('kernel counts equal the interface counters; DNS exact; then GRO-merged frames are not bad', async (t) => {
  const { lab, dir } = labWithDir(LAB, 'datapath-test');
  const peer = lab.node(1).underlay;

  const logK = join(dir, 'kernel.log');
  const agentK = startAgent(NS, logK, ['--listen', '127.0.0.1:9475', '--vtep-series', 'all', '--dns-timeout', '1'], procs);
  waitReady(NS, KERNEL);
  t.equal(metric(page(KERNEL), 'csumwatch_datapath', { mode: 'kernel' }), 1, 'the default datapath is the kernel one');

  // Bulk and DNS through the tunnel; the agent copies only the DNS.
  const m0 = page(KERNEL);
  const c0 = lab.linkPackets(2, 'eth0');
  iperf3(lab, '40M');
  const perf = lab.dnsperf({ queries: 500, qps: 2000, prefix: 'dp' });
  sleepMs(1500); // past the DNS timeout
  const c1 = lab.linkPackets(2, 'eth0');
  const m1 = page(KERNEL);
  const d = (name: string, labels: Record<string, string> = {}) => metric(m1, name, labels) - metric(m0, name, labels);
  const ifRx = c1.rx - c0.rx;
  const ifTx = c1.tx - c0.tx;
  t.ok(ifRx > 20_000, `the bulk transfer crossed eth0 (${ifRx} packets received)`);
  t.equal(d('csumwatch_vtep_packets_total', { peer, direction: 'rx' }), ifRx, 'per-peer rx count equals eth0 rx_packets');
  t.equal(d('csumwatch_vtep_packets_total', { peer, direction: 'tx' }), ifTx, 'per-peer tx count equals eth0 tx_packets');
  t.equal(d('csumwatch_packets_total', { iface: 'eth0', encap: 'vxlan', direction: 'rx' }), ifRx, 'csumwatch_packets_total of eth0 rx too');
  t.equal(d('csumwatch_packets_total', { iface: 'eth0', encap: 'vxlan', direction: 'tx' }), ifTx, 'and tx');
  t.equal(d('csumwatch_vtep_packets_total', { result: 'bad' }), 0, 'nothing bad on a healthy lab');
  t.equal(d('csumwatch_capture_dropped_total'), 0, 'no capture drop');
  t.ok(d('csumwatch_filter_packets_total', { what: 'not_copied' }) > 0.9 * ifRx, 'the bulk was counted in the kernel, not copied');
  t.equal(d('csumwatch_filter_packets_total', { what: 'vxlan_copied' }), 0, 'no VXLAN copied for judging at the default --vtep-packets');
  t.equal(d('csumwatch_dns_queries_total'), perf.sent, 'every DNS query seen');
  t.equal(d('csumwatch_dns_lost_total'), perf.lost, "lost as dnsperf's count");
  t.equal(d('csumwatch_checksums_total', { result: 'bad' }), 0, 'no bad checksum');

  // GRO on node2's eth0. veth hands a frame to GRO only when the sending side (the switch's
  // port) does not segment itself: TSO and GSO off there. node1 checksums in software (lab
  // default), so the merged frames' fields hold what GRO left: the pseudo-header sum.
  inNs(lab.topo.switchNs, 'ethtool', ['-K', lab.node(2).swEth0, 'tso', 'off', 'gso', 'off']);
  lab.setFeature(2, 'eth0', 'gro', true);
  t.equal(await stopAgent(agentK), 0, 'the first agent stops cleanly');

  // Both datapaths judge every VXLAN packet now: the kernel one with the kernel's mark, the
  // libpcap one (--datapath pcap) with the interface's MTU.
  const agentG = startAgent(NS, join(dir, 'gro-kernel.log'), ['--listen', '127.0.0.1:9475', '--vtep-packets', 'all', '--vtep-series', 'all'], procs);
  const agentP = startAgent(NS, join(dir, 'gro-pcap.log'), ['--listen', '127.0.0.1:9476', '--datapath', 'pcap', '--vtep-series', 'all', '--bpf', 'off'], procs);
  waitReady(NS, KERNEL);
  waitReady(NS, PCAP);
  t.equal(metric(page(PCAP), 'csumwatch_datapath', { mode: 'pcap' }), 1, '--datapath pcap runs libpcap');
  const file = join(dir, 'gro.pcap');
  const td = spawn('ip', ['netns', 'exec', NS, 'tcpdump', '-i', 'any', '-n', '-s', '0', '-c', '3000', '-w', file, `udp port ${DEFAULT_CONFIG.port}`], { stdio: 'ignore' });
  procs.push(td);
  sleepMs(1000);
  const g0 = [page(KERNEL), page(PCAP)];
  iperf3(lab, '60M');
  sleepMs(500);
  const g1 = [page(KERNEL), page(PCAP)];
  td.kill('SIGINT');
  await new Promise<void>((resolve) => (td.exitCode !== null ? resolve() : td.once('exit', () => resolve())));
  for (const [i, name] of ['kernel', 'pcap'].entries()) {
    const dg = (labels: Record<string, string>) => metric(g1[i], 'csumwatch_checksums_total', labels) - metric(g0[i], 'csumwatch_checksums_total', labels);
    t.equal(dg({ result: 'bad' }), 0, `${name} datapath: no checksum called bad`);
    t.ok(dg({ iface: 'eth0', direction: 'rx', layer: 'vxlan.tcp', result: 'partial' }) > 0, `${name} datapath: merged frames counted partial`);
    t.equal(metric(g1[i], 'csumwatch_vtep_packets_total', { result: 'bad' }), 0, `${name} datapath: no bad packet from the peer`);
  }

  // The capture holds frames past the MTU whose checksums tshark calls bad: the test has teeth.
  const frames = tsharkChecksums(file);
  const pseudoOnly = frames.filter((f) => f.layers['udp'] === 0 || f.layers['vxlan.tcp'] === 0).length;
  t.ok(pseudoOnly > 0, `tshark calls ${pseudoOnly} of ${frames.length} merged frames bad`);
  const a = cli('analyze', '--json', file);
  t.equal(a.code, 0, 'csumwatch analyze exits 0 (nothing bad)');
  const j = JSON.parse(a.out) as { checksums: { udp: Record<string, number>; vxlan: { tcp: Record<string, number> } } };
  t.equal(j.checksums.udp.bad + j.checksums.vxlan.tcp.bad, 0, 'offline: no bad checksum');
  t.ok(j.checksums.vxlan.tcp.partial >= pseudoOnly / 2, `offline: merged frames are partial (${j.checksums.vxlan.tcp.partial})`);

  // A configured interface that does not exist is said, once, not waited for in silence.
  const logN = join(dir, 'nope.log');
  const agentN = startAgent(NS, logN, ['--listen', '127.0.0.1:9477', '--interface', 'nope0', '--bpf', 'off', '--doctor-interval', '0', '--rescan-interval', '1'], procs);
  const said = () => fs.readFileSync(logN, 'utf8').split('\n').filter((l) => l.includes('configured interface not found') && l.includes('"iface":"nope0"')).length;
  for (let i = 0; i < 50 && said() === 0; i++) sleepMs(200);
  sleepMs(2500); // past a rescan or two
  t.equal(said(), 1, '--interface nope0: one warning naming it');
  t.equal(await stopAgent(agentN), 0, 'that agent stops cleanly');

  t.equal(await stopAgent(agentG), 0, 'the kernel agent stops cleanly');
  t.equal(await stopAgent(agentP), 0, 'the pcap agent stops cleanly');
});
