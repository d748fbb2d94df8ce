// The counting step every reader of decoded frames shares (the live agent's per-interface
// counters, the offline analyzer's totals): a frame's checksum results per layer, and why it
// could not be decoded to the end, outside or inside a tunnel. Typed arrays, no allocation.

import { CSUM_COUNT } from './checksum';
import { ENCAP_COUNT, ENCAP_NAMES, Frame, LAYER_COUNT } from './frame';
import { Status, STATUS_COUNT } from './status';

/** Entries one tally of checksum results takes: [layer * CSUM_COUNT + result]. */
export const CSUM_TALLY = LAYER_COUNT * CSUM_COUNT;
/**
 * Entries one tally of decode failures takes: [where * STATUS_COUNT + status], where is 0 outside
 * any tunnel, else the tunnel (ENCAP_VXLAN, ENCAP_GENEVE) inside which the status arose.
 */
export const STATUS_TALLY = ENCAP_COUNT * STATUS_COUNT;
/** The reason label's prefix per `where` above: "", "vxlan.", "geneve.". */
export const REASON_PREFIXES: readonly string[] = ENCAP_NAMES.map((n, i) => (i === 0 ? '' : n + '.'));

/**
 * Adds f's checksum results to csum[csumBase + layer * CSUM_COUNT + result] and, when it was
 * not decoded to the end (and is IP), its status to errors[errorsBase + where * STATUS_COUNT + status].
 */
export function tallyFrame(f: Frame, csum: Float64Array, csumBase: number, errors: Float64Array, errorsBase: number): void {
  const c = f.csum;
  for (let l = 0; l < LAYER_COUNT; l++) {
    const r = c[l];
    if (r >= 0) csum[csumBase + l * CSUM_COUNT + r]++;
  }
  const st = f.status;
  if (st !== Status.OK && st !== Status.NOT_IP) errors[errorsBase + (f.statusInner ? f.encap * STATUS_COUNT : 0) + st]++;
}
