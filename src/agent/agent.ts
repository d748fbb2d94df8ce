// The live agent's pipeline: interfaces → captures → decoder → counters and DNS correlator.
//
// The datapath: where the eBPF capture filter loads (src/capture/kfilter.ts), each interface has
// one packet socket of the agent's own with a TPACKET_V3 ring (src/capture/ring.ts); the filter
// counts every VXLAN and Geneve packet per remote VTEP in the kernel and copies only DNS and
// suspect packets,
// each with the kernel's direction and checksum status. Where it cannot load, each interface has
// two libpcap captures (one per direction) with a classic filter, and VXLAN packets are copied
// and counted here, as before the kernel path existed.
//
// Which interfaces: the ones named in the configuration, or else every VXLAN and Geneve device
// and the underlay each one uses (src/node/interfaces.ts reads them from the kernel; a Geneve
// device is bound to none, so its underlay is the device the route to its remote, else the
// default route, leaves by). The set is kept
// current: `ip monitor link` (rtnetlink) triggers a rescan on any link change, and a periodic
// rescan backs it up. A capture whose interface disappears is closed (after reading what its
// ring still holds), logged, and opened again when the interface is back (a CNI recreating its
// VXLAN device), counting into the same series as before. An interface that goes down and up
// keeps its capture open throughout (see rescan()).

import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { Logger } from 'pino';
import { captureFilter } from '../capture/filter';
import { BpfBinding, bpfBinding } from '../capture/ebpf';
import { KERNEL_ENCAP_GENEVE, KERNEL_ENCAP_VXLAN, KernelFilter } from '../capture/kfilter';
import type { DatapathMode } from '../metrics/datapath';
import { PcapOptions, PcapSource } from '../capture/pcap';
import { RingSource } from '../capture/ring';
import { META_CSUM_KNOWN, META_CSUM_NOTREADY, META_CSUM_VALID, META_DIR_MASK, META_RX, META_TX, PacketSource, readRecord, RecordView, SourceStats } from '../capture/source';
import { DnsCorrelator } from '../correlate/transactions';
import { ServerStats } from '../correlate/servers';
import { Decoder, DEFAULT_MTU } from '../decode/decoder';
import { DIR_RX, DIR_TX, ENCAP_COUNT, ENCAP_GENEVE, ENCAP_NONE, ENCAP_VXLAN, Frame } from '../decode/frame';
import { geneveDevices, geneveIdentities, GeneveUnderlay, geneveUnderlays, listInterfaces, NetInterface, underlayOf, VtepIdentity, vtepIdentities, vxlanDevices } from '../node/interfaces';
import { routeGet, RouteResult } from '../node/routes';
import { ROUTE_PROBE } from '../doctor/run';
import { parseSnmp, parseSnmp6, Snmp } from '../node/snmp';
import type { PodDirectoryStats } from '../kube/pods';
import type { Finding } from '../doctor/finding';
import { AgentConfig } from './config';
import type { DoctorInputs } from '../doctor/inputs';
import { NodeDoctor } from './node-doctor';
import { DropDeps, KernelDrops } from './drops';
import { DIR_INDEX_RX, DIR_INDEX_TX, IfaceCounters, VtepCounters } from './counters';

/** Capture timestamps and the clock read after a socket opens differ by this much at most. */
const OPEN_MARGIN_US = 10_000;

export interface AgentDeps {
  log: Logger;
  /** The node's interfaces (default: `ip -d -j link` and `ip -j addr`). */
  listInterfaces?: () => NetInterface[];
  /** Route lookups, for the underlay of a Geneve device (default: doctorInputs' when given, else `ip route get`). */
  routes?: (addrs: readonly string[]) => Map<string, RouteResult>;
  /** Opens one capture (default: libpcap through the native binding). */
  openSource?: (opts: PcapOptions) => PacketSource;
  /** Watch rtnetlink for link changes (default true). */
  watchLinks?: boolean;
  /** Directory holding snmp and snmp6 (default /proc/net). */
  procNet?: string;
  /** The libbpf addon (default: the built one). */
  bpfBinding?: DropDeps['binding'];
  /** Pods by IP (src/kube/pods.ts, in a cluster): servers and clients are named by pod. */
  pods?: PodNames;
  /** What the doctor reads (default: this node). */
  doctorInputs?: DoctorInputs;
  /** Told every doctor report's findings (in a cluster: the Node's conditions and Events). */
  onFindings?: (findings: readonly Finding[]) => void;
  /** Told, at each doctor report, the VXLAN packets received from each peer so far (in a cluster: Events on a peer whose packets arrive bad). */
  onPeers?: (peers: Array<{ address: string; rxOk: number; rxBad: number }>) => void;
}

/** What the agent needs of the Kubernetes pod directory. */
export interface PodNames {
  lookup(ip: string): { namespace: string; name: string } | null;
  /** The live CoreDNS pods' addresses: their series are always kept. */
  corednsAddresses(): string[];
  /** For the metrics: whether it has listed, pods known, and per watch its errors. */
  stats(): PodDirectoryStats;
}

/** What the agent captures on one interface. */
export interface CaptureInfo {
  name: string;
  ifindex: number;
  kind: string;
  driver: string;
  mtu: number;
  /** Why it is captured: 'configured', 'vxlan', 'geneve' or 'underlay of NAME'. */
  role: string;
  running: boolean;
  /** The last capture error on it, if any. */
  error: string | null;
}


interface Live {
  info: CaptureInfo;
  slot: number;
  sources: PacketSource[];
  /** Counters of the open sources as last read, to add only their growth. */
  seen: SourceStats[];
  /** A source failed: the loss is logged, the capture is being retired. */
  failed: boolean;
  /** The interface is down: the capture stays open (see rescan()). */
  down: boolean;
}

export class Agent {
  readonly counters = new IfaceCounters();
  readonly vtep: VtepCounters;
  readonly servers: ServerStats;
  /** This node's VTEPs as its peers see them, from the last interface scan. */
  vteps: VtepIdentity[] = [];
  readonly dns: DnsCorrelator;
  /** The kernel drop tracer and what it reports. */
  readonly drops: KernelDrops;
  /** The doctor's checks, run periodically. */
  readonly doctor: NodeDoctor;
  /** Batches whose handling threw (never expected; counted and logged instead of crashing). */
  internalErrors = 0;
  /** Configured interfaces said to be missing, until they appear. */
  private readonly missingSaid = new Set<string>();
  /** The datapath running, decided at start(). */
  datapath: DatapathMode = 'pcap';
  /** The loaded capture filter on the kernel datapath. */
  kfilter: KernelFilter | null = null;
  /** Interface slot by ifindex, for the filter's per-ifindex counts (kept after a device goes). */
  private readonly slotByIfindex = new Map<number, number>();
  private readonly record = new RecordView();
  private kernelReadAt = 0;
  private readonly bpf: () => BpfBinding;
  private readonly decoder: Decoder;
  private readonly frame = new Frame();
  private readonly live = new Map<string, Live>();
  /** Captures closed but still draining their ring (see retire()). */
  private readonly retiring = new Map<Live, NodeJS.Timeout>();
  private readonly wanted = new Map<string, CaptureInfo>();
  /** The libpcap path's classic filter (--vtep-packets auto copies every VXLAN packet there). */
  private readonly filter: string;
  private readonly log: Logger;
  private readonly list: () => NetInterface[];
  private readonly routes: (addrs: readonly string[]) => Map<string, RouteResult>;
  /** Each Geneve device's underlay, from the last interface scan. */
  private geneveUnder = new Map<string, GeneveUnderlay>();
  /** Geneve devices whose underlay was not found, said once each until found. */
  private readonly noUnderlaySaid = new Set<string>();
  private readonly open: (opts: PcapOptions) => PacketSource;
  private readonly procNet: string;
  private readonly watchLinks: boolean;
  private timers: NodeJS.Timeout[] = [];
  private monitor: ChildProcess | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private stopped = true;
  /** Sources come from deps.openSource (tests, benchmarks): the libpcap path's shape, no kernel filter. */
  private readonly injected: boolean;
  private lastInternalLog = 0;
  /** Why the last listing of the interfaces failed; '' when it worked. */
  scanError = '';
  /** The pod directory, in a cluster. */
  readonly pods: PodNames | null;

  constructor(readonly config: AgentConfig, deps: AgentDeps) {
    this.log = deps.log;
    this.list = deps.listInterfaces ?? (() => listInterfaces());
    const di = deps.doctorInputs;
    this.routes = deps.routes ?? (di ? (a) => di.routes(a) : routeGet);
    this.open = deps.openSource ?? ((o) => new PcapSource(o));
    this.injected = deps.openSource !== undefined;
    this.bpf = deps.bpfBinding ?? bpfBinding;
    this.procNet = deps.procNet ?? '/proc/net';
    this.watchLinks = deps.watchLinks ?? true;
    this.pods = deps.pods ?? null;
    this.decoder = new Decoder({ vxlanPorts: config.vxlanPorts, genevePorts: config.genevePorts, dnsPorts: config.dnsPorts });
    this.vtep = new VtepCounters(config.maxPeers);
    this.servers = new ServerStats(config.maxServers);
    this.dns = new DnsCorrelator({
      capacity: config.dnsCapacity,
      timeoutUs: config.dnsTimeout * 1e6,
      lostListSize: config.lostListSize,
      servers: this.servers,
      reasonName: (r) => this.drops.reasons[r] ?? `reason_${r}`,
    });
    this.drops = new KernelDrops(config, {
      log: this.log,
      dns: this.dns,
      binding: deps.bpfBinding,
      // On the kernel datapath a peer's bad packets are the ones the kernel dropped for a checksum.
      onTunnelChecksumDrop: (words, family) => this.kfilter && this.vtep.addKernelBad(words, family),
    });
    const onPeers = deps.onPeers;
    this.doctor = new NodeDoctor(config, this.log, deps.doctorInputs, () => ({ a: this.dns.answeredA, aaaa: this.dns.answeredAAAA }), (findings) => {
      deps.onFindings?.(findings);
      if (onPeers) onPeers(this.peerCounts());
    });
    this.filter = captureFilter({ vxlanPorts: config.vxlanPorts, genevePorts: config.genevePorts, dnsPorts: config.dnsPorts, vtep: config.vtepPackets === 'auto' ? 'all' : config.vtepPackets });
  }

  /**
   * Chooses the datapath: the kernel filter where it loads (and was not refused by --datapath
   * pcap), else libpcap. Says which once, with what the fallback costs. With --datapath kernel a
   * filter that cannot load is an error.
   */
  private startDatapath(): void {
    if (this.config.datapath === 'pcap' || this.injected) {
      this.datapath = 'pcap';
      return;
    }
    const copyVxlan = this.config.vtepPackets === 'all';
    try {
      this.kfilter = new KernelFilter({
        vxlanPorts: this.config.vxlanPorts,
        genevePorts: this.config.genevePorts,
        dnsPorts: this.config.dnsPorts,
        snaplen: this.config.snaplen,
        copyVxlan,
        // interface × direction × peer: the underlay and one more interface both ways
        tableSize: this.config.maxPeers * 4,
      }, this.bpf());
      this.datapath = 'kernel';
      this.log.info({ datapath: 'kernel', copyVxlan }, 'datapath: VXLAN and Geneve packets are counted in the kernel (eBPF socket filter); only DNS and suspect packets are copied to the agent');
    } catch (err) {
      const msg = (err as Error).message;
      if (this.config.datapath === 'kernel') throw new Error(`--datapath kernel: loading the capture filter: ${msg}`);
      this.datapath = 'pcap';
      this.log.warn(
        { datapath: 'pcap', err: msg },
        'datapath: the eBPF capture filter cannot load; falling back to libpcap, which copies every VXLAN packet to the agent and checks it there. ' +
          'That costs the node CPU and throughput in proportion to its VXLAN traffic (measured in the lab under bulk TCP: a quarter of a core and 15% of the throughput, ' +
          'against 0.01 cores and about 3% on the kernel datapath; README, "The datapath"): grant CAP_BPF (or CAP_SYS_ADMIN) to avoid it',
      );
    }
  }

  /** Starts capturing and the timers; interfaces that cannot be opened yet are retried. */
  start(): void {
    this.stopped = false;
    this.startDatapath();
    this.rescan();
    this.timers.push(setInterval(() => this.rescan(), this.config.rescanInterval * 1000));
    // Live timeouts: unanswered queries are lost once they are older than the timeout.
    this.timers.push(setInterval(() => this.dns.sweep(Date.now() * 1000), 250));
    // A safety net for a missed wakeup: drain every capture now and then.
    this.timers.push(setInterval(() => this.pollAll(), 1000));
    for (const t of this.timers) t.unref();
    if (this.watchLinks) this.startMonitor();
    this.drops.start();
    this.doctor.start();
  }

  /** Closes every capture and stops watching. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.rescanTimer) clearTimeout(this.rescanTimer);
    this.rescanTimer = null;
    if (this.monitor) {
      this.monitor.removeAllListeners();
      this.monitor.kill('SIGTERM');
      this.monitor = null;
    }
    for (const l of this.live.values()) this.closeLive(l);
    this.live.clear();
    for (const [l, t] of this.retiring) {
      clearTimeout(t);
      this.closeLive(l);
    }
    this.retiring.clear();
    this.drops.stop();
    this.doctor.stop();
    // After the captures: their sockets hold the program, the object holds the maps.
    this.kfilter?.close();
  }

  /** `namespace/pod` for an address the pod directory knows, else null (the address stands). */
  podOf(ip: string): string | null {
    const p = this.pods?.lookup(ip);
    return p ? `${p.namespace}/${p.name}` : null;
  }

  /**
   * Ready means the agent runs: started and not stopped, and capturing where there is something
   * to capture. A node with no VXLAN device (and no --interface) is ready: nothing to capture
   * yet, and the rest of the agent (kernel drops, the doctor, a device that appears) works.
   * Not ready: before start() and after stop() (shutting down), and when interfaces are wanted
   * but none of them captures (no CAP_NET_RAW, a configured interface that is not there).
   */
  ready(): boolean {
    if (this.stopped) return false;
    // Nothing to capture is a node without VXLAN only when the interfaces could be listed.
    if (this.wanted.size === 0) return this.scanError === '';
    for (const l of this.live.values()) if (l.info.running) return true;
    return false;
  }

  /** Whether start() ran and stop() has not. */
  running(): boolean {
    return !this.stopped;
  }

  /** The interfaces the agent captures or wants to, running or not. */
  captures(): CaptureInfo[] {
    return [...this.wanted.values()].map((w) => this.live.get(w.name)?.info ?? w);
  }

  /** Adds what each capture dropped since it was last read to the per-interface counters. */
  collectCaptureStats(): void {
    for (const l of this.live.values()) this.readStats(l);
  }

  /** /proc/net/snmp and snmp6 as read now. */
  readSnmp(): { snmp: Snmp; snmp6: Snmp } {
    const read = (f: string) => {
      try {
        return fs.readFileSync(`${this.procNet}/${f}`, 'utf8');
      } catch {
        return '';
      }
    };
    return { snmp: parseSnmp(read('snmp')), snmp6: parseSnmp6(read('snmp6')) };
  }

  /**
   * Counts one captured packet on interface slot `slot`: b[off, off+capLen), wireLen on the wire,
   * dirIndex DIR_INDEX_RX or DIR_INDEX_TX, at tsUs (µs since the epoch). meta: the record's
   * META_* bits (the kernel's checksum status). kernelCounted: the kernel filter counted this
   * packet's VXLAN already (per peer and interface), so it is not counted again here.
   */
  ingest(slot: number, dirIndex: number, linkType: number, b: Uint8Array, off: number, capLen: number, wireLen: number, tsUs: number, meta = 0, kernelCounted = false, mtu = DEFAULT_MTU): void {
    const f = this.frame;
    this.decoder.decode(b, off, off + capLen, wireLen, linkType, dirIndex === DIR_INDEX_RX ? DIR_RX : DIR_TX, f, meta & (META_CSUM_NOTREADY | META_CSUM_VALID | META_CSUM_KNOWN), mtu);
    this.counters.add(slot, dirIndex, f, kernelCounted);
    if (f.encap !== ENCAP_NONE) this.vtep.add(b, dirIndex, f, kernelCounted);
    this.dns.observe(b, f, tsUs, slot);
  }

  /**
   * Reads the kernel filter's per-VTEP table into the VTEP and interface counters (at scrape
   * time). A no-op on the libpcap datapath.
   */
  collectKernelCounts(): void {
    const k = this.kfilter;
    if (!k) return;
    // Two collectors of one scrape read the table: once is enough.
    const now = Date.now();
    if (now - this.kernelReadAt < 200) return;
    this.kernelReadAt = now;
    const v = this.vtep;
    const c = this.counters;
    v.beginKernelRead();
    c.kernelTunnel.fill(0);
    k.readVteps((ifindex, family, dir, encap, addr, addrOff, packets) => {
      const e = encap === KERNEL_ENCAP_VXLAN ? ENCAP_VXLAN : encap === KERNEL_ENCAP_GENEVE ? ENCAP_GENEVE : -1;
      if (e < 0 || (dir !== 0 && dir !== 1)) return;
      v.addKernel(addr, addrOff, family, dir, packets);
      const slot = this.slotByIfindex.get(ifindex);
      if (slot !== undefined) c.kernelTunnel[(slot * 2 + dir) * ENCAP_COUNT + e] += packets;
    });
    const [rx, tx] = k.overflow(KERNEL_ENCAP_VXLAN);
    const [grx, gtx] = k.overflow(KERNEL_ENCAP_GENEVE);
    v.addKernelOverflow(rx + grx, tx + gtx);
    v.endKernelRead();
  }

  /** The VXLAN and Geneve packets received from each peer so far, ok and bad (the overflow entry left out). */
  peerCounts(): Array<{ address: string; rxOk: number; rxBad: number }> {
    this.collectKernelCounts();
    const v = this.vtep;
    return v.peers.names.map((address, p) => ({ address, rxOk: v.packets[(p * 2 + DIR_INDEX_RX) * 2], rxBad: v.packets[(p * 2 + DIR_INDEX_RX) * 2 + 1] }));
  }

  /** Rescans the interfaces now: opens what is wanted and missing, closes what went away. */
  rescan(): void {
    if (this.stopped) return;
    this.servers.pin([...this.config.clusterDns, ...(this.pods?.corednsAddresses() ?? [])]);
    let ifs: NetInterface[];
    try {
      ifs = this.list();
      this.scanError = '';
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.scanError) this.log.error({ err: msg }, 'listing interfaces failed; keeping the captures as they are');
      this.scanError = msg;
      return;
    }
    // Route lookups (one `ip` run) only where there is a Geneve device.
    this.geneveUnder = geneveUnderlays(ifs, this.routes, ROUTE_PROBE);
    for (const [name, u] of this.geneveUnder) {
      if (u.device) this.noUnderlaySaid.delete(name);
      else if (!this.noUnderlaySaid.has(name)) {
        this.noUnderlaySaid.add(name);
        this.log.warn({ iface: name, reason: u.how }, 'Geneve device: underlay not found; capturing the device alone');
      }
    }
    this.vteps = [...vtepIdentities(ifs), ...geneveIdentities(ifs, this.geneveUnder)];
    const want = this.select(ifs);
    // A configured interface that is not there is said once (a typo, or not created yet), and
    // again when it appears.
    for (const w of want) {
      const missing = w.error === 'interface not found';
      if (missing && !this.missingSaid.has(w.name)) {
        this.missingSaid.add(w.name);
        this.log.warn({ iface: w.name }, 'configured interface not found; waiting for it (check --interface)');
      } else if (!missing && this.missingSaid.delete(w.name)) {
        this.log.info({ iface: w.name }, 'configured interface appeared');
      }
    }
    this.wanted.clear();
    for (const w of want) this.wanted.set(w.name, w);
    for (const [name, l] of this.live) {
      const w = this.wanted.get(name);
      const now = ifs.find((i) => i.name === name);
      if (!w || !now || now.ifindex !== l.info.ifindex) {
        const why = !w ? 'no longer wanted' : !now ? 'interface gone' : `re-created (ifindex ${l.info.ifindex} → ${now.ifindex})`;
        this.log.info({ iface: name, reason: why }, 'capture stopped');
        this.retire(l);
      } else if (l.down === now.up) {
        // Down and up again, same device: the kernel unhooks the capture's socket while the
        // interface is down and hooks it again when it comes up, ring and filter intact. So the
        // capture stays open: it misses nothing after the interface is back, where a capture
        // closed and reopened would miss what arrives before it is reopened.
        l.down = !now.up;
        l.info.error = l.down ? 'interface is down' : null;
        if (l.down) this.log.warn({ iface: name }, 'interface down; its capture stays open and resumes when it is up');
        else this.log.info({ iface: name }, 'interface up; capture resumed');
      }
    }
    for (const w of want) {
      if (this.live.has(w.name)) continue;
      const iface = ifs.find((i) => i.name === w.name);
      if (!iface || !iface.up) continue; // opening a down device fails at once (ENETDOWN): wait
      this.openLive(w);
    }
  }

  /** Which interfaces to capture, with why. */
  private select(ifs: NetInterface[]): CaptureInfo[] {
    const info = (i: NetInterface | undefined, name: string, role: string): CaptureInfo => ({
      name,
      ifindex: i?.ifindex ?? 0,
      kind: i?.kind ?? 'unknown',
      driver: i?.driver ?? '',
      mtu: i?.mtu ?? 0,
      role,
      running: false,
      error: i ? (i.up ? null : 'interface is down') : 'interface not found',
    });
    if (this.config.interfaces.length > 0) {
      return this.config.interfaces.map((n) => info(ifs.find((i) => i.name === n), n, 'configured'));
    }
    const out = new Map<string, CaptureInfo>();
    for (const vx of vxlanDevices(ifs)) {
      const under = underlayOf(vx, ifs);
      if (under && !out.has(under.name)) out.set(under.name, info(under, under.name, `underlay of ${vx.name}`));
      out.set(vx.name, info(vx, vx.name, 'vxlan'));
    }
    for (const gv of geneveDevices(ifs)) {
      const under = this.geneveUnder.get(gv.name)?.device ?? null;
      if (under && !out.has(under.name)) out.set(under.name, info(under, under.name, `underlay of ${gv.name}`));
      out.set(gv.name, info(gv, gv.name, 'geneve'));
    }
    return [...out.values()];
  }

  private openLive(w: CaptureInfo): void {
    const slot = this.counters.slot(w.name);
    if (slot < 0) {
      this.log.warn({ iface: w.name }, 'too many interfaces: not captured');
      return;
    }
    const info: CaptureInfo = { ...w, running: false, error: null };
    const l: Live = { info, slot, sources: [], seen: [], failed: false, down: false };
    if (w.ifindex > 0) this.slotByIfindex.set(w.ifindex, slot);
    // Each source delivers into the slot's counters; kernelCounted: the filter counted its VXLAN and Geneve.
    const attach = (src: PacketSource, dirIndex: number, kernelCounted: boolean) => {
      l.sources.push(src);
      l.seen.push({ received: 0, dropped: 0, ifDropped: 0, clipped: 0 });
      src.start(this.batchHandler(slot, dirIndex, src.linkType, kernelCounted, w.mtu), (msg) => this.onCaptureError(l, msg));
    };
    const bufferBytes = this.config.captureBufferMiB << 20;
    const timeoutMs = this.config.captureTimeoutMs;
    try {
      if (this.kfilter && isEthernet(w.name)) {
        // One socket, both directions: each record says which, and the kernel's checksum status.
        attach(new RingSource({ device: w.name, ifindex: w.ifindex, progFd: this.kfilter.progFd, bufferBytes, timeoutMs }), DIR_INDEX_RX, true);
      } else {
        for (const [direction, dirIndex] of [['in', DIR_INDEX_RX], ['out', DIR_INDEX_TX]] as const) {
          attach(this.open({ device: w.name, direction, filter: this.filter, snaplen: this.config.snaplen, bufferBytes, timeoutMs }), dirIndex, false);
        }
      }
    } catch (err) {
      info.error = (err as Error).message;
      this.log.error({ iface: w.name, err: info.error }, 'capture failed to start; retrying at the next rescan');
      this.closeLive(l);
      this.wanted.set(w.name, info);
      return;
    }
    info.running = true;
    this.live.set(w.name, l);
    // Until now this interface was not seen: a transaction open now may have had a packet there
    // (a query seen on one socket, its answer on one not yet open, at start or a restart).
    this.dns.unjudgedUntil(Date.now() * 1000 + OPEN_MARGIN_US);
    this.log.info({ iface: w.name, ifindex: w.ifindex, kind: w.kind, role: w.role, linkType: l.sources[0].linkType, datapath: l.sources[0] instanceof RingSource ? 'kernel' : 'pcap' }, 'capture started');
  }

  /**
   * The handler of one source's batches. dirIndex: the direction the source was opened for, used
   * where a record does not say (kernel datapath records always do).
   */
  private batchHandler(slot: number, dirIndex: number, linkType: number, kernelCounted: boolean, mtu: number) {
    // The interface's MTU for the GRO rule where the kernel says nothing (libpcap); unknown: 1500.
    if (!(mtu > 0)) mtu = DEFAULT_MTU;
    const r = this.record;
    return (b: Buffer, records: number, bytes: number): void => {
      try {
        for (let i = 0, off = 0; i < records && readRecord(b, off, bytes, r); i++, off = r.next) {
          const d = r.meta & META_DIR_MASK;
          const di = d === META_RX ? DIR_INDEX_RX : d === META_TX ? DIR_INDEX_TX : dirIndex;
          this.ingest(slot, di, linkType, b, r.data, r.capLen, r.wireLen, r.tsUs, r.meta, kernelCounted, mtu);
        }
      } catch (err) {
        this.internalErrors++;
        const now = Date.now();
        if (now - this.lastInternalLog > 60_000) {
          this.lastInternalLog = now;
          this.log.error({ err: (err as Error).stack, iface: this.counters.names[slot] }, 'internal error handling a batch; counted, capture continues');
        }
      }
    };
  }

  private onCaptureError(l: Live, msg: string): void {
    // Both directions fail together (the interface went down or away): one line for the loss.
    if (l.failed) return;
    l.failed = true;
    l.info.error = msg;
    if (this.live.get(l.info.name) === l) {
      this.log.warn({ iface: l.info.name, err: msg }, 'capture failed; reopening when the interface is back');
      this.retire(l);
    }
    this.scheduleRescan(200);
  }

  /**
   * Takes a capture out of service without losing what it already received: the kernel hands a
   * block of the ring over only when it fills or after the capture's timeout, so packets that
   * arrived just before the interface went down (or was deleted) may still be on their way.
   * The capture is drained once more after that timeout, then closed. Meanwhile the interface
   * may be opened again: the two count into the same slot, and the old one sees nothing new.
   */
  private retire(l: Live): void {
    l.info.running = false;
    if (this.live.get(l.info.name) === l) this.live.delete(l.info.name);
    if (this.retiring.has(l)) return;
    const t = setTimeout(() => {
      this.retiring.delete(l);
      for (const s of l.sources) {
        try {
          s.poll();
        } catch {
          // closed or failed for good: nothing more to read
        }
      }
      this.closeLive(l);
    }, this.config.captureTimeoutMs + 50);
    t.unref();
    this.retiring.set(l, t);
  }

  private closeLive(l: Live): void {
    this.readStats(l);
    for (const s of l.sources) s.close();
    l.info.running = false;
  }

  private readStats(l: Live): void {
    for (let i = 0; i < l.sources.length; i++) {
      let st: SourceStats;
      try {
        st = l.sources[i].stats();
      } catch {
        continue;
      }
      const prev = l.seen[i];
      const grow = (a: number, b: number) => (a >= b ? a - b : a); // a counter that went back restarted
      const missed = grow(st.dropped, prev.dropped);
      this.counters.captureDropped[l.slot] += missed + grow(st.ifDropped, prev.ifDropped);
      // The capture missed packets since the last read: DNS transactions open now may have lost
      // their answer to the capture, not to the network.
      if (missed > 0) this.dns.unjudgedUntil(Date.now() * 1000);
      this.counters.clipped[l.slot] += grow(st.clipped, prev.clipped);
      l.seen[i] = st;
    }
  }

  private pollAll(): void {
    for (const l of [...this.live.values()]) {
      for (const s of l.sources) s.poll();
      this.readStats(l);
    }
  }

  private scheduleRescan(ms: number): void {
    if (this.stopped || this.rescanTimer) return;
    this.rescanTimer = setTimeout(() => {
      this.rescanTimer = null;
      this.rescan();
    }, ms);
  }

  /** Rescans whenever rtnetlink reports a link change. */
  private startMonitor(): void {
    const m = spawn('ip', ['-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.monitor = m;
    m.stdout!.on('data', () => this.scheduleRescan(100));
    m.on('error', (err) => this.log.warn({ err: err.message }, 'ip monitor link failed; relying on periodic rescans'));
    m.on('exit', (code, sig) => {
      if (this.monitor !== m || this.stopped) return;
      this.monitor = null;
      this.log.warn({ code, signal: sig }, 'ip monitor link ended; restarting it in 5 s');
      const t = setTimeout(() => !this.stopped && this.startMonitor(), 5000);
      t.unref();
    });
  }
}

/** Whether the interface's frames start with an Ethernet header (ARPHRD_ETHER), which the kernel filter parses. */
function isEthernet(name: string): boolean {
  try {
    return fs.readFileSync(`/sys/class/net/${name}/type`, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}
