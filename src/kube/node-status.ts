// The Kubernetes way to see a broken node, as node-problem-detector does it: while a critical
// finding of the doctor stands, the agent sets a condition on its own Node object
// (VXLANChecksumOffloadBroken, VXLANMisbound, ...: `kubectl describe node` lists it under
// Conditions, with the evidence and the fix in its message), and records an Event on the Node when
// a condition turns True and when it turns False again. Every condition the agent owns is set,
// True or False, from its first report, so an operator sees which checks run.
//
// A receiving agent also records an Event (VXLANPacketsArriveBad) on the Node of a peer whose VXLAN
// packets arrive here with bad checksums, so that `kubectl describe node X` says that X is the
// sender; the peer's VTEP address is found among the Nodes' status.addresses.
//
// Writes: a strategic merge patch of nodes/NAME/status (conditions merge by type, so the
// kubelet's own conditions stay as they are) and core/v1 Events in the `default` namespace (where
// the kubelet records a Node's events). RBAC: patch nodes/status, create events, list nodes (to
// name a peer); nothing else.
// The API being down or refusing never stops the agent: errors are counted and logged once per
// change, and the next report tries again.

import type * as K8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Finding } from '../doctor/finding';
import { canonicalIp, loadClient } from './pods';

/** The condition each check's critical findings set, by check. */
export const NODE_CONDITIONS: Readonly<Record<string, string>> = {
  offload: 'VXLANChecksumOffloadBroken',
  binding: 'VXLANMisbound',
  mtu: 'VXLANMTUMismatch',
  nat: 'VXLANNATChecksumBroken',
  resolv: 'NodeDNSBroken',
  ipv6: 'NodeIPv6Broken',
};

/** Who writes the conditions and events (Event.source.component, reportingComponent). */
export const COMPONENT = 'csumwatch';
/** A message at most this long (the API accepts more; kubectl's columns do not). */
const MAX_MESSAGE = 1024;
/** Events kept for a later try while the API refuses them (the oldest give way). */
const MAX_UNSENT = 32;
/** The Event a receiving agent records on the node whose VXLAN packets arrive bad. */
export const PEER_REASON = 'VXLANPacketsArriveBad';
/** Bad packets from a peer since the last look before it is named. */
const MIN_BAD = 10;
const PEER_EVENT_EVERY_MS = 600_000;
const NODE_LIST_EVERY_MS = 300_000;

export interface NodeStatusStats {
  patches: number;
  patchErrors: number;
  events: number;
  eventErrors: number;
  listErrors: number;
  lastError: string | null;
}

type Kind = 'patch' | 'event' | 'list';

/** An Event on a Node: this agent's own, or a peer's. */
interface NodeEvent {
  node: string;
  reason: string;
  message: string;
  warning: boolean;
  stamp: string;
}

interface Held {
  status: 'True' | 'False';
  reason: string;
  message: string;
  since: string;
}

export interface NodeReporterOptions {
  kubeConfig: K8s.KubeConfig;
  nodeName: string;
  log: Logger;
  /** Conditions are written again this often even unchanged (their heartbeat), ms. */
  heartbeatMs?: number;
  /** The clock, for tests. */
  now?: () => Date;
}

export class NodeReporter {
  readonly stats: NodeStatusStats = { patches: 0, patchErrors: 0, events: 0, eventErrors: 0, listErrors: 0, lastError: null };
  private readonly api: K8s.CoreV1Api;
  private readonly strategic: K8s.ConfigurationOptions;
  private readonly held = new Map<string, Held>();
  private lastPatch = 0;
  private busy: Promise<void> = Promise.resolve();
  private readonly heartbeatMs: number;
  private readonly now: () => Date;

  constructor(private readonly opts: NodeReporterOptions) {
    const k = loadClient();
    this.api = opts.kubeConfig.makeApiClient(k.CoreV1Api);
    this.strategic = k.setHeaderOptions('Content-Type', k.PatchStrategy.StrategicMergePatch);
    this.heartbeatMs = opts.heartbeatMs ?? 300_000;
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * One doctor report: sets the conditions (a patch when one changed, or at the heartbeat) and
   * records an Event for each condition that turned. Resolves when the writes are done; writes of
   * one report never overlap the next's.
   */
  report(findings: readonly Finding[]): Promise<void> {
    this.busy = this.busy.then(() => this.write(findings));
    return this.busy;
  }

  /**
   * The VXLAN packets this node has received from each peer VTEP so far (cumulative). A peer whose
   * packets arrived bad since the last call (at least MIN_BAD, and at least a tenth of what it
   * sent) gets an Event on *its* Node object, found by its address among the Nodes' addresses:
   * `kubectl describe node X` then says that X's packets arrive bad here. At most one such Event
   * per peer every PEER_EVENT_EVERY_MS.
   */
  peers(list: ReadonlyArray<{ address: string; rxOk: number; rxBad: number }>): Promise<void> {
    this.busy = this.busy.then(() => this.writePeers(list));
    return this.busy;
  }

  private async writePeers(list: ReadonlyArray<{ address: string; rxOk: number; rxBad: number }>): Promise<void> {
    const now = this.now().getTime();
    const blamed: Array<{ address: string; bad: number; total: number }> = [];
    for (const p of list) {
      const was = this.peerSeen.get(p.address);
      this.peerSeen.set(p.address, { ok: p.rxOk, bad: p.rxBad });
      if (!was) continue;
      const bad = p.rxBad - was.bad;
      const total = bad + (p.rxOk - was.ok);
      if (bad >= MIN_BAD && bad >= total / 10 && now - (this.peerEventAt.get(p.address) ?? -Infinity) >= PEER_EVENT_EVERY_MS) blamed.push({ address: p.address, bad, total });
    }
    if (blamed.length === 0) return;
    const names = await this.nodeNames(now);
    if (names === null) return;
    for (const b of blamed) {
      const peer = names.get(b.address);
      if (peer === undefined || peer === this.opts.nodeName) continue;
      const stamp = stampOf(this.now());
      const message = clip(`node ${this.opts.nodeName} received ${b.bad} of ${b.total} VXLAN packets from this node's VTEP ${b.address} with bad checksums since its last look: this node sends them bad. On it, run csumwatch doctor (or read its agent's /diagnosis) and turn off transmit checksum offload on its VXLAN device (ethtool -K <vxlan-device> tx-checksum-ip-generic off).`);
      if (await this.event({ node: peer, reason: PEER_REASON, message, warning: true, stamp })) this.peerEventAt.set(b.address, now);
    }
  }

  /** Node names by address (status.addresses), listed at most every NODE_LIST_EVERY_MS; null when the list fails. */
  private async nodeNames(now: number): Promise<Map<string, string> | null> {
    if (this.byAddress !== null && now - this.listedAt < NODE_LIST_EVERY_MS) return this.byAddress;
    try {
      const list = await this.api.listNode();
      const m = new Map<string, string>();
      for (const n of list.items) {
        for (const a of n.status?.addresses ?? []) if (n.metadata?.name) m.set(canonicalIp(a.address), n.metadata.name);
      }
      this.byAddress = m;
      this.listedAt = now;
      this.ok('list');
      return m;
    } catch (err) {
      this.stats.listErrors++;
      this.fail('list', 'listing nodes to name a peer VTEP', err);
      return this.byAddress;
    }
  }

  private readonly peerSeen = new Map<string, { ok: number; bad: number }>();
  private readonly peerEventAt = new Map<string, number>();
  private byAddress: Map<string, string> | null = null;
  private listedAt = 0;

  private async write(findings: readonly Finding[]): Promise<void> {
    const now = this.now();
    const stamp = stampOf(now);
    const turned: Array<[string, Held]> = [];
    let changed = false;
    for (const [check, type] of Object.entries(NODE_CONDITIONS)) {
      const critical = findings.filter((f) => f.check === check && f.severity === 'critical');
      const status = critical.length > 0 ? 'True' : 'False';
      const message = critical.length > 0
        ? clip(critical.map((f) => `${f.evidence} Fix: ${f.remediation}`).join(' | '))
        : `csumwatch's ${check} check finds no critical fault on this node`;
      const reason = critical.length > 0 ? `CsumwatchCritical${capital(check)}Finding` : `CsumwatchNo${capital(check)}Fault`;
      const was = this.held.get(type);
      const next: Held = { status, reason, message, since: was && was.status === status ? was.since : stamp };
      if (!was || was.status !== status) turned.push([type, next]);
      if (!was || was.status !== status || was.message !== message) changed = true;
      this.held.set(type, next);
    }
    if (changed || now.getTime() - this.lastPatch >= this.heartbeatMs) await this.patch(stamp);
    for (const [type, h] of turned) {
      // The first report of a healthy node is no news: only a fault, or its end, is an Event.
      if (h.status === 'False' && !this.faulted.has(type)) continue;
      this.faulted.add(type);
      this.unsent.push(h.status === 'True'
        ? { node: this.opts.nodeName, reason: type, message: h.message, warning: true, stamp }
        : { node: this.opts.nodeName, reason: `${type}Resolved`, message: `${type} is False: ${h.message}`, warning: false, stamp });
    }
    // In order, the ones that failed before first; one that fails again waits for the next report.
    const send = this.unsent.splice(0);
    for (const e of send) if (!(await this.event(e))) this.unsent.push(e);
    if (this.unsent.length > MAX_UNSENT) this.unsent.splice(0, this.unsent.length - MAX_UNSENT);
  }

  /** Events not recorded yet (the API refused or was down), oldest first. */
  private readonly unsent: NodeEvent[] = [];

  /** Conditions that have been True since the agent started (their return to False is an Event). */
  private readonly faulted = new Set<string>();

  private async patch(stamp: string): Promise<void> {
    const conditions = [...this.held].map(([type, h]) => ({
      type, status: h.status, reason: h.reason, message: h.message, lastHeartbeatTime: stamp, lastTransitionTime: h.since,
    }));
    try {
      await this.api.patchNodeStatus({ name: this.opts.nodeName, body: { status: { conditions } } }, this.strategic);
      this.stats.patches++;
      this.lastPatch = this.now().getTime();
      this.ok('patch');
    } catch (err) {
      this.stats.patchErrors++;
      this.fail('patch', `patching node ${this.opts.nodeName}'s conditions`, err);
    }
  }

  /** Records one Event; false when the API did not take it. */
  private async event(e: NodeEvent): Promise<boolean> {
    const node = e.node;
    const body: K8s.CoreV1Event = {
      metadata: { generateName: `${node}.`, namespace: 'default' },
      involvedObject: { apiVersion: 'v1', kind: 'Node', name: node, uid: node },
      reason: e.reason,
      message: e.message,
      type: e.warning ? 'Warning' : 'Normal',
      source: { component: COMPONENT, host: this.opts.nodeName },
      reportingComponent: COMPONENT,
      reportingInstance: this.opts.nodeName,
      firstTimestamp: new Date(e.stamp),
      lastTimestamp: new Date(e.stamp),
      count: 1,
    };
    try {
      await this.api.createNamespacedEvent({ namespace: 'default', body });
      this.stats.events++;
      this.ok('event');
      return true;
    } catch (err) {
      this.stats.eventErrors++;
      this.fail('event', `recording an event on node ${node}`, err);
      return false;
    }
  }

  private ok(kind: Kind): void {
    if (this.failing.has(kind)) this.opts.log.info({ kind }, 'node conditions and events are written again');
    this.failing.delete(kind);
    if (this.failing.size === 0) this.stats.lastError = null;
  }

  /** Logged when the error of its kind changes (an API down for an hour is one line). */
  private fail(kind: Kind, doing: string, err: unknown): void {
    const e = err as { code?: unknown; message?: string };
    const status = typeof e.code === 'number' ? `HTTP ${e.code}: ` : '';
    const msg = `${doing}: ${status}${(e.message ?? String(err)).split('\n')[0]}`;
    if (this.failing.get(kind) !== msg) this.opts.log.warn({ err: msg }, 'writing node conditions or events failed; counted, tried again at the next report');
    this.failing.set(kind, msg);
    this.stats.lastError = msg;
  }

  private readonly failing = new Map<Kind, string>();
}

/** A Kubernetes time: RFC 3339 in whole seconds. */
function stampOf(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function clip(s: string): string {
  return s.length <= MAX_MESSAGE ? s : `${s.slice(0, MAX_MESSAGE - 3)}...`;
}
