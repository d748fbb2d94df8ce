// Issue 19's attack, for real: connections that hold a slot of the agent's HTTP server and do
// nothing, from a client network namespace over a veth pair, while the kubelet's probe (from the
// server's own namespace, over loopback) and a scrape (from another address of the client
// namespace) are timed. First against the app with the limits it had before (a 72 s keep-alive,
// Node's maxConnections of 128, nothing per address): the probes get no answer (the self-test: the
// attack is real). Then the same app with today's limits, and the real `csumwatch agent` attacked
// from 20 addresses at once: the probes are answered. The timings are printed (docs/security.md
// quotes them); the bounds asserted are generous, far below the old 72-84 s.
//
// The agent runs in a namespace with no VXLAN device: it is ready, with an info finding, which
// is issue 19's other half; with an --interface that is not there it is not.

import t, { Test } from 'tap';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';

import { run } from '../../src/lab/tools';
import { get, metric, stopAgent, waitFor } from '../support/agent';
import { BIN } from '../support/cli';
import { rootTest } from '../support/root';

const SRV = 'cswdos-srv';
const CLI = 'cswdos-cli';
const SRV_ADDR = '10.77.0.1';
/** The attacker's addresses, and a scraper's of its own. */
const ATTACK = Array.from({ length: 20 }, (_, i) => `10.77.0.${10 + i}`);
const SCRAPER = '10.77.0.100';
/** Longest a probe waits. The old limits held a slot for 72-84 s. */
const PROBE_MAX_S = 20;
/** What the test accepts under attack with today's limits (a noisy, shared machine). */
const BOUND_S = 10;

const procs = rootTest('the HTTP server attack tests');
t.teardown(() => {
  for (const ns of [SRV, CLI]) run('ip', ['netns', 'del', ns], { allowFail: true });
});

function setUp(): void {
  for (const ns of [SRV, CLI]) run('ip', ['netns', 'del', ns], { allowFail: true });
  run('ip', ['netns', 'add', SRV]);
  run('ip', ['netns', 'add', CLI]);
  run('ip', ['link', 'add', 'cswdos0', 'netns', SRV, 'type', 'veth', 'peer', 'name', 'cswdos1', 'netns', CLI]);
  const ns = (n: string, ...a: string[]) => run('ip', ['netns', 'exec', n, 'ip', ...a]);
  ns(SRV, 'addr', 'add', `${SRV_ADDR}/24`, 'dev', 'cswdos0');
  for (const a of [...ATTACK, SCRAPER]) ns(CLI, 'addr', 'add', `${a}/24`, 'dev', 'cswdos1');
  for (const [n, dev] of [[SRV, 'cswdos0'], [CLI, 'cswdos1']]) {
    ns(n, 'link', 'set', 'lo', 'up');
    ns(n, 'link', 'set', dev, 'up');
  }
}

/** Starts a node script in ns; resolves once it prints `ready` (or rejects when it exits first). */
function startIn(ns: string, args: string[], ready: RegExp, log: string[]): Promise<ChildProcess> {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  return new Promise((resolve, reject) => {
    let out = '';
    const on = (d: Buffer) => {
      out += d.toString();
      log.push(d.toString());
      if (ready.test(out)) resolve(p);
    };
    p.stdout!.on('data', on);
    p.stderr!.on('data', on);
    p.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${out.slice(-500)}`)));
  });
}

/** curl from ns (from address `from`), bounded: status (0: no answer) and seconds to the answer. */
function timed(ns: string, url: string, from?: string): Promise<{ code: number; s: number }> {
  const args = ['netns', 'exec', ns, 'curl', '-s', '-o', '/dev/null', '-m', String(PROBE_MAX_S), '-w', '%{http_code} %{time_total}', ...(from ? ['--interface', from] : []), url];
  return new Promise((resolve) => {
    execFile('ip', args, { timeout: (PROBE_MAX_S + 10) * 1000 }, (_err, stdout) => {
      const [code, s] = String(stdout).trim().split(' ');
      resolve({ code: Number(code) || 0, s: Number(s) || PROBE_MAX_S });
    });
  });
}

interface Round {
  healthzLoopback: { code: number; s: number };
  healthzScraper: { code: number; s: number };
  metricsScraper: { code: number; s: number };
  attack: { opened: number; closedByServer: number; answers: number; errors: number };
}

/**
 * Attacks base (host:port as the client namespace reaches it) with `count` connections from
 * `addrs` for `seconds`; after 3 s, probes /healthz from the server's namespace over loopback
 * (port `port`) and /healthz and /metrics from the scraper's address, all at once.
 */
async function attackAndProbe(port: number, count: number, addrs: string[], seconds: number): Promise<Round> {
  const attacker = spawn('ip', ['netns', 'exec', CLI, process.execPath, join(__dirname, '..', 'support', 'idle-conns.js'), SRV_ADDR, String(port), String(count), String(seconds), ...addrs], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(attacker);
  let out = '';
  attacker.stdout!.on('data', (d) => (out += d));
  const done = new Promise<void>((r) => attacker.once('exit', () => r()));
  await new Promise((r) => setTimeout(r, 3000));
  const [healthzLoopback, healthzScraper, metricsScraper] = await Promise.all([
    timed(SRV, `http://127.0.0.1:${port}/healthz`),
    timed(CLI, `http://${SRV_ADDR}:${port}/healthz`, SCRAPER),
    timed(CLI, `http://${SRV_ADDR}:${port}/metrics`, SCRAPER),
  ]);
  await done;
  return { healthzLoopback, healthzScraper, metricsScraper, attack: JSON.parse(out.trim().split('\n').pop() || '{}') };
}

const show = (r: { code: number; s: number }) => (r.code === 0 ? `no answer in ${PROBE_MAX_S} s` : `${r.code} in ${r.s.toFixed(3)} s`);
function report(t: Test, what: string, r: Round): void {
  t.comment(`${what}: /healthz over loopback ${show(r.healthzLoopback)}; /healthz from ${SCRAPER} ${show(r.healthzScraper)}; /metrics from ${SCRAPER} ${show(r.metricsScraper)}; attacker ${JSON.stringify(r.attack)}`);
}

t.test('200 idle connections from one address', async (t) => {
  setUp();
  const log: string[] = [];
  const child = join(__dirname, '..', 'support', 'http-child.js');

  const legacy = await startIn(SRV, [child, '0.0.0.0', '9481', 'legacy'], /listening/, log);
  const before = await attackAndProbe(9481, 200, [ATTACK[0]], PROBE_MAX_S + 5);
  report(t, 'before (72 s keep-alive, maxConnections 128)', before);
  t.equal(before.healthzLoopback.code, 0, 'self-test: with the old limits the probe gets no answer');
  t.equal(before.metricsScraper.code, 0, 'self-test: nor the scrape');
  t.equal(await stopAgent(legacy), 0);

  const current = await startIn(SRV, [child, '0.0.0.0', '9482', 'current'], /listening/, log);
  const after = await attackAndProbe(9482, 200, [ATTACK[0]], 10);
  report(t, 'after (16 per address, 5 s keep-alive)', after);
  for (const [k, r] of [['/healthz over loopback', after.healthzLoopback], ['/healthz from the scraper', after.healthzScraper], ['/metrics from the scraper', after.metricsScraper]] as const) {
    t.equal(r.code, 200, `${k}: answered`);
    t.ok(r.s < BOUND_S, `${k}: within ${BOUND_S} s (${r.s.toFixed(3)} s)`);
  }
  t.ok(after.attack.closedByServer > 0, `the attacker's connections past 16 were closed (${after.attack.closedByServer})`);
  t.equal(await stopAgent(current), 0);
});

t.test('the real agent, attacked from 20 addresses: probes answered; ready without a VXLAN device', async (t) => {
  const log: string[] = [];
  const agent = await startIn(SRV, [BIN, 'agent', '--listen', '0.0.0.0:9475', '--debug-listen', '127.0.0.1:9485', '--bpf', 'off', '--datapath', 'pcap', '--doctor-interval', '0', '--node-conditions', 'off'], /agent started/, log);

  const ready = get(SRV, 'http://127.0.0.1:9475/readyz');
  t.equal(ready.status, 200, 'no VXLAN device: ready');
  t.same(JSON.parse(ready.body), { status: 'ready', captures: [] }, 'with nothing to capture');
  const findings = JSON.parse(get(SRV, 'http://127.0.0.1:9475/diagnosis').body).findings as Array<{ check: string; severity: string; evidence: string }>;
  t.match(findings.filter((f) => f.check === 'capture'), [{ severity: 'info', evidence: /no VXLAN device/ }], 'an info finding says so');

  // /debug/* only on the debug listener, and that one only on this host's loopback.
  t.equal(get(SRV, 'http://127.0.0.1:9475/debug/lost').status, 404, '/debug/lost: not on the main listener');
  t.equal(get(SRV, 'http://127.0.0.1:9485/debug/lost').status, 200, '/debug/lost on --debug-listen 127.0.0.1:9485');
  t.equal((await timed(CLI, `http://${SRV_ADDR}:9485/debug/lost`, SCRAPER)).code, 0, 'which another host cannot reach');

  const r = await attackAndProbe(9475, 400, ATTACK, 12);
  report(t, `the agent, 400 connections from ${ATTACK.length} addresses (320 > the 256 in all)`, r);
  for (const [k, x] of [['/healthz over loopback', r.healthzLoopback], ['/healthz from the scraper', r.healthzScraper], ['/metrics from the scraper', r.metricsScraper]] as const) {
    t.equal(x.code, 200, `${k}: answered`);
    t.ok(x.s < BOUND_S, `${k}: within ${BOUND_S} s (${x.s.toFixed(3)} s)`);
  }
  const m = waitFor('the metrics after the attack', () => {
    const g = get(SRV, 'http://127.0.0.1:9475/metrics');
    return g.status === 200 ? g.body : undefined;
  });
  // 20 connections wanted per address, but past 256 in all each new one evicts from the address
  // holding the most: the addresses stay near 13 each, under the 16 per address.
  const closedFor = (reason: string) => metric(m, 'csumwatch_http_connections_closed_total', { reason });
  t.ok(closedFor('evicted') > 0, `evictions counted: ${closedFor('evicted')} (per_address: ${closedFor('per_address')})`);
  t.ok(metric(m, 'csumwatch_http_connections') >= 1, 'the open connections gauge counts the scrape itself');
  t.equal(await stopAgent(agent), 0, 'SIGTERM: exit 0');
});

t.test('not ready: interfaces to capture and none captures', async (t) => {
  const log: string[] = [];
  const agent = await startIn(SRV, [BIN, 'agent', '--listen', '127.0.0.1:9475', '--interface', 'nosuch0', '--bpf', 'off', '--datapath', 'pcap', '--doctor-interval', '0', '--node-conditions', 'off'], /agent started/, log);
  const r = get(SRV, 'http://127.0.0.1:9475/readyz');
  t.equal(r.status, 503, '--interface nosuch0, not there: 503');
  t.match(JSON.parse(r.body), { status: 'no capture running', captures: [{ name: 'nosuch0', running: false, error: 'interface not found' }] });
  t.equal(get(SRV, 'http://127.0.0.1:9475/healthz').status, 200, 'alive all the same');
  t.equal(await stopAgent(agent), 0);
});
