// What the agent's HTTP server exposes, and to whom, on the real app over a real Agent fed real
// captures (test/support/fed-agent.ts): every route is GET or HEAD and no request of any method,
// path, query, body or header size changes the agent; the server's limits hold on a real socket
// (a client that never finishes its headers is cut off, oversized headers get 431, connections
// are capped per client address, and past the total the heaviest address gives one up); the
// query names the captures carry (read from them with dns-packet) appear in /debug/lost, on the
// debug listener only, and nowhere else, and not in the agent's logs.

import t from 'tap';
import * as dnsPacket from 'dns-packet';
import type { FastifyInstance } from 'fastify';
import { METHODS } from 'node:http';
import * as net from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';

import type { Agent } from '../../src/agent/agent';
import { agentFindings } from '../../src/agent/diagnosis';
import { readCaptureFile } from '../../src/capture/replay';
import { createRegistry } from '../../src/agent/registry';
import { connectionStats, SERVER_LIMITS } from '../../src/server/app';
import { clientKey } from '../../src/server/connections';
import { appFor, debugAppFor, FEEDS, FIX, fedAgent } from '../support/fed-agent';

/** Every DNS question name in the fed captures, at any depth (plain, or inside VXLAN on 4789). */
function capturedNames(): string[] {
  const names = new Set<string>();
  const udp = (b: Buffer, ip: number, end: number): void => {
    if (ip + 20 > end || b[ip] >> 4 !== 4 || b[ip + 9] !== 17) return;
    const u = ip + (b[ip] & 0x0f) * 4;
    const sport = b.readUInt16BE(u);
    const dport = b.readUInt16BE(u + 2);
    const pend = Math.min(end, u + b.readUInt16BE(u + 4));
    if (sport === 53 || dport === 53) {
      try {
        for (const q of dnsPacket.decode(b.subarray(u + 8, pend)).questions ?? []) names.add(q.name.toLowerCase());
      } catch {
        // not a message dns-packet reads
      }
    } else if (dport === 4789) {
      const inner = u + 8 + 8; // VXLAN header, then Ethernet
      if (b.readUInt16BE(inner + 12) === 0x0800) udp(b, inner + 14, pend);
    }
  };
  for (const [, file] of FEEDS) {
    readCaptureFile(join(FIX, file), (r) => {
      const b = Buffer.from(r.buf.subarray(r.off, r.off + r.capLen));
      if (b.readUInt16BE(12) === 0x0800) udp(b, 14, b.length);
    });
  }
  return [...names].sort();
}

const NAMES = capturedNames();

/** Everything a request could change: the agent's counters, lists and findings. */
async function snapshot(agent: Agent): Promise<string> {
  const metrics = (await createRegistry(agent, 'x').metrics()).split('\n').filter((l) => l.startsWith('csumwatch_') && !l.startsWith('csumwatch_collector_success') && !l.startsWith('csumwatch_collector_duration_seconds'));
  return JSON.stringify({
    metrics,
    lost: agent.dns.lost(),
    top: agent.dns.topLostNames(1000),
    captures: agent.captures(),
    findings: agentFindings(agent).map((f) => ({ ...f })),
    drops: agent.drops.recentDrops(),
    ready: agent.ready(),
  });
}

/** The app with every route it registers, seen by an onRoute hook added before ready(). */
async function appWithRoutes(agent: Agent, log?: pino.Logger, debug = false): Promise<{ app: FastifyInstance; routes: Array<{ method: string; url: string }> }> {
  const app = (debug ? debugAppFor : appFor)(agent, log);
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (o) => {
    for (const m of [o.method].flat()) routes.push({ method: m, url: o.url });
  });
  await app.ready();
  return { app, routes };
}

t.test('the names to look for are read from the captures', async (t) => {
  t.ok(NAMES.length >= 20, `${NAMES.length} names`);
  t.ok(NAMES.includes('q04.lab.test'), 'including one the agent lost');
});

for (const listener of ['main', 'debug'] as const)
t.test(`${listener} listener: every route is GET or HEAD, and no method, path, query, body or header changes the agent`, async (t) => {
  const agent = fedAgent();
  const { app, routes } = await appWithRoutes(agent, undefined, listener === 'debug');
  t.teardown(async () => {
    app.server.closeAllConnections();
    await app.close();
  });
  const urls = [...new Set(routes.map((r) => r.url))].sort();
  t.same(urls, listener === 'main' ? ['/diagnosis', '/healthz', '/metrics', '/readyz'] : ['/debug/drops', '/debug/lost'], 'the documented endpoints');
  t.same([...new Set(routes.map((r) => r.method))].sort(), ['GET', 'HEAD'], 'GET and HEAD only');
  t.equal(routes.length, urls.length * 2, 'each with GET and HEAD');

  const before = await snapshot(agent);
  const bodies = new Map<string, string>();
  for (const url of urls) bodies.set(url, (await app.inject({ method: 'GET', url })).body);

  // Every method Node's parser knows, on every route and on paths that are not routes.
  const paths = [...urls, '/', '/debug', '/admin', '/debug/pprof', '/config', '/nope', '/metrics', '/debug/lost'];
  let other = 0;
  const bad: string[] = [];
  for (const method of METHODS) {
    if (method === 'GET' || method === 'HEAD' || method === 'CONNECT') continue;
    for (const url of paths) {
      const res = method === 'OPTIONS' || method === 'TRACE'
        ? await app.inject({ method: method as 'OPTIONS', url })
        : await app.inject({ method: method as 'POST', url, payload: '{"logLevel":"trace"}', headers: { 'content-type': 'application/json' } });
      other++;
      if (res.statusCode !== 404 && res.statusCode !== 405) bad.push(`${method} ${url}: ${res.statusCode}`);
    }
  }
  t.same(bad, [], `${other} requests of other methods: all 404 or 405`);

  // Path tricks, query strings, bodies on GET, odd headers, sent as they are on a real socket
  // (app.inject would resolve the dots first): a documented body or a refusal, never another.
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as net.AddressInfo).port;
  const tricks = [
    '/metrics/../', '/metrics/..', '/metrics/../diagnosis', '/%2e%2e/metrics', '/metrics/%2e%2e/', '//diagnosis', '/./metrics',
    '/METRICS', '/metrics/', '/metrics%00', '/metrics%2f', '/debug/lost/../../etc/passwd', '/debug/%2e%2e/%2e%2e/etc/passwd',
    '/metrics?name[]=1&name=2', '/debug/lost?limit=1000000', '/readyz?x=' + 'a'.repeat(4000), '/healthz;x=1', '*',
    'http://evil.example/metrics', '/\\diagnosis', '/metrics\t',
  ];
  const bodyHeaders = 'Content-Type: application/json\r\nX-Forwarded-For: 1.2.3.4\r\nX-HTTP-Method-Override: DELETE\r\n';
  for (const url of tricks) {
    for (const body of ['', 'x'.repeat(100), '{"a":1}']) {
      const req = `GET ${url} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n${body ? `${bodyHeaders}Content-Length: ${body.length}\r\n` : ''}\r\n${body}`;
      const res = await exchange(port, req);
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(res)?.[1] ?? 0);
      const payload = res.slice(res.indexOf('\r\n\r\n') + 4);
      const target = url.startsWith('http://') ? new URL(url).pathname : url.split('?')[0];
      const known = bodies.has(target) && (payload === bodies.get(target) || (target === '/metrics' && payload.startsWith('# HELP ')));
      const ok = status === 404 || status === 400 || ((status === 200 || status === 503) && known);
      t.ok(ok, `GET ${url.slice(0, 60)} with ${body === '' ? 'no body' : 'a body'}: ${status}`);
      t.notMatch(payload, /root:|\[core\]|BEGIN /, 'no file contents');
    }
  }
  const after = await snapshot(agent);
  t.equal(after, before, 'the agent is as it was: counters, lost list, findings, captures');
  // Self-test: one more frame through the agent shows in the snapshot.
  readCaptureFile(join(FIX, FEEDS[0][1]), (r) => {
    if (r.offset === 24) agent.ingest(agent.counters.slot('eth0'), 0, r.linkType, r.buf, r.off, r.capLen, r.wireLen, r.tsUs);
  });
  t.not(await snapshot(agent), before, 'self-test: the snapshot sees a change');
});

/** Sends one raw request on a new connection and resolves with everything the server sent before closing. */
async function exchange(port: number, request: string): Promise<string> {
  const s = await connect(port);
  const done = closed(s, 30_000);
  s.write(request);
  const r = await done;
  if (r === 'timeout') {
    s.destroy();
    return 'timeout';
  }
  return r.data;
}

/** Opens a raw connection to the app (from address `local`); resolves when connected. */
function connect(port: number, local?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', ...(local ? { localAddress: local } : {}) }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Resolves with what the server sent and how long it took to close the connection, or after ms
 * with 'timeout' (the client then closes it, so a failing check does not hold the server open).
 */
function closed(s: net.Socket, ms: number): Promise<{ data: string; after: number } | 'timeout'> {
  const t0 = Date.now();
  let data = '';
  s.on('data', (d) => (data += d.toString('latin1')));
  s.on('error', () => undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      resolve('timeout');
      s.destroy();
    }, ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ data, after: Date.now() - t0 });
    });
  });
}

t.test('limits on a real socket: slow and idle clients cut off, big headers refused, keep-alive, connections capped', async (t) => {
  const agent = fedAgent();
  const app = appFor(agent);
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    app.server.closeAllConnections();
    await app.close();
  });
  const port = (app.server.address() as net.AddressInfo).port;
  const L = SERVER_LIMITS;
  const bound = L.headersTimeoutMs + L.checkIntervalMs + 20_000; // generous: a noisy machine

  // A request whose headers never end (one more header line every 200 ms), and a connection
  // that never says anything: both answered 408 and closed by the server.
  const slow = await connect(port);
  slow.write('GET /metrics HTTP/1.1\r\nHost: agent\r\n');
  const drip = setInterval(() => slow.writable && slow.write('X-Slow: 1\r\n'), 200);
  const idle = await connect(port);
  const [s, i] = await Promise.all([closed(slow, bound), closed(idle, bound)]);
  clearInterval(drip);
  t.not(s, 'timeout', `a client that never finishes its headers is cut off (within ${bound} ms)`);
  t.not(i, 'timeout', 'an idle connection is cut off');
  if (s !== 'timeout') t.match(s.data, /^HTTP\/1\.1 408 /, 'with 408 Request Timeout');
  if (i !== 'timeout') t.match(i.data, /^HTTP\/1\.1 408 /);

  // Headers over the limit: 431 and closed; the server still answers afterwards.
  const big = await connect(port);
  big.write(`GET /metrics HTTP/1.1\r\nHost: agent\r\nX-Big: ${'a'.repeat(L.maxHeaderSize + 1)}\r\n\r\n`);
  const b = await closed(big, bound);
  t.not(b, 'timeout');
  if (b !== 'timeout') t.match(b.data, /^HTTP\/1\.1 431 /, `${L.maxHeaderSize + 1} bytes of header: 431`);

  // Two requests on one connection, and the keep-alive the server announces.
  const ka = await connect(port);
  const kaDone = closed(ka, bound);
  ka.write('GET /healthz HTTP/1.1\r\nHost: agent\r\n\r\nGET /healthz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n');
  const k = await kaDone;
  t.not(k, 'timeout');
  if (k !== 'timeout') {
    t.equal(k.data.match(/HTTP\/1\.1 200 /g)?.length, 2, 'two answers on one connection');
    t.match(k.data, new RegExp(`Keep-Alive: timeout=${L.keepAliveTimeoutMs / 1000}\\r\\n`), `keep-alive ${L.keepAliveTimeoutMs / 1000} s announced`);
  }

  // A body past the limit on a route: refused (404 before or 413), never read whole.
  const post = await app.inject({ method: 'POST', url: '/metrics', payload: 'x'.repeat(L.bodyLimit * 4), headers: { 'content-type': 'text/plain' } });
  t.ok(post.statusCode === 404 || post.statusCode === 413, `a ${L.bodyLimit * 4}-byte body: ${post.statusCode}`);

  // The node's own loopback (127.0.0.1: a local proxy in front of the agent, and the probes it
  // shares the address with) is not held to one client's share.
  const P = L.perAddressConnections;
  const local: net.Socket[] = [];
  for (let n = 0; n <= P; n++) local.push(await connect(port));
  t.match(await request(port, '/healthz'), /^HTTP\/1\.1 200 /, `127.0.0.1 is served with ${P + 1} connections open from it`);
  t.equal(connectionStats(app).refused, 0, 'none refused');
  for (const s of local) s.destroy();
  await new Promise((r) => setTimeout(r, 200));

  // One address holds perAddressConnections: the next from it is closed on accept, while
  // another address (127.0.0.2: every 127/8 address is this host's) is served.
  const held: net.Socket[] = [];
  for (let n = 0; n < P; n++) held.push(await connect(port, '127.0.0.9'));
  const extra = await connect(port, '127.0.0.9');
  const x = await closed(extra, bound);
  t.not(x, 'timeout', `connection ${P + 1} from 127.0.0.9 is closed by the server`);
  if (x !== 'timeout') t.equal(x.data, '', 'without an answer');
  t.equal(connectionStats(app).refused, 1, 'counted as refused');
  t.match(await request(port, '/healthz', '127.0.0.2'), /^HTTP\/1\.1 200 /, 'another address is served meanwhile');

  // All maxConnections taken by many addresses: a new address still gets in, and the address
  // holding the most gives up its oldest connection.
  const heavy = held[0];
  const heavyClosed = closed(heavy, bound);
  const others: net.Socket[] = [];
  for (let a = 3; connectionStats(app).open < L.maxConnections; a++) {
    for (let n = 0; n < P - 1 && connectionStats(app).open < L.maxConnections; n++) others.push(await connect(port, `127.0.0.${a}`));
    await new Promise((r) => setImmediate(r));
  }
  t.equal(connectionStats(app).open, L.maxConnections, `${L.maxConnections} connections open`);
  t.match(await request(port, '/healthz', '127.0.1.1'), /^HTTP\/1\.1 200 /, 'a new address is served with every slot taken');
  t.not(await heavyClosed, 'timeout', 'the oldest connection of the address holding the most was closed');
  t.ok(connectionStats(app).evicted >= 1, `${connectionStats(app).evicted} evicted`);
  for (const h of [...held, ...others]) h.destroy();
  await new Promise((r) => setTimeout(r, 200));
  t.match(await request(port, '/healthz', '127.0.0.9'), /^HTTP\/1\.1 200 /, 'and 127.0.0.9 is served again once its connections are gone');
  t.equal(connectionStats(app).open, 0, 'every connection accounted for');
});

/** GET path on a new connection from `local`, Connection: close; what the server sent. */
async function request(port: number, path: string, local?: string): Promise<string> {
  const s = await connect(port, local);
  const done = closed(s, 30_000);
  s.write(`GET ${path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n`);
  const r = await done;
  return r === 'timeout' ? 'timeout' : r.data;
}

t.test('query names appear in /debug/lost (debug listener) and nowhere else, not in the logs either', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter((l: string) => l !== ''));
      cb();
    },
  });
  // The agent command's logger at its default level (src/cli/agent.ts, config logLevel 'info').
  const log = pino({ level: 'info', base: { app: 'csumwatch' } }, sink);
  const agent = fedAgent({ log });
  const main = await appWithRoutes(agent, log);
  const debug = await appWithRoutes(agent, log, true);
  t.teardown(() => Promise.all([main.app.close(), debug.app.close()]));

  const found = (body: string): string[] => NAMES.filter((n) => body.toLowerCase().includes(n));
  const lost = agent.dns.lost().map((l) => l.name.replace(/\.$/, ''));
  t.ok(lost.length > 0, 'the agent lost queries: their names are in its list');
  const gets = [...main.routes, ...debug.routes].filter((r) => r.method === 'GET').map((r) => r.url);
  const where: Record<string, string[]> = {};
  for (const url of gets) {
    const app = url.startsWith('/debug/') ? debug.app : main.app;
    for (const accept of ['text/plain', 'application/openmetrics-text; version=1.0.0']) {
      if (accept !== 'text/plain' && url !== '/metrics') continue;
      const res = await app.inject({ method: 'GET', url, headers: { accept } });
      const head = await app.inject({ method: 'HEAD', url, headers: { accept } });
      t.equal(head.body, '', `HEAD ${url}: no body`);
      t.same(found(JSON.stringify(head.headers)), [], `HEAD ${url}: no name in the headers`);
      t.same(found(JSON.stringify(res.headers)), [], `GET ${url}: no name in the headers`);
      where[`${url} ${accept}`] = found(res.body);
    }
  }
  t.same(where['/debug/lost text/plain'].sort(), [...new Set(lost)].sort(), '/debug/lost names exactly the lost queries');
  for (const [k, v] of Object.entries(where)) if (!k.startsWith('/debug/lost ')) t.same(v, [], `no query name in ${k}`);
  // Every label value of every metric, in both formats: bounded values, no names.
  const om = (await main.app.inject({ method: 'GET', url: '/metrics', headers: { accept: 'application/openmetrics-text; version=1.0.0' } })).body;
  const text = (await main.app.inject({ method: 'GET', url: '/metrics' })).body;
  const values = new Set<string>();
  for (const m of (text + om).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) values.add(`${m[1]}=${m[2]}`);
  t.ok(values.size > 20, `${values.size} label values read`);
  t.same([...values].filter((v) => /lab\.test|\.svc\.|\.local\b/.test(v)), [], 'no label value is a DNS name');
  t.ok(lines.length > 0, `the agent logged (${lines.length} lines at info)`);
  t.same(found(lines.join('\n')), [], 'no query name in its logs at the default level');
});

t.test('connections count per address, global IPv6 per /64, loopback and link-local whole', async (t) => {
  const cases: Array<[string | undefined, string]> = [
    ['10.0.0.1', '10.0.0.1'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['2001:db8:1:2:aaaa::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:bbbb:cccc:dddd:eeee', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '::1'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
    ['FE80::2', 'fe80::2'],
    [undefined, '?'],
  ];
  for (const [addr, key] of cases) t.equal(clientKey(addr), key, String(addr));
});
