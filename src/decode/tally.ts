// The counting step every reader of decoded frames shares (the live agent's per-interface
// counters, the offline analyzer's totals): a frame's checksum results per layer, and why it
// could not be decoded to the end, outside or inside VXLAN. Typed arrays, no allocation.

import { CSUM_COUNT } from './checksum';
import { Frame, LAYER_COUNT } from './frame';
import { Status, STATUS_COUNT } from './status';

/** Entries one tally of checksum results takes: [layer * CSUM_COUNT + result]. */
export const CSUM_TALLY = LAYER_COUNT * CSUM_COUNT;
/** Entries one tally of decode failures takes: [inner * STATUS_COUNT + status]. */
export const STATUS_TALLY = 2 * STATUS_COUNT;

/**
 * Adds f's checksum results to csum[csumBase + layer * CSUM_COUNT + result] and, when it was
 * not decoded to the end (and is IP), its status to errors[errorsBase + inner * STATUS_COUNT + status].
 */
export function tallyFrame(f: Frame, csum: Float64Array, csumBase: number, errors: Float64Array, errorsBase: number): void {
  const c = f.csum;
  for (let l = 0; l < LAYER_COUNT; l++) {
    const r = c[l];
    if (r >= 0) csum[csumBase + l * CSUM_COUNT + r]++;
  }
  const st = f.status;
  if (st !== Status.OK && st !== Status.NOT_IP) errors[errorsBase + (f.statusInner ? STATUS_COUNT : 0) + st]++;
}
