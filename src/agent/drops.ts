// The agent's side of the kernel drop tracer: starting it (or saying once why it cannot run and
// carrying on without it), handing DNS drops to the correlator, keeping the most recent drop
// events for /debug/drops, and reading the kernel's counts for the metrics at scrape time.

import type { Logger } from 'pino';
import {
  BpfBinding, bpfBinding, BpfError, DEFAULT_EVENT_REASONS, BpfUnavailableError, DropEvent, dropReasonNames, DropTracer, DROP_CONSTANTS, DROP_PROTOS,
  EVENT_LAYOUT, EV_DECAPPED, EV_DNS, EV_FLOW, EV_GENEVE, EV_PORTS, EV_TUNNEL, EV_VNI, FLOW_LAYOUT, NO_STATS, PROGRAMS, REASON_SLOTS, TracerStats,
} from '../capture/ebpf';
import { addrString } from '../correlate/addrtable';
import { DnsCorrelator, KernelDrop } from '../correlate/transactions';
import { decodeDns, qtypeName } from '../decode/dns';
import { DnsView } from '../decode/frame';
import { AgentConfig, ConfigError } from './config';

/** A kernel drop event as /debug/drops shows it. */
export interface DropReport {
  /** When the kernel dropped it, µs since the epoch. */
  tsUs: number;
  reason: string;
  proto: string;
  /** The network namespace's inode (as in /proc/PID/ns/net) and the device in it. */
  netns: number;
  ifindex: number;
  ifname: string;
  len: number;
  flow: FlowReport | null;
  /**
   * The VXLAN or Geneve tunnel the packet came through (decapsulated: read back from the
   * headroom); vni is null where it cannot be trusted (decapsulated and forwarded on).
   */
  tunnel: (FlowReport & { encap: 'vxlan' | 'geneve'; vni: number | null; decapsulated: boolean }) | null;
  /** The query by DNS ID and type; never its name, which leaves the agent only through /debug/lost (CONTRACT.md). */
  dns: { id: number; qr: number; qtype: string | null } | null;
}

export interface FlowReport {
  src: string;
  dst: string;
  /** IP protocol number. */
  proto: number;
  sport: number | null;
  dport: number | null;
}

/** Longest a drop event waits in the ring buffer (the kernel wakes the reader sooner when it fills). */
const DRAIN_MS = 100;

export interface DropDeps {
  log: Logger;
  dns: DnsCorrelator;
  /** The addon (tests pass one that fails). */
  binding?: () => BpfBinding;
  /**
   * A VXLAN or Geneve packet the kernel dropped for a checksum (udp_csum, tcp_csum, ip_csum, ...),
   * by the tunnel's source: the peer that sent it (address words in network order, IPv4 in the
   * first).
   */
  onTunnelChecksumDrop?: (words: Int32Array, family: number) => void;
}

export class KernelDrops {
  /** Names of the reason slots (the `reason` label). */
  reasons: string[] = [];
  /** Per (reason slot, proto): the kernel's counts as last read. */
  readonly counts = new Float64Array(REASON_SLOTS * DROP_PROTOS.length);
  stats: TracerStats = { ...NO_STATS };
  /** Why the tracer could not start (or was turned off); null before start() and while it runs. */
  unavailable: string | null = null;
  /** Events that failed to be handled (never expected; counted, logged once a minute). */
  internalErrors = 0;
  private tracer: DropTracer | null = null;
  private readonly log: Logger;
  private readonly dns: DnsCorrelator;
  private readonly binding: () => BpfBinding;
  private readonly drop: KernelDrop = { b: new Uint8Array(0), family: 0, srcOffset: 0, dstOffset: 0, sport: 0, dport: 0, dnsOffset: 0, dnsLength: 0, reason: 0 };
  /** Raw copies of the most recent events: a ring of EVENT_LAYOUT.size records. */
  private readonly recent: Buffer;
  private recentNext = 0;
  private recentCount = 0;
  private lastErrorLog = 0;
  /** 1 for the reason slots that are checksum failures (named *_csum). */
  private readonly csumSlots = new Uint8Array(REASON_SLOTS);
  private readonly peerWords = new Int32Array(4);
  private readonly onTunnelCsum: DropDeps['onTunnelChecksumDrop'];

  constructor(private readonly config: AgentConfig, deps: DropDeps) {
    this.log = deps.log;
    this.dns = deps.dns;
    this.onTunnelCsum = deps.onTunnelChecksumDrop;
    this.binding = deps.binding ?? bpfBinding;
    this.recent = Buffer.alloc(config.dropListSize * EVENT_LAYOUT.size);
  }

  /** 1 for the program that runs, 0 for the other (and both when none does). */
  programLoaded(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [t, p] of Object.entries(PROGRAMS)) out[p.section] = this.tracer?.attachType === t ? 1 : 0;
    return out;
  }

  /** Loads and attaches the tracer; on failure says why once and leaves the agent without it. */
  start(): void {
    const c = this.config;
    if (c.bpf === 'off') {
      this.unavailable = 'turned off by configuration (--bpf off)';
      this.log.info('kernel drop tracer off by configuration; kernel drops come from /proc/net/snmp only');
      return;
    }
    let b: BpfBinding;
    try {
      b = this.binding();
    } catch (err) {
      return this.fail(err);
    }
    const btf = c.bpfBtf === '' ? null : c.bpfBtf;
    const { names, error } = dropReasonNames(btf, b);
    this.reasons = names;
    names.forEach((n, i) => (this.csumSlots[i] = n.endsWith('_csum') ? 1 : 0));
    // No enum: no BTF, or a kernel before 5.17 whose kfree_skb has no reason to trace.
    if (error) return this.fail(new BpfUnavailableError(`${error.message} (no kernel BTF, or a kernel without drop reasons, before Linux 5.17)`, error.errno));
    const slots: number[] = [];
    const unknown: string[] = [];
    for (const r of c.bpfEventReasons) {
      const i = names.indexOf(r);
      if (i >= 0) slots.push(i);
      else unknown.push(r);
    }
    // The default set names reasons of several kernel versions (skb_csum is 6.10's): what this
    // kernel lacks is skipped. A reason the user named and the kernel lacks is a typo, or a
    // kernel older than the user thinks: refused, since it would send no events in silence.
    const given = c.bpfEventReasons.length !== DEFAULT_EVENT_REASONS.length || c.bpfEventReasons.some((r, i) => r !== DEFAULT_EVENT_REASONS[i]);
    if (unknown.length > 0 && !given) {
      this.log.info({ reasons: unknown }, 'default event reasons this kernel does not have; no events for them');
    } else if (unknown.length > 0) {
      throw new ConfigError(`--bpf-event-reason: not a drop reason of this kernel: ${unknown.join(', ')} (its reasons, in lower case: ${names.filter((n) => n !== '').slice(0, 12).join(', ')}, ... ; bpftool btf dump file /sys/kernel/btf/vmlinux | grep SKB_DROP_REASON lists them all)`);
    }
    const ports = DROP_CONSTANTS.ports;
    if (c.vxlanPorts.length > ports || c.genevePorts.length > ports || c.dnsPorts.length > ports) this.log.warn(`the kernel drop tracer follows the first ${ports} VXLAN, Geneve and DNS ports only`);
    try {
      this.tracer = DropTracer.open({
        btfPath: btf,
        attach: c.bpfAttach,
        ringBytes: c.bpfRingKiB * 1024,
        vxlanPorts: c.vxlanPorts.slice(0, ports),
        genevePorts: c.genevePorts.slice(0, ports),
        dnsPorts: c.dnsPorts.slice(0, ports),
        eventSlots: slots,
        eventScope: c.bpfEventScope,
      }, b);
      this.tracer.start((ev) => this.onEvent(ev), (msg) => this.log.error({ err: msg }, 'kernel drop events failed; counts continue'), DRAIN_MS);
    } catch (err) {
      this.tracer?.close();
      this.tracer = null;
      return this.fail(err);
    }
    this.unavailable = null;
    this.log.info({ program: this.tracer.section, eventReasons: slots.length }, 'kernel drop tracer attached');
  }

  stop(): void {
    const tr = this.tracer;
    if (!tr) return;
    try {
      this.collect(); // the last counts stay readable after the stop
    } catch {
      // the previous values stay
    } finally {
      this.tracer = null;
      tr.close();
    }
  }

  /** Reads the kernel's counts and the tracer's counters (at scrape time). */
  collect(): void {
    if (!this.tracer) return;
    this.tracer.readCounts(this.counts);
    this.stats = this.tracer.readStats();
  }

  /** The most recent drop events, newest first. */
  recentDrops(): DropReport[] {
    const out: DropReport[] = [];
    const n = this.recentCount;
    const size = this.config.dropListSize;
    for (let i = 1; i <= n; i++) out.push(this.report(this.recent, ((this.recentNext - i + size) % size) * EVENT_LAYOUT.size));
    return out;
  }

  private fail(err: unknown): void {
    const e = err as BpfError;
    const unavailable = err instanceof BpfUnavailableError;
    this.unavailable = e.message;
    const fields: Record<string, unknown> = { err: e.message };
    if (e.log) fields.libbpf = e.log.split('\n').slice(-20).join('\n');
    if (unavailable) this.log.warn(fields, 'kernel drop tracer unavailable; kernel drops come from /proc/net/snmp only');
    else this.log.error(fields, 'kernel drop tracer failed to load; kernel drops come from /proc/net/snmp only');
  }

  private onEvent(ev: DropEvent): void {
    try {
      const size = this.config.dropListSize;
      if (size > 0) {
        ev.b.copy(this.recent, this.recentNext * EVENT_LAYOUT.size, ev.off, ev.off + EVENT_LAYOUT.size);
        this.recentNext = (this.recentNext + 1) % size;
        if (this.recentCount < size) this.recentCount++;
      }
      const flags = ev.flags;
      if ((flags & EV_TUNNEL) !== 0 && this.csumSlots[ev.slot] === 1 && this.onTunnelCsum) {
        const t = ev.flowAt('tunnel');
        const w = this.peerWords;
        for (let i = 0; i < 4; i++) w[i] = ev.b.readInt32BE(t + FLOW_LAYOUT.saddr + i * 4);
        const fam = ev.b[t + FLOW_LAYOUT.family];
        if (fam === 4) w[1] = w[2] = w[3] = 0;
        if (fam === 4 || fam === 6) this.onTunnelCsum(w, fam);
      }
      if ((flags & EV_DNS) === 0 || (flags & EV_FLOW) === 0 || (flags & EV_PORTS) === 0) return;
      const d = this.drop;
      const f = ev.flowAt('flow');
      d.b = ev.b;
      d.family = ev.b[f + FLOW_LAYOUT.family];
      d.srcOffset = f + FLOW_LAYOUT.saddr;
      d.dstOffset = f + FLOW_LAYOUT.daddr;
      d.sport = ev.b.readUInt16LE(f + FLOW_LAYOUT.sport);
      d.dport = ev.b.readUInt16LE(f + FLOW_LAYOUT.dport);
      d.dnsOffset = ev.dnsOffset;
      d.dnsLength = ev.dnsLen;
      d.reason = ev.slot;
      this.dns.kernelDrop(d, ev.tsUs + monoToEpochUs());
    } catch (err) {
      this.internalErrors++;
      const now = Date.now();
      if (now - this.lastErrorLog > 60_000) {
        this.lastErrorLog = now;
        this.log.error({ err: (err as Error).stack }, 'internal error handling a kernel drop event; counted, tracing continues');
      }
    }
  }

  /** The event at o in b as JSON (off the hot path: /debug/drops). */
  private report(b: Buffer, o: number): DropReport {
    const ev = new DropEvent();
    ev.set(b, o);
    const flags = ev.flags;
    const slot = ev.slot;
    const reason = slot === REASON_SLOTS - 1 ? `${this.reasons[slot] ?? 'other'}(${ev.reason})` : this.reasons[slot] ?? `reason_${slot}`;
    const flow = (flags & EV_FLOW) !== 0 ? flowReport(b, ev.flowAt('flow'), (flags & EV_PORTS) !== 0) : null;
    const tunnel = (flags & EV_TUNNEL) !== 0
      ? { ...flowReport(b, ev.flowAt('tunnel'), true), encap: (flags & EV_GENEVE) !== 0 ? 'geneve' as const : 'vxlan' as const, vni: (flags & EV_VNI) !== 0 ? ev.vni : null, decapsulated: (flags & EV_DECAPPED) !== 0 }
      : null;
    return {
      tsUs: ev.tsUs + monoToEpochUs(),
      reason,
      proto: DROP_PROTOS[ev.proto] ?? String(ev.proto),
      netns: ev.netns,
      ifindex: ev.ifindex,
      ifname: ev.ifname,
      len: ev.len,
      flow,
      tunnel,
      dns: ev.dnsLen > 0 ? dnsReport(b, ev.dnsOffset, ev.dnsLen) : null,
    };
  }
}

/**
 * What to add to a CLOCK_MONOTONIC time (the tracer's bpf_ktime_get_ns; process.hrtime is the
 * same clock on Linux) to make it wall-clock time, as the capture's timestamps are. Taken again
 * at each call: the wall clock may be stepped while the agent runs (NTP, a VM's time sync).
 */
function monoToEpochUs(): number {
  const [s, ns] = process.hrtime();
  return Date.now() * 1000 - (s * 1e6 + ns / 1000);
}

function flowReport(b: Buffer, o: number, ports: boolean): FlowReport {
  const v6 = b[o + FLOW_LAYOUT.family] === 6;
  const words = new Int32Array(8);
  for (let i = 0; i < 8; i++) words[i] = b.readInt32BE(o + FLOW_LAYOUT.saddr + i * 4);
  return {
    src: addrString(words, 0, v6),
    dst: addrString(words, 4, v6),
    proto: b[o + FLOW_LAYOUT.l4],
    sport: ports ? b.readUInt16LE(o + FLOW_LAYOUT.sport) : null,
    dport: ports ? b.readUInt16LE(o + FLOW_LAYOUT.dport) : null,
  };
}

function dnsReport(b: Buffer, o: number, len: number): DropReport['dns'] {
  const d = new DnsView();
  decodeDns(b, o, o + len, o + 0xffff, d);
  return { id: d.id, qr: d.qr, qtype: d.keyed && d.qdcount > 0 ? qtypeName(d.qtype) : null };
}

