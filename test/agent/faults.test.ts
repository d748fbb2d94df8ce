// Faults while the agent runs (root, in the lab). Two agents on node2, the DNS server, capture
// the same traffic while node1's injector damages 30% of the queries:
//   A  in-cluster mode against test/kube/apiserver.ts (run in node2's namespace, HTTPS with the
//      service account token and CA mounted where a pod has them), with the eBPF drop tracer;
//   B  started without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (setpriv): the kernel refuses its
//      tracer, and it must go on capturing.
// One after another: eth0 (the underlay) down and up, vxlan0 down and up, dnsmasq killed and
// restarted, the Kubernetes API server killed and restarted; then many scrapes racing SIGTERM.
// Each window of DNS load is held to the ground truth (dnsperf's answers and losses, the
// injector's damaged count, whether the path was up), in both agents; between windows every
// counter series of both must not go backwards, /healthz and /readyz must answer, and each
// event must be one line in the agent's log. (vxlan0 deleted and re-created is live.test's
// and the soak's.) Every wait is bounded.

import t from 'tap';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';

import { DEFAULT_CONFIG } from '../../src/lab/config';
import { Lab, labUp } from '../../src/lab/lab';
import { SERVICE_ACCOUNT_DIR } from '../../src/kube/pods';
import { BIN } from '../support/cli';
import { rootTest } from '../support/root';
import { get, metric, packetSocketOwners, stopAgent, waitFor } from '../support/agent';
import { parseSeries, regressions } from '../support/series';
import { classify, RaceResult } from '../support/scrape-race';
import { fixture, until } from '../kube/apiserver';

const LAB = 'cswft';
const NS = `${LAB}-node2`;
const P = 0.3;
const DNS_TIMEOUT_S = 1;
const API_PORT = 6443;
const POD = 'kube-system/coredns-7db6d8ff4d-4kx2p';
// debug: each agent's --debug-listen, where /debug/lost is served.
const A = { name: 'A', url: 'http://127.0.0.1:9475', debug: 'http://127.0.0.1:9485' };
const B = { name: 'B', url: 'http://127.0.0.1:9476', debug: 'http://127.0.0.1:9486' };
const AGENT_ARGS = ['--dns-timeout', String(DNS_TIMEOUT_S), '--rescan-interval', '2', '--doctor-interval', '0', '--lost', '1000'];

const procs = rootTest('the agent\'s fault tests', [LAB]);
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs a shell command line in namespace ns, output to logFile; the last exec must be the agent. */
function spawnIn(ns: string, cmd: string, logFile: string): ChildProcess {
  const out = fs.openSync(logFile, 'w');
  const p = spawn('ip', ['netns', 'exec', ns, 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', cmd], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  procs.push(p);
  return p;
}

/**
 * Agent A as a pod runs it: KUBERNETES_SERVICE_HOST/PORT and NODE_NAME set, the service account
 * token and CA at their path. That path is made on a tmpfs over /run in the agent's own mount
 * namespace, so nothing of it reaches the host.
 */
function startInCluster(dir: string, logFile: string): ChildProcess {
  const sa = join(dir, 'sa');
  fs.mkdirSync(sa, { recursive: true });
  fs.writeFileSync(join(sa, 'token'), 'eyJhbGciOiJSUzI1NiJ9.faults-token.sig');
  fs.writeFileSync(join(sa, 'ca.crt'), fixture('tls/apiserver.crt'));
  fs.writeFileSync(join(sa, 'namespace'), 'csumwatch');
  const env = `KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=${API_PORT} NODE_NAME=worker-1`;
  const cmd = `mount -t tmpfs -o size=1m csw-sa /run && mkdir -p ${SERVICE_ACCOUNT_DIR} && cp ${q(sa)}/* ${SERVICE_ACCOUNT_DIR}/ && ` +
    `exec env ${env} ${q(process.execPath)} ${q(BIN)} agent --listen 127.0.0.1:9475 --debug-listen 127.0.0.1:9485 ${AGENT_ARGS.join(' ')}`;
  return spawnIn(NS, cmd, logFile);
}

/** Agent B: root, but with no capability to load BPF (the bounding set cut as a pod's would be). */
function startNoBpf(logFile: string): ChildProcess {
  const cmd = `exec setpriv --bounding-set -bpf,-perfmon,-sys_admin -- ${q(process.execPath)} ${q(BIN)} agent --listen 127.0.0.1:9476 --debug-listen 127.0.0.1:9486 ${AGENT_ARGS.join(' ')}`;
  return spawnIn(NS, cmd, logFile);
}

/** The API server in node2's namespace; resolves once it listens. Its requests go to `seen`. */
function startApi(seen: Array<{ stream: string; watch: boolean }>): Promise<ChildProcess> {
  const p = spawn('ip', ['netns', 'exec', NS, process.execPath, join(__dirname, '..', 'support', 'apiserver-child.js'), String(API_PORT), '10.244.0.2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(p);
  return new Promise((resolve, reject) => {
    let buf = '';
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line === 'listening') resolve(p);
        else seen.push(JSON.parse(line));
      }
    });
    p.once('exit', (code) => reject(new Error(`the API server exited (${code}) before listening`)));
  });
}

function lines(logFile: string, msg: RegExp, extra: (l: Record<string, unknown>) => boolean = () => true): number {
  return fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => msg.test(String(l.msg)) && extra(l)).length;
}

// The checks below can fail: a counter lowered, a series gone, a page cut short.
t.test('self-test of the checks: regressions, strict parsing, scrape outcomes', async (t) => {
  const page = '# HELP a_total x\n# TYPE a_total counter\na_total{k="1"} 5\n# TYPE g gauge\ng 3\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 0.5\nh_count 2\n';
  const before = parseSeries(page);
  t.same(regressions(before, parseSeries(page.replace('a_total{k="1"} 5', 'a_total{k="1"} 4').replace('g 3', 'g 1'))), ['a_total{k="1"}: 5 → 4'], 'a counter that went down is caught; a gauge may');
  t.same(regressions(before, parseSeries(page.replace('h_count 2\n', ''))), ['h_count: gone (was 2)'], 'a series that vanished is caught');
  t.throws(() => parseSeries(page.slice(0, -3)), /truncated/, 'a page cut mid-line');
  t.throws(() => parseSeries(page.replace('g 3', 'g')), /not a sample line/, 'a garbled line');
  t.equal(classify(200, page, null, ['a_total', 'h']), 'complete');
  t.match(classify(200, page.replace(/# TYPE h[\s\S]*$/, ''), null, ['a_total', 'h']), /^incomplete: no h/, 'a page that ends early between families');
  t.equal(classify(500, '', null, ['a_total']), 'status 500');
  t.equal(classify(null, '', Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), []), 'refused');
});

t.test('faults under DNS load: both agents keep serving, counting exactly, and say what happened', async (t) => {
  const lab: Lab = labUp({ ...DEFAULT_CONFIG, name: LAB });
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-faults-'));
  // Kept when the test fails: the agents' logs are in it.
  t.teardown(() => t.passing() && fs.rmSync(dir, { recursive: true, force: true }));
  const logA = join(dir, 'agent-a.log');
  const logB = join(dir, 'agent-b.log');
  const apiSeen: Array<{ stream: string; watch: boolean }> = [];
  let api = await startApi(apiSeen);
  const agentA = startInCluster(dir, logA);
  const agentB = startNoBpf(logB);
  const agents = [{ ...A, log: logA, proc: agentA }, { ...B, log: logB, proc: agentB }];
  for (const ag of agents) {
    waitFor(`agent ${ag.name} to be ready`, () => {
      const r = get(NS, `${ag.url}/readyz`);
      return r.status === 200 && JSON.parse(r.body).captures.every((c: { running: boolean }) => c.running) ? true : undefined;
    });
  }
  // Agent B cannot load BPF: it falls back to libpcap, says so once, and reports it.
  t.equal(metric(get(NS, `${A.url}/metrics`).body, 'csumwatch_datapath', { mode: 'kernel' }), 1, 'agent A runs the kernel datapath');
  t.equal(metric(get(NS, `${B.url}/metrics`).body, 'csumwatch_datapath', { mode: 'pcap' }), 1, 'agent B, without CAP_BPF, falls back to libpcap');
  t.equal(lines(logB, /^datapath: the eBPF capture filter cannot load; falling back to libpcap/), 1, 'agent B logs the fallback and its cost once');
  waitFor('agent A to list its pods', () => (metric(get(NS, `${A.url}/metrics`).body, 'csumwatch_kube_ready') === 1 ? true : undefined));

  const inj = lab.injector(1);
  inj.configure({ mode: 'inner-udp', probability: P, vxlanPorts: [DEFAULT_CONFIG.port], innerPort: 53, direction: 'to' });

  /** Both agents' pages once nothing is in flight: every query answered or lost by now. */
  const settled = () => agents.map((ag) => waitFor(`agent ${ag.name} to settle`, () => {
    const r = get(NS, `${ag.url}/metrics`);
    return r.status === 200 && metric(r.body, 'csumwatch_dns_transactions_in_flight') === 0 ? r.body : undefined;
  }));
  let pages = settled();

  /** Every counter of both agents as high as before or higher; both answer /healthz and /readyz. */
  const healthy = (what: string, next: string[]) => {
    agents.forEach((ag, i) => {
      t.same(regressions(parseSeries(pages[i]), parseSeries(next[i])), [], `${what}: agent ${ag.name}'s counters never went backwards`);
      t.equal(get(NS, `${ag.url}/healthz`).status, 200, `${what}: agent ${ag.name} /healthz`);
      t.equal(get(NS, `${ag.url}/readyz`).status, 200, `${what}: agent ${ag.name} /readyz`);
    });
    pages = next;
  };

  interface Expect {
    /** Queries that reach node2 (and the agents' captures). */
    arrived: number;
    /** vxlan0 up: the decapsulated copies are captured there. */
    vxlan0?: boolean;
    /** Why the undamaged unanswered ones are lost: agent A (with the tracer), agent B (without). */
    causeA?: string;
    causeB?: string;
    /**
     * node2 answers some queries with ICMP port unreachable (no DNS server), through the tunnel
     * and rate-limited: eth0 then sends that many VXLAN packets, a number the kernel decides.
     */
    icmp?: boolean;
  }

  /**
   * One window of load: `queries` through dnsperf, then `after` (a fault begun the moment the
   * last answer is in), then both agents settle; their counts must equal the ground truth.
   */
  const window = (what: string, queries: number, expect: (sent: number) => Expect, after?: () => void) => {
    // A fault that follows at once gets load without damage: dnsperf would otherwise wait out
    // its timeout for the damaged queries, and the capture would have handed everything over.
    if (after) inj.configure({ mode: 'off', probability: 1, vxlanPorts: [DEFAULT_CONFIG.port], innerPort: 53, direction: 'to' });
    const inj0 = inj.stats().damagedTotal;
    const perf = lab.dnsperf({ queries, qps: 2000, prefix: what.replace(/[^a-z0-9]/g, '').slice(0, 12) });
    if (after) {
      after();
      inj.configure({ mode: 'inner-udp', probability: P, vxlanPorts: [DEFAULT_CONFIG.port], innerPort: 53, direction: 'to' });
    }
    const damaged = inj.stats().damagedTotal - inj0;
    const next = settled();
    const e = expect(perf.sent);
    const lostToCsum = e.arrived === 0 ? 0 : damaged;
    const d = (i: number, name: string, labels: Record<string, string> = {}) => metric(next[i], name, labels) - metric(pages[i], name, labels);
    t.equal(perf.sent, queries, `${what}: dnsperf sent ${queries}`);
    agents.forEach((ag, i) => {
      const tag = `${what}: agent ${ag.name}:`;
      t.equal(d(i, 'csumwatch_dns_queries_total'), e.arrived, `${tag} queries = those that reached node2 (${e.arrived})`);
      t.equal(d(i, 'csumwatch_dns_responses_total'), perf.completed, `${tag} answers = dnsperf completed (${perf.completed})`);
      t.equal(d(i, 'csumwatch_dns_lost_total', { cause: 'checksum' }), lostToCsum, `${tag} lost to checksum = injector damaged (${lostToCsum})`);
      const other = e.arrived - perf.completed - lostToCsum;
      const cause = i === 0 ? e.causeA : e.causeB;
      if (cause) t.equal(d(i, 'csumwatch_dns_lost_total', { cause }), other, `${tag} the other ${other} lost with cause ${cause}`);
      t.equal(d(i, 'csumwatch_dns_lost_total'), e.arrived - perf.completed, `${tag} no query lost twice or unaccounted`);
      t.equal(d(i, 'csumwatch_packets_total', { iface: 'eth0', direction: 'rx' }), e.arrived, `${tag} eth0 rx = queries that arrived`);
      if (e.icmp) t.ok(d(i, 'csumwatch_packets_total', { iface: 'eth0', direction: 'tx' }) <= e.arrived, `${tag} eth0 tx: at most one ICMP error per query, nothing else`);
      else t.equal(d(i, 'csumwatch_packets_total', { iface: 'eth0', direction: 'tx' }), perf.completed, `${tag} eth0 tx = answers`);
      t.equal(d(i, 'csumwatch_checksums_total', { iface: 'eth0', layer: 'vxlan.udp', result: 'bad' }), lostToCsum, `${tag} bad inner UDP on eth0 = injector`);
      if (e.vxlan0 !== false) t.equal(d(i, 'csumwatch_packets_total', { iface: 'vxlan0', direction: 'rx' }), e.arrived, `${tag} vxlan0 rx = queries that arrived`);
      else t.equal(d(i, 'csumwatch_packets_total', { iface: 'vxlan0' }), 0, `${tag} nothing on vxlan0 while it is down`);
      t.equal(d(i, 'csumwatch_capture_dropped_total'), 0, `${tag} the capture dropped nothing`);
      t.equal(metric(next[i], 'csumwatch_internal_errors_total'), 0, `${tag} no internal error`);
    });
    healthy(what, next);
    return perf;
  };
  const all = (sent: number): Expect => ({ arrived: sent });

  window('baseline', 200, all);

  // The underlay down, the moment the last answer is in: what the capture already holds counts.
  const flap = (dev: 'eth0' | 'vxlan0', during: (sent: number) => Expect) => {
    window(`${dev}: load, then down at once`, 200, all, () => lab.setLink(2, dev, false));
    for (const ag of agents) waitFor(`agent ${ag.name} to log ${dev} down`, () => (lines(ag.log, /^interface down/, (l) => l.iface === dev) === 1 ? true : undefined));
    window(`${dev} down`, 100, during);
    lab.setLink(2, dev, true);
    for (const ag of agents) waitFor(`agent ${ag.name} to log ${dev} up`, () => (lines(ag.log, /^interface up/, (l) => l.iface === dev) === 1 ? true : undefined));
    window(`${dev} up again`, 200, all);
    for (const ag of agents) {
      t.equal(lines(ag.log, /^interface down/, (l) => l.iface === dev), 1, `agent ${ag.name}: one log line for ${dev} down`);
      t.equal(lines(ag.log, /^interface up/, (l) => l.iface === dev), 1, `agent ${ag.name}: one for ${dev} up`);
      t.equal(lines(ag.log, /^capture (failed|stopped|started)/, (l) => l.iface === dev), 1, `agent ${ag.name}: ${dev}'s capture never closed (only its start is logged)`);
    }
  };
  flap('eth0', () => ({ arrived: 0 }));
  // The capture sockets are the agents' alone: none inherited by a process they started (ip
  // monitor, the doctor's tools), where it would outlive its capture and fill with packets.
  const owners = packetSocketOwners(NS);
  t.equal(owners.length, 6, 'six packet sockets: agent A one ring per interface, agent B (libpcap) one per interface and direction');
  t.same(owners.filter((o) => !(o.length === 1 && (o[0] === agentA.pid || o[0] === agentB.pid))), [], 'each held by one agent and no other process');
  // vxlan0 down: queries still reach eth0, but the kernel has no VXLAN socket for them.
  flap('vxlan0', (sent) => ({ arrived: sent, vxlan0: false, causeA: 'kernel_drop', causeB: 'timeout' }));
  // Not live.test's re-creation again, but its edge: the device deleted the moment the last
  // answer is in. Its capture is closed, but only after what its ring holds is read.
  window('vxlan0: load, then deleted and re-created at once', 200, all, () => lab.recreateVxlan(2, 0));
  for (const ag of agents) {
    waitFor(`agent ${ag.name} to capture the new vxlan0`, () => (lines(ag.log, /^capture started$/, (l) => l.iface === 'vxlan0') === 2 ? true : undefined));
    t.equal(lines(ag.log, /^capture (stopped|failed)/, (l) => l.iface === 'vxlan0'), 1, `agent ${ag.name}: one log line for the old vxlan0's capture ending`);
  }
  window('new vxlan0', 200, all);

  // dnsmasq killed: queries arrive and no one answers. With the tracer A sees why (no socket).
  lab.killDns();
  window('dnsmasq killed', 100, (sent) => ({ arrived: sent, causeA: 'kernel_drop', causeB: 'timeout', icmp: true }));
  const lostA = JSON.parse(get(NS, `${A.debug}/debug/lost`).body).lost as Array<{ cause: string; reason: string | null; serverPod: string | null }>;
  const lostB = JSON.parse(get(NS, `${B.debug}/debug/lost`).body).lost as Array<{ cause: string }>;
  t.ok(lostA.filter((l) => l.cause === 'kernel_drop').slice(0, 10).every((l) => l.reason === 'no_socket'), 'agent A: the kernel\'s reason for them is no_socket');
  t.ok(lostB.slice(0, 10).some((l) => l.cause === 'timeout') && !lostB.slice(0, 10).some((l) => l.cause === 'kernel_drop'), 'agent B: timeout, never kernel_drop, without its tracer');
  lab.startDns();
  window('dnsmasq restarted', 200, all);

  // The Kubernetes API server killed: A keeps the pod names it knew and counts the errors.
  const errs = (body: string) => metric(body, 'csumwatch_kube_errors_total');
  const errs0 = errs(get(NS, `${A.url}/metrics`).body);
  api.kill('SIGKILL');
  await new Promise((r) => api.once('exit', r));
  waitFor('agent A to count API errors', () => (errs(get(NS, `${A.url}/metrics`).body) > errs0 ? true : undefined));
  const during = window('API server down', 100, all);
  t.equal(metric(pages[0], 'csumwatch_dns_queries_total', { server: POD }), metric(pages[0], 'csumwatch_dns_queries_total'), `agent A: every query still counted under the pod name ${POD}`);
  t.equal(metric(pages[0], 'csumwatch_kube_ready'), 1, 'agent A: the pod directory stays ready with what it knows');
  t.ok(during.sent > 0);
  const seenBefore = apiSeen.length;
  api = await startApi(apiSeen);
  // It resumes each watch from the last resourceVersion it saw (a list again only after 410
  // Gone), within its backoff (at most 30 s).
  await until('agent A to watch again', () => {
    const again = apiSeen.slice(seenBefore);
    return ['coredns', 'node'].every((s) => again.some((x) => x.stream === s && x.watch));
  }, 45_000);
  for (const w of ['coredns', 'node']) {
    waitFor(`agent A to log the ${w} watch recovered`, () => (lines(logA, /^pod watch recovered$/, (l) => l.watch === w) === 1 ? true : undefined));
    t.equal(lines(logA, /^pod watch failing/, (l) => l.watch === w), 1, `agent A: one log line for the ${w} watch failing (the retries are counted, not logged)`);
  }
  window('API server back', 200, all);
  t.equal(metric(pages[0], 'csumwatch_dns_queries_total', { server: POD }), metric(pages[0], 'csumwatch_dns_queries_total'), 'agent A: still by pod name');

  // The tracer refused: B ran every window above without it, counting what A counted.
  t.equal(metric(pages[0], 'csumwatch_bpf_program_loaded'), 1, 'agent A: its tracer runs');
  t.equal(metric(pages[1], 'csumwatch_bpf_program_loaded'), 0, 'agent B: no tracer program loaded');
  t.equal(metric(pages[1], 'csumwatch_finding', { check: 'bpf' }), 1, 'agent B: the bpf finding stands');
  t.equal(lines(logB, /^kernel drop tracer (failed to load|unavailable)/), 1, 'agent B: one log line says why');
  t.match(fs.readFileSync(logB, 'utf8'), /operation not permitted|EPERM/i, 'agent B: the kernel\'s refusal, named');
  t.equal(metric(pages[1], 'csumwatch_packets_total'), metric(pages[0], 'csumwatch_packets_total'), 'agent B counted every packet A counted');

  // SIGTERM under many concurrent scrapes: complete pages, then refused connections; nothing
  // else but what TCP and HTTP say plainly: a connection still in the kernel's accept queue when
  // the listening socket closes is reset before any answer, and a request fastify reads once it
  // is closing gets 503. Never a 500, never a page cut short.
  for (const ag of agents) {
    const fams = join(dir, `families-${ag.name}`);
    fs.writeFileSync(fams, [...new Set([...parseSeries(get(NS, `${ag.url}/metrics`).body).values()].map((s) => s.family))].join('\n') + '\n');
    const race = spawn('ip', ['netns', 'exec', NS, process.execPath, join(__dirname, '..', 'support', 'scrape-race.js'), `${ag.url}/metrics`, '16', '15000', fams], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(race);
    let out = '';
    const started = new Promise<void>((resolve) => race.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('scraping\n')) resolve();
    }));
    const ended = new Promise<void>((resolve) => race.once('exit', () => resolve()));
    await started;
    await new Promise((r) => setTimeout(r, 300));
    const code = await stopAgent(ag.proc);
    await ended;
    const res = JSON.parse(out.split('\n').filter((l) => l.startsWith('{')).pop()!) as RaceResult;
    t.equal(code, 0, `agent ${ag.name}: exit 0 after SIGTERM under load`);
    t.ok(res.complete > 0 && res.refused > 0, `agent ${ag.name}: ${res.complete} complete pages, then ${res.refused} refused connections (${res.reset} reset before an answer, ${res.closing} answered 503 while closing)`);
    t.same(res.other, {}, `agent ${ag.name}: no other answer (no 5xx, reset or truncated page)`);
    t.equal(lines(ag.log, /^stopped$/), 1, `agent ${ag.name}: logs that it stopped`);
  }
  api.kill('SIGKILL');
});
