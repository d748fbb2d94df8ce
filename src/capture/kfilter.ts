// The capture filter (bpf/filter.bpf.c) from user space: loading it once for every capture,
// configuring it, and reading what it counted in the kernel, per remote VTEP (VXLAN or Geneve),
// at scrape time.
//
// The filter is an eBPF socket filter: each of the agent's packet sockets (src/capture/ring.ts)
// attaches the same loaded program by its fd, and all of them count into the same maps. It
// needs no BTF (it reads only struct __sk_buff), only the privilege to load BPF (CAP_BPF, or
// CAP_SYS_ADMIN). Where it cannot load, the agent falls back to libpcap with a classic filter
// (src/capture/filter.ts), and every VXLAN packet is copied to user space again.
//
// The layouts below are bpf/shared/filter.h as the built object's BTF has it
// (src/bpf/generated/filter.ts, written by the build); everything goes through src/bpf/.

import { constants as osConstants, endianness } from 'node:os';
import { BpfBinding, bpfBinding, BpfUnavailableError } from '../bpf/binding';
import { BpfMap, BpfObject, objectPath } from '../bpf/object';
import * as G from '../bpf/generated/filter';

/** struct csw_filter_cfg */
export const FILTER_CFG_LAYOUT = G.csw_filter_cfg;
/** struct csw_vtep_key */
export const VTEP_KEY_LAYOUT = G.csw_vtep_key;
/** struct csw_vtep_value */
export const VTEP_VALUE_LAYOUT = G.csw_vtep_value;
export const FILTER_CONSTANTS = {
  ports: G.csw_filter_limits.CSW_FILTER_PORTS, statsCount: G.csw_filter_stat.CSW_FILTER_STATS, copyVxlan: G.csw_filter_flag.CSW_FILTER_COPY_VXLAN,
  encaps: G.csw_encap.CSW_ENCAPS,
} as const;
/** enum csw_encap: csw_vtep_key.encap. */
export const KERNEL_ENCAP_VXLAN = G.csw_encap.CSW_ENCAP_VXLAN;
export const KERNEL_ENCAP_GENEVE = G.csw_encap.CSW_ENCAP_GENEVE;
/** enum csw_filter_stat, in order: the `what` label of csumwatch_filter_packets_total. */
export const FILTER_STATS = ['seen', 'dns', 'tunnel_dns', 'suspect', 'vxlan_copied', 'vxlan', 'overflow', 'not_copied', 'geneve', 'geneve_copied'] as const;

export const FILTER_PROGRAM = G.programs.csw_capture_filter;

export interface KernelFilterOptions {
  /** The kernel object (default: the build's bpf/filter.bpf.o). */
  object?: string;
  vxlanPorts: readonly number[];
  /** Geneve's UDP ports (RFC 8926; 6081 by default): counted per peer like VXLAN, DNS inside copied. */
  genevePorts: readonly number[];
  dnsPorts: readonly number[];
  /** Bytes copied of a packet the filter passes. */
  snaplen: number;
  /** Copy every VXLAN and Geneve packet too (--vtep-packets all): user space verifies each one. */
  copyVxlan: boolean;
  /** Entries of the per-VTEP table (interface × direction × peer); past it, one overflow count per direction. */
  tableSize: number;
}

/**
 * Called per table entry with the counts summed over the CPUs; encap is KERNEL_ENCAP_VXLAN or
 * KERNEL_ENCAP_GENEVE; addr is valid only during the call.
 */
export type VtepEntry = (ifindex: number, family: number, dir: number, encap: number, addr: Buffer, addrOff: number, packets: number, bytes: number) => void;

/** Bytes of a frame run() hands the kernel. */
const RUN_MAX = 2048;

export function defaultFilterObjectPath(): string {
  return objectPath('filter');
}

/** The filter, loaded. Its program fd is what each capture attaches; close() unloads it once no socket holds it. */
export class KernelFilter {
  readonly progFd: number;
  readonly tableSize: number;
  private obj: BpfObject | null;
  private readonly vteps: BpfMap;
  private readonly overflowMap: BpfMap;
  private readonly statsMap: BpfMap;
  private readonly cpus: number;
  private readonly keys: Buffer;
  private readonly values: Buffer;
  private readonly statsBuf: Buffer;
  private readonly overflowBuf: Buffer;
  private readonly key = Buffer.alloc(4);

  constructor(o: KernelFilterOptions, b: BpfBinding = bpfBinding()) {
    if (endianness() !== 'LE') throw new BpfUnavailableError('the filter reads its maps little-endian; this host is big-endian', osConstants.errno.ENOTSUP);
    // No BTF: the filter reads only struct __sk_buff, which has no relocations.
    const obj = BpfObject.open(o.object ?? defaultFilterObjectPath(), null, b);
    this.obj = obj;
    try {
      this.tableSize = Math.max(16, o.tableSize);
      obj.setMaxEntries(G.maps.csw_vteps.name, this.tableSize, 'sizing the VTEP table');
      obj.load('loading the capture filter');
      this.progFd = obj.programFd(FILTER_PROGRAM, 'finding the filter program');
      this.vteps = obj.map(G.maps.csw_vteps.name);
      this.overflowMap = obj.map(G.maps.csw_vtep_overflow.name);
      this.statsMap = obj.map(G.maps.csw_filter_stats.name);
      const cfg = obj.map(G.maps.csw_filter_cfg.name);
      this.cpus = this.vteps.cpus;
      this.keys = Buffer.alloc(VTEP_KEY_LAYOUT.size * this.tableSize);
      this.values = this.vteps.valueBuffer(this.tableSize);
      this.statsBuf = this.statsMap.valueBuffer();
      this.overflowBuf = this.overflowMap.valueBuffer();
      cfg.update(encodeFilterConfig(o), undefined, 0, 'configuring the capture filter');
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Reads the per-VTEP table: f once per entry, counts summed over the CPUs. Returns the entries read. */
  readVteps(f: VtepEntry): number {
    if (!this.obj) return 0;
    const n = this.vteps.dump(this.keys, this.values);
    const k = this.keys;
    const v = this.values;
    const stride = this.vteps.slotSize;
    for (let i = 0; i < n; i++) {
      const ko = i * VTEP_KEY_LAYOUT.size;
      let packets = 0;
      let bytes = 0;
      for (let c = 0; c < this.cpus; c++) {
        const vo = (i * this.cpus + c) * stride;
        packets += readU64(v, vo + VTEP_VALUE_LAYOUT.packets);
        bytes += readU64(v, vo + VTEP_VALUE_LAYOUT.bytes);
      }
      f(k.readUInt32LE(ko + VTEP_KEY_LAYOUT.ifindex), k[ko + VTEP_KEY_LAYOUT.family], k[ko + VTEP_KEY_LAYOUT.dir], k[ko + VTEP_KEY_LAYOUT.encap], k, ko + VTEP_KEY_LAYOUT.addr, packets, bytes);
    }
    return n;
  }

  /** Packets of one encapsulation (KERNEL_ENCAP_*) the table had no room for: [received, sent]. */
  overflow(encap: number = KERNEL_ENCAP_VXLAN): [number, number] {
    const out: [number, number] = [0, 0];
    if (!this.obj) return out;
    for (let d = 0; d < 2; d++) {
      this.key.writeUInt32LE(encap * 2 + d, 0);
      this.overflowMap.lookup(this.overflowBuf, this.key);
      for (let c = 0; c < this.cpus; c++) out[d] += readU64(this.overflowBuf, c * this.overflowMap.slotSize);
    }
    return out;
  }

  /** The filter's counters (FILTER_STATS order), summed over the CPUs. */
  stats(): number[] {
    const out = new Array<number>(FILTER_CONSTANTS.statsCount).fill(0);
    if (!this.obj) return out;
    this.statsMap.lookup(this.statsBuf);
    const per = this.statsMap.slotSize;
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
    const r = this.obj.testRun(FILTER_PROGRAM, data, repeat, 'running the capture filter');
    return { verdict: r.retval, ns: r.ns };
  }

  /** Unloads the object; sockets that attached the program keep their own reference to it. */
  close(): void {
    this.obj?.close();
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
  ports(o.genevePorts, FILTER_CFG_LAYOUT.geneve_port, 'Geneve');
  ports(o.dnsPorts, FILTER_CFG_LAYOUT.dns_port, 'DNS');
  b.writeUInt32LE(o.snaplen >>> 0, FILTER_CFG_LAYOUT.snaplen);
  b.writeUInt32LE(o.copyVxlan ? FILTER_CONSTANTS.copyVxlan : 0, FILTER_CFG_LAYOUT.flags);
  return b;
}
