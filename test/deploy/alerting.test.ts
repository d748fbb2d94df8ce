// The alerts end to end (root, lab): the agent on the lab's receiving node; a real Prometheus (the
// Debian package) that loads deploy/rules/prometheusrule.yaml's groups and scrapes the agent as the
// ServiceMonitor would (job csumwatch, a `node` label); a real Alertmanager; and a webhook
// receiver, all inside node2's namespace on 127.0.0.1. Healthy DNS raises nothing. With the
// injector damaging 30% of the queries, CsumwatchChecksumDropSpike must reach the webhook (after
// its `for: 1m`) naming the node and the interface, and the slower DNS and VTEP alerts must be
// pending. Every dashboard query must evaluate on the same Prometheus. Every wait is bounded.

import t from 'tap';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';

import { DEFAULT_CONFIG } from '../../src/lab/config';
import { Lab, labUp } from '../../src/lab/lab';
import { get as getIn, startAgent, stopAgent, waitFor, waitReady } from '../support/agent';
import { dashboardQueries } from '../support/dashboard';
import { rootTest } from '../support/root';
import { writeRuleFile } from '../support/rules';

const LAB = 'cswal';
const LAB_BIND = 'cswab';
const LAB_NAT = 'cswan';
const NS = `${LAB}-node2`;
const NODE = 'lab-node2';
const PROM = 'http://127.0.0.1:9090';
const procs = rootTest('the alerting tests', [LAB, LAB_BIND, LAB_NAT]);

function start(ns: string, cmd: string, args: string[], log: string): ChildProcess {
  const out = fs.openSync(log, 'w');
  const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  procs.push(p);
  return p;
}

interface Sample { metric: Record<string, string>; value: [number, string] }

interface Notification { status: string; alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string> }> }

/**
 * The agent, a real Prometheus (rules loaded, scraping every second with job csumwatch and the
 * node label, as the ServiceMonitor would), Alertmanager and the webhook receiver, all on
 * 127.0.0.1 inside namespace ns. The agent reads a healthy node's resolv.conf (--host-root): the
 * host's, which the lab's namespaces see, names a nameserver they cannot reach.
 */
class Stack {
  readonly agent: ChildProcess;
  readonly received: string;
  readonly rules: string;

  constructor(readonly ns: string, readonly node: string, lab: Lab, readonly dir: string, agentArgs: string[]) {
    fs.mkdirSync(dir, { recursive: true });
    const root = join(dir, 'host-root');
    fs.mkdirSync(join(root, 'etc'), { recursive: true });
    fs.writeFileSync(join(root, 'etc', 'resolv.conf'), `nameserver ${lab.topo.dns}\n`);
    this.agent = startAgent(ns, join(dir, 'agent.log'), ['--listen', '127.0.0.1:9475', '--host-root', root, ...agentArgs], procs);
    waitReady(ns, 'http://127.0.0.1:9475');
    this.rules = writeRuleFile(dir);
    fs.writeFileSync(join(dir, 'prometheus.yml'), YAML.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [this.rules],
      alerting: { alertmanagers: [{ static_configs: [{ targets: ['127.0.0.1:9093'] }] }] },
      // As the ServiceMonitor scrapes it: job csumwatch (the Service's name), node from the pod.
      scrape_configs: [{ job_name: 'csumwatch', static_configs: [{ targets: ['127.0.0.1:9475'], labels: { node } }] }],
    }));
    fs.writeFileSync(join(dir, 'alertmanager.yml'), YAML.stringify({
      route: { receiver: 'test', group_by: ['alertname', 'node'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
      receivers: [{ name: 'test', webhook_configs: [{ url: 'http://127.0.0.1:9099/alerts', send_resolved: false }] }],
    }));
    this.received = join(dir, 'webhook.jsonl');
    start(ns, process.execPath, [join(__dirname, 'webhook-receiver.js'), '9099', this.received], join(dir, 'webhook.log'));
    start(ns, 'prometheus-alertmanager', [`--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'am')}`, '--web.listen-address=127.0.0.1:9093', '--cluster.listen-address='], join(dir, 'alertmanager.log'));
    start(ns, 'prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, '--web.listen-address=127.0.0.1:9090'], join(dir, 'prometheus.log'));
    waitFor('Prometheus to scrape the agent', () => {
      const r = this.query('up{job="csumwatch"}');
      return r.ok && r.result.length === 1 && r.result[0].value[1] === '1' ? true : undefined;
    }, 30_000);
    waitFor('Alertmanager', () => (this.get('http://127.0.0.1:9093/-/ready').status === 200 ? true : undefined));
  }

  get(url: string): { status: number; body: string } {
    return getIn(this.ns, url);
  }

  /** An instant query through Prometheus's API: its result, or the error Prometheus gives. */
  query(q: string): { ok: true; result: Sample[] } | { ok: false; error: string } {
    const r = this.get(`${PROM}/api/v1/query?query=${encodeURIComponent(q)}`);
    let body: { status?: string; data?: { result: Sample[] }; error?: string };
    try {
      body = JSON.parse(r.body);
    } catch {
      return { ok: false, error: `HTTP ${r.status}: ${r.body.slice(0, 200)}` };
    }
    return body.status === 'success' ? { ok: true, result: body.data!.result } : { ok: false, error: body.error ?? `HTTP ${r.status}` };
  }

  alerts(state: 'pending' | 'firing'): Array<Record<string, string>> {
    const r = this.query(`ALERTS{alertstate="${state}"}`);
    return r.ok ? r.result.map((s) => s.metric) : [];
  }

  /** The alerts the webhook received firing so far. */
  delivered(): Notification['alerts'] {
    if (!fs.existsSync(this.received)) return [];
    return fs.readFileSync(this.received, 'utf8').trim().split('\n').filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Notification).flatMap((n) => n.alerts).filter((a) => a.status === 'firing');
  }
}

t.test('Prometheus loads the rules, scrapes the agent, and Alertmanager delivers the checksum-drop alert', async (t) => {
  const lab: Lab = labUp({ ...DEFAULT_CONFIG, name: LAB });
  const stack = new Stack(NS, NODE, lab, join(lab.dir, 'alerting-test'), ['--dns-timeout', '2']);
  const { agent, received, rules } = stack;
  const query = (q: string) => stack.query(q);
  const alerts = (state: 'pending' | 'firing') => stack.alerts(state);
  const get = (url: string) => stack.get(url);
  const loaded = JSON.parse(get(`${PROM}/api/v1/rules`).body).data.groups as Array<{ file: string; rules: Array<{ name: string; health: string; lastError?: string }> }>;
  const ruleList = loaded.flatMap((g) => g.rules);
  t.ok(ruleList.length >= 7, `Prometheus loaded ${ruleList.length} rules from ${rules}`);
  waitFor('every rule to be evaluated', () => (JSON.parse(get(`${PROM}/api/v1/rules`).body).data.groups.flatMap((g: { rules: Array<{ health: string }> }) => g.rules).every((r: { health: string }) => r.health === 'ok') ? true : undefined), 15_000);
  t.pass('every rule evaluates against the live agent\'s series (health ok)');

  // Healthy DNS through the tunnel: nothing pending, nothing firing.
  const healthy = lab.dnsperf({ queries: 3000, qps: 1000, prefix: 'ok' });
  t.equal(healthy.lost, 0, 'healthy DNS: nothing lost');
  t.same(alerts('pending').concat(alerts('firing')).map((a) => a.alertname), [], 'healthy: no alert pending or firing');

  // Every dashboard query evaluates here (Grafana's variables replaced as Grafana would).
  for (const q of dashboardQueries()) {
    const r = query(q.promql);
    t.ok(r.ok, `dashboard "${q.panel}" ${q.refId}: ${r.ok ? 'evaluates' : r.error}`);
  }

  // The fault: 30% of the queries to node2's DNS get a bad inner UDP checksum, for as long as it
  // takes the alert to reach the webhook (its `for: 1m`, plus evaluation and group_wait).
  const inj = lab.injector(1);
  inj.configure({ mode: 'inner-udp', probability: 0.3, vxlanPorts: [DEFAULT_CONFIG.port], innerPort: 53, direction: 'to' });
  const t0 = Date.now();
  let spike: Notification['alerts'] = [];
  let sawPending: string[] = [];
  for (let i = 0; Date.now() - t0 < 150_000 && spike.length === 0; i++) {
    lab.dnsperf({ queries: 1000, qps: 500, prefix: `f${i}` });
    sawPending = [...new Set([...sawPending, ...alerts('pending').map((a) => a.alertname)])];
    if (fs.existsSync(received)) {
      const notes = fs.readFileSync(received, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Notification);
      spike = notes.flatMap((n) => n.alerts).filter((a) => a.labels.alertname === 'CsumwatchChecksumDropSpike' && a.status === 'firing');
    }
  }
  inj.configure({ mode: 'off', probability: 1, vxlanPorts: [DEFAULT_CONFIG.port], innerPort: 53, direction: 'to' });
  const waited = (Date.now() - t0) / 1000;
  t.ok(spike.length > 0, `CsumwatchChecksumDropSpike reached the webhook after ${waited.toFixed(0)} s of the fault`);
  t.ok(waited >= 60, 'not before its for: 1m');
  const eth0 = spike.find((a) => a.labels.iface === 'eth0');
  t.ok(eth0, `one names the underlay eth0 (got ifaces ${spike.map((a) => a.labels.iface ?? '(kernel)').join(', ')})`);
  t.equal(eth0?.labels.node, NODE, 'and the node');
  t.equal(eth0?.labels.severity, 'critical', 'it pages');
  t.match(eth0?.annotations.description ?? '', new RegExp(`eth0 of node ${NODE}`), 'the description names the interface and node');
  t.equal(eth0?.annotations.runbook_url, 'https://github.com/csumwatch/csumwatch/blob/main/docs/runbooks/CsumwatchChecksumDropSpike.md', 'with its runbook');
  t.ok(spike.some((a) => a.labels.iface === undefined && a.annotations.description.includes('udp_csum')), 'and the kernel\'s udp_csum drops raise it too (no interface)');

  // The slower alerts saw the same fault: pending (their for: is minutes), evaluated on real series.
  for (const name of ['CsumwatchDnsLost', 'CsumwatchVtepLoss']) t.ok(sawPending.includes(name) || alerts('firing').some((a) => a.alertname === name), `${name} went pending`);
  t.notOk([...sawPending, ...alerts('firing').map((a) => a.alertname)].includes('CsumwatchBpfNotLoaded'), 'the tracer is loaded: no BpfNotLoaded');
  t.notOk([...sawPending, ...alerts('firing').map((a) => a.alertname)].includes('CsumwatchAgentDown'), 'the agent is up: no AgentDown');

  t.equal(await stopAgent(agent), 0, 'the agent stops cleanly');
});

// Quiet nodes with a fault that loses every query (one query a second), two labs at once:
// - a VXLAN device bound to the wrong underlay: the agent on node1 has a critical `binding`
//   finding and loses every transaction;
// - the kernel's NAT bug: node1 NATs its VXLAN packets' source port with transmit checksum offload
//   on, node2 drops every one for its bad outer UDP checksum; the agent on node1 has a critical
//   `nat` finding and loses every transaction.
// With the rules as shipped, CsumwatchCriticalFinding (naming the check) and CsumwatchDnsLost must
// page, naming node1, within 3 minutes of the agent's start on the broken node.
t.test('quiet nodes page within 3 minutes: a VXLAN device bound to the wrong underlay, and the kernel\'s NAT bug', async (t) => {
  const node = 'lab-node1';
  const scenarios = [
    { what: 'wrong binding', check: 'binding', lab: labUp({ ...DEFAULT_CONFIG, name: LAB_BIND, bind: 'eth1' }) },
    { what: 'NAT bug', check: 'nat', lab: labUp({ ...DEFAULT_CONFIG, name: LAB_NAT, nat: true }) },
  ].map((s) => {
    const t0 = Date.now();
    const stack = new Stack(s.lab.node(1).ns, node, s.lab, join(s.lab.dir, `alerting-${s.check}-test`), []);
    // One query a second from node1 to the DNS server, bounded: 200 s at most.
    const names = join(stack.dir, 'names.txt');
    fs.writeFileSync(names, Array.from({ length: 200 }, (_, i) => `${s.check}${String(i).padStart(4, '0')}.lab.test A\n`).join(''));
    const perf = start(s.lab.node(1).ns, 'dnsperf', ['-s', s.lab.topo.dns, '-d', names, '-n', '1', '-c', '1', '-q', '10', '-t', '1', '-Q', '1', '-l', '200'], join(stack.dir, 'dnsperf.log'));
    return { ...s, t0, stack, perf, got: [] as Notification['alerts'], waited: NaN };
  });
  const want = ['CsumwatchCriticalFinding', 'CsumwatchDnsLost'];
  waitFor('both alerts at both webhooks', () => {
    for (const s of scenarios) {
      if (!Number.isNaN(s.waited)) continue;
      s.got = s.stack.delivered().filter((a) => want.includes(a.labels.alertname));
      if (want.every((w) => s.got.some((a) => a.labels.alertname === w))) s.waited = (Date.now() - s.t0) / 1000;
    }
    return scenarios.every((s) => !Number.isNaN(s.waited)) ? true : undefined;
  }, 260_000);
  for (const s of scenarios) {
    s.perf.kill('SIGTERM');
    t.ok(s.waited <= 180, `${s.what}: both reached the webhook ${s.waited.toFixed(0)} s after the agent started on the broken node (at most 180 s)`);
    const finding = s.got.find((a) => a.labels.alertname === 'CsumwatchCriticalFinding');
    t.same([finding?.labels.node, finding?.labels.check, finding?.labels.severity], [node, s.check, 'critical'], `${s.what}: the critical finding: node1, ${s.check}, paging`);
    const lost = s.got.filter((a) => a.labels.alertname === 'CsumwatchDnsLost');
    t.ok(lost.length > 0 && lost.every((a) => a.labels.node === node && a.labels.severity === 'critical'), `${s.what}: lost DNS pages for node1 (causes: ${lost.map((a) => a.labels.cause).join(', ')})`);
    // The share over the alert's 2-minute window: the last queries' 5 s timeouts have not ended yet.
    const share = Number(/^([\d.]+)% of the DNS queries seen on node lab-node1/.exec(lost[0]?.annotations.description ?? '')?.[1]);
    t.ok(share >= 80, `${s.what}: nearly every query lost, and it says so (${share}%: ${lost[0]?.annotations.description})`);
    t.equal(await stopAgent(s.stack.agent), 0, `${s.what}: the agent stops cleanly`);
  }
});
