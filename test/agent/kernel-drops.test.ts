// The kernel drop tracer in the live agent, in the lab (root). The agent runs on the receiving
// node (node2) while the injector on node1 damages a share of the DNS queries in each of its
// modes; the kernel drops each damaged query, and the tracer must count exactly as many under
// the right reason and protocol (udp_csum inside or outside the tunnel, ip_csum), and the lost
// queries must carry the cause checksum with the kernel's reason, counted once. A firewall rule
// dropping DNS shows the cause kernel_drop (nothing is wrong on the wire). The NAT scenario (the
// kernel's own outer-checksum bug) runs with the raw tracepoint. With the DNS server in a pod,
// the drops happen in the pod's namespace and must be seen there. Without BPF (no BTF, or off by
// configuration) the agent says so once, reports the programs as not loaded, and still counts
// the checksum losses from the wire.

import t, { Test } from 'tap';
import { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { statSync } from 'node:fs';
import { join } from 'node:path';

import { ANSWER_AAAA, DEFAULT_CONFIG, DNS_ZONE, LabConfig } from '../../src/lab/config';
import { dig } from '../../src/lab/dns';
import { inNs } from '../../src/lab/tools';
import { InjectMode } from '../../src/lab/inject';
import { Lab, labDown, labUp } from '../../src/lab/lab';
import { rootTest } from '../support/root';
import { get, metric, startAgent, stopAgent, waitFor, waitReady } from '../support/agent';

const LAB = 'cswkd';
const NS = `${LAB}-node2`;
const BASE = 'http://127.0.0.1:9475';
/** --debug-listen: /debug/lost and /debug/drops. */
const DEBUG = 'http://127.0.0.1:9485';
const QUERIES = 200;
const P = 0.3;

const procs = rootTest('the kernel drop tracer\'s lab tests', [LAB]);

const scrape = () => get(NS, `${BASE}/metrics`).body;

interface Lost { id: number; name: string; cause: string; layer: string | null; reason: string | null }

/** Runs dnsperf with the injector in mode, waits for the agent to settle, and returns the growth. */
function round(lab: Lab, mode: InjectMode, prefix: string) {
  const inj = lab.injector(1);
  const before = { inj: inj.stats().damagedTotal, m: scrape() };
  inj.configure({ mode, probability: P, vxlanPorts: [lab.config.port], innerPort: 53, direction: 'to' });
  const perf = lab.dnsperf({ queries: QUERIES, qps: 2000, prefix });
  inj.configure({ mode: 'off', probability: 1, vxlanPorts: [lab.config.port], innerPort: 53, direction: 'to' });
  const damaged = inj.stats().damagedTotal - before.inj;
  const after = waitFor(`the agent to settle after ${mode}`, () => {
    const m = scrape();
    const lost = metric(m, 'csumwatch_dns_lost_total') - metric(before.m, 'csumwatch_dns_lost_total');
    return lost >= perf.lost && metric(m, 'csumwatch_dns_transactions_in_flight') === 0 ? m : undefined;
  });
  const grew = (name: string, labels: Record<string, string> = {}) => metric(after, name, labels) - metric(before.m, name, labels);
  const lost = (JSON.parse(get(NS, `${DEBUG}/debug/lost`).body).lost as Lost[]).filter((l) => l.name.startsWith(prefix));
  return { damaged, perf, grew, lost, metrics: after };
}

/** What each injector mode makes the receiving kernel drop: reason and protocol. */
const EXPECT: Record<Exclude<InjectMode, 'off'>, { reason: string; proto: string; layer: string }> = {
  'inner-udp': { reason: 'udp_csum', proto: 'udp', layer: 'vxlan.udp' },       // after decapsulation
  'inner-ipv4': { reason: 'ip_csum', proto: 'udp', layer: 'vxlan.ipv4' },      // after decapsulation
  'outer-udp': { reason: 'udp_csum', proto: 'vxlan', layer: 'udp' },           // still encapsulated
  'pseudo-only': { reason: 'udp_csum', proto: 'vxlan', layer: 'vxlan.udp' },   // outer computed over the pending inner
};

function checkRound(t: Test, r: ReturnType<typeof round>, e: { reason: string; proto: string; layer: string }, cause = 'checksum') {
  t.ok(r.damaged > 0, `the injector damaged ${r.damaged} of ${QUERIES}`);
  t.equal(r.perf.lost, r.damaged, 'dnsperf lost exactly those');
  t.equal(r.grew('csumwatch_kernel_drops_total', { reason: e.reason, proto: e.proto }), r.damaged, `kernel drops {reason="${e.reason}",proto="${e.proto}"} = injector`);
  t.equal(r.grew('csumwatch_dns_lost_total', { cause }), r.damaged, `lost with cause ${cause}: each once`);
  t.equal(r.grew('csumwatch_dns_lost_total'), r.damaged, 'and with no other cause');
  t.equal(r.grew('csumwatch_dns_kernel_drops_total', { result: 'matched' }), r.damaged, 'every drop matched to its transaction');
  t.equal(r.grew('csumwatch_bpf_events_lost_total'), 0, 'no event lost');
  t.equal(r.grew('csumwatch_bpf_unparsed_total', { part: 'dns' }), 0, 'every DNS message read');
  t.equal(r.grew('csumwatch_kernel_drops_missed_total'), 0, 'no run skipped');
  t.equal(r.lost.length, r.damaged, '/debug/lost names each lost query');
  t.ok(r.lost.every((l) => l.cause === cause && l.reason === e.reason && (cause !== 'checksum' || l.layer === e.layer)), `cause ${cause}, reason ${e.reason}${cause === 'checksum' ? `, layer ${e.layer}` : ''}`);
}

function withAgent(lab: Lab, args: string[], log: string): ChildProcess {
  const dir = join(lab.dir, 'agent-test');
  fs.mkdirSync(dir, { recursive: true });
  const p = startAgent(NS, join(dir, log), ['--listen', '127.0.0.1:9475', '--debug-listen', '127.0.0.1:9485', '--dns-timeout', '1', '--lost', '1000', '--drops', '1000', '--rescan-interval', '2', ...args], procs);
  waitReady(NS, BASE);
  return p;
}

t.test('every injector mode: the kernel drops counted by reason, lost queries tied to them', async (t) => {
  const lab = labUp({ ...DEFAULT_CONFIG, name: LAB });
  const agent = withAgent(lab, ['--doctor-interval', '0.5'], 'agent.log');
  const m0 = scrape();
  t.equal(metric(m0, 'csumwatch_bpf_program_loaded', { program: 'tp_btf/kfree_skb' }), 1, 'tp_btf program loaded');
  t.equal(metric(m0, 'csumwatch_bpf_program_loaded', { program: 'raw_tp/kfree_skb' }), 0);

  await t.test('the doctor in the agent (before any damage): offload flags and the offload finding follow ethtool', async (t) => {
    const flag = () => metric(scrape(), 'csumwatch_offload_enabled', { iface: 'vxlan0', feature: 'tx-checksum-ip-generic' });
    const offloadFinding = () => metric(scrape(), 'csumwatch_finding', { check: 'offload' });
    t.equal(waitFor('the first doctor run', () => (/csumwatch_offload_enabled\{iface="vxlan0"/.test(scrape()) ? flag() : undefined)), 0, 'vxlan0 offload off, as the lab sets it');
    t.equal(offloadFinding(), 0, 'no offload finding');
    lab.setFeature(2, 'vxlan0', 'tx-checksum-ip-generic', true);
    t.equal(waitFor('the doctor to see offload on', () => (flag() === 1 ? 1 : undefined)), 1, 'turned on: the gauge follows');
    t.equal(waitFor('the offload finding', () => (offloadFinding() === 1 ? 1 : undefined)), 1, 'and a finding stands');
    const diag = JSON.parse(get(NS, `${BASE}/diagnosis`).body).findings as Array<{ check: string; remediation: string }>;
    t.match(diag.find((f) => f.check === 'offload')?.remediation ?? '', /ethtool -K vxlan0 tx-checksum-ip-generic off/, '/diagnosis names the fix');
    lab.setFeature(2, 'vxlan0', 'tx-checksum-ip-generic', false);
    t.equal(waitFor('the finding to go', () => (offloadFinding() === 0 && flag() === 0 ? 0 : undefined)), 0, 'fixed: the finding is gone');
  });

  await t.test('the doctor in the agent: AAAA answers on a node without IPv6 routes', async (t) => {
    const ipv6 = () => metric(scrape(), 'csumwatch_finding', { check: 'ipv6', severity: 'warning' });
    t.equal(ipv6(), 0, 'no finding before any AAAA answer');
    for (let i = 0; i < 3; i++) t.same(dig(lab.node(1).ns, lab.dnsAddress, `aaaa${i}.${DNS_ZONE}`, 'AAAA'), [ANSWER_AAAA], 'node1 gets an AAAA answer through the tunnel');
    t.equal(waitFor('the ipv6 finding', () => (ipv6() === 1 ? 1 : undefined)), 1, 'the agent saw the answers, the doctor says the node cannot use them');
    const f = (JSON.parse(get(NS, `${BASE}/diagnosis`).body).findings as Array<{ check: string; evidence: string }>).find((x) => x.check === 'ipv6');
    t.match(f?.evidence ?? '', /3 AAAA answers/, 'with the count');
  });

  for (const [mode, e] of Object.entries(EXPECT) as Array<[Exclude<InjectMode, 'off'>, (typeof EXPECT)['inner-udp']]>) {
    await t.test(mode, async (t) => checkRound(t, round(lab, mode, `kd${mode.replace('-', '')}`), e));
  }

  await t.test('a firewall drops DNS: cause kernel_drop, reason netfilter_drop', async (t) => {
    const rule = ['INPUT', '-p', 'udp', '--dport', '53', '-j', 'DROP'];
    inNs(NS, 'iptables', ['-I', ...rule]);
    const before = scrape();
    const perf = lab.dnsperf({ queries: 30, qps: 1000, prefix: 'kdfw' });
    inNs(NS, 'iptables', ['-D', ...rule]);
    t.equal(perf.lost, 30, 'every query lost');
    const after = waitFor('the lost queries', () => {
      const m = scrape();
      return metric(m, 'csumwatch_dns_lost_total', { cause: 'kernel_drop' }) - metric(before, 'csumwatch_dns_lost_total', { cause: 'kernel_drop' }) >= 30 ? m : undefined;
    });
    const grew = (name: string, labels: Record<string, string>) => metric(after, name, labels) - metric(before, name, labels);
    t.equal(grew('csumwatch_dns_lost_total', { cause: 'kernel_drop' }), 30);
    t.equal(grew('csumwatch_dns_lost_total', { cause: 'checksum' }), 0, 'nothing wrong on the wire');
    t.equal(grew('csumwatch_kernel_drops_total', { reason: 'netfilter_drop', proto: 'udp' }), 30);
    const lost = (JSON.parse(get(NS, `${DEBUG}/debug/lost`).body).lost as Lost[]).filter((l) => l.name.startsWith('kdfw'));
    t.equal(lost.length, 30);
    t.ok(lost.every((l) => l.cause === 'kernel_drop' && l.reason === 'netfilter_drop' && l.layer === null));
  });

  await t.test('/debug/drops: the flow, the tunnel and the query of a drop', async (t) => {
    const drops = JSON.parse(get(NS, `${DEBUG}/debug/drops`).body).drops as Array<Record<string, any>>;
    t.ok(drops.length > 0);
    const outer = drops.find((d) => d.reason === 'udp_csum' && d.proto === 'vxlan');
    const inner = drops.find((d) => d.reason === 'udp_csum' && d.proto === 'udp');
    t.ok(outer && inner, 'drops before and after decapsulation are listed');
    if (outer) {
      t.match(outer, { ifname: 'eth0', flow: { src: '10.244.0.1', dst: '10.244.0.2', dport: 53 }, tunnel: { src: '10.200.0.1', dst: '10.200.0.2', dport: lab.config.port, encap: 'vxlan', vni: lab.config.vni, decapsulated: false }, dns: { qr: 0, qtype: 'A' } }, 'outer checksum: dropped on eth0, still in the tunnel');
      t.notOk(drops.some((d) => d.dns && 'name' in d.dns), 'no query name: names are only in /debug/lost');
      // The newest drops cost the newest lost transactions: their DNS IDs find their names there.
      const lost = JSON.parse(get(NS, `${DEBUG}/debug/lost`).body).lost as Lost[];
      const named = drops.filter((d) => d.dns?.qr === 0).map((d) => lost.find((l) => l.id === d.dns.id && l.reason === d.reason)).filter((l) => l !== undefined);
      t.ok(named.length > 0 && named.every((l) => /^kd.*\.lab\.test\.?$/.test(l!.name)), `${named.length} drops' queries found by DNS ID in /debug/lost`);
    }
    if (inner) t.match(inner, { ifname: 'vxlan0', flow: { src: '10.244.0.1', dst: '10.244.0.2', dport: 53 }, tunnel: { src: '10.200.0.1', dst: '10.200.0.2', encap: 'vxlan', vni: lab.config.vni, decapsulated: true } }, 'inner checksum: dropped after vxlan0 decapsulated it, the tunnel read back from the headroom');
  });

  await t.test('the live output passes promtool', async (t) => {
    const file = join(lab.dir, 'agent-test', 'metrics.prom');
    fs.writeFileSync(file, scrape());
    const r = inNs(NS, 'sh', ['-c', `promtool check metrics < ${file}`], { allowFail: true });
    t.equal(r.status, 0, r.stdout + r.stderr);
  });
  t.equal(await stopAgent(agent), 0, 'SIGTERM: clean exit, tracer detached');
  labDown(LAB);
});

t.test('IPv6 underlay and overlay: the same counts through IPv6 headers on both sides of the tunnel', async (t) => {
  const lab = labUp({ ...DEFAULT_CONFIG, name: LAB, underlay: 'ipv6', overlay: 'ipv6' });
  const agent = withAgent(lab, [], 'ipv6.log');
  for (const mode of ['inner-udp', 'outer-udp'] as const) {
    await t.test(mode, async (t) => checkRound(t, round(lab, mode, `kd6${mode.replace('-', '')}`), EXPECT[mode]));
  }
  const drops = JSON.parse(get(NS, `${DEBUG}/debug/drops`).body).drops as Array<Record<string, any>>;
  const outer = drops.find((d) => d.proto === 'vxlan' && d.reason === 'udp_csum' && d.dns?.qr === 0);
  t.match(outer, { flow: { src: 'fd00:244::1', dst: 'fd00:244::2', dport: 53 }, tunnel: { src: 'fd00:200::1', dst: 'fd00:200::2', dport: lab.config.port, vni: lab.config.vni } }, 'IPv6 in IPv6, read through');
  t.equal(await stopAgent(agent), 0);
  labDown(LAB);
});

t.test('without BPF: said once, programs reported not loaded, checksum losses still counted', async (t) => {
  const lab = labUp({ ...DEFAULT_CONFIG, name: LAB });
  for (const [args, log, line] of [
    [['--bpf-btf', '/nonexistent/vmlinux'], 'nobtf.log', /"msg":"kernel drop tracer unavailable; kernel drops come from \/proc\/net\/snmp only"/],
    [['--bpf', 'off'], 'off.log', /"msg":"kernel drop tracer off by configuration; kernel drops come from \/proc\/net\/snmp only"/],
  ] as const) {
    await t.test(args.join(' '), async (t) => {
      const agent = withAgent(lab, [...args], log);
      const r = round(lab, 'inner-udp', `kdno${log.replace('.log', '')}`);
      t.equal(metric(r.metrics, 'csumwatch_bpf_program_loaded'), 0, 'no program loaded');
      t.equal(metric(r.metrics, 'csumwatch_bpf_program_loaded', { program: 'tp_btf/kfree_skb' }), 0, 'the series is there, 0');
      t.equal(metric(r.metrics, 'csumwatch_kernel_drops_total'), 0, 'no kernel drop counts');
      t.equal(r.grew('csumwatch_dns_lost_total', { cause: 'checksum' }), r.damaged, 'lost to checksum, seen on the wire');
      t.equal(r.grew('csumwatch_kernel_udp_in_csum_errors_total'), r.damaged, '/proc/net/snmp still read');
      t.ok(r.lost.every((l) => l.reason === null), 'no kernel reason without the tracer');
      const diag = JSON.parse(get(NS, `${BASE}/diagnosis`).body).findings as Array<{ check: string }>;
      t.equal(diag.filter((f) => f.check === 'bpf').length, args[0] === '--bpf' ? 0 : 1, 'a finding when BPF should run but cannot');
      t.equal(await stopAgent(agent), 0);
      const lines = fs.readFileSync(join(lab.dir, 'agent-test', log), 'utf8').split('\n');
      t.equal(lines.filter((l) => line.test(l)).length, 1, 'said once');
    });
  }
  labDown(LAB);
});

t.test('the NAT scenario, with the raw tracepoint: every query dropped for its outer checksum', async (t) => {
  const c: LabConfig = { ...DEFAULT_CONFIG, name: LAB, nat: true };
  const lab = labUp(c);
  const agent = withAgent(lab, ['--bpf-attach', 'raw_tp'], 'nat.log');
  const before = scrape();
  t.equal(metric(before, 'csumwatch_bpf_program_loaded', { program: 'raw_tp/kfree_skb' }), 1, 'raw_tp program loaded');
  const perf = lab.dnsperf({ queries: 100, qps: 1000, prefix: 'kdnat' });
  t.equal(perf.lost, 100, 'NAT on the VXLAN port with offload on: nothing gets through');
  const after = waitFor('the lost queries', () => {
    const m = scrape();
    return metric(m, 'csumwatch_dns_lost_total') - metric(before, 'csumwatch_dns_lost_total') >= 100 && metric(m, 'csumwatch_dns_transactions_in_flight') === 0 ? m : undefined;
  });
  const grew = (name: string, labels: Record<string, string> = {}) => metric(after, name, labels) - metric(before, name, labels);
  t.equal(grew('csumwatch_kernel_drops_total', { reason: 'udp_csum', proto: 'vxlan' }), 100, 'udp_csum on the outer header, each query');
  t.equal(grew('csumwatch_dns_lost_total', { cause: 'checksum' }), 100, 'lost to checksum, once each');
  const lost = (JSON.parse(get(NS, `${DEBUG}/debug/lost`).body).lost as Lost[]).filter((l) => l.name.startsWith('kdnat'));
  t.ok(lost.length === 100 && lost.every((l) => l.reason === 'udp_csum' && l.layer === 'udp'), 'reason udp_csum, layer udp (outer)');
  t.equal(await stopAgent(agent), 0);
  labDown(LAB);
});

t.test('DNS in a pod: the drops inside the pod\'s namespace are seen and tied to the queries', async (t) => {
  const lab = labUp({ ...DEFAULT_CONFIG, name: LAB, pod: true });
  const podNs = lab.podNs as string;
  const inode = statSync(`/run/netns/${podNs}`).ino;
  const agent = withAgent(lab, [], 'pod.log');
  const podBefore = lab.podSnmp().Udp?.InCsumErrors ?? 0;
  const r = round(lab, 'inner-udp', 'kdpod');
  checkRound(t, r, EXPECT['inner-udp']);
  t.equal((lab.podSnmp().Udp?.InCsumErrors ?? 0) - podBefore, r.damaged, "the pod's kernel dropped them (Udp InCsumErrors)");
  t.ok(r.lost.every((l) => (l as Lost & { server: string }).server === lab.dnsAddress), `to the pod at ${lab.dnsAddress}`);
  // Tied to the round's lost queries by DNS ID (a drop carries no name).
  const ids = new Set(r.lost.map((l) => l.id));
  const drops = (JSON.parse(get(NS, `${DEBUG}/debug/drops`).body).drops as Array<Record<string, any>>).filter((d) => d.dns?.qr === 0 && ids.has(d.dns.id));
  t.equal(drops.length, r.damaged, 'an event for each');
  t.ok(drops.every((d) => d.netns === inode), `in the pod's namespace (inode ${inode}), not the node's`);
  t.ok(drops.every((d) => d.ifname === 'eth0' && d.flow.dst === lab.dnsAddress && d.reason === 'udp_csum'), "on the pod's eth0, to the pod, udp_csum");
  t.ok(drops.every((d) => d.tunnel?.decapsulated === true && d.tunnel.encap === 'vxlan' && d.tunnel.src === '10.200.0.1' && d.tunnel.dst === '10.200.0.2' && d.tunnel.dport === lab.config.port), 'the tunnel it came through, read back from the headroom after forwarding');
  t.ok(drops.every((d) => d.tunnel.vni === null), 'but not its VNI, which forwarding overwrote');
  t.equal(await stopAgent(agent), 0);
  labDown(LAB);
});
