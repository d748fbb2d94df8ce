// The kernel drop tracer (bpf/drops.bpf.c) from user space, through the BPF layer (src/bpf/):
// loading and attaching it, configuring it, reading its per-CPU counters and its ring buffer of
// drop events. Every decision is made here; the layer turns the addon's -errno into errors.
//
// Attach: tp_btf/kfree_skb (BTF-typed tracepoint) where the kernel allows it, else the raw
// tracepoint. Where neither loads (no BTF, no privileges, an old kernel) the caller falls back to
// /proc/net/snmp: BpfUnavailableError says the kernel or the privileges lack something; a plain
// BpfError is anything else (such as the verifier rejecting the program) and carries libbpf's log.
//
// Drop-reason names come from the running kernel's BTF (enum skb_drop_reason): the numbers
// differ between kernel releases, and new reasons appear.
//
// The layouts below are bpf/shared/drops.h as the built object's BTF has it
// (src/bpf/generated/drops.ts, written by the build). Values are read little-endian, the byte
// order of every host the agent is built for (x86-64, arm64); open() refuses others.

import { constants as osConstants, endianness } from 'node:os';
import { BpfBinding, bpfBinding, BpfError, BpfUnavailableError, check, UNAVAILABLE } from '../bpf/binding';
import { BpfLink, BpfMap, BpfObject, objectPath, RingReader } from '../bpf/object';
import * as G from '../bpf/generated/drops';

export { BpfBinding, bpfBinding, BpfError, BpfUnavailableError, check };

/** struct csw_drop_event */
export const EVENT_LAYOUT = G.csw_drop_event;
/** struct csw_flow */
export const FLOW_LAYOUT = G.csw_flow;
/** struct csw_drop_cfg */
export const CFG_LAYOUT = G.csw_drop_cfg;
/** struct csw_drop_stats */
export const STATS_LAYOUT = G.csw_drop_stats;
const L = G.csw_drop_limits;
const F = G.csw_drop_event_flag;
export const DROP_CONSTANTS = {
  countsSize: G.csw_drop_counts.size, reasonSlots: L.CSW_DROP_REASON_SLOTS, protos: G.csw_drop_proto.CSW_DROP_PROTOS,
  ports: L.CSW_DROP_PORTS, dnsBytes: L.CSW_DNS_BYTES,
  evFlow: F.CSW_EV_FLOW, evTunnel: F.CSW_EV_TUNNEL, evDecapped: F.CSW_EV_DECAPPED, evDns: F.CSW_EV_DNS,
  evFragment: F.CSW_EV_FRAGMENT, evPorts: F.CSW_EV_PORTS, evVni: F.CSW_EV_VNI, evGeneve: F.CSW_EV_GENEVE,
  scopeDnsOrVxlan: G.csw_drop_scope.CSW_SCOPE_DNS_OR_VXLAN, scopeAll: G.csw_drop_scope.CSW_SCOPE_ALL,
  protoVxlan: G.csw_drop_proto.CSW_PROTO_VXLAN, protoGeneve: G.csw_drop_proto.CSW_PROTO_GENEVE, protoUdp: G.csw_drop_proto.CSW_PROTO_UDP,
} as const;

export const REASON_SLOTS = DROP_CONSTANTS.reasonSlots;
/** The slot of reason values past the others (and subsystem reasons). */
export const REASON_OTHER = L.CSW_DROP_REASON_OTHER;
/** enum csw_drop_proto, in order: the `proto` label. */
export const DROP_PROTOS = ['other', 'arp', 'ip', 'udp', 'tcp', 'icmp', 'icmpv6', 'vxlan', 'geneve'] as const;
export const EV_FLOW = DROP_CONSTANTS.evFlow;
export const EV_TUNNEL = DROP_CONSTANTS.evTunnel;
export const EV_DECAPPED = DROP_CONSTANTS.evDecapped;
export const EV_DNS = DROP_CONSTANTS.evDns;
export const EV_FRAGMENT = DROP_CONSTANTS.evFragment;
export const EV_PORTS = DROP_CONSTANTS.evPorts;
export const EV_VNI = DROP_CONSTANTS.evVni;
export const EV_GENEVE = DROP_CONSTANTS.evGeneve;

/** The two programs in drops.bpf.o, by attach type; the metric's `program` label is the section. */
export const PROGRAMS = {
  tp_btf: { name: G.programs.csw_kfree_skb_btf, section: 'tp_btf/kfree_skb' },
  raw_tp: { name: G.programs.csw_kfree_skb_raw, section: 'raw_tp/kfree_skb' },
} as const;
export type AttachType = keyof typeof PROGRAMS;

/** Drop reasons that get an event by default: checksums, headers, tunnels, sockets, filters. */
export const DEFAULT_EVENT_REASONS: readonly string[] = [
  'udp_csum', 'tcp_csum', 'ip_csum', 'icmp_csum', 'skb_csum', 'ip_inhdr', 'pkt_too_small', 'pkt_too_big', 'hdr_trunc',
  'no_socket', 'socket_rcvbuff', 'socket_filter', 'netfilter_drop', 'ip_rpfilter', 'ip_noproto', 'ip_inaddrerrors',
  'ip_innoroutes', 'ip_outnoroutes', 'ip_invalid_source', 'ip_local_source', 'frag_reasm_timeout', 'frag_too_far',
  'dup_frag', 'vxlan_invalid_hdr', 'vxlan_vni_not_found', 'vxlan_entry_exists', 'mac_invalid_source',
  'ip_tunnel_ecn', 'tunnel_txinfo', 'local_mac', 'no_tx_target', 'neigh_failed', 'neigh_queuefull',
  'ipv6disabled', 'ipv6_bad_exthdr', 'unhandled_proto', 'tc_ingress', 'tc_egress', 'xdp',
];

/** The built kernel object. */
export function defaultObjectPath(): string {
  return objectPath('drops');
}

/**
 * Names of the reason slots, from the kernel's enum skb_drop_reason in BTF (btfPath, or the
 * running kernel's with null): lower case without the SKB_DROP_REASON_ / SKB_ prefix, as the
 * metric's `reason` label. Without BTF every slot is named `reason_N`; the error is returned
 * too so the caller can say so.
 */
export function dropReasonNames(btfPath: string | null, b: BpfBinding = bpfBinding()): { names: string[]; error: BpfError | null } {
  const names: string[] = [];
  for (let i = 0; i < REASON_SLOTS; i++) names.push(`reason_${i}`);
  names[REASON_OTHER] = 'other';
  const r = b.enumValues(btfPath, 'skb_drop_reason');
  if (typeof r === 'number') {
    b.log();
    const E = UNAVAILABLE.has(-r) ? BpfUnavailableError : BpfError;
    return { names, error: new E(`reading enum skb_drop_reason from ${btfPath ?? 'the kernel BTF'}`, -r) };
  }
  for (const [name, value] of r) {
    if (value >= REASON_OTHER || name === 'SKB_DROP_REASON_MAX') continue;
    names[value] = name.replace(/^SKB_DROP_REASON_/, '').replace(/^SKB_/, '').toLowerCase();
  }
  return { names, error: null };
}

export interface TracerOptions {
  /** The kernel object (default: the build's bpf/drops.bpf.o). */
  object?: string;
  /** Kernel BTF for CO-RE (default: the running kernel's, /sys/kernel/btf/vmlinux). */
  btfPath?: string | null;
  /** 'auto' tries tp_btf, then raw_tp. */
  attach?: AttachType | 'auto';
  /** Ring buffer size: a power of 2, a multiple of the page size. */
  ringBytes?: number;
  vxlanPorts: number[];
  /** UDP ports carrying Geneve (none: Geneve packets are plain UDP to the tracer). */
  genevePorts?: number[];
  dnsPorts: number[];
  /** Reason slots that get events. */
  eventSlots: number[];
  /** 'dns-vxlan': events only for packets carrying DNS or in a tunnel (VXLAN, Geneve); 'all': every packet. */
  eventScope?: 'dns-vxlan' | 'all';
  /**
   * Wake the reader once this many bytes wait in the ring (0: at every event). Default a
   * quarter of the ring: waking at every event costs each drop several microseconds.
   */
  wakeupBytes?: number;
}

/** Per-CPU tracer counters summed over the CPUs, and the kernel's count of skipped runs. */
export interface TracerStats {
  /** Drops traced. */
  drops: number;
  /** Events written to the ring buffer, and those it had no room for. */
  events: number;
  lost: number;
  /** IP packets whose header was not in the linear data; DNS packets whose message was not. */
  unparsed: number;
  dnsShort: number;
  /**
   * Runs the kernel skipped because the program was already running on that CPU (a drop in a
   * softirq that interrupted one being traced): drops neither counted nor sent.
   */
  missed: number;
}

export const NO_STATS: Readonly<TracerStats> = { drops: 0, events: 0, lost: 0, unparsed: 0, dnsShort: 0, missed: 0 };

/** Called for every event; ev is a view valid only during the call. */
export type DropHandler = (ev: DropEvent) => void;

/** The ring buffer's size in drops.bpf.c. */
export const DEFAULT_RING_BYTES = G.maps.csw_drop_events.maxEntries;

/** The tracer, loaded and attached. close() detaches it. */
export class DropTracer {
  readonly attachType: AttachType;
  private obj: BpfObject | null;
  private link: BpfLink | null;
  /** The ring and the timer that drains it: here while it is open. */
  private ring: { reader: RingReader; timer: NodeJS.Timeout } | null = null;
  private readonly counts: BpfMap;
  private readonly statsMap: BpfMap;
  private readonly events: BpfMap;
  private readonly countsBuf: Buffer;
  private readonly statsBuf: Buffer;
  private readonly cpus: number;
  private readonly view = new DropEvent();
  private onError: (msg: string) => void = () => {};
  /** Events cut short in the batch buffer (never expected: it holds many events). */
  get clipped(): number {
    return this.ring ? this.ring.reader.clipped : 0;
  }

  /**
   * Opens, loads, configures and attaches the tracer. With attach 'auto' a failed tp_btf load or
   * attach is retried with the raw tracepoint; the error thrown is the last one.
   */
  static open(o: TracerOptions, b: BpfBinding = bpfBinding()): DropTracer {
    if (endianness() !== 'LE') throw new BpfUnavailableError('the tracer reads its maps little-endian; this host is big-endian', osConstants.errno.ENOTSUP);
    const order: AttachType[] = o.attach === 'tp_btf' || o.attach === 'raw_tp' ? [o.attach] : ['tp_btf', 'raw_tp'];
    const errors: Error[] = [];
    for (const t of order) {
      try {
        return new DropTracer(o, t, b);
      } catch (err) {
        errors.push(err as Error);
      }
    }
    // The last error, saying what each attempt met.
    const last = errors[errors.length - 1];
    last.message = errors.map((e) => e.message).join('; ');
    throw last;
  }

  private constructor(o: TracerOptions, t: AttachType, private readonly b: BpfBinding) {
    this.attachType = t;
    const obj = BpfObject.open(o.object ?? defaultObjectPath(), o.btfPath ?? null, b);
    this.obj = obj;
    this.link = null;
    try {
      for (const [k, p] of Object.entries(PROGRAMS)) obj.setAutoload(p.name, k === t, `choosing ${p.section}`);
      if (o.ringBytes !== undefined) obj.setMaxEntries(G.maps.csw_drop_events.name, o.ringBytes, 'sizing the ring buffer');
      obj.load(`loading ${PROGRAMS[t].section}`);
      this.counts = obj.map(G.maps.csw_drop_counts.name);
      this.statsMap = obj.map(G.maps.csw_drop_stats.name);
      this.events = obj.map(G.maps.csw_drop_events.name);
      const cfg = obj.map(G.maps.csw_drop_cfg.name);
      this.cpus = this.counts.cpus;
      this.countsBuf = this.counts.valueBuffer();
      this.statsBuf = this.statsMap.valueBuffer();
      cfg.update(encodeTracerConfig(o), undefined, 0, 'configuring the tracer');
      this.link = obj.attach(PROGRAMS[t].name, `attaching ${PROGRAMS[t].section}`);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  get section(): string {
    return PROGRAMS[this.attachType].section;
  }

  /**
   * Starts reading events: onEvent for each, onError when the ring fails. The ring is drained
   * when the kernel wakes the reader (wakeupBytes wait) and every drainMs. The batch buffer
   * stays referenced for as long as the ring is open.
   */
  start(onEvent: DropHandler, onError: (msg: string) => void, drainMs = 100, batchBytes = 1 << 18): void {
    this.onError = onError;
    if (this.ring || !this.obj) return;
    const view = this.view;
    const reader = new RingReader(this.b, this.events, (buf, off, len) => {
      if (len >= EVENT_LAYOUT.size) {
        view.set(buf, off);
        onEvent(view);
      }
    }, (msg) => this.onError(msg), batchBytes);
    const timer = setInterval(() => this.poll(), drainMs);
    timer.unref();
    this.ring = { reader, timer };
  }

  /** Drains the ring now (a timer calls it too); a failure goes to start()'s onError. */
  poll(): void {
    this.ring?.reader.poll();
  }

  /** Adds the per-CPU drop counts into out[slot * DROP_PROTOS.length + proto] (out is zeroed first). */
  readCounts(out: Float64Array): void {
    if (!this.obj) throw new BpfError('reading csw_drop_counts of a closed tracer', osConstants.errno.EBADF);
    out.fill(0);
    this.counts.lookup(this.countsBuf);
    const n = REASON_SLOTS * DROP_PROTOS.length;
    const words = new BigUint64Array(this.countsBuf.buffer, this.countsBuf.byteOffset, this.countsBuf.length / 8);
    const stride = this.counts.slotSize / 8;
    for (let c = 0; c < this.cpus; c++) {
      const base = c * stride;
      for (let i = 0; i < n; i++) {
        const v = words[base + i];
        if (v !== 0n) out[i] += Number(v);
      }
    }
  }

  readStats(): TracerStats {
    if (!this.obj) throw new BpfError('reading csw_drop_stats of a closed tracer', osConstants.errno.EBADF);
    this.statsMap.lookup(this.statsBuf);
    const s: TracerStats = { ...NO_STATS };
    const u64 = (o: number) => Number(this.statsBuf.readBigUInt64LE(o));
    for (let c = 0; c < this.cpus; c++) {
      const o = c * this.statsMap.slotSize;
      s.drops += u64(o + STATS_LAYOUT.drops);
      s.events += u64(o + STATS_LAYOUT.events);
      s.lost += u64(o + STATS_LAYOUT.lost);
      s.unparsed += u64(o + STATS_LAYOUT.unparsed);
      s.dnsShort += u64(o + STATS_LAYOUT.dns_short);
    }
    s.missed = this.obj.recursionMisses(PROGRAMS[this.attachType].name, 'reading the program\'s recursion misses');
    return s;
  }

  /** Detaches the program and frees the maps; safe to call twice. */
  close(): void {
    if (this.ring) {
      clearInterval(this.ring.timer);
      this.ring.reader.close();
    }
    this.ring = null;
    this.link?.detach();
    this.link = null;
    this.obj?.close();
    this.obj = null;
  }
}

/** The csw_drop_cfg value for o (host byte order). */
export function encodeTracerConfig(o: TracerOptions): Buffer {
  const b = Buffer.alloc(CFG_LAYOUT.size);
  for (const s of o.eventSlots) {
    if (!Number.isInteger(s) || s < 0 || s >= REASON_SLOTS) throw new RangeError(`reason slot out of range: ${s}`);
    const w = CFG_LAYOUT.event_reasons + (s >> 5) * 4;
    b.writeUInt32LE((b.readUInt32LE(w) | (1 << (s & 31))) >>> 0, w);
  }
  const ports = (list: number[], at: number, what: string) => {
    if (list.length > DROP_CONSTANTS.ports) throw new RangeError(`at most ${DROP_CONSTANTS.ports} ${what} ports for the tracer, got ${list.length}`);
    list.forEach((p, i) => b.writeUInt16LE(p, at + i * 2));
  };
  ports(o.vxlanPorts, CFG_LAYOUT.vxlan_port, 'VXLAN');
  ports(o.genevePorts ?? [], CFG_LAYOUT.geneve_port, 'Geneve');
  ports(o.dnsPorts, CFG_LAYOUT.dns_port, 'DNS');
  b[CFG_LAYOUT.event_scope] = o.eventScope === 'all' ? DROP_CONSTANTS.scopeAll : DROP_CONSTANTS.scopeDnsOrVxlan;
  b.writeUInt32LE(o.wakeupBytes ?? Math.floor((o.ringBytes ?? DEFAULT_RING_BYTES) / 4), CFG_LAYOUT.wakeup_bytes);
  return b;
}

/**
 * One event in the batch buffer: numbers are read on demand; offsets point into `b` for the
 * addresses and the DNS bytes, so a consumer can key on them without copying.
 */
export class DropEvent {
  b: Buffer = Buffer.alloc(EVENT_LAYOUT.size);
  off = 0;

  set(b: Buffer, off: number): void {
    this.b = b;
    this.off = off;
  }

  /** When the kernel dropped it: CLOCK_MONOTONIC in µs (no BigInt per event). */
  get tsUs(): number {
    const o = this.off + EVENT_LAYOUT.ts_ns;
    return this.b.readUInt32LE(o + 4) * 4294967.296 + this.b.readUInt32LE(o) / 1000;
  }
  get reason(): number {
    return this.b.readUInt32LE(this.off + EVENT_LAYOUT.reason);
  }
  get slot(): number {
    const r = this.reason;
    return r < REASON_OTHER ? r : REASON_OTHER;
  }
  get netns(): number {
    return this.b.readUInt32LE(this.off + EVENT_LAYOUT.netns);
  }
  get ifindex(): number {
    return this.b.readUInt32LE(this.off + EVENT_LAYOUT.ifindex);
  }
  get len(): number {
    return this.b.readUInt32LE(this.off + EVENT_LAYOUT.len);
  }
  get vni(): number {
    return this.b.readUInt32LE(this.off + EVENT_LAYOUT.vni);
  }
  get flags(): number {
    return this.b.readUInt16LE(this.off + EVENT_LAYOUT.flags);
  }
  get proto(): number {
    return this.b[this.off + EVENT_LAYOUT.proto];
  }
  get ifname(): string {
    const o = this.off + EVENT_LAYOUT.ifname;
    let e = o;
    while (e < o + 16 && this.b[e] !== 0) e++;
    return this.b.toString('latin1', o, e);
  }
  /** Offset of the flow (which = 'flow') or tunnel struct in b. */
  flowAt(which: 'flow' | 'tunnel'): number {
    return this.off + EVENT_LAYOUT[which];
  }
  get dnsOffset(): number {
    return this.off + EVENT_LAYOUT.dns;
  }
  get dnsLen(): number {
    return (this.flags & EV_DNS) !== 0 ? this.b[this.off + EVENT_LAYOUT.dns_len] : 0;
  }
}
