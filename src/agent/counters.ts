// The live agent's hot-path counters: typed arrays indexed by interface slot, direction and
// layer, incremented per packet without allocation. Interfaces get a slot by name the first time
// they are captured and keep it for the life of the process, so a device that is deleted and
// re-created (a CNI restart) keeps counting into the same series. The metrics collectors read
// these arrays at scrape time.

import { CSUM_COUNT } from '../decode/checksum';
import { AddrTable } from '../correlate/addrtable';
import { Frame, LAYER_COUNT } from '../decode/frame';
import { Status, STATUS_COUNT } from '../decode/status';

export const DIRECTIONS = ['rx', 'tx'] as const;
export const DIR_INDEX_RX = 0;
export const DIR_INDEX_TX = 1;
export const ENCAPS = ['none', 'vxlan'] as const;

/** Interface slots kept at most: more interfaces than this are not captured (and logged). */
export const MAX_IFACES = 64;

export class IfaceCounters {
  readonly names: string[] = [];
  /** [(slot * 2 + dir) * 2 + encap] */
  readonly packets = new Float64Array(MAX_IFACES * 4);
  /** [((slot * 2 + dir) * LAYER_COUNT + layer) * CSUM_COUNT + result] */
  readonly csum = new Float64Array(MAX_IFACES * 2 * LAYER_COUNT * CSUM_COUNT);
  /** [(slot * 2 + inner) * STATUS_COUNT + status]: malformed and truncated frames. */
  readonly decodeErrors = new Float64Array(MAX_IFACES * 2 * STATUS_COUNT);
  /** Packets the capture dropped (libpcap ps_drop + ps_ifdrop), summed over the slot's captures. */
  readonly captureDropped = new Float64Array(MAX_IFACES);
  /** Packets cut short because they exceeded the batch buffer. */
  readonly clipped = new Float64Array(MAX_IFACES);

  /** The slot for an interface name, assigned on first use; -1 when every slot is taken. */
  slot(name: string): number {
    const i = this.names.indexOf(name);
    if (i >= 0) return i;
    if (this.names.length >= MAX_IFACES) return -1;
    this.names.push(name);
    return this.names.length - 1;
  }

  /** Counts one decoded frame. */
  add(slot: number, dir: number, f: Frame): void {
    const sd = slot * 2 + dir;
    this.packets[sd * 2 + (f.vxlan ? 1 : 0)]++;
    const c = f.csum;
    const base = sd * LAYER_COUNT;
    for (let l = 0; l < LAYER_COUNT; l++) {
      const r = c[l];
      if (r >= 0) this.csum[(base + l) * CSUM_COUNT + r]++;
    }
    const st = f.status;
    if (st !== Status.OK && st !== Status.NOT_IP) this.decodeErrors[(slot * 2 + (f.statusInner ? 1 : 0)) * STATUS_COUNT + st]++;
  }
}

/**
 * Per remote VTEP: VXLAN packets received from it and sent to it, by whether every checksum in
 * the packet that could be verified was good. `capacity` peers are kept by address; the rest are
 * counted under one overflow entry.
 */
export class VtepCounters {
  readonly peers: AddrTable;
  /** [(peer * 2 + dir) * 2 + (bad ? 1 : 0)] */
  readonly packets: Float64Array;

  constructor(capacity = 1024) {
    this.peers = new AddrTable(capacity, '(other peers)');
    this.packets = new Float64Array((capacity + 1) * 4);
  }

  /** Counts a VXLAN frame: the peer is the outer source (received) or destination (sent). */
  add(b: Uint8Array, dir: number, f: Frame): void {
    const s = f.outer;
    const v4 = s.ipVersion === 4;
    const off = dir === DIR_INDEX_RX ? s.srcOffset : s.ipOffset + (v4 ? 16 : 24);
    const p = this.peers.lookup(b, off, s.ipVersion);
    this.packets[(p * 2 + dir) * 2 + (f.badMask() !== 0 ? 1 : 0)]++;
  }
}
