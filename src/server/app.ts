// The agent's HTTP server. build(deps) returns the fastify app without listening, so tests drive
// it with app.inject(). Read-only: nothing here changes the node or the agent.
//
// Two listeners: the main one (--listen: /metrics, /healthz, /readyz, /diagnosis), and, only when
// --debug-listen names an address (127.0.0.1 by convention), the debug one (/debug/lost with the
// query names it lost, /debug/drops). A --web-config file adds TLS, client certificates and basic
// authentication to both; /healthz and /readyz stay open to the kubelet's probes (docs/security.md).

import Fastify, { FastifyBaseLogger, FastifyInstance, FastifyReply, LogController } from 'fastify';
import { Counter, Gauge } from 'prom-client';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { CaptureInfo } from '../agent/agent';
import type { DropReport } from '../agent/drops';
import { isoTime, LostTransaction } from '../correlate/transactions';
import type { Finding } from '../doctor/finding';
import { openMetrics } from '../metrics/family';
import { BasicAuth } from './auth';
import { ConnectionStats, limitConnections } from './connections';
import type { WebConfig } from './webconfig';

export type { Finding };

export interface AppDeps {
  registry: Registry;
  log?: Logger;
  ready(): boolean;
  /** Whether the agent has started and not stopped (says why /readyz is 503). */
  running?(): boolean;
  captures(): CaptureInfo[];
  lost(): LostTransaction[];
  topLostNames(limit: number): Array<{ name: string; lost: number }>;
  diagnosis(): Finding[];
  /** `namespace/pod` of an address when the agent knows it (in a cluster). */
  podOf?(ip: string): string | null;
  /** The most recent kernel drop events (the tracer's), newest first. */
  drops?(): DropReport[];
  /** Called when the app closes (SIGTERM): stops captures. */
  onClose?(): void | Promise<void>;
  /** Which routes: 'main' (the default) or 'debug' (/debug/*, for --debug-listen). */
  listener?: 'main' | 'debug';
  /** --web-config: TLS, client certificates, basic auth, response headers. */
  web?: WebConfig;
  /** Other limits than SERVER_LIMITS (the tests measure the old ones against the new). */
  limits?: Partial<ServerLimits>;
}

export type ServerLimits = { -readonly [K in keyof typeof SERVER_LIMITS]: number };

const OPENMETRICS = 'application/openmetrics-text';
const gzip = promisify(gzipCb);

/**
 * Whether the client takes gzip (RFC 9110 §12.5.3): `gzip` or `*` listed without `q=0`.
 * Prometheus always sends `Accept-Encoding: gzip`; a scrape of 1 000 VTEP peers is 336 KiB of
 * text and 14 KiB compressed (bench/scale.ts), which is what a 1 000-node cluster pays per scrape.
 */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  let star = false;
  for (const part of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const zero = q !== undefined && Number(q.slice(2)) === 0;
    if (coding === 'gzip' || coding === 'x-gzip') return !zero;
    if (coding === '*') star = !zero;
  }
  return star;
}

/**
 * What one client may cost the agent. Its clients are a scraper or two, the kubelet's probes and
 * someone with curl, each sending a few hundred bytes of GET: anything slower or bigger is cut.
 */
export const SERVER_LIMITS = {
  /** Request bodies: no route takes one. */
  bodyLimit: 1024,
  /** Request line and headers together (Node's default is 16 KiB); more is answered 431. */
  maxHeaderSize: 8192,
  /** From the connection (or the end of the last response) to the end of the headers; then 408 and closed. */
  headersTimeoutMs: 5_000,
  /** The whole request. */
  requestTimeoutMs: 10_000,
  /**
   * An idle kept-alive connection. Short: an idle connection holds a slot, and a scraper that
   * finds its connection closed opens another (Prometheus retries a GET on a closed keep-alive
   * connection by itself). It was 72 s, which let 200 idle connections lock the probes out.
   */
  keepAliveTimeoutMs: 5_000,
  /** A TLS handshake (Node's default is 120 s). */
  handshakeTimeoutMs: 5_000,
  /** How often Node checks the two timeouts above (its default is 30 s, which would triple them). */
  checkIntervalMs: 1_000,
  /** Connections one client address (an IPv6 /64) may hold open; more are closed on accept. */
  perAddressConnections: 16,
  /** Connections open at once; a new one past this closes the oldest of the address holding the most. */
  maxConnections: 256,
} as const;

const stats = new WeakMap<FastifyInstance, ConnectionStats>();

/** The app's connection counts: open, refused (per address) and evicted (past the total). */
export function connectionStats(app: FastifyInstance): ConnectionStats {
  return stats.get(app)!;
}

/** Routes the kubelet probes: answered without basic auth (it sends none). */
const OPEN_ROUTES = new Set(['/healthz', '/readyz']);

/** What the app reads of a running agent: every dependency but the registry, the log and onClose. */
export function build(deps: AppDeps): FastifyInstance {
  const L: ServerLimits = { ...SERVER_LIMITS, ...deps.limits };
  const http = { maxHeaderSize: L.maxHeaderSize, headersTimeout: L.headersTimeoutMs, connectionsCheckingInterval: L.checkIntervalMs };
  const tls = deps.web?.tls;
  const app: FastifyInstance = Fastify({
    ...(deps.log ? { loggerInstance: deps.log as unknown as FastifyBaseLogger } : { logger: false }),
    // No log line per request: Prometheus scrapes every few seconds.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: L.bodyLimit,
    // A scrape that arrives while the agent stops gets the page, not a 503: the counters are
    // still there, and they are the last the agent will give (test/agent/faults.test.ts).
    return503OnClosing: false,
    requestTimeout: L.requestTimeoutMs,
    keepAliveTimeout: L.keepAliveTimeoutMs,
    ...(tls
      ? {
          https: {
            ...http,
            key: tls.key,
            cert: tls.cert,
            ca: tls.ca,
            requestCert: tls.requestCert,
            rejectUnauthorized: tls.rejectUnauthorized,
            minVersion: tls.minVersion,
            maxVersion: tls.maxVersion,
            handshakeTimeout: L.handshakeTimeoutMs,
          },
        }
      : { http }),
  }) as unknown as FastifyInstance;
  const conns = limitConnections(app.server, { perAddress: L.perAddressConnections, total: L.maxConnections });
  stats.set(app, conns);
  if (tls?.clientAuth === 'VerifyClientCertIfGiven') {
    // Node verifies a certificate only to say so (rejectUnauthorized false lets a client without
    // one in): a client that sent one that does not verify is cut off here.
    app.server.on('secureConnection', (s: TLSSocket) => {
      if (!s.authorized && Object.keys(s.getPeerCertificate() ?? {}).length > 0) s.destroy();
    });
  }
  const auth = deps.web && deps.web.users.size > 0 ? new BasicAuth(deps.web.users) : null;
  if (auth) {
    app.addHook('onRequest', async (req, reply) => {
      if ((deps.listener ?? 'main') === 'main' && OPEN_ROUTES.has(req.routeOptions.url ?? '')) return;
      const r = await auth.check(req.headers.authorization);
      if (r === 'ok') return;
      if (r === 'busy') return reply.code(503).header('retry-after', '1').send({ error: 'too many password checks at once; retry' });
      return reply.code(401).header('www-authenticate', 'Basic realm="csumwatch", charset="UTF-8"').send({ error: 'unauthorized' });
    });
  }
  const headers = Object.entries(deps.web?.headers ?? {});
  if (headers.length > 0) {
    app.addHook('onSend', async (_req, reply) => {
      for (const [k, v] of headers) reply.header(k, v);
    });
  }
  if ((deps.listener ?? 'main') === 'main') connectionMetrics(deps.registry, conns);
  // The routes in a plugin, registered at ready(): an onRoute hook added after build() sees them.
  app.register(async (r) => ((deps.listener ?? 'main') === 'main' ? routes(r, deps) : debugRoutes(r, deps)));
  if (deps.onClose) {
    const close = deps.onClose;
    app.addHook('onClose', async () => {
      await close();
    });
  }
  return app;
}

/** The HTTP server's own connections, for an operator to see an attack and the limits acting. */
function connectionMetrics(registry: Registry, conns: ConnectionStats): void {
  new Gauge({
    name: 'csumwatch_http_connections',
    help: 'Connections open to the agent\'s HTTP server (main listener).',
    registers: [registry],
    collect() {
      this.set(conns.open);
    },
  });
  new Counter({
    name: 'csumwatch_http_connections_closed_total',
    help: 'Connections the HTTP server closed for its limits: per_address (the client address already held its limit, closed on accept), evicted (all slots taken: the oldest connection of the address holding the most).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ reason: 'per_address' }, conns.refused);
      this.inc({ reason: 'evicted' }, conns.evicted);
    },
  });
}

/** Every route: GET (and the HEAD fastify adds), reading the agent, changing nothing. */
async function routes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get('/metrics', async (req, reply) => {
    const accept = req.headers.accept ?? '';
    const om = accept.includes(OPENMETRICS);
    const body = om ? await openMetrics(deps.registry) : await deps.registry.metrics();
    reply.type(om ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE);
    return sendMaybeGzipped(reply, body, acceptsGzip(req.headers['accept-encoding']));
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  // Ready: the agent runs (src/agent/agent.ts ready()). A node without a VXLAN device is ready,
  // with no capture; not ready while starting or stopping, or when there are interfaces to
  // capture and none captures.
  app.get('/readyz', async (_req, reply) => {
    const ready = deps.ready();
    const captures = deps.captures();
    const status = ready ? 'ready' : deps.running?.() === false ? 'not running' : 'no capture running';
    return reply.code(ready ? 200 : 503).send({ status, captures });
  });
  app.get('/diagnosis', async () => ({ findings: deps.diagnosis() }));
}

/** The debug listener's routes: what the agent lost and dropped, query names included. */
async function debugRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const podOf = deps.podOf ?? (() => null);
  app.get('/debug/lost', async () => ({ lost: deps.lost().map((l) => lostJson(l, podOf)), topNames: deps.topLostNames(20) }));
  app.get('/debug/drops', async () => ({ drops: (deps.drops?.() ?? []).map((d) => ({ time: isoTime(d.tsUs), ...d, tsUs: undefined })) }));
}

/** Compresses off the event loop (zlib's thread pool), so a big scrape does not stall the captures. */
async function sendMaybeGzipped(reply: FastifyReply, body: string, gz: boolean): Promise<FastifyReply> {
  reply.header('vary', 'Accept-Encoding');
  if (!gz) return reply.send(body);
  return reply.header('content-encoding', 'gzip').send(await gzip(body));
}

function lostJson(l: LostTransaction, podOf: (ip: string) => string | null) {
  return {
    time: isoTime(l.tsUs),
    client: l.client,
    clientPod: podOf(l.client),
    clientPort: l.clientPort,
    server: l.server,
    serverPod: podOf(l.server),
    serverPort: l.serverPort,
    id: l.id,
    name: l.name,
    qtype: l.qtype,
    cause: l.cause,
    layer: l.layer,
    pseudoOnly: l.pseudoOnly,
    reason: l.reason,
    queries: l.queries,
    vxlan: l.vxlan,
    geneve: l.geneve,
  };
}
