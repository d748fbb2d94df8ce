// Pod lookup through the Kubernetes API: the real @kubernetes/client-node against a real local
// HTTP(S) server (test/kube/apiserver.ts) serving the recorded lists and watch streams of
// test/fixtures/kube/. No root needed. Every wait is bounded (until(), 5 s by default).

import t, { Test } from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';

import { PodDirectory, KubeError, TOKEN_PATH, SERVICE_ACCOUNT_DIR, canonicalIp, kubeConfigForServer } from '../../src/kube/pods';
import { ApiServer, FIX, fixture, until, watchLines } from './apiserver';

const FAST = { initial: 20, max: 200 };
const CDNS1 = { namespace: 'kube-system', name: 'coredns-7db6d8ff4d-4kx2p', coredns: true };
const CDNS2 = { namespace: 'kube-system', name: 'coredns-7db6d8ff4d-p9m8s', coredns: true };
const WEB = { namespace: 'default', name: 'web-5d8f7c9b6-xq7z2', coredns: false };
const API = { namespace: 'default', name: 'api-6c9f8d7b5-r2d4k', coredns: false };
const REPORT = { namespace: 'batch', name: 'report-28770360-9wq4f', coredns: false };

interface LogLine { level: number; msg: string; watch?: string; err?: string; hint?: string }

/** A pino logger whose lines the test reads back. */
function capture(): { log: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}
const at = (lines: LogLine[], level: number) => lines.filter((l) => l.level === level);
const WARN = 40;

/** A server with both lists queued, and a directory on it for worker-1 (not started). */
async function setup(t: Test, opts: { pageSize?: number; lists?: boolean } = {}) {
  const { lists = true, ...tuning } = opts;
  const server = await ApiServer.start();
  if (lists) {
    server.reply('coredns', 'list', { json: fixture('coredns-list.json') });
    server.reply('node', 'list', { json: fixture('node-list.json') });
  }
  const { log, lines } = capture();
  const dir = new PodDirectory({ kubeConfig: kubeConfigForServer(server.url, { token: 'test-token' }), nodeName: 'worker-1', log, backoffMs: FAST, ...tuning });
  t.teardown(async () => {
    await dir.stop();
    await server.close();
  });
  return { server, dir, lines };
}

/** Started, synced, and both watches open on the server. */
async function running(t: Test, opts: { pageSize?: number } = {}) {
  const s = await setup(t, opts);
  s.dir.start();
  await until('ready with both watches open', () => s.dir.ready() && s.server.openWatches('coredns') === 1 && s.server.openWatches('node') === 1);
  return s;
}

// The fixtures are written by hand (no cluster here); this holds every field name and value
// type in them to the client's generated v1 models, so they cannot drift from the API's shape.
t.test('fixtures: every field is a field of the v1 type, with its type', async (t) => {
  const k = require('@kubernetes/client-node') as Record<string, { getAttributeTypeMap?: () => { baseName: string; type: string }[] }>;
  const errors: string[] = [];
  const check = (v: unknown, type: string, path: string): void => {
    if (v === null || v === undefined) return;
    if (type.startsWith('Array<')) {
      if (!Array.isArray(v)) { errors.push(`${path}: not an array`); return; }
      v.forEach((e, i) => check(e, type.slice(6, -1), `${path}[${i}]`));
      return;
    }
    if (type.startsWith('{ [key: string]: ')) {
      for (const [key, e] of Object.entries(v as object)) check(e, type.slice(17, -3), `${path}.${key}`);
      return;
    }
    if (type === 'string' || type === 'number' || type === 'boolean') {
      if (typeof v !== type) errors.push(`${path}: ${typeof v}, not ${type}`);
      return;
    }
    if (type === 'Date') {
      if (typeof v !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(v)) errors.push(`${path}: not an RFC 3339 time`);
      return;
    }
    const model = k[type]?.getAttributeTypeMap?.();
    if (model === undefined) return; // any, IntOrString
    const fields = new Map(model.map((a) => [a.baseName, a.type]));
    for (const [key, e] of Object.entries(v as object)) {
      const ft = fields.get(key);
      if (ft === undefined) errors.push(`${path}.${key}: not a field of ${type}`);
      else check(e, ft, `${path}.${key}`);
    }
  };
  let pods = 0;
  for (const f of fs.readdirSync(FIX).sort()) {
    if (f.endsWith('-list.json') || f.endsWith('-relist.json')) {
      const list = JSON.parse(fixture(f)) as { kind: string; items: unknown[] };
      t.equal(list.kind, 'PodList', f);
      check(list, 'V1PodList', f);
      pods += list.items.length;
    } else if (f.startsWith('status-')) {
      check(JSON.parse(fixture(f)), 'V1Status', f);
    } else if (f.endsWith('.jsonl')) {
      watchLines(f).forEach((l, i) => {
        const ev = JSON.parse(l) as { type: string; object: { kind: string } };
        t.ok(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'].includes(ev.type), `${f}:${i + 1} type`);
        check(ev, 'V1WatchEvent', `${f}:${i + 1}`);
        check(ev.object, ev.type === 'ERROR' ? 'V1Status' : 'V1Pod', `${f}:${i + 1}.object`);
        t.equal(ev.object.kind, ev.type === 'ERROR' ? 'Status' : 'Pod', `${f}:${i + 1} kind`);
      });
    }
  }
  t.ok(pods >= 10, 'lists were checked');
  t.same(errors, []);
});

t.test('initial list: CoreDNS pods everywhere, pods on this node, by every podIPs entry', async (t) => {
  const { server, dir } = await running(t);
  t.same(dir.lookup('10.244.1.2'), CDNS1, 'CoreDNS on this node');
  t.same(dir.lookup('10.244.2.2'), CDNS2, 'CoreDNS on another node: from the cluster-wide CoreDNS watch');
  t.same(dir.lookup('10.244.1.7'), WEB, 'a client pod on this node');
  t.same(dir.lookup('10.244.1.9'), REPORT, 'a completed Job pod still names its address while nothing else holds it');
  t.equal(dir.lookup('10.244.3.3'), null, 'a pod on another node that is not CoreDNS: unknown');
  t.equal(dir.lookup('10.244.1.7 '), null, 'no trimming or guessing');

  // The lists and watches the server saw.
  const [cl] = server.requests('coredns', 'list');
  const [nl] = server.requests('node', 'list');
  t.equal(cl.query.get('labelSelector'), 'k8s-app=kube-dns');
  t.equal(cl.query.get('fieldSelector'), null);
  t.equal(nl.query.get('fieldSelector'), 'spec.nodeName=worker-1');
  t.equal(nl.query.get('labelSelector'), null);
  t.equal(nl.query.get('limit'), '500', 'lists are paged');
  const [cw] = server.requests('coredns', 'watch');
  const [nw] = server.requests('node', 'watch');
  t.equal(cw.query.get('resourceVersion'), '48213', 'the CoreDNS watch starts at its list');
  t.equal(nw.query.get('resourceVersion'), '48217', 'the node watch starts at its list');
  for (const w of [cw, nw]) {
    t.equal(w.query.get('allowWatchBookmarks'), 'true');
    const ts = Number(w.query.get('timeoutSeconds'));
    t.ok(ts >= 300 && ts < 600, `server-side watch timeout in [300, 600): ${ts}`);
  }
  t.ok(server.seen.every((s) => s.auth === 'Bearer test-token'), 'every request carries the token');

  const st = dir.stats();
  t.equal(st.ready, true);
  t.equal(st.pods, 6, '2 CoreDNS + 5 on the node, the CoreDNS pod on the node once');
  t.equal(st.watches.coredns!.pods, 2);
  t.equal(st.watches.node!.pods, 5);
  t.equal(st.watches.node!.state, 'watching');
  t.equal(st.watches.node!.resourceVersion, '48217');
  t.match(st.watches.coredns, { lists: 1, listErrors: 0, watchErrors: 0, watchRestarts: 0, relists: 0, synced: true, lastError: null });
});

t.test('IPv6: both podIPs entries, any text form of the address', async (t) => {
  const { dir } = await running(t);
  t.same(dir.lookup('fd00:10:244:1::2'), CDNS1);
  t.same(dir.lookup('fd00:10:244:2::2'), CDNS2);
  t.same(dir.lookup('FD00:10:244:1:0:0:0:7'), WEB, 'upper case, uncompressed');
  t.same(dir.lookup('fd00:0010:0244:0001::0007'), WEB, 'leading zeros');
  t.equal(dir.lookup('fd00:10:244:1::8'), null);
  t.equal(canonicalIp('FD00:10:244:1:0:0:0:7'), 'fd00:10:244:1::7');
  t.equal(canonicalIp('10.244.1.7'), '10.244.1.7');
  t.equal(canonicalIp('fe80::1%eth0'), 'fe80::1%eth0', 'a zone index is kept as given');
});

t.test('hostNetwork pods do not shadow: the node address names no pod', async (t) => {
  const { dir } = await running(t);
  // kube-proxy and csumwatch both run with hostNetwork on worker-1: the node's own addresses.
  t.equal(dir.lookup('192.168.56.11'), null);
  t.equal(dir.lookup('fd00:56::11'), null);
  t.equal(dir.stats().watches.node!.pods, 5, 'they are held, only not indexed by address');
});

t.test('watch events: ADDED, MODIFIED, DELETED, BOOKMARK change the lookups', async (t) => {
  const { server, dir } = await running(t);
  const [added, withIp, terminating, deleted, bookmark] = watchLines('node-watch.jsonl');
  const node = () => dir.stats().watches.node!;

  server.send('node', added);
  await until('ADDED applied', () => node().resourceVersion === '48231');
  t.equal(dir.lookup('10.244.1.12'), null, 'Pending, no address yet');
  t.equal(node().pods, 6);

  server.send('node', withIp);
  await until('MODIFIED applied', () => dir.lookup('10.244.1.12') !== null);
  t.same(dir.lookup('10.244.1.12'), API);
  t.same(dir.lookup('fd00:10:244:1::c'), API);

  server.send('node', terminating);
  await until('deletionTimestamp applied', () => node().resourceVersion === '48252');
  t.same(dir.lookup('10.244.1.7'), WEB, 'terminating, still running: still named');

  server.send('node', deleted);
  await until('DELETED applied', () => dir.lookup('10.244.1.7') === null);
  t.equal(dir.lookup('fd00:10:244:1::7'), null, 'every address goes');
  t.equal(node().pods, 5);

  server.send('node', bookmark);
  await until('BOOKMARK applied', () => node().resourceVersion === '48300');
  t.equal(node().events, 5);
  t.equal(node().pods, 5, 'a bookmark is not a pod');

  // CoreDNS scaled up on another node.
  const [cdns3, cbook] = watchLines('coredns-watch.jsonl');
  server.send('coredns', cdns3);
  server.send('coredns', cbook);
  await until('CoreDNS ADDED applied', () => dir.stats().watches.coredns!.resourceVersion === '48295');
  t.same(dir.lookup('10.244.2.4'), { namespace: 'kube-system', name: 'coredns-7db6d8ff4d-z5h7n', coredns: true });
  t.same(dir.lookup('fd00:10:244:2::4'), { namespace: 'kube-system', name: 'coredns-7db6d8ff4d-z5h7n', coredns: true });

  // The completed Job's address handed to a new pod before the Job pod is deleted.
  server.send('node', watchLines('node-watch-reuse.jsonl')[0]);
  await until('reuse applied', () => node().resourceVersion === '48312');
  t.same(dir.lookup('10.244.1.9'), { namespace: 'default', name: 'worker-7f6d5c4b3-t8j2m', coredns: false }, 'a live pod wins over a completed one');
  t.equal(server.requests('node', 'watch').length, 1, 'one watch carried it all');
});

t.test('a watch the server ends mid-stream resumes from the last resourceVersion', async (t) => {
  const { server, dir, lines } = await setup(t);
  const ev = watchLines('node-watch.jsonl');
  server.reply('node', 'watch',
    // The server's timeout: two events, then a clean end.
    { lines: ev.slice(0, 2), end: 'close' },
    // A dying connection: one event, half of the next, then a reset.
    { lines: [ev[2]], end: 'cut', cutLine: ev[3] },
  );
  dir.start();
  await until('three node watches', () => server.requests('node', 'watch').length === 3 && server.openWatches('node') === 1);
  const rvs = server.requests('node', 'watch').map((s) => s.query.get('resourceVersion'));
  t.same(rvs, ['48217', '48240', '48252'], 'each watch starts after the last event the previous one delivered');
  t.equal(server.requests('node', 'list').length, 1, 'no list again: resuming is enough');
  t.same(dir.lookup('10.244.1.12'), API, 'events before the end were applied');
  t.same(dir.lookup('10.244.1.7'), WEB, 'the half DELETED line was not');
  const n = dir.stats().watches.node!;
  t.equal(n.watchRestarts, 2);
  t.equal(n.watchErrors, 1, 'the reset is an error, the clean end is not');
  t.match(n.lastError, /^watching pods: /);
  // The rest of the stream arrives on the resumed watch.
  server.send('node', ev[3]);
  await until('DELETED on the resumed watch', () => dir.lookup('10.244.1.7') === null);
  t.equal(dir.stats().watches.node!.lastError, null, 'an event clears the error');
  t.equal(at(lines, WARN).length, 1, 'the reset logged once');
});

t.test('410 Gone: list again, drop what was deleted meanwhile, watch from the new list', async (t) => {
  const { server, dir } = await setup(t);
  // Node: the watch's resourceVersion was compacted: 200 and an ERROR event, as the apiserver does.
  server.reply('node', 'watch', { lines: watchLines('watch-expired.jsonl'), end: 'close' });
  server.reply('node', 'list', { json: fixture('node-list-relist.json') });
  // CoreDNS: the other form, the watch request itself answered 410.
  server.reply('coredns', 'watch', { json: fixture('status-gone.json'), status: 410 });
  dir.start();
  await until('both watches open again after their re-list', () => server.requests('node', 'watch').length === 2 && server.requests('coredns', 'watch').length === 2 && server.openWatches('node') === 1 && server.openWatches('coredns') === 1);

  const nl = server.requests('node', 'list');
  t.equal(nl.length, 2, 'listed again');
  t.equal(nl[1].query.get('resourceVersion'), null, 'a fresh list, not from the expired version');
  t.same(server.requests('node', 'watch').map((s) => s.query.get('resourceVersion')), ['48217', '48551'], 'the new watch starts at the new list');
  t.equal(dir.lookup('10.244.1.7'), null, 'web was deleted while the watch was away: gone');
  t.same(dir.lookup('10.244.1.12'), API, 'api was created meanwhile: there');
  t.same(dir.lookup('10.244.1.2'), CDNS1);
  t.match(dir.stats().watches.node, { relists: 1, lists: 2, watchErrors: 0, pods: 5, resourceVersion: '48551' });

  t.equal(server.requests('coredns', 'list').length, 2);
  t.same(server.requests('coredns', 'watch').map((s) => s.query.get('resourceVersion')), ['48213', '48213']);
  t.match(dir.stats().watches.coredns, { relists: 1, watchErrors: 0 });
  t.ok(dir.ready());
});

t.test('an API server not there at first: retried with backoff, logged once, ready when it comes', async (t) => {
  const probe = await ApiServer.start();
  const port = probe.port;
  await probe.close();
  const { log, lines } = capture();
  const dir = new PodDirectory({ kubeConfig: kubeConfigForServer(`http://127.0.0.1:${port}`), nodeName: 'worker-1', log, backoffMs: FAST });
  let server: ApiServer | null = null;
  t.teardown(async () => {
    await dir.stop();
    await server?.close();
  });
  dir.start();
  await until('three failed lists on each watch', () => dir.stats().watches.coredns!.listErrors >= 3 && dir.stats().watches.node!.listErrors >= 3);
  t.equal(dir.ready(), false);
  t.equal(dir.lookup('10.244.1.2'), null, 'nothing known: the agent names by IP');
  t.match(dir.stats().watches.coredns!.lastError, /^listing pods: .*ECONNREFUSED/);
  const warns = at(lines, WARN);
  t.equal(warns.length, 2, 'one warning per watch, not one per retry');
  t.match(warns[0].msg, /names by IP only/);
  t.match(warns[0].err, /ECONNREFUSED/);

  server = await ApiServer.start({ port });
  server.reply('coredns', 'list', { json: fixture('coredns-list.json') });
  server.reply('node', 'list', { json: fixture('node-list.json') });
  await until('ready once the server is up', () => dir.ready(), 5000);
  t.same(dir.lookup('10.244.1.2'), CDNS1);
  t.equal(at(lines, WARN).length, 2, 'no more warnings');
  t.equal(lines.filter((l) => l.msg === 'pod watch recovered').length, 2, 'recovery logged once per watch');
  t.equal(dir.stats().watches.node!.lastError, null);
});

t.test('403 Forbidden: the Status message and the RBAC hint, logged once, retried', async (t) => {
  const { server, dir, lines } = await setup(t, { lists: false });
  const forbidden = { json: fixture('status-forbidden.json'), status: 403 };
  server.reply('coredns', 'list', forbidden, forbidden, forbidden, { json: fixture('coredns-list.json') });
  server.reply('node', 'list', { json: fixture('node-list.json') });
  dir.start();
  await until('three refusals, then ready', () => dir.ready(), 5000);
  t.equal(dir.stats().watches.coredns!.listErrors, 3);
  const warns = at(lines, WARN);
  t.equal(warns.length, 1);
  t.equal(warns[0].watch, 'coredns');
  t.match(warns[0].err, 'listing pods: HTTP 403: pods is forbidden: User "system:serviceaccount:csumwatch:csumwatch" cannot list resource "pods"');
  t.match(warns[0].hint, /ClusterRole/);
  t.same(dir.lookup('10.244.2.2'), CDNS2);
});

t.test('paged list: limit and continue until the last page', async (t) => {
  const { server, dir } = await running(t, { pageSize: 2 });
  const pages = server.requests('node', 'list');
  t.equal(pages.length, 3, '5 pods in pages of 2');
  t.same(pages.map((p) => p.query.get('limit')), ['2', '2', '2']);
  t.equal(pages[0].query.get('continue'), null);
  t.ok(pages[1].query.get('continue') && pages[2].query.get('continue'), 'the server\'s continue token sent back');
  t.equal(dir.stats().watches.node!.pods, 5);
  t.same(dir.lookup('10.244.1.9'), REPORT, 'first page');
  t.same(dir.lookup('10.244.1.2'), CDNS1, 'last page');
  t.equal(server.requests('node', 'watch')[0].query.get('resourceVersion'), '48217');
});

t.test('in a pod: the in-cluster configuration over TLS, with the service account token', async (t) => {
  const root = fs.mkdtempSync(join(os.tmpdir(), 'csw-kube-'));
  const sa = join(root, SERVICE_ACCOUNT_DIR);
  fs.mkdirSync(sa, { recursive: true });
  const cert = fixture('tls/apiserver.crt');
  fs.writeFileSync(join(sa, 'token'), 'eyJhbGciOiJSUzI1NiJ9.sa-token.sig');
  fs.writeFileSync(join(sa, 'ca.crt'), cert);
  fs.writeFileSync(join(sa, 'namespace'), 'csumwatch');
  const server = await ApiServer.start({ tls: { key: fixture('tls/apiserver.key'), cert } });
  server.reply('coredns', 'list', { json: fixture('coredns-list.json') });
  server.reply('node', 'list', { json: fixture('node-list.json') });
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT, node: process.env.NODE_NAME };
  const restore = (k: string, v: string | undefined) => { if (v === undefined) delete process.env[k]; else process.env[k] = v; };
  process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
  process.env.KUBERNETES_SERVICE_PORT = String(server.port);
  process.env.NODE_NAME = 'worker-1';
  const { log } = capture();
  const dir = PodDirectory.fromCluster(log, { root, backoffMs: FAST });
  t.teardown(async () => {
    await dir.stop();
    await server.close();
    restore('KUBERNETES_SERVICE_HOST', saved.host);
    restore('KUBERNETES_SERVICE_PORT', saved.port);
    restore('NODE_NAME', saved.node);
    fs.rmSync(root, { recursive: true, force: true });
  });
  t.equal(server.url.startsWith('https://'), true);
  dir.start();
  await until('ready over TLS', () => dir.ready());
  t.same(dir.lookup('10.244.1.7'), WEB, 'NODE_NAME chose the node watch');
  t.equal(server.requests('node', 'list')[0].query.get('fieldSelector'), 'spec.nodeName=worker-1');
  t.ok(server.seen.every((s) => s.auth === 'Bearer eyJhbGciOiJSUzI1NiJ9.sa-token.sig'), 'the token file, as a bearer token');
});

t.test('inCluster() and fromCluster() outside a cluster', async (t) => {
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
  const token = { existsSync: (p: fs.PathLike) => p === TOKEN_PATH };
  const none = { existsSync: () => false };
  t.equal(PodDirectory.inCluster(env, token), true);
  t.equal(PodDirectory.inCluster(env, none), false, 'no service account token (automountServiceAccountToken: false)');
  t.equal(PodDirectory.inCluster({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, token), false, 'no port');
  t.equal(PodDirectory.inCluster({}, token), false, 'not in a pod');
  const saved = process.env.KUBERNETES_SERVICE_HOST;
  delete process.env.KUBERNETES_SERVICE_HOST;
  t.teardown(() => { if (saved !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved; });
  const { log } = capture();
  t.throws(() => PodDirectory.fromCluster(log), { name: 'KubeError', code: 'CSW_ERR_KUBE', message: /^reading the in-cluster configuration: KUBERNETES_SERVICE_HOST/ });
  const { log: l2 } = capture();
  t.throws(() => new PodDirectory({ kubeConfig: kubeConfigForServer('http://127.0.0.1:1'), nodeName: null, log: l2, backoffMs: { initial: 10, max: 5 } }), KubeError);
});

t.test('without NODE_NAME: CoreDNS only, said once', async (t) => {
  const server = await ApiServer.start();
  server.reply('coredns', 'list', { json: fixture('coredns-list.json') });
  const { log, lines } = capture();
  const dir = new PodDirectory({ kubeConfig: kubeConfigForServer(server.url), nodeName: null, log, backoffMs: FAST });
  t.teardown(async () => { await dir.stop(); await server.close(); });
  dir.start();
  await until('ready', () => dir.ready());
  t.same(Object.keys(dir.stats().watches), ['coredns']);
  t.same(dir.lookup('10.244.1.2'), CDNS1);
  t.equal(dir.lookup('10.244.1.7'), null);
  t.equal(server.requests('node', 'list').length, 0);
  t.match(at(lines, WARN).map((l) => l.msg), [/NODE_NAME not set/]);
});

t.test('stop() leaves nothing open: a process running directories ends by itself', async (t) => {
  const child = spawn(process.execPath, [join(__dirname, 'stop-child.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  let killed = false;
  const timer = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, 20_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const exitedAt = Date.now();
  clearTimeout(timer);
  t.equal(killed, false, `the process ended by itself (stdout: ${out.trim()}; stderr: ${err.trim()})`);
  t.equal(code, 0);
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  t.equal(r.ok, true, String(r.err ?? ''));
  t.equal(r.named, 'coredns-7db6d8ff4d-4kx2p');
  for (const k of ['backoffStopMs', 'listStopMs', 'watchStopMs']) t.ok((r[k] as number) < 1000, `${k} ${r[k]} ms`);
  t.equal(r.requestsLater, r.requestsAfterStop, 'no request after stop()');
  t.ok(exitedAt - (r.endedAt as number) < 1500, `exit ${exitedAt - (r.endedAt as number)} ms after main() ended: no timer left running`);
});

t.test('a watch the server never ends (a connection lost without a reset) is aborted and resumed', async (t) => {
  const server = await ApiServer.start();
  server.reply('coredns', 'list', { json: fixture('coredns-list.json') });
  const { log } = capture();
  // The server ignores timeoutSeconds=1 and holds the watch: 1-2 s, then 200 ms of grace.
  const dir = new PodDirectory({ kubeConfig: kubeConfigForServer(server.url), nodeName: null, log, backoffMs: FAST, watchTimeoutSeconds: 1, watchGraceMs: 200 });
  t.teardown(async () => { await dir.stop(); await server.close(); });
  dir.start();
  await until('a second watch', () => server.requests('coredns', 'watch').length === 2 && server.openWatches('coredns') === 1, 5000);
  const [w1, w2] = server.requests('coredns', 'watch');
  const ts = Number(w1.query.get('timeoutSeconds'));
  t.ok(ts >= 1 && ts < 2, `asked for ${ts} s`);
  t.equal(w2.query.get('resourceVersion'), '48213', 'resumed where it was');
  const c = dir.stats().watches.coredns!;
  t.equal(c.watchErrors, 1);
  t.match(c.lastError, /had not ended the watch 200 ms past its 1 s timeout/);
  t.equal(server.requests('coredns', 'list').length, 1);
});

t.test('a hostNetwork CoreDNS pod names the node address; a pod-network pod would still win', async (t) => {
  const { server, dir } = await running(t);
  // Some installers run CoreDNS with hostNetwork: DNS to the node's address is then CoreDNS's.
  const pod = JSON.parse(watchLines('coredns-watch.jsonl')[0]) as { object: { metadata: Record<string, unknown>; spec: Record<string, unknown>; status: Record<string, unknown> } };
  pod.object.metadata.name = 'coredns-hostnet-x7k2q';
  pod.object.metadata.resourceVersion = '48400';
  pod.object.spec.hostNetwork = true;
  pod.object.spec.nodeName = 'worker-1';
  pod.object.status.podIP = '192.168.56.11';
  pod.object.status.podIPs = [{ ip: '192.168.56.11' }, { ip: 'fd00:56::11' }];
  server.send('coredns', JSON.stringify(pod));
  await until('applied', () => dir.stats().watches.coredns!.resourceVersion === '48400');
  const ref = { namespace: 'kube-system', name: 'coredns-hostnet-x7k2q', coredns: true };
  t.same(dir.lookup('192.168.56.11'), ref, 'not shadowed by kube-proxy or csumwatch, which share the address');
  t.same(dir.lookup('fd00:56::11'), ref);
  // A pod-network pod reported with the same address (stale state during a move) ranks first.
  const web = JSON.parse(fixture('node-list.json')).items[2] as { metadata: Record<string, unknown>; status: Record<string, unknown> };
  t.equal(web.metadata.name, WEB.name);
  web.metadata.resourceVersion = '48401';
  web.status.podIPs = [{ ip: '192.168.56.11' }];
  web.status.podIP = '192.168.56.11';
  server.send('node', JSON.stringify({ type: 'MODIFIED', object: { kind: 'Pod', apiVersion: 'v1', ...web } }));
  await until('applied', () => dir.stats().watches.node!.resourceVersion === '48401');
  t.same(dir.lookup('192.168.56.11'), WEB);
  t.equal(dir.lookup('10.244.1.7'), null, 'the old address went with the MODIFIED');
});

t.test('stop() then start(): the watch resumes from where it was, no list again', async (t) => {
  const { server, dir } = await running(t);
  server.send('node', watchLines('node-watch.jsonl')[0]);
  await until('event applied', () => dir.stats().watches.node!.resourceVersion === '48231');
  await dir.stop();
  t.equal(dir.stats().watches.node!.state, 'idle');
  t.equal(dir.ready(), true, 'what was listed stays');
  t.same(dir.lookup('10.244.1.2'), CDNS1);
  await until('server sees the watches closed', () => server.openWatches('node') === 0 && server.openWatches('coredns') === 0);
  dir.start();
  await until('watching again', () => server.openWatches('node') === 1 && server.openWatches('coredns') === 1);
  t.same(server.requests('node', 'watch').map((s) => s.query.get('resourceVersion')), ['48217', '48231']);
  t.equal(server.requests('node', 'list').length, 1);
  t.equal(server.requests('coredns', 'list').length, 1);
});
