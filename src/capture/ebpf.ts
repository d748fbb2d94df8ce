// The kernel drop tracer (bpf/drops.bpf.c) from user space, through the agent's libbpf binding
// (native/bpf.c): loading and attaching it, configuring it, reading its per-CPU counters and its
// ring buffer of drop events. Every decision is made here; the binding returns -errno.
//
// Attach: tp_btf/kfree_skb (BTF-typed tracepoint) where the kernel allows it, else the raw
// tracepoint. Where neither loads (no BTF, no privileges, an old kernel) the caller falls back to
// /proc/net/snmp: BpfUnavailableError says the kernel or the privileges lack something; a plain
// BpfError is anything else (such as the verifier rejecting the program) and carries libbpf's log.
//
// Drop-reason names come from the running kernel's BTF (enum skb_drop_reason): the numbers
// differ between kernel releases, and new reasons appear.
//
// The layouts below mirror bpf/shared/drops.h; test/capture/ebpf-layout.test.ts checks them
// against the addon, which is compiled with that header. Values are read little-endian, the
// byte order of every host the agent is built for (x86-64, arm64); open() refuses others.

import { constants as osConstants, endianness } from 'node:os';
import path from 'node:path';
import { requireAddon } from './addon';

export interface BpfBinding {
  open(file: string, btfPath: string | null): object | number;
  close(obj: object): void;
  setAutoload(obj: object, program: string, load: boolean): number;
  setMaxEntries(obj: object, map: string, entries: number): number;
  load(obj: object): number;
  mapFd(obj: object, map: string): number;
  recursionMisses(obj: object, program: string): number;
  attach(obj: object, program: string): object | number;
  detach(link: object): void;
  lookup(fd: number, key: Buffer, value: Buffer): number;
  update(fd: number, key: Buffer, value: Buffer, flags: number): number;
  mapInfo(fd: number): [number, number, number, number] | number;
  /** Every element of a hash map: keys and values packed, as many as fit; the count or -errno. */
  dump(fd: number, keys: Buffer, values: Buffer): number;
  progFd(obj: object, program: string): number;
  /**
   * BPF_PROG_TEST_RUN: runs the program over data `repeat` times in the kernel; [retval, ns per
   * run] or -errno. ifindex > 0: an XDP program, with that device as where the frame came in;
   * flags 2 (BPF_F_TEST_XDP_LIVE_FRAMES): each frame really leaves by its verdict. Blocks.
   */
  testRun(progFd: number, data: Buffer, repeat: number, flags: number, ifindex: number, batchSize: number): [number, number] | number;
  ringOpen(fd: number, buf: Buffer, cb: (records: number, bytesOrError: number | string) => void): object | number;
  ringConsume(ring: object): number;
  ringClipped(ring: object): number;
  ringClose(ring: object): void;
  enumValues(btfPath: string | null, name: string): Array<[string, number]> | number;
  layout(): NativeLayout;
  possibleCpus(): number;
  log(): string;
  version(): string;
}

export interface NativeLayout {
  filterCfg: Record<string, number>;
  vtepKey: Record<string, number>;
  vtepValue: Record<string, number>;
  filterStats: Record<string, number>;
  event: Record<string, number>;
  flow: Record<string, number>;
  cfg: Record<string, number>;
  stats: Record<string, number>;
  constants: Record<string, number>;
}

/** struct csw_drop_event */
export const EVENT_LAYOUT = {
  size: 256, ts_ns: 0, reason: 8, netns: 12, ifindex: 16, len: 20, vni: 24, flags: 28, proto: 30, dns_len: 31,
  ifname: 32, flow: 48, tunnel: 88, dns: 128,
} as const;
/** struct csw_flow */
export const FLOW_LAYOUT = { size: 40, family: 0, l4: 1, sport: 2, dport: 4, pad0: 6, saddr: 8, daddr: 24 } as const;
/** struct csw_drop_cfg */
export const CFG_LAYOUT = { size: 56, event_reasons: 0, vxlan_port: 32, dns_port: 40, event_scope: 48, pad0: 49, wakeup_bytes: 52 } as const;
/** struct csw_drop_stats */
export const STATS_LAYOUT = { size: 40, drops: 0, events: 8, lost: 16, unparsed: 24, dns_short: 32 } as const;
export const DROP_CONSTANTS = {
  countsSize: 16384, reasonSlots: 256, protos: 8, ports: 4, dnsBytes: 128,
  evFlow: 0x01, evTunnel: 0x02, evDecapped: 0x04, evDns: 0x08, evFragment: 0x10, evPorts: 0x20, evVni: 0x40,
  scopeDnsOrVxlan: 0, scopeAll: 1, protoVxlan: 7, protoUdp: 3,
} as const;

export const REASON_SLOTS = DROP_CONSTANTS.reasonSlots;
/** The slot of reason values past the others (and subsystem reasons). */
export const REASON_OTHER = REASON_SLOTS - 1;
/** enum csw_drop_proto, in order: the `proto` label. */
export const DROP_PROTOS = ['other', 'arp', 'ip', 'udp', 'tcp', 'icmp', 'icmpv6', 'vxlan'] as const;
export const EV_FLOW = DROP_CONSTANTS.evFlow;
export const EV_TUNNEL = DROP_CONSTANTS.evTunnel;
export const EV_DECAPPED = DROP_CONSTANTS.evDecapped;
export const EV_DNS = DROP_CONSTANTS.evDns;
export const EV_FRAGMENT = DROP_CONSTANTS.evFragment;
export const EV_PORTS = DROP_CONSTANTS.evPorts;
export const EV_VNI = DROP_CONSTANTS.evVni;

/** The two programs in drops.bpf.o, by attach type; the metric's `program` label is the section. */
export const PROGRAMS = {
  tp_btf: { name: 'csw_kfree_skb_btf', section: 'tp_btf/kfree_skb' },
  raw_tp: { name: 'csw_kfree_skb_raw', section: 'raw_tp/kfree_skb' },
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

export class BpfError extends Error {
  readonly code: string = 'CSW_ERR_BPF';
  /**
   * op: what was being done; errno: positive errno (0 if none); log: libbpf's messages, which
   * hold the verifier's reasons when a load is refused.
   */
  constructor(readonly op: string, readonly errno: number, readonly log = '') {
    super(`${op}: ${errnoText(errno)}`);
  }
}

/** The kernel, its BTF or the process's privileges lack what the tracer needs: fall back. */
export class BpfUnavailableError extends BpfError {
  override readonly code: string = 'CSW_ERR_BPF_UNAVAILABLE';
}

const ENOTSUPP = 524; // the kernel's internal "not supported", which does reach user space
const UNAVAILABLE = new Set([
  osConstants.errno.EPERM, osConstants.errno.ENOENT, osConstants.errno.ENOSYS, osConstants.errno.EOPNOTSUPP,
  osConstants.errno.ESRCH, osConstants.errno.ENOTSUP, ENOTSUPP,
]);

function errnoText(errno: number): string {
  if (errno === 0) return 'failed';
  if (errno === ENOTSUPP) return 'ENOTSUPP (operation not supported by this kernel)';
  for (const [name, v] of Object.entries(osConstants.errno)) if (v === errno) return name;
  return `errno ${errno}`;
}

let binding: BpfBinding | null = null;

/** The addon, loaded once; a BpfUnavailableError says how to build it when it is missing. */
export function bpfBinding(): BpfBinding {
  binding ??= requireAddon<BpfBinding>('csw_bpf', (file, reason) => {
    const e = new BpfUnavailableError(`loading the BPF addon ${file}`, 0);
    e.message = `${e.op}: ${reason}`;
    return e;
  });
  return binding;
}

/** The built kernel object. */
export function defaultObjectPath(): string {
  return path.join(__dirname, '..', '..', 'bpf', 'drops.bpf.o');
}

/** Throws the error for a negative return value of op; returns v otherwise. */
export function check<T>(b: BpfBinding, op: string, v: T | number): T {
  if (typeof v === 'number' && v < 0) {
    const errno = -v;
    const log = b.log().trim();
    const E = UNAVAILABLE.has(errno) ? BpfUnavailableError : BpfError;
    throw new E(op, errno, log);
  }
  return v as T;
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
  dnsPorts: number[];
  /** Reason slots that get events. */
  eventSlots: number[];
  /** 'dns-vxlan': events only for packets carrying DNS or VXLAN; 'all': every packet. */
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

const ZERO_KEY = Buffer.alloc(4);
/** The ring buffer's size in drops.bpf.c. */
export const DEFAULT_RING_BYTES = 1 << 20;

/** The tracer, loaded and attached. close() detaches it. */
export class DropTracer {
  readonly attachType: AttachType;
  private readonly b: BpfBinding;
  private obj: object | null;
  private link: object | null;
  /** The ring, with the batch buffer the addon writes into: referenced here while it is open. */
  private ring: { handle: object; buf: Buffer; timer: NodeJS.Timeout } | null = null;
  private readonly countsFd: number;
  private readonly statsFd: number;
  private readonly eventsFd: number;
  private readonly countsBuf: Buffer;
  private readonly statsBuf: Buffer;
  private readonly cpus: number;
  private readonly view = new DropEvent();
  private onError: (msg: string) => void = () => {};
  /** Events cut short in the batch buffer (never expected: it holds many events). */
  get clipped(): number {
    return this.ring ? this.b.ringClipped(this.ring.handle) : 0;
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

  private constructor(o: TracerOptions, t: AttachType, b: BpfBinding) {
    this.b = b;
    this.attachType = t;
    b.log();
    const file = o.object ?? defaultObjectPath();
    const obj = check<object>(b, `opening ${file}`, b.open(file, o.btfPath ?? null));
    this.obj = obj;
    this.link = null;
    try {
      for (const [k, p] of Object.entries(PROGRAMS)) check(b, `choosing ${p.section}`, b.setAutoload(obj, p.name, k === t));
      if (o.ringBytes !== undefined) check(b, 'sizing the ring buffer', b.setMaxEntries(obj, 'csw_drop_events', o.ringBytes));
      check(b, `loading ${PROGRAMS[t].section}`, b.load(obj));
      this.countsFd = check<number>(b, 'finding csw_drop_counts', b.mapFd(obj, 'csw_drop_counts'));
      this.statsFd = check<number>(b, 'finding csw_drop_stats', b.mapFd(obj, 'csw_drop_stats'));
      this.eventsFd = check<number>(b, 'finding csw_drop_events', b.mapFd(obj, 'csw_drop_events'));
      const cfgFd = check<number>(b, 'finding csw_drop_cfg', b.mapFd(obj, 'csw_drop_cfg'));
      this.cpus = check<number>(b, 'counting possible CPUs', b.possibleCpus());
      this.countsBuf = Buffer.alloc(DROP_CONSTANTS.countsSize * this.cpus);
      this.statsBuf = Buffer.alloc(STATS_LAYOUT.size * this.cpus);
      check(b, 'configuring the tracer', b.update(cfgFd, ZERO_KEY, encodeTracerConfig(o), 0));
      this.link = check<object>(b, `attaching ${PROGRAMS[t].section}`, b.attach(obj, PROGRAMS[t].name));
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
   * stays referenced here for as long as the ring is open.
   */
  start(onEvent: DropHandler, onError: (msg: string) => void, drainMs = 100, batchBytes = 1 << 18): void {
    this.onError = onError;
    if (this.ring || !this.obj) return;
    const buf = Buffer.alloc(batchBytes);
    const view = this.view;
    const handle = check<object>(this.b, 'opening the ring buffer', this.b.ringOpen(this.eventsFd, buf, (records, bytes) => {
      if (records < 0) {
        onError(String(bytes));
        return;
      }
      let off = 0;
      for (let i = 0; i < records && off + 8 <= (bytes as number); i++) {
        const len = buf.readUInt32LE(off);
        const data = off + 8;
        if (data + len > (bytes as number)) break;
        if (len >= EVENT_LAYOUT.size) {
          view.set(buf, data);
          onEvent(view);
        }
        off = data + ((len + 7) & ~7);
      }
    }));
    const timer = setInterval(() => this.poll(), drainMs);
    timer.unref();
    this.ring = { handle, buf, timer };
  }

  /** Drains the ring now (a timer calls it too); a failure goes to start()'s onError. */
  poll(): void {
    if (!this.ring) return;
    const n = this.b.ringConsume(this.ring.handle);
    // EBUSY: called from inside an event handler, while the ring is being drained already.
    if (n < 0 && n !== -osConstants.errno.EBUSY) this.onError(`reading the ring buffer: ${errnoText(-n)}`);
  }

  /** Adds the per-CPU drop counts into out[slot * DROP_PROTOS.length + proto] (out is zeroed first). */
  readCounts(out: Float64Array): void {
    if (!this.obj) throw new BpfError('reading csw_drop_counts of a closed tracer', osConstants.errno.EBADF);
    out.fill(0);
    check(this.b, 'reading csw_drop_counts', this.b.lookup(this.countsFd, ZERO_KEY, this.countsBuf));
    const n = REASON_SLOTS * DROP_PROTOS.length;
    const words = new BigUint64Array(this.countsBuf.buffer, this.countsBuf.byteOffset, this.countsBuf.length / 8);
    for (let c = 0; c < this.cpus; c++) {
      const base = c * n;
      for (let i = 0; i < n; i++) {
        const v = words[base + i];
        if (v !== 0n) out[i] += Number(v);
      }
    }
  }

  readStats(): TracerStats {
    if (!this.obj) throw new BpfError('reading csw_drop_stats of a closed tracer', osConstants.errno.EBADF);
    check(this.b, 'reading csw_drop_stats', this.b.lookup(this.statsFd, ZERO_KEY, this.statsBuf));
    const s: TracerStats = { ...NO_STATS };
    const u64 = (o: number) => Number(this.statsBuf.readBigUInt64LE(o));
    for (let c = 0; c < this.cpus; c++) {
      const o = c * STATS_LAYOUT.size;
      s.drops += u64(o + STATS_LAYOUT.drops);
      s.events += u64(o + STATS_LAYOUT.events);
      s.lost += u64(o + STATS_LAYOUT.lost);
      s.unparsed += u64(o + STATS_LAYOUT.unparsed);
      s.dnsShort += u64(o + STATS_LAYOUT.dns_short);
    }
    s.missed = check<number>(this.b, 'reading the program\'s recursion misses', this.b.recursionMisses(this.obj, PROGRAMS[this.attachType].name));
    return s;
  }

  /** Detaches the program and frees the maps; safe to call twice. */
  close(): void {
    if (this.ring) {
      clearInterval(this.ring.timer);
      this.b.ringClose(this.ring.handle);
    }
    this.ring = null;
    if (this.link) this.b.detach(this.link);
    this.link = null;
    if (this.obj) this.b.close(this.obj);
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
