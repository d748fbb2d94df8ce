// The HTTP server with app.inject() on every endpoint, over a real Agent fed real captures (the
// fixtures) through its ingest path, and the golden metrics output: compared with
// test/fixtures/metrics/golden.prom and linted by `promtool check metrics`.
// UPDATE_GOLDEN=1 rewrites the golden file (check the diff before committing it).

import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pino from 'pino';

import { createRegistry } from '../../src/agent/registry';
import { kubeConfigForServer, PodDirectory } from '../../src/kube/pods';
import { acceptsGzip, build } from '../../src/server/app';
import { appFor as app, debugAppFor, FIX, fedAgent } from '../support/fed-agent';
import { ApiServer, fixture } from '../kube/apiserver';

const GOLDEN = join(FIX, 'metrics', 'golden.prom');

/** The csumwatch_* lines only: process metrics change from run to run. */
const ours = (text: string) => text.split('\n').filter((l) => /^(# (HELP|TYPE) )?csumwatch_/.test(l) && !/csumwatch_collector_(success|duration_seconds)/.test(l)).join('\n') + '\n';

t.test('/metrics: golden output, promtool-clean, the counts the captures hold', async (t) => {
  const agent = fedAgent();
  const a = app(agent);
  const res = await a.inject({ method: 'GET', url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const body = res.body;

  if (process.env.UPDATE_GOLDEN) {
    fs.mkdirSync(join(FIX, 'metrics'), { recursive: true });
    fs.writeFileSync(GOLDEN, ours(body));
  }
  t.equal(ours(body), fs.readFileSync(GOLDEN, 'utf8'), 'matches test/fixtures/metrics/golden.prom');

  const lint = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
  t.equal(lint.error, undefined, 'promtool runs (scripts/setup.sh installs it)');
  t.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);

  // The numbers, from the fixtures' truth files: 5 of 20 queries have a bad inner UDP checksum
  // and were never answered.
  t.match(body, /^csumwatch_checksums_total\{iface="eth0",direction="rx",layer="vxlan.udp",result="bad"\} 5$/m);
  t.match(body, /^csumwatch_dns_lost_total\{server="10\.244\.0\.2",cause="checksum"\} 5$/m);
  t.match(body, /^csumwatch_dns_responses_total\{server="10\.244\.0\.2",rcode="NOERROR"\} \d+$/m);
  t.match(body, /^csumwatch_vtep_packets_total\{peer="[\d.]+",direction="rx",result="bad"\} 5$/m);
  t.match(body, /^csumwatch_packets_total\{iface="eth0",direction="tx",encap="vxlan"\} 15$/m, '15 answers sent');
  t.match(body, /^csumwatch_dns_queries_total\{server="10\.244\.0\.2"\} 40$/m, '20 queries on each interface');
  t.match(body, /^csumwatch_dns_latency_seconds_count\{server="10\.244\.0\.2"\} 35$/m);
  t.match(body, /^csumwatch_kernel_udp_in_csum_errors_total \d+$/m);
  t.match(body, /^csumwatch_build_info\{version="0\.0\.0-test"\} 1$/m);
  t.match(body, /^process_resident_memory_bytes \d+/m, 'process metrics for CPU and RSS');
  t.match(body, /^csumwatch_collector_success\{collector="snmp"\} 1$/m);
  t.notMatch(body, /q\d\d\.lab\.test/, 'no query name in the metrics');
  await a.close();
});

// node_exporter's rule: a collector succeeded when every family it fills did; a family whose
// read fails keeps its last values (a counter going to 0 would be a false reset).
t.test('a failing collector: success 0 for that scrape, its counters keep their values', async (t) => {
  const agent = fedAgent();
  const a = app(agent);
  const scrape = async () => (await a.inject({ method: 'GET', url: '/metrics' })).body;
  const before = await scrape();
  const csum = /^csumwatch_kernel_udp_in_csum_errors_total (\d+)$/m;
  t.match(before, csum);
  const readSnmp = agent.readSnmp.bind(agent);
  agent.readSnmp = () => {
    throw new Error('EIO');
  };
  const failed = await scrape();
  t.match(failed, /^csumwatch_collector_success\{collector="snmp"\} 0$/m, 'the snmp collector failed');
  t.equal(csum.exec(failed)?.[1], csum.exec(before)?.[1], 'its counter kept its value: no false reset');
  t.match(failed, /^csumwatch_collector_success\{collector="capture"\} 1$/m, 'the others did not');
  t.match(failed, /^csumwatch_collector_duration_seconds\{collector="snmp"\} [\d.e-]+$/m, 'each collector has its duration');
  agent.readSnmp = readSnmp;
  t.match(await scrape(), /^csumwatch_collector_success\{collector="snmp"\} 1$/m, 'and recovers with the next scrape');
  await a.close();
});

t.test('/metrics as OpenMetrics, and the Prometheus text again afterwards', async (t) => {
  const a = app(fedAgent());
  const om = await a.inject({ method: 'GET', url: '/metrics', headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
  t.equal(om.statusCode, 200);
  t.match(om.headers['content-type'], /^application\/openmetrics-text/);
  t.match(om.body, /^# TYPE csumwatch_dns_lost counter$/m);
  t.match(om.body, /^csumwatch_dns_lost_total\{server="10\.244\.0\.2",cause="checksum"\} 5$/m);
  t.match(om.body, /# EOF\n$/);
  // promtool reads only the Prometheus text format; the lab test has a real Prometheus scrape
  // the agent, which asks for OpenMetrics first.
  t.match(om.body, /^# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total [\d.]+$/m);
  const text = await a.inject({ method: 'GET', url: '/metrics' });
  t.match(text.body, /^# TYPE csumwatch_dns_lost_total counter$/m, 'counter names intact after an OpenMetrics scrape');
  await a.close();
});

t.test('/metrics compressed when the scraper takes gzip, as Prometheus does', async (t) => {
  const a = app(fedAgent());
  const plain = await a.inject({ method: 'GET', url: '/metrics' });
  t.equal(plain.headers['content-encoding'], undefined, 'no Accept-Encoding: plain text');
  t.equal(plain.headers.vary, 'Accept-Encoding');
  // What Prometheus 2.x sends.
  const headers = { accept: 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', 'accept-encoding': 'gzip' };
  const gz = await a.inject({ method: 'GET', url: '/metrics', headers });
  t.equal(gz.headers['content-encoding'], 'gzip');
  t.match(gz.headers['content-type'], /^application\/openmetrics-text/);
  const body = gunzipSync(gz.rawPayload).toString('utf8');
  t.match(body, /^csumwatch_dns_lost_total\{server="10\.244\.0\.2",cause="checksum"\} 5$/m);
  t.match(body, /# EOF\n$/, 'the whole page');
  t.ok(gz.rawPayload.length * 3 < Buffer.byteLength(body), `compressed ${gz.rawPayload.length} of ${Buffer.byteLength(body)} bytes`);
  const text = await a.inject({ method: 'GET', url: '/metrics', headers: { 'accept-encoding': 'deflate, gzip;q=0.5' } });
  t.equal(ours(gunzipSync(text.rawPayload).toString('utf8')), ours(plain.body), 'the same page, compressed');
  const refused = await a.inject({ method: 'GET', url: '/metrics', headers: { 'accept-encoding': 'gzip;q=0, *' } });
  t.equal(refused.headers['content-encoding'], undefined, 'gzip;q=0 is a refusal');
  await a.close();

  const cases: Array<[string | undefined, boolean]> = [
    [undefined, false], ['', false], ['identity', false], ['gzip', true], ['GZIP', true], ['x-gzip', true],
    ['br, gzip;q=1.0', true], ['gzip;q=0', false], ['gzip; q=0.000', false], ['*', true], ['*;q=0', false],
    ['br, *;q=0.1', true], ['gzip;q=0, *', false], ['deflate', false],
  ];
  for (const [h, want] of cases) t.equal(acceptsGzip(h), want, `Accept-Encoding: ${h}`);
});

t.test('/healthz, /readyz, /diagnosis; /debug/lost on the debug listener only; nothing else', async (t) => {
  const agent = fedAgent();
  const a = app(agent);
  const h = await a.inject({ method: 'GET', url: '/healthz' });
  t.equal(h.statusCode, 200);
  t.same(h.json(), { status: 'ok' });

  // The fed agent was never started (it is fed captures directly): not running, so not ready.
  // A running agent with no VXLAN device is ready: test/server/dos.test.ts runs one.
  const r = await a.inject({ method: 'GET', url: '/readyz' });
  t.equal(r.statusCode, 503, 'not started: not ready');
  t.equal(r.json().status, 'not running');

  const d = await a.inject({ method: 'GET', url: '/diagnosis' });
  t.equal(d.statusCode, 200);
  t.match(d.json().findings, [{ check: 'capture', severity: 'info', evidence: /no VXLAN device/ }], 'no interface to capture: an info finding');
  t.notOk(d.json().findings.some((f: { check: string; severity: string }) => f.check === 'capture' && f.severity !== 'info'), 'and nothing worse about capture');

  for (const url of ['/debug/lost', '/debug/drops']) t.equal((await a.inject({ method: 'GET', url })).statusCode, 404, `${url}: not on the main listener`);
  const dbg = debugAppFor(agent);
  t.teardown(() => dbg.close());
  for (const url of ['/metrics', '/healthz', '/readyz', '/diagnosis']) t.equal((await dbg.inject({ method: 'GET', url })).statusCode, 404, `${url}: not on the debug listener`);
  const l = await dbg.inject({ method: 'GET', url: '/debug/lost' });
  t.equal(l.statusCode, 200);
  const lost = l.json();
  t.same(lost.lost.map((x: { name: string }) => x.name).sort(), ['q04.lab.test.', 'q08.lab.test.', 'q12.lab.test.', 'q16.lab.test.', 'q20.lab.test.']);
  t.match(lost.lost[0], { server: '10.244.0.2', serverPort: 53, cause: 'checksum', layer: 'vxlan.udp', vxlan: true, qtype: 'A' });
  t.equal(lost.topNames.length, 5);

  for (const [method, url] of [['POST', '/metrics'], ['GET', '/debug'], ['DELETE', '/debug/lost'], ['GET', '/nope']] as const) {
    const res = await a.inject({ method, url });
    t.equal(res.statusCode, 404, `${method} ${url}`);
    t.equal((await dbg.inject({ method, url })).statusCode, 404, `${method} ${url} (debug listener)`);
  }
  await a.close();
});

t.test('onClose runs when the app closes', async (t) => {
  let closed = 0;
  const agent = fedAgent();
  const a = build({
    registry: createRegistry(agent, 'x'),
    ready: () => true,
    captures: () => [],
    lost: () => [],
    topLostNames: () => [],
    diagnosis: () => [],
    onClose: () => {
      closed++;
    },
  });
  t.equal((await a.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  await a.close();
  t.equal(closed, 1);
});

t.test('in a cluster: servers and clients named by pod, through the real client and a local API server', async (t) => {
  // The recorded lists, with the captures' addresses: CoreDNS at 10.244.0.2, a client pod at 10.244.0.1.
  const server = await ApiServer.start();
  server.reply('coredns', 'list', { json: fixture('coredns-list.json').replaceAll('"10.244.1.2"', '"10.244.0.2"') });
  server.reply('node', 'list', { json: fixture('node-list.json').replaceAll('"10.244.1.9"', '"10.244.0.1"') });
  const pods = new PodDirectory({ kubeConfig: kubeConfigForServer(server.url, { token: 't' }), nodeName: 'worker-1', log: pino({ level: 'silent' }) });
  t.teardown(async () => {
    await pods.stop();
    await server.close();
  });
  pods.start();
  for (let i = 0; i < 100 && !pods.ready(); i++) await new Promise((r) => setTimeout(r, 50));
  t.ok(pods.ready(), 'the pods are listed');
  const agent = fedAgent({ pods });
  const a = app(agent);
  const body = (await a.inject({ method: 'GET', url: '/metrics' })).body;
  t.match(body, /csumwatch_dns_queries_total\{server="kube-system\/coredns-7db6d8ff4d-4kx2p"\} \d+/, 'the server label is namespace/pod');
  t.notMatch(body, /server="10\.244\.0\.2"/, 'not the address');
  t.match(body, /csumwatch_kube_ready 1/);
  t.match(body, /csumwatch_kube_pods [1-9]/);
  const dbg = debugAppFor(agent);
  t.teardown(() => dbg.close());
  const lost = JSON.parse((await dbg.inject({ method: 'GET', url: '/debug/lost' })).body).lost as Array<{ serverPod: string | null; clientPod: string | null }>;
  t.ok(lost.length > 0);
  t.ok(lost.every((l) => l.serverPod === 'kube-system/coredns-7db6d8ff4d-4kx2p' && l.clientPod === 'batch/report-28770360-9wq4f'), 'lost queries name the client pod and the server pod');
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
  t.equal(promtool.status, 0, promtool.stdout + promtool.stderr);
  await a.close();
});
