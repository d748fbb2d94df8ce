// A real HTTP(S) server on 127.0.0.1 that answers /api/v1/pods as kube-apiserver does, from the
// recorded responses in test/fixtures/kube/: lists (PodList, honouring limit/continue) and
// watches (200, chunked, one JSON event per line). Each test queues what the next requests get;
// the server records every request it receives, query string and Authorization header included.
// The client under test is the real @kubernetes/client-node, over the network stack.

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export const FIX = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'kube');
export const fixture = (f: string): string => fs.readFileSync(join(FIX, f), 'utf8');
/** The lines of a recorded watch stream. */
export const watchLines = (f: string): string[] => fixture(f).split('\n').filter((l) => l !== '');

export type Stream = 'coredns' | 'node';

export interface Seen {
  stream: Stream | null;
  watch: boolean;
  query: URLSearchParams;
  auth: string | undefined;
}

export type Reply =
  /** A whole JSON answer: a PodList (200) or a Status (4xx, 5xx). */
  | { json: string; status?: number }
  /**
   * A watch: 200, then these lines, then: 'close' ends the response cleanly (the server's
   * timeout); 'hold' keeps it open for send(); 'cut' writes half of one more line and resets the
   * connection (a dying apiserver or load balancer).
   */
  | { lines: string[]; end: 'close' | 'hold' | 'cut'; cutLine?: string }
  /** Accept the request and never answer it. */
  | { hang: true };

export interface Write {
  method: string;
  path: string;
  contentType: string;
  body: unknown;
  auth: string | undefined;
}

export class ApiServer {
  readonly seen: Seen[] = [];
  /** Writes received (PATCH, POST), in order. */
  readonly writes: Write[] = [];
  /** The node's conditions as the patches left them, by type. */
  readonly conditions = new Map<string, Record<string, unknown>>();
  private readonly writeReplies: Array<{ status: number; json: string }> = [];
  /** What GET /api/v1/nodes answers (a NodeList). */
  nodeList = JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] });
  nodeLists = 0;
  /** When set, a queued write reply answers the next node list instead. */
  failNodeLists = false;
  private readonly queues = new Map<string, Reply[]>();
  private readonly lastList = new Map<Stream, string>();
  private readonly held = new Map<Stream, Set<http.ServerResponse>>();
  private readonly hanging = new Set<http.ServerResponse>();

  private constructor(readonly server: http.Server, readonly url: string) {}

  /** port 0 picks a free one; tls serves HTTPS with that key and certificate. */
  static async start(opts: { port?: number; tls?: { key: string; cert: string } } = {}): Promise<ApiServer> {
    let self: ApiServer | null = null;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => self!.handle(req, res);
    const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    self = new ApiServer(server, `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`);
    return self;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Queues replies for the next list or watch requests of a stream. */
  reply(stream: Stream, op: 'list' | 'watch', ...replies: Reply[]): void {
    const k = `${stream}:${op}`;
    const q = this.queues.get(k) ?? [];
    q.push(...replies);
    this.queues.set(k, q);
  }

  /** Requests of one kind so far. */
  requests(stream: Stream, op: 'list' | 'watch'): Seen[] {
    return this.seen.filter((s) => s.stream === stream && s.watch === (op === 'watch'));
  }

  /** Watches of the stream held open now. */
  openWatches(stream: Stream): number {
    return this.held.get(stream)?.size ?? 0;
  }

  /** Writes one event line to every held watch of the stream. */
  send(stream: Stream, line: string): void {
    for (const res of this.held.get(stream) ?? []) res.write(line + '\n');
  }

  /** Ends every held watch of the stream cleanly, as the server's timeoutSeconds does. */
  endWatches(stream: Stream): void {
    for (const res of this.held.get(stream) ?? []) res.end();
    this.held.get(stream)?.clear();
  }

  /** Open TCP connections, as the server counts them. */
  connections(): Promise<number> {
    return new Promise((resolve, reject) => this.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  }

  async close(): Promise<void> {
    for (const set of this.held.values()) for (const res of set) res.destroy();
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Queues answers (a Status) for the next writes; without one, a write succeeds. */
  replyWrite(...replies: Array<{ status: number; json: string }>): void {
    this.writeReplies.push(...replies);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method === 'PATCH' || req.method === 'POST') {
      this.write(req, res);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/v1/nodes') {
      this.nodeLists++;
      const queued = this.writeReplies.length > 0 && this.failNodeLists ? this.writeReplies.shift()! : null;
      if (queued) this.json(res, queued.status, queued.json);
      else this.json(res, 200, this.nodeList);
      return;
    }
    const q = url.searchParams;
    const watch = q.get('watch') === 'true';
    const stream: Stream | null = q.get('labelSelector') === 'k8s-app=kube-dns' ? 'coredns'
      : (q.get('fieldSelector') ?? '').startsWith('spec.nodeName=') ? 'node' : null;
    this.seen.push({ stream, watch, query: q, auth: req.headers.authorization });
    if (url.pathname !== '/api/v1/pods' || stream === null) {
      this.json(res, 404, JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', details: {}, code: 404 }));
      return;
    }
    const next = this.queues.get(`${stream}:${watch ? 'watch' : 'list'}`)?.shift();
    if (next !== undefined && 'hang' in next) {
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    if (!watch) {
      if (next !== undefined && 'lines' in next) throw new Error('a watch reply queued for a list');
      if (next !== undefined && (next.status ?? 200) !== 200) { this.json(res, next.status!, next.json); return; }
      if (next !== undefined) this.lastList.set(stream, next.json);
      const body = this.lastList.get(stream);
      if (body === undefined) throw new Error(`no list queued for ${stream}`);
      this.json(res, 200, page(body, q));
      return;
    }
    if (next !== undefined && 'json' in next) { this.json(res, next.status ?? 200, next.json); return; }
    const w = next ?? { lines: [], end: 'hold' as const };
    // The apiserver's watch: headers at once, then chunks as events happen.
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    for (const l of w.lines) res.write(l + '\n');
    if (w.end === 'close') { res.end(); return; }
    if (w.end === 'cut') {
      const half = (w.cutLine ?? w.lines[0] ?? '{"type":"ADDED","object":{').slice(0, 40);
      res.write(half, () => res.socket?.resetAndDestroy());
      return;
    }
    let set = this.held.get(stream);
    if (set === undefined) { set = new Set(); this.held.set(stream, set); }
    set.add(res);
    res.on('close', () => set!.delete(res));
  }

  /**
   * A write: PATCH /api/v1/nodes/NAME/status (a strategic merge patch of conditions, merged by
   * type into the node this server holds, as the apiserver does) or POST
   * /api/v1/namespaces/NS/events. Recorded with its content type and body.
   */
  private write(req: http.IncomingMessage, res: http.ServerResponse): void {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      let body: unknown = null;
      try { body = JSON.parse(text); } catch { /* recorded as null: the test says what it expected */ }
      this.writes.push({ method: req.method ?? '', path, contentType: req.headers['content-type'] ?? '', body, auth: req.headers.authorization });
      const queued = this.writeReplies.shift();
      if (queued !== undefined) { this.json(res, queued.status, queued.json); return; }
      const node = /^\/api\/v1\/nodes\/([^/]+)\/status$/.exec(path);
      if (req.method === 'PATCH' && node) {
        const conds = (body as { status?: { conditions?: Array<Record<string, unknown>> } } | null)?.status?.conditions ?? [];
        for (const c of conds) this.conditions.set(String(c.type), c);
        this.json(res, 200, JSON.stringify({ kind: 'Node', apiVersion: 'v1', metadata: { name: node[1] }, status: { conditions: [...this.conditions.values()] } }));
        return;
      }
      const ev = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(path);
      if (req.method === 'POST' && ev) {
        const e = body as Record<string, unknown>;
        this.json(res, 201, JSON.stringify({ kind: 'Event', apiVersion: 'v1', ...e, metadata: { ...(e.metadata as object), name: `ev${this.writes.length}` } }));
        return;
      }
      this.json(res, 404, JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', details: {}, code: 404 }));
    });
  }

  private json(res: http.ServerResponse, status: number, body: string): void {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }
}

/** limit/continue as the apiserver does them: the continue token is opaque (here an offset). */
function page(body: string, q: URLSearchParams): string {
  const limit = Number(q.get('limit') ?? 0);
  if (!(limit > 0)) return body;
  const list = JSON.parse(body) as { metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number }; items: unknown[] };
  const from = q.get('continue') ? Number(Buffer.from(q.get('continue')!, 'base64').toString().split(':')[1]) : 0;
  const items = list.items.slice(from, from + limit);
  const rest = list.items.length - from - items.length;
  const metadata: typeof list.metadata = { resourceVersion: list.metadata.resourceVersion };
  if (rest > 0) {
    metadata.continue = Buffer.from(`rv${list.metadata.resourceVersion}:${from + limit}`).toString('base64');
    metadata.remainingItemCount = rest;
  }
  return JSON.stringify({ ...list, metadata, items });
}

/** Waits for cond, polling every 10 ms; throws naming what it waited for after ms. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
