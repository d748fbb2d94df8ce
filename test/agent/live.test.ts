// The live agent in the lab (root): it runs on the receiving node (node2, the DNS server) while
// the injector on node1 damages a share of the queries. Its metrics must equal the ground truth
// (the injector's counters, dnsperf's lost count, the kernel's InCsumErrors); the lost queries'
// cause must be `checksum` and /debug/lost must name them; a real Prometheus (the Debian
// package) scrapes the agent and must read the same numbers back through its HTTP API. Then the
// vxlan device is deleted and re-created under the agent, which must pick it up again, and
// SIGTERM must stop it cleanly. Every wait is bounded.

import t from 'tap';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';

import { DEFAULT_CONFIG } from '../../src/lab/config';
import { labWithDir } from '../support/lab';
import { rootTest } from '../support/root';
import { get as getIn, metric, startAgent, stopAgent, waitFor, waitReady } from '../support/agent';
const LAB = 'cswag';
const NS = `${LAB}-node2`;
const QUERIES = 300;
const P = 0.3;
const DNS_TIMEOUT_S = 1.5;

const procs = rootTest('the agent\'s lab tests', [LAB]);

const get = (url: string) => getIn(NS, url);

function startPrometheus(dir: string): ChildProcess {
  const cfg = join(dir, 'prometheus.yml');
  fs.writeFileSync(cfg, ['global:', '  scrape_interval: 1s', 'scrape_configs:', '  - job_name: csumwatch', '    static_configs:', "      - targets: ['127.0.0.1:9475']", ''].join('\n'));
  const out = fs.openSync(join(dir, 'prometheus.log'), 'w');
  const p = spawn('ip', ['netns', 'exec', NS, 'prometheus', `--config.file=${cfg}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, '--web.listen-address=127.0.0.1:9090'], { stdio: ['ignore', out, out] });
  procs.push(p);
  return p;
}

/** One instant query through Prometheus's HTTP API: the value, or undefined when there is none. */
function promQuery(q: string): number | undefined {
  const r = get(`http://127.0.0.1:9090/api/v1/query?query=${encodeURIComponent(q)}`);
  if (r.status !== 200) return undefined;
  const res = JSON.parse(r.body).data?.result ?? [];
  return res.length === 1 ? Number(res[0].value[1]) : undefined;
}

t.test('the agent on the receiving node, a real Prometheus, then an interface flap', async (t) => {
  const { lab, dir } = labWithDir(LAB, 'agent-test');
  const logFile = join(dir, 'agent.log');
  const agent = startAgent(NS, logFile, ['--listen', '127.0.0.1:9475', '--debug-listen', '127.0.0.1:9485', '--dns-timeout', String(DNS_TIMEOUT_S), '--lost', '1000', '--rescan-interval', '2'], procs);
  const ready = waitReady(NS, 'http://127.0.0.1:9475');
  t.same(ready.captures.map((c: { name: string; role: string }) => [c.name, c.role]), [['eth0', 'underlay of vxlan0'], ['vxlan0', 'vxlan']], 'found vxlan0 and its underlay by itself');
  startPrometheus(dir);

  const inj = lab.injector(1);
  const before = { inj: inj.stats(), snmp: lab.snmp(2) };
  inj.configure({ mode: 'inner-udp', probability: P, vxlanPorts: [DEFAULT_CONFIG.port], innerPort: 53, direction: 'to' });
  const perf = lab.dnsperf({ queries: QUERIES, qps: 3000, prefix: 'ag' });
  inj.configure({ mode: 'off', probability: 1, vxlanPorts: [DEFAULT_CONFIG.port], innerPort: 53, direction: 'to' });
  const damaged = inj.stats().damagedTotal - before.inj.damagedTotal;
  const csumErrors = (lab.snmp(2).Udp?.InCsumErrors ?? 0) - (before.snmp.Udp?.InCsumErrors ?? 0);
  t.ok(damaged > 0, `the injector damaged ${damaged} queries`);
  t.equal(perf.sent, QUERIES);
  t.equal(perf.lost, damaged, 'every damaged query was lost, and only those');
  t.equal(csumErrors, damaged, "node2's kernel dropped each one (Udp InCsumErrors)");

  // After the DNS timeout the lost queries are counted.
  const m = waitFor('the lost queries to time out in the agent', () => {
    const body = get('http://127.0.0.1:9475/metrics').body;
    return metric(body, 'csumwatch_dns_lost_total') >= damaged && metric(body, 'csumwatch_dns_transactions_in_flight') === 0 ? body : undefined;
  });
  t.equal(metric(m, 'csumwatch_dns_queries_total'), QUERIES, 'queries: each counted once, though seen on eth0 and vxlan0');
  t.equal(metric(m, 'csumwatch_dns_lost_total', { cause: 'checksum' }), perf.lost, 'lost to checksum = dnsperf lost');
  t.equal(metric(m, 'csumwatch_dns_lost_total'), perf.lost, 'no other cause');
  t.equal(metric(m, 'csumwatch_dns_responses_total'), perf.completed, 'answered = dnsperf completed');
  t.equal(metric(m, 'csumwatch_checksums_total', { iface: 'eth0', direction: 'rx', layer: 'vxlan.udp', result: 'bad' }), damaged, 'bad inner UDP on the underlay = injector');
  t.equal(metric(m, 'csumwatch_checksums_total', { iface: 'vxlan0', direction: 'rx', layer: 'udp', result: 'bad' }), damaged, 'and again on the vxlan device, decapsulated');
  t.equal(metric(m, 'csumwatch_checksums_total', { result: 'bad' }), 2 * damaged, 'nothing else bad');
  t.equal(metric(m, 'csumwatch_vtep_packets_total', { peer: '10.200.0.1', direction: 'rx', result: 'bad' }), damaged, 'per VTEP: received bad from node1');
  t.equal(metric(m, 'csumwatch_vtep_packets_total', { peer: '10.200.0.1', direction: 'rx', result: 'ok' }), QUERIES - damaged);
  t.equal(metric(m, 'csumwatch_vtep_packets_total', { peer: '10.200.0.1', direction: 'tx', result: 'ok' }), perf.completed, 'per VTEP: answers sent to node1');
  t.equal(metric(m, 'csumwatch_kernel_udp_in_csum_errors_total'), lab.snmp(2).Udp?.InCsumErrors ?? -1, 'the kernel counter as /proc/net/snmp has it');
  t.equal(metric(m, 'csumwatch_capture_dropped_total'), 0, 'the capture dropped nothing');
  t.equal(metric(m, 'csumwatch_interface_info', { iface: 'vxlan0', kind: 'vxlan', mtu: '1450' }), 1);

  const lost = JSON.parse(get('http://127.0.0.1:9485/debug/lost').body).lost as Array<{ name: string; cause: string; layer: string; client: string }>;
  t.equal(lost.length, perf.lost, '/debug/lost lists every lost query');
  const names = new Set(perf.names.map((n) => n + '.'));
  t.ok(lost.every((l) => names.has(l.name) && l.cause === 'checksum' && l.layer === 'vxlan.udp' && l.client === '10.244.0.1'), 'by name, with cause checksum in vxlan.udp, from node1');
  t.equal(new Set(lost.map((l) => l.name)).size, lost.length, 'each once');

  // Prometheus scraped the same numbers.
  for (const [q, want] of [
    ['csumwatch_dns_lost_total{cause="checksum"}', perf.lost],
    ['csumwatch_dns_queries_total', QUERIES],
    ['sum(csumwatch_checksums_total{iface="eth0",result="bad"})', damaged],
    ['csumwatch_vtep_packets_total{peer="10.200.0.1",direction="rx",result="bad"}', damaged],
  ] as const) {
    const got = waitFor(`Prometheus to have ${q} = ${want}`, () => (promQuery(q) === want ? want : undefined), 20_000);
    t.equal(got, want, `Prometheus API: ${q}`);
  }
  t.equal(promQuery('up{job="csumwatch"}'), 1, 'the scrape target is up');

  // Interface flap: a CNI deletes and re-creates its vxlan device.
  const oldIndex = ready.captures.find((c: { name: string }) => c.name === 'vxlan0')!.ifindex;
  lab.recreateVxlan(2, 500);
  const again = waitFor('the capture on the new vxlan0', () => {
    const r = JSON.parse(get('http://127.0.0.1:9475/readyz').body);
    const vx = r.captures.find((c: { name: string }) => c.name === 'vxlan0');
    return vx && vx.running && vx.ifindex !== oldIndex ? vx : undefined;
  });
  t.not(again.ifindex, oldIndex, `vxlan0 captured again (ifindex ${oldIndex} → ${again.ifindex})`);
  const vxBefore = metric(get('http://127.0.0.1:9475/metrics').body, 'csumwatch_packets_total', { iface: 'vxlan0' });
  const perf2 = lab.dnsperf({ queries: 50, qps: 1000, prefix: 'flap' });
  t.equal(perf2.lost, 0);
  const vxAfter = waitFor('the new queries on vxlan0', () => {
    const n = metric(get('http://127.0.0.1:9475/metrics').body, 'csumwatch_packets_total', { iface: 'vxlan0' });
    return n >= vxBefore + 100 ? n : undefined;
  });
  t.equal(vxAfter - vxBefore, 100, 'the same series goes on counting: 50 queries and 50 answers');
  const log = fs.readFileSync(logFile, 'utf8');
  t.match(log, /"iface":"vxlan0".*"msg":"capture (stopped|failed; reopening when the interface is back)"/, 'the loss is logged');
  t.equal(log.split('\n').filter((l) => /"iface":"vxlan0".*"msg":"capture started"/.test(l)).length, 2, 'and the restart');

  // SIGTERM: captures and server closed, exit 0.
  const code = await stopAgent(agent);
  t.equal(code, 0, 'SIGTERM: clean exit within 5 s');
  t.match(fs.readFileSync(logFile, 'utf8'), /"msg":"stopped"/);
});
