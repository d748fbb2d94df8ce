// The live agent's hot-path counters: typed arrays indexed by interface slot, direction and
// layer, incremented per packet without allocation. Interfaces get a slot by name the first time
// they are captured and keep it for the life of the process, so a device that is deleted and
// re-created (a CNI restart) keeps counting into the same series. The metrics collectors read
// these arrays at scrape time.

import { AddrTable } from '../correlate/addrtable';
import { ENCAP_COUNT, ENCAP_NONE, Frame } from '../decode/frame';
import { CSUM_TALLY, STATUS_TALLY, tallyFrame } from '../decode/tally';

export const DIRECTIONS = ['rx', 'tx'] as const;
export const DIR_INDEX_RX = 0;
export const DIR_INDEX_TX = 1;
export { ENCAP_NAMES as ENCAPS } from '../decode/frame';

/** Interface slots kept at most: more interfaces than this are not captured (and logged). */
export const MAX_IFACES = 64;

export class IfaceCounters {
  readonly names: string[] = [];
  /** [(slot * 2 + dir) * ENCAP_COUNT + encap] (ENCAP_NONE, ENCAP_VXLAN, ENCAP_GENEVE) */
  readonly packets = new Float64Array(MAX_IFACES * 2 * ENCAP_COUNT);
  /** [(slot * 2 + dir) * CSUM_TALLY + layer * CSUM_COUNT + result] (src/decode/tally.ts) */
  readonly csum = new Float64Array(MAX_IFACES * 2 * CSUM_TALLY);
  /** [slot * STATUS_TALLY + where * STATUS_COUNT + status]: malformed and truncated frames (tally.ts). */
  readonly decodeErrors = new Float64Array(MAX_IFACES * STATUS_TALLY);
  /** Packets the capture dropped (libpcap ps_drop + ps_ifdrop), summed over the slot's captures. */
  readonly captureDropped = new Float64Array(MAX_IFACES);
  /** Packets cut short because they exceeded the batch buffer. */
  readonly clipped = new Float64Array(MAX_IFACES);
  /**
   * Indexed as packets[]: VXLAN and Geneve packets the kernel filter counted on the interface
   * (kernel datapath), as last read; csumwatch_packets_total adds them to packets[].
   */
  readonly kernelTunnel = new Float64Array(MAX_IFACES * 2 * ENCAP_COUNT);

  /** The slot for an interface name, assigned on first use; -1 when every slot is taken. */
  slot(name: string): number {
    const i = this.names.indexOf(name);
    if (i >= 0) return i;
    if (this.names.length >= MAX_IFACES) return -1;
    this.names.push(name);
    return this.names.length - 1;
  }

  /**
   * Counts one decoded frame; a tunnelled frame (VXLAN or Geneve) the kernel filter counted
   * already is not counted again.
   */
  add(slot: number, dir: number, f: Frame, kernelCounted = false): void {
    const sd = slot * 2 + dir;
    if (!(kernelCounted && f.encap !== ENCAP_NONE)) this.packets[sd * ENCAP_COUNT + f.encap]++;
    tallyFrame(f, this.csum, sd * CSUM_TALLY, this.decodeErrors, slot * STATUS_TALLY);
  }
}

/**
 * Per remote VTEP (a VXLAN or Geneve tunnel endpoint: the outer address): tunnelled packets
 * received from it and sent to it, `ok` or `bad`. `capacity` peers
 * are kept by address; the rest are counted under one overflow entry.
 *
 * On the libpcap datapath every VXLAN packet is copied and verified here: `bad` when a checksum in
 * it that could be verified failed. On the kernel datapath the kernel filter counts every packet
 * (read at scrape time, addKernel()), and `bad` is the larger of two counts of the same thing: the
 * packets the kernel dropped for a checksum, whose tunnel the drop tracer read (addKernelBad()), and
 * the copied ones (DNS) that failed here. `ok` is the rest, never going down.
 */
export class VtepCounters {
  readonly peers: AddrTable;
  /** [(peer * 2 + dir) * 2 + (bad ? 1 : 0)]: what the metric exports. */
  readonly packets: Float64Array;
  /** Kernel datapath, [peer * 2 + dir]: the filter's counts in the read under way. */
  private readonly kernelTotal: Float64Array;
  /** Kernel datapath, [peer * 2 + dir]: checksum drops the tracer tied to the peer; bad copies verified here. */
  private readonly kernelBad: Float64Array;
  private readonly copiedBad: Float64Array;

  constructor(capacity = 1024) {
    this.peers = new AddrTable(capacity, '(other peers)');
    this.packets = new Float64Array((capacity + 1) * 4);
    this.kernelTotal = new Float64Array((capacity + 1) * 2);
    this.kernelBad = new Float64Array((capacity + 1) * 2);
    this.copiedBad = new Float64Array((capacity + 1) * 2);
  }

  /**
   * Counts a tunnelled frame (VXLAN or Geneve): the peer is the outer source (received) or
   * destination (sent). When the kernel filter counted it (kernelCounted), only a failed checksum
   * is noted.
   */
  add(b: Uint8Array, dir: number, f: Frame, kernelCounted = false): void {
    if (f.encap === ENCAP_NONE) return;
    const s = f.outer;
    const v4 = s.ipVersion === 4;
    const off = dir === DIR_INDEX_RX ? s.srcOffset : s.ipOffset + (v4 ? 16 : 24);
    const p = this.peers.lookup(b, off, s.ipVersion);
    const bad = f.badMask() !== 0;
    if (!kernelCounted) this.packets[(p * 2 + dir) * 2 + (bad ? 1 : 0)]++;
    else if (bad) this.copiedBad[p * 2 + dir]++;
  }

  /** A packet received from the peer (address words in network order) that the kernel dropped for a checksum. */
  addKernelBad(words: Int32Array, family: number): void {
    const p = this.peers.lookupKey(words, family);
    this.kernelBad[p * 2 + DIR_INDEX_RX]++;
  }

  beginKernelRead(): void {
    this.kernelTotal.fill(0);
  }

  /** One entry of the kernel filter's table: `packets` from or to the peer at addr[off]. */
  addKernel(addr: Uint8Array, off: number, family: number, dir: number, packets: number): void {
    if (dir !== 0 && dir !== 1) return;
    const p = this.peers.lookup(addr, off, family === 6 ? 6 : 4);
    this.kernelTotal[p * 2 + dir] += packets;
  }

  /** What the kernel's table had no room for, counted under the overflow peer. */
  addKernelOverflow(rx: number, tx: number): void {
    const p = this.peers.capacity;
    this.kernelTotal[p * 2] += rx;
    this.kernelTotal[p * 2 + 1] += tx;
  }

  /** Turns the read into the exported counts: bad as the larger count, ok the rest, neither going down. */
  endKernelRead(): void {
    const n = this.peers.capacity + 1;
    for (let i = 0; i < n * 2; i++) {
      const bad = Math.max(this.kernelBad[i], this.copiedBad[i], this.packets[i * 2 + 1]);
      const ok = this.kernelTotal[i] - bad;
      this.packets[i * 2 + 1] = bad;
      if (ok > this.packets[i * 2]) this.packets[i * 2] = ok;
    }
  }
}
