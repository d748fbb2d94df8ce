// Names DNS servers and clients by pod: lists, then watches, the CoreDNS pods of the cluster
// (label k8s-app=kube-dns, every namespace) and the pods on this node (spec.nodeName), and
// answers lookup(ip) from memory. Outside a cluster the agent never builds one and works by IP.
//
// Client: @kubernetes/client-node 1.x (1.4.0). Its 1.x line is ES modules only ("type":
// "module"). The 0.x line is CommonJS but sends every request through `request`, deprecated
// since 2020 and unmaintained; 2.x needs undici 8, that is Node >= 22.19. Node 20.19 and later
// load an ES module with require() without a flag (no top-level await in the client's graph, no
// warning printed on 20.20), so this CommonJS build uses 1.x unchanged. It is required lazily, in
// the constructor: loading it takes about 0.6 s and 66 packages, which only an agent in a
// cluster pays, never `analyze` or an agent outside one. On a Node that cannot require an ES
// module the constructor throws KubeError saying so.
//
// The list and watch loop is ours, over the client's CoreV1Api (list) and Watch (the streaming
// request), rather than its ListWatch informer: the informer stops for good on any error other
// than 410, has no backoff, and swallows our handler's exceptions as JSON parse errors. Ours
// follows client-go's reflector: list (paged), watch from the list's resourceVersion with
// bookmarks and a server-side timeout of 5-10 minutes, resume a watch that ends from the last
// resourceVersion seen, list again on 410 Gone (an ERROR event or an HTTP status), back off
// exponentially with jitter on errors, and abort a watch that stays silent past its timeout.

import * as fs from 'node:fs';
import type { Logger } from 'pino';
import type * as K8s from '@kubernetes/client-node';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
export const TOKEN_PATH = `${SERVICE_ACCOUNT_DIR}/token`;
/** The label every CoreDNS (and kube-dns) deployment carries, kubeadm's and the cloud providers'. */
export const COREDNS_SELECTOR = 'k8s-app=kube-dns';

/** A Kubernetes lookup cannot be set up: code CSW_ERR_KUBE, "doing x: cause". */
export class KubeError extends Error {
  readonly code = 'CSW_ERR_KUBE';
  override readonly name = 'KubeError';
}

/** What lookup() answers: frozen, shared, replaced when the pod changes. */
export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  /** The pod carries k8s-app=kube-dns. */
  readonly coredns: boolean;
}

export type WatchName = 'coredns' | 'node';
/** listing and watching: working; backoff: waiting after an error; idle: not started or stopped. */
export type WatchState = 'idle' | 'listing' | 'watching' | 'backoff';

/** One list-and-watch's counters, for a metric the agent exports (labels: watch). */
export interface WatchCounters {
  state: WatchState;
  /** A list has succeeded (stays true after stop(): what was listed stays for lookup()). */
  synced: boolean;
  /** Successful lists, the first one included. */
  lists: number;
  listErrors: number;
  /** Watches that failed: connection, HTTP status, an ERROR event other than 410, silence. */
  watchErrors: number;
  /** Watches opened again from a resourceVersion after one ended, for whatever reason. */
  watchRestarts: number;
  /** Lists after 410 Gone: the resourceVersion had been compacted away. */
  relists: number;
  /** Watch events received, bookmarks and errors included. */
  events: number;
  /** Events that could not be applied (a bug, or an object without namespace or name). */
  badEvents: number;
  /** Pods this watch holds now. */
  pods: number;
  /** The last resourceVersion seen, '' before the first list. */
  resourceVersion: string;
  /** The last error, "doing x: cause", until the next success. */
  lastError: string | null;
}

export interface PodDirectoryStats {
  ready: boolean;
  /** Distinct pods held (a CoreDNS pod on this node is in both watches, counted once). */
  pods: number;
  /** Addresses that lookup() answers. */
  addresses: number;
  watches: Partial<Record<WatchName, WatchCounters>>;
}

export interface PodDirectoryOptions {
  /** From inClusterKubeConfig() in a pod, or kubeConfigForServer(url) elsewhere. */
  kubeConfig: K8s.KubeConfig;
  /** This node's name (downward API spec.nodeName); null: CoreDNS pods only. */
  nodeName: string | null;
  log: Logger;
  /** Backoff after an error: initial delay, doubled per failure up to max, each with jitter. */
  backoffMs?: { initial: number; max: number };
  /** A watch asks the server to end it after t to 2t seconds (client-go: 5 to 10 minutes). */
  watchTimeoutSeconds?: number;
  /**
   * A watch still open this long past the timeout it asked the server for is dead (a connection
   * lost without a reset delivers nothing, forever): it is aborted and resumed.
   */
  watchGraceMs?: number;
  /** One list request, each page. */
  listTimeoutMs?: number;
  /** Pods per list page (limit/continue). */
  pageSize?: number;
}

const DEFAULTS = {
  backoffMs: { initial: 500, max: 30_000 },
  watchTimeoutSeconds: 300,
  watchGraceMs: 60_000,
  listTimeoutMs: 60_000,
  pageSize: 500,
};
/** A watch that ends sooner than this having delivered nothing is a failure, not a restart. */
const SHORT_WATCH_MS = 1_000;
/** stop() waits this long for a request already sent to give up before it returns. */
const STOP_WAIT_MS = 2_000;

type Client = typeof K8s;
let client: Client | null = null;

/** The client, required on first use (see the top of the file). */
export function loadClient(): Client {
  if (client !== null) return client;
  try {
    client = require('@kubernetes/client-node') as Client;
    return client;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ERR_REQUIRE_ESM'
      ? `it is an ES module and this Node (${process.version}) cannot require() one; Node >= 20.19 can`
      : e.message;
    throw new KubeError(`loading @kubernetes/client-node: ${why}`);
  }
}

/**
 * A KubeConfig for the API server at url, with an optional bearer token. https is verified
 * (against caFile, else the system's CAs). For an http:// URL (kubectl proxy, tests) the client
 * insists on skipTLSVerify ("HTTP protocol is not allowed when skipTLSVerify is not set"): there
 * is no TLS to verify, so it is set for http:// only.
 */
export function kubeConfigForServer(server: string, opts: { token?: string; caFile?: string } = {}): K8s.KubeConfig {
  const k = loadClient();
  const kc = new k.KubeConfig();
  const plain = server.startsWith('http://');
  kc.loadFromOptions({
    clusters: [{ name: 'csumwatch', server, skipTLSVerify: plain, ...(opts.caFile ? { caFile: opts.caFile } : {}) }],
    users: [{ name: 'csumwatch', ...(opts.token ? { token: opts.token } : {}) }],
    contexts: [{ name: 'csumwatch', cluster: 'csumwatch', user: 'csumwatch' }],
    currentContext: 'csumwatch',
  });
  return kc;
}

/**
 * The pod's own configuration: KUBERNETES_SERVICE_HOST/PORT, the service account's CA and
 * token. The client re-reads the token file every minute, so the kubelet's rotation of bound
 * tokens is followed. root prefixes the service account directory (tests).
 */
export function inClusterKubeConfig(root = ''): K8s.KubeConfig {
  const kc = new (loadClient().KubeConfig)();
  kc.loadFromCluster(root);
  return kc;
}

/** A pod as the directory keeps it: what lookup needs, nothing more. */
interface PodRecord {
  key: string;
  ref: PodRef;
  hostNetwork: boolean;
  /** Not Succeeded or Failed: its addresses are still its own. */
  live: boolean;
  /** creationTimestamp in ms, 0 if absent. */
  created: number;
  ips: string[];
}

// The parts of a v1 Pod read here. List items come deserialized by the client (Date
// timestamps), watch objects as plain JSON (string timestamps): both fit.
interface PodLike {
  metadata?: { namespace?: unknown; name?: unknown; labels?: Record<string, unknown> | null; creationTimestamp?: unknown; resourceVersion?: unknown } | null;
  spec?: { hostNetwork?: unknown } | null;
  status?: { phase?: unknown; podIP?: unknown; podIPs?: { ip?: unknown }[] | null } | null;
}

/** IPv6 in its one canonical text form (RFC 5952: lower case, longest zero run compressed). */
export function canonicalIp(ip: string): string {
  if (ip.indexOf(':') < 0) return ip;
  try {
    const h = new URL(`http://[${ip}]/`).hostname;
    return h.slice(1, -1);
  } catch {
    return ip.toLowerCase(); // a zone index or junk: compared as given
  }
}

function toRecord(obj: unknown): PodRecord | null {
  const p = obj as PodLike | null;
  const md = p?.metadata;
  const namespace = md?.namespace;
  const name = md?.name;
  if (typeof namespace !== 'string' || typeof name !== 'string' || namespace === '' || name === '') return null;
  const ips: string[] = [];
  const add = (ip: unknown) => {
    if (typeof ip !== 'string' || ip === '') return;
    const c = canonicalIp(ip);
    if (!ips.includes(c)) ips.push(c);
  };
  const st = p?.status;
  add(st?.podIP);
  if (Array.isArray(st?.podIPs)) for (const e of st!.podIPs!) add(e?.ip);
  const phase = st?.phase;
  const ts = md?.creationTimestamp;
  const created = ts instanceof Date ? ts.getTime() : typeof ts === 'string' ? Date.parse(ts) || 0 : 0;
  return {
    key: `${namespace}/${name}`,
    ref: Object.freeze({ namespace, name, coredns: md?.labels?.['k8s-app'] === 'kube-dns' }),
    hostNetwork: p?.spec?.hostNetwork === true,
    live: phase !== 'Succeeded' && phase !== 'Failed',
    created,
    ips,
  };
}

/**
 * Which pod an address names when several hold it: a live pod before one that has ended (its
 * address may have been handed on), a pod-network pod before a hostNetwork one, then the newer.
 */
function better(a: PodRecord, b: PodRecord): boolean {
  if (a.live !== b.live) return a.live;
  if (a.hostNetwork !== b.hostNetwork) return !a.hostNetwork;
  if (a.created !== b.created) return a.created > b.created;
  return a.ref.coredns && !b.ref.coredns;
}

/** The HTTP status an error from the client carries, or 0. */
function statusOf(err: unknown): number {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  const n = typeof e?.statusCode === 'number' ? e.statusCode // Watch: non-200 response
    : typeof e?.code === 'number' ? e.code : 0; // ApiException: list (a DOMException's code is no status)
  return n >= 100 && n <= 599 ? n : 0;
}

/** One line for an error from the client: the Status message when the server sent one. */
function describe(err: unknown): string {
  const status = statusOf(err);
  if (status !== 0) {
    let body = (err as { body?: unknown }).body;
    if (typeof body === 'string') {
      try { body = JSON.parse(body); } catch { /* not JSON: keep the text */ }
    }
    const msg = typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string'
      ? (body as { message: string }).message
      : typeof body === 'string' && body !== '' ? body.slice(0, 200) : (err as Error).message.split('\n')[0];
    return `HTTP ${status}: ${msg}`;
  }
  return err instanceof Error ? err.message : String(err);
}

const HINTS: Record<number, string> = {
  401: 'the service account token was refused',
  403: 'the service account needs get, list and watch on pods in every namespace (ClusterRole)',
};

interface WatchEnd {
  err: unknown;
  /** 410 Gone: an ERROR event or the HTTP status. */
  gone: boolean;
  /** ADDED, MODIFIED, DELETED or BOOKMARK events received. */
  objects: number;
  ms: number;
}

/** The directory's side of a watch: where pods go. */
interface PodSink {
  put(rec: PodRecord, old: PodRecord | undefined): void;
  drop(rec: PodRecord): void;
}

/** One list-and-watch loop: CoreDNS pods, or this node's pods. */
class PodWatch {
  readonly counters: WatchCounters = {
    state: 'idle', synced: false, lists: 0, listErrors: 0, watchErrors: 0, watchRestarts: 0,
    relists: 0, events: 0, badEvents: 0, pods: 0, resourceVersion: '', lastError: null,
  };
  /** key → pod; what this watch holds. */
  readonly pods = new Map<string, PodRecord>();
  /** null: a list is needed before the next watch. */
  private rv: string | null = null;
  private stopped = true;
  /** Which start() a loop belongs to: a loop outliving stop() (see stop()) must not go on after a new start(). */
  private gen = 0;
  private loop: Promise<void> | null = null;
  private failures = 0;
  /** null before the first outcome, then whether the last one worked: logs follow its changes. */
  private healthy: boolean | null = null;
  private watchesOpened = 0;
  private sleepTimer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private listAbort: AbortController | null = null;
  private watchAbort: AbortController | null = null;

  constructor(
    readonly name: WatchName,
    private readonly selector: { labelSelector?: string; fieldSelector?: string },
    private readonly sink: PodSink,
    private readonly api: K8s.CoreV1Api,
    private readonly watcher: K8s.Watch,
    private readonly client: Client,
    private readonly opts: Required<Omit<PodDirectoryOptions, 'kubeConfig' | 'nodeName' | 'log'>>,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const gen = ++this.gen;
    this.loop = this.run(gen).catch((err) => {
      // run() catches everything it expects; this is a bug, reported and not rethrown.
      this.log.error({ watch: this.name, err: (err as Error).stack }, 'internal error in the pod watch; it has stopped');
      this.counters.state = 'idle';
    });
  }

  /** Ends the loop and its requests; resolves once the loop has returned, or after STOP_WAIT_MS. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.listAbort?.abort();
    this.watchAbort?.abort();
    if (this.sleepTimer !== null) clearTimeout(this.sleepTimer);
    this.wake?.();
    const loop = this.loop;
    if (loop === null) return;
    let timer: NodeJS.Timeout | undefined;
    // A watch whose response headers have not come yet cannot be aborted (the client makes its
    // controller then): stop() does not wait for it past STOP_WAIT_MS; it is aborted on arrival.
    const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, STOP_WAIT_MS); timer.unref(); });
    await Promise.race([loop, late]);
    clearTimeout(timer);
    this.counters.state = 'idle';
  }

  /** This loop is the current one and not stopped. */
  private live(gen: number): boolean {
    return !this.stopped && this.gen === gen;
  }

  private async run(gen: number): Promise<void> {
    while (this.live(gen)) {
      const fromList = this.rv === null;
      if (fromList) {
        this.counters.state = 'listing';
        try {
          await this.list(gen);
        } catch (err) {
          if (!this.live(gen)) break;
          this.counters.listErrors++;
          this.failed('listing pods', err);
          await this.backoff();
          continue;
        }
        this.succeeded();
      }
      const end = await this.watchOnce(gen);
      if (!this.live(gen)) break;
      if (end.gone) {
        // The resourceVersion was compacted away: only a new list can say what changed.
        this.log.debug({ watch: this.name, resourceVersion: this.rv }, 'resource version expired; listing again');
        this.rv = null;
        // Expired at once on the list's own resourceVersion: a lagging server; do not spin on it.
        if (fromList && end.objects === 0 && end.ms < SHORT_WATCH_MS) await this.backoff();
        continue;
      }
      if (end.err !== null && end.err !== undefined) {
        this.counters.watchErrors++;
        this.failed('watching pods', end.err);
        await this.backoff();
        continue;
      }
      // A server (or a proxy) that ends every watch at once would otherwise be asked again at once.
      if (end.objects === 0 && end.ms < SHORT_WATCH_MS) await this.backoff();
    }
  }

  /** Lists every page, then replaces what the watch held: deletions missed while away go too. */
  private async list(gen: number): Promise<void> {
    const items: unknown[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const abort = new AbortController();
      this.listAbort = abort;
      const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(this.opts.listTimeoutMs)]);
      // The client has no per-call signal: a call-time middleware sets it on the request.
      const page = await this.api.listPodForAllNamespaces(
        { ...this.selector, limit: this.opts.pageSize, _continue: cont },
        {
          middleware: [{
            pre: (ctx) => { ctx.setSignal(signal); return new this.client.Observable(Promise.resolve(ctx)); },
            post: (ctx) => new this.client.Observable(Promise.resolve(ctx)),
          }],
          middlewareMergeStrategy: 'append',
        },
      ).catch((err: unknown) => {
        if (abort.signal.aborted) throw new KubeError('stopped');
        if ((err as Error)?.name === 'AbortError') throw new KubeError(`no answer in ${this.opts.listTimeoutMs} ms`);
        throw err;
      }).finally(() => { if (this.listAbort === abort) this.listAbort = null; });
      for (const p of page.items ?? []) items.push(p);
      cont = page.metadata?._continue || undefined;
      rv = page.metadata?.resourceVersion ?? '';
    } while (cont !== undefined && this.live(gen));
    if (!this.live(gen)) return;
    if (this.counters.lists > 0) this.counters.relists++;
    this.counters.lists++;
    const seen = new Set<string>();
    for (const item of items) {
      const rec = toRecord(item);
      if (rec === null) { this.counters.badEvents++; continue; }
      seen.add(rec.key);
      this.upsert(rec);
    }
    for (const [key, rec] of this.pods) {
      if (!seen.has(key)) { this.pods.delete(key); this.sink.drop(rec); }
    }
    this.counters.pods = this.pods.size;
    this.rv = rv;
    this.counters.resourceVersion = rv;
    if (!this.counters.synced) {
      this.counters.synced = true;
      this.log.info({ watch: this.name, ...this.selector, pods: this.pods.size, resourceVersion: rv }, 'pods listed; watching');
    }
  }

  private watchOnce(gen: number): Promise<WatchEnd> {
    this.counters.state = 'watching';
    if (this.watchesOpened++ > 0) this.counters.watchRestarts++;
    // client-go's spread: watches of many agents do not all end in the same second.
    const timeoutSeconds = Math.floor(this.opts.watchTimeoutSeconds * (1 + Math.random()));
    const query = { ...this.selector, resourceVersion: this.rv ?? '', allowWatchBookmarks: true, timeoutSeconds };
    return new Promise<WatchEnd>((resolve) => {
      const t0 = Date.now();
      let objects = 0;
      let gone = false;
      let statusErr: Error | null = null;
      let silent = false;
      let ended = false;
      let watchdog: NodeJS.Timeout | null = null;
      const done = (err: unknown) => {
        if (ended) return;
        ended = true;
        if (watchdog !== null) clearTimeout(watchdog);
        if (this.gen === gen) this.watchAbort = null;
        const status = statusOf(err);
        let e: unknown = err ?? statusErr;
        if (silent) e = new KubeError(`the server had not ended the watch ${this.opts.watchGraceMs} ms past its ${timeoutSeconds} s timeout: connection presumed lost`);
        else if (!this.live(gen)) e = null;
        resolve({ err: status === 410 ? null : e, gone: gone || status === 410, objects, ms: Date.now() - t0 });
      };
      const onEvent = (type: string, obj: unknown) => {
        // The client treats an exception here as a JSON parse error and drops it: catch ours.
        try {
          if (!this.live(gen)) return;
          this.counters.events++;
          if (type === 'ERROR') {
            const s = obj as { code?: unknown; message?: unknown } | null;
            if (s?.code === 410) gone = true;
            else statusErr = new KubeError(`ERROR event ${String(s?.code)}: ${String(s?.message)}`);
            return;
          }
          if (type === 'ADDED' || type === 'MODIFIED') {
            const rec = toRecord(obj);
            if (rec === null) this.counters.badEvents++;
            else this.upsert(rec);
          } else if (type === 'DELETED') {
            const rec = toRecord(obj);
            const old = rec === null ? undefined : this.pods.get(rec.key);
            if (rec === null) this.counters.badEvents++;
            else if (old !== undefined) { this.pods.delete(rec.key); this.sink.drop(old); }
          } else if (type !== 'BOOKMARK') {
            return; // a type this version does not know: no resourceVersion to trust
          }
          // The first event of a watch shows it works: a failing state ends here, not at its end.
          if (objects++ === 0) this.succeeded();
          this.counters.pods = this.pods.size;
          const rv = (obj as PodLike | null)?.metadata?.resourceVersion;
          if (typeof rv === 'string' && rv !== '') { this.rv = rv; this.counters.resourceVersion = rv; }
        } catch (err) {
          this.counters.badEvents++;
          this.log.error({ watch: this.name, err: (err as Error).stack }, 'internal error applying a watch event; counted, watch continues');
        }
      };
      this.watcher.watch('/api/v1/pods', query, onEvent, done).then((ctl) => {
        if (ended) return;
        if (!this.live(gen)) { ctl.abort(); return; }
        this.watchAbort = ctl;
        watchdog = setTimeout(() => { silent = true; ctl.abort(); }, timeoutSeconds * 1000 + this.opts.watchGraceMs);
      }, done);
    });
  }

  private upsert(rec: PodRecord): void {
    const old = this.pods.get(rec.key);
    this.pods.set(rec.key, rec);
    this.sink.put(rec, old);
  }

  private succeeded(): void {
    this.failures = 0;
    this.counters.lastError = null;
    if (this.healthy === false) {
      this.log.info({ watch: this.name, pods: this.pods.size }, 'pod watch recovered');
    }
    this.healthy = true;
  }

  private failed(doing: string, err: unknown): void {
    const status = statusOf(err);
    const text = `${doing}: ${describe(err)}`;
    this.counters.lastError = text;
    if (this.healthy !== false) {
      // Once per change to failing; the retries that follow are counted, not logged.
      this.log.warn({ watch: this.name, err: text, ...(HINTS[status] ? { hint: HINTS[status] } : {}) },
        this.counters.synced ? 'pod watch failing; serving the pods known, retrying with backoff' : 'pod list failing; names by IP only until it works, retrying with backoff');
    } else {
      this.log.debug({ watch: this.name, err: text, failures: this.failures }, 'pod watch still failing');
    }
    this.healthy = false;
  }

  /** Sleeps the next backoff delay: initial·2^n up to max, each between half and all of it. */
  private backoff(): Promise<void> {
    const { initial, max } = this.opts.backoffMs;
    const base = Math.min(max, initial * 2 ** Math.min(this.failures, 30));
    this.failures++;
    const ms = base / 2 + Math.random() * (base / 2);
    this.counters.state = 'backoff';
    return new Promise<void>((resolve) => {
      if (this.stopped) { resolve(); return; }
      this.wake = resolve;
      this.sleepTimer = setTimeout(() => { this.sleepTimer = null; this.wake = null; resolve(); }, ms);
    });
  }
}

/**
 * Pods by address, from the Kubernetes API. Build one only in a cluster (inCluster()), start()
 * it, and ask lookup(ip). It never throws once started: API errors are retried, counted and
 * logged once per change.
 *
 * hostNetwork pods hold the node's own addresses, shared by every hostNetwork pod there
 * (kube-proxy, the CNI agent, this agent): such an address names no one pod, so hostNetwork
 * pods are not indexed, and the node's address stays an address. The exception is a
 * hostNetwork CoreDNS pod: DNS to that address is CoreDNS's, so it is indexed, ranked below any
 * pod-network pod holding the same address. A pod that has ended (Succeeded, Failed) ranks
 * below a live one, as its address may have been handed on before the DELETED event comes.
 */
export class PodDirectory {
  private readonly log: Logger;
  private readonly watches: PodWatch[] = [];
  private readonly byIp = new Map<string, Set<PodRecord>>();
  private started = false;

  /** True when this process runs in a pod with a service account: the API can be asked. */
  static inCluster(env: NodeJS.ProcessEnv = process.env, fsys: Pick<typeof fs, 'existsSync'> = fs): boolean {
    return !!env.KUBERNETES_SERVICE_HOST && !!env.KUBERNETES_SERVICE_PORT && fsys.existsSync(TOKEN_PATH);
  }

  /**
   * The directory a pod builds: the client's in-cluster configuration (KUBERNETES_SERVICE_HOST
   * and _PORT, the service account's token and CA), node name from NODE_NAME (the DaemonSet sets
   * it from the downward API's spec.nodeName). root prefixes the service account directory (tests).
   */
  static fromCluster(log: Logger, opts: { root?: string } & Omit<PodDirectoryOptions, 'kubeConfig' | 'nodeName' | 'log'> = {}): PodDirectory {
    const { root = '', ...tuning } = opts;
    const env = process.env;
    if (!env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT) {
      throw new KubeError('reading the in-cluster configuration: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set');
    }
    if (!fs.existsSync(`${root}${TOKEN_PATH}`)) {
      throw new KubeError(`reading the in-cluster configuration: no service account token at ${root}${TOKEN_PATH}`);
    }
    return new PodDirectory({ kubeConfig: inClusterKubeConfig(root), nodeName: env.NODE_NAME || null, log, ...tuning });
  }

  constructor(opts: PodDirectoryOptions) {
    const k = loadClient();
    this.log = opts.log;
    const tuning = {
      backoffMs: opts.backoffMs ?? DEFAULTS.backoffMs,
      watchTimeoutSeconds: opts.watchTimeoutSeconds ?? DEFAULTS.watchTimeoutSeconds,
      watchGraceMs: opts.watchGraceMs ?? DEFAULTS.watchGraceMs,
      listTimeoutMs: opts.listTimeoutMs ?? DEFAULTS.listTimeoutMs,
      pageSize: opts.pageSize ?? DEFAULTS.pageSize,
    };
    if (!(tuning.backoffMs.initial > 0 && tuning.backoffMs.max >= tuning.backoffMs.initial)) {
      throw new KubeError(`setting up the pod directory: backoff ${tuning.backoffMs.initial}..${tuning.backoffMs.max} ms is not a range`);
    }
    let api: K8s.CoreV1Api;
    try {
      api = opts.kubeConfig.makeApiClient(k.CoreV1Api);
    } catch (err) {
      throw new KubeError(`setting up the Kubernetes client: ${(err as Error).message}`);
    }
    const watcher = new k.Watch(opts.kubeConfig);
    const sink: PodSink = { put: (rec, old) => this.put(rec, old), drop: (rec) => this.drop(rec) };
    this.watches.push(new PodWatch('coredns', { labelSelector: COREDNS_SELECTOR }, sink, api, watcher, k, tuning, this.log));
    if (opts.nodeName !== null && opts.nodeName !== '') {
      this.watches.push(new PodWatch('node', { fieldSelector: `spec.nodeName=${opts.nodeName}` }, sink, api, watcher, k, tuning, this.log));
    }
  }

  /** Lists and watches in the background; ready() says when the first lists are in. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (!this.watches.some((w) => w.name === 'node')) {
      this.log.warn('NODE_NAME not set (downward API spec.nodeName): pods on this node are named by IP only');
    }
    for (const w of this.watches) w.start();
  }

  /** Aborts every request and timer; what is known stays for lookup(). start() may follow. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await Promise.all(this.watches.map((w) => w.stop()));
  }

  /** The pod holding ip (IPv4, or IPv6 in any text form), or null. */
  lookup(ip: string): PodRef | null {
    let set = this.byIp.get(ip);
    if (set === undefined && ip.indexOf(':') >= 0) set = this.byIp.get(canonicalIp(ip));
    if (set === undefined) return null;
    let best: PodRecord | null = null;
    for (const r of set) if (best === null || better(r, best)) best = r;
    return best === null ? null : best.ref;
  }

  /** The addresses of the live CoreDNS pods known, for the series that are always kept. */
  corednsAddresses(): string[] {
    const out: string[] = [];
    for (const [ip, set] of this.byIp) {
      for (const r of set) {
        if (r.ref.coredns && r.live) {
          out.push(ip);
          break;
        }
      }
    }
    return out;
  }

  /** Every watch has listed once since start(): lookups reflect the cluster. */
  ready(): boolean {
    return this.watches.every((w) => w.counters.synced);
  }

  stats(): PodDirectoryStats {
    const keys = new Set<string>();
    const watches: Partial<Record<WatchName, WatchCounters>> = {};
    for (const w of this.watches) {
      for (const k of w.pods.keys()) keys.add(k);
      watches[w.name] = { ...w.counters };
    }
    return { ready: this.ready(), pods: keys.size, addresses: this.byIp.size, watches };
  }

  private put(rec: PodRecord, old: PodRecord | undefined): void {
    if (old !== undefined) this.drop(old);
    // A hostNetwork pod's address is the node's (see the class comment).
    if (rec.hostNetwork && !rec.ref.coredns) return;
    for (const ip of rec.ips) {
      let set = this.byIp.get(ip);
      if (set === undefined) { set = new Set(); this.byIp.set(ip, set); }
      set.add(rec);
    }
  }

  private drop(rec: PodRecord): void {
    for (const ip of rec.ips) {
      const set = this.byIp.get(ip);
      if (set === undefined) continue;
      set.delete(rec);
      if (set.size === 0) this.byIp.delete(ip);
    }
  }
}
