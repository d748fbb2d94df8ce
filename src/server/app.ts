// The agent's HTTP server. build(deps) returns the fastify app without listening, so tests drive
// it with app.inject(). Read-only: nothing here changes the node or the agent.

import Fastify, { FastifyBaseLogger, FastifyInstance, FastifyReply, LogController } from 'fastify';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Agent, CaptureInfo } from '../agent/agent';
import { agentFindings } from '../agent/diagnosis';
import type { DropReport } from '../agent/drops';
import { isoTime, LostTransaction } from '../correlate/transactions';
import type { Finding } from '../doctor/finding';
import { openMetrics } from '../metrics/family';

export type { Finding };

export interface AppDeps {
  registry: Registry;
  log?: Logger;
  ready(): boolean;
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
}

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
  /** An idle kept-alive connection: longer than a 60 s scrape interval, so a scraper keeps one. */
  keepAliveTimeoutMs: 72_000,
  /** How often Node checks the two timeouts above (its default is 30 s, which would triple them). */
  checkIntervalMs: 1_000,
  /** Connections open at once; more are closed on accept. */
  maxConnections: 128,
} as const;

/** What the app reads of a running agent: every dependency but the registry, the log and onClose. */
export function agentViews(agent: Agent): Omit<AppDeps, 'registry' | 'log' | 'onClose'> {
  return {
    ready: () => agent.ready(),
    captures: () => agent.captures(),
    lost: () => agent.dns.lost(),
    topLostNames: (n) => agent.dns.topLostNames(n),
    diagnosis: () => agentFindings(agent),
    drops: () => agent.drops.recentDrops(),
    podOf: (ip) => agent.podOf(ip),
  };
}

export function build(deps: AppDeps): FastifyInstance {
  const L = SERVER_LIMITS;
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
    http: { maxHeaderSize: L.maxHeaderSize, headersTimeout: L.headersTimeoutMs, connectionsCheckingInterval: L.checkIntervalMs },
  });
  app.server.maxConnections = L.maxConnections;
  // The routes in a plugin, registered at ready(): an onRoute hook added after build() sees them.
  app.register(async (r) => routes(r, deps));
  if (deps.onClose) {
    const close = deps.onClose;
    app.addHook('onClose', async () => {
      await close();
    });
  }
  return app;
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
  app.get('/readyz', async (_req, reply) => {
    const ready = deps.ready();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'no capture running', captures: deps.captures() });
  });
  app.get('/diagnosis', async () => ({ findings: deps.diagnosis() }));
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
  };
}
