// The capture filter (bpf/filter.bpf.c) from user space: loading it once for every capture,
// configuring it, and reading what it counted in the kernel, per remote VTEP, at scrape time.
//
// The filter is an eBPF socket filter: each of the agent's packet sockets (src/capture/ring.ts)
// attaches the same loaded program by its fd, and all of them count into the same maps. It
// needs no BTF (it reads only struct __sk_buff), only the privilege to load BPF (CAP_BPF, or
// CAP_SYS_ADMIN). Where it cannot load, the agent falls back to libpcap with a classic filter
// (src/capture/filter.ts), and every VXLAN packet is copied to user space again.
//
// The layouts below mirror bpf/shared/filter.h; test/capture/ebpf-layout.test.ts checks them
// against the addon, which is compiled with that header.

import { constants as osConstants, endianness } from 'node:os';
import path from 'node:path';
import { BpfBinding, bpfBinding, BpfUnavailableError, check } from './ebpf';

/** struct csw_filter_cfg */
export const FILTER_CFG_LAYOUT = { size: 40, vxlan_port: 0, dns_port: 16, snaplen: 32, flags: 36 } as const;
/** struct csw_vtep_key */
export const VTEP_KEY_LAYOUT = { size: 24, ifindex: 0, family: 4, dir: 5, pad0: 6, addr: 8 } as const;
/** struct csw_vtep_value */
export const VTEP_VALUE_LAYOUT = { size: 16, packets: 0, bytes: 8 } as const;
export const FILTER_CONSTANTS = { ports: 8, statsCount: 8, copyVxlan: 0x1 } as const;
/** enum csw_filter_stat, in order: the `what` label of csumwatch_filter_packets_total. */
export const FILTER_STATS = ['seen', 'dns', 'tunnel_dns', 'suspect', 'vxlan_copied', 'vxlan', 'overflow', 'not_copied'] as const;

export const FILTER_PROGRAM = 'csw_capture_filter';

export interface KernelFilterOptions {
  /** The kernel object (default: the build's bpf/filter.bpf.o). */
  object?: string;
  vxlanPorts: readonly number[];
  dnsPorts: readonly number[];
  /** Bytes copied of a packet the filter passes. */
  snaplen: number;
  /** Copy every VXLAN packet too (--vtep-packets all): user space verifies each one. */
  copyVxlan: boolean;
  /** Entries of the per-VTEP table (interface × direction × peer); past it, one overflow count per direction. */
  tableSize: number;
}

/** Called per table entry with the counts summed over the CPUs; addr is valid only during the call. */
export type VtepEntry = (ifindex: number, family: number, dir: number, addr: Buffer, addrOff: number, packets: number, bytes: number) => void;

const ZERO_KEY = Buffer.alloc(4);
/** Bytes of a frame run() hands the kernel. */
const RUN_MAX = 2048;

export function defaultFilterObjectPath(): string {
  return path.join(__dirname, '..', '..', 'bpf', 'filter.bpf.o');
}

/** The filter, loaded. Its program fd is what each capture attaches; close() unloads it once no socket holds it. */
export class KernelFilter {
  readonly progFd: number;
  readonly tableSize: number;
  private readonly b: BpfBinding;
  private obj: object | null;
  private readonly vtepFd: number;
  private readonly overflowFd: number;
  private readonly statsFd: number;
  private readonly cpus: number;
  private readonly keys: Buffer;
  private readonly values: Buffer;
  private readonly statsBuf: Buffer;
  private readonly overflowBuf: Buffer;
  private readonly key = Buffer.alloc(4);

  constructor(o: KernelFilterOptions, b: BpfBinding = bpfBinding()) {
    if (endianness() !== 'LE') throw new BpfUnavailableError('the filter reads its maps little-endian; this host is big-endian', osConstants.errno.ENOTSUP);
    this.b = b;
    b.log();
    const file = o.object ?? defaultFilterObjectPath();
    // No BTF: the filter reads only struct __sk_buff, which has no relocations.
    this.obj = check<object>(b, `opening ${file}`, b.open(file, null));
    const obj = this.obj;
    try {
      this.tableSize = Math.max(16, o.tableSize);
      check(b, 'sizing the VTEP table', b.setMaxEntries(obj, 'csw_vteps', this.tableSize));
      check(b, 'loading the capture filter', b.load(obj));
      this.progFd = check<number>(b, 'finding the filter program', b.progFd(obj, FILTER_PROGRAM));
      this.vtepFd = check<number>(b, 'finding csw_vteps', b.mapFd(obj, 'csw_vteps'));
      this.overflowFd = check<number>(b, 'finding csw_vtep_overflow', b.mapFd(obj, 'csw_vtep_overflow'));
      this.statsFd = check<number>(b, 'finding csw_filter_stats', b.mapFd(obj, 'csw_filter_stats'));
      const cfgFd = check<number>(b, 'finding csw_filter_cfg', b.mapFd(obj, 'csw_filter_cfg'));
      this.cpus = check<number>(b, 'counting possible CPUs', b.possibleCpus());
      this.keys = Buffer.alloc(VTEP_KEY_LAYOUT.size * this.tableSize);
      this.values = Buffer.alloc(VTEP_VALUE_LAYOUT.size * this.cpus * this.tableSize);
      this.statsBuf = Buffer.alloc(FILTER_CONSTANTS.statsCount * 8 * this.cpus);
      this.overflowBuf = Buffer.alloc(VTEP_VALUE_LAYOUT.size * this.cpus);
      check(b, 'configuring the capture filter', b.update(cfgFd, ZERO_KEY, encodeFilterConfig(o), 0));
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Reads the per-VTEP table: f once per entry, counts summed over the CPUs. Returns the entries read. */
  readVteps(f: VtepEntry): number {
    if (!this.obj) return 0;
    const n = check<number>(this.b, 'reading csw_vteps', this.b.dump(this.vtepFd, this.keys, this.values));
    const k = this.keys;
    const v = this.values;
    const stride = VTEP_VALUE_LAYOUT.size;
    for (let i = 0; i < n; i++) {
      const ko = i * VTEP_KEY_LAYOUT.size;
      let packets = 0;
      let bytes = 0;
      for (let c = 0; c < this.cpus; c++) {
        const vo = (i * this.cpus + c) * stride;
        packets += readU64(v, vo + VTEP_VALUE_LAYOUT.packets);
        bytes += readU64(v, vo + VTEP_VALUE_LAYOUT.bytes);
      }
      f(k.readUInt32LE(ko + VTEP_KEY_LAYOUT.ifindex), k[ko + VTEP_KEY_LAYOUT.family], k[ko + VTEP_KEY_LAYOUT.dir], k, ko + VTEP_KEY_LAYOUT.addr, packets, bytes);
    }
    return n;
  }

  /** VXLAN packets the table had no room for: [received, sent]. */
  overflow(): [number, number] {
    const out: [number, number] = [0, 0];
    if (!this.obj) return out;
    for (let d = 0; d < 2; d++) {
      this.key.writeUInt32LE(d, 0);
      check(this.b, 'reading csw_vtep_overflow', this.b.lookup(this.overflowFd, this.key, this.overflowBuf));
      for (let c = 0; c < this.cpus; c++) out[d] += readU64(this.overflowBuf, c * VTEP_VALUE_LAYOUT.size);
    }
    return out;
  }

  /** The filter's counters (FILTER_STATS order), summed over the CPUs. */
  stats(): number[] {
    const out = new Array<number>(FILTER_CONSTANTS.statsCount).fill(0);
    if (!this.obj) return out;
    check(this.b, 'reading csw_filter_stats', this.b.lookup(this.statsFd, ZERO_KEY, this.statsBuf));
    const per = FILTER_CONSTANTS.statsCount * 8;
    for (let c = 0; c < this.cpus; c++) for (let i = 0; i < out.length; i++) out[i] += readU64(this.statsBuf, c * per + i * 8);
    return out;
  }

  /**
   * Runs the loaded program over one Ethernet frame in the kernel (BPF_PROG_TEST_RUN), `repeat`
   * times, as if a packet socket had received it: returns its verdict (bytes to copy; 0: not
   * copied) and the kernel's ns per run. Counts go into the same maps as live packets (ifindex:
   * the calling namespace's loopback). For tests and the benchmark's cost per packet.
   */
  run(frame: Buffer, repeat = 1): { verdict: number; ns: number } {
    if (!this.obj) throw new Error('the capture filter is closed');
    // A socket filter's test run builds an skb and pulls one Ethernet header off it (the
    // kernel's eth_type_trans); a packet socket hands the filter the frame from its own
    // Ethernet header on. So the frame goes in behind a header of its own, pulled instead.
    // The kernel takes at most a page less its own room (EINVAL past it); the filter reads only
    // headers, so a longer frame (a GSO capture's) goes in cut to its first RUN_MAX bytes.
    const data = Buffer.concat([frame.subarray(0, 14), frame.subarray(0, RUN_MAX)]);
    const r = this.b.testRun(this.progFd, data, repeat, 0, 0, 0);
    if (typeof r === 'number') check(this.b, 'running the capture filter', r);
    const [verdict, ns] = r as [number, number];
    return { verdict, ns };
  }

  /** Unloads the object; sockets that attached the program keep their own reference to it. */
  close(): void {
    if (this.obj) this.b.close(this.obj);
    this.obj = null;
  }
}

/** A u64 counter as a double (exact below 2^53, which a packet counter does not reach). */
function readU64(b: Buffer, o: number): number {
  return b.readUInt32LE(o) + b.readUInt32LE(o + 4) * 0x100000000;
}

export function encodeFilterConfig(o: KernelFilterOptions): Buffer {
  const b = Buffer.alloc(FILTER_CFG_LAYOUT.size);
  const ports = (list: readonly number[], at: number, what: string) => {
    if (list.length > FILTER_CONSTANTS.ports) throw new RangeError(`at most ${FILTER_CONSTANTS.ports} ${what} ports`);
    list.forEach((p, i) => b.writeUInt16LE(p, at + i * 2));
  };
  ports(o.vxlanPorts, FILTER_CFG_LAYOUT.vxlan_port, 'VXLAN');
  ports(o.dnsPorts, FILTER_CFG_LAYOUT.dns_port, 'DNS');
  b.writeUInt32LE(o.snaplen >>> 0, FILTER_CFG_LAYOUT.snaplen);
  b.writeUInt32LE(o.copyVxlan ? FILTER_CONSTANTS.copyVxlan : 0, FILTER_CFG_LAYOUT.flags);
  return b;
}
