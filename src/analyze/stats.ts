// Per-frame counters for the offline analyzer: checksum results per layer, malformed frames per
// reason. Typed arrays, incremented per frame without allocation.

import { CSUM_COUNT } from '../decode/checksum';
import { FRAG_FIRST, FRAG_LATER, Frame, LAYER_COUNT } from '../decode/frame';
import { isMalformed, Status, STATUS_COUNT } from '../decode/status';

export class FrameStats {
  frames = 0;
  bytes = 0;
  malformed = 0;
  truncated = 0;
  notIp = 0;
  vxlanFrames = 0;
  fragmentsFirst = 0;
  fragmentsLater = 0;
  /** [layer * CSUM_COUNT + result]. */
  readonly csum = new Float64Array(LAYER_COUNT * CSUM_COUNT);
  /** BAD results whose field held only the pseudo-header sum, per layer. */
  readonly pseudoOnlyBad = new Float64Array(LAYER_COUNT);
  /** Malformed or truncated frames per status, outside and inside VXLAN. */
  readonly reasons = new Float64Array(STATUS_COUNT);
  readonly innerReasons = new Float64Array(STATUS_COUNT);

  add(f: Frame, wireLen: number): void {
    this.frames++;
    this.bytes += wireLen;
    const st = f.status;
    if (st === Status.NOT_IP) this.notIp++;
    else if (st === Status.TRUNCATED) this.truncated++;
    else if (isMalformed(st)) this.malformed++;
    if (st !== Status.OK && st !== Status.NOT_IP) (f.statusInner ? this.innerReasons : this.reasons)[st]++;
    if (f.vxlan) this.vxlanFrames++;
    const frag = f.outer.fragment;
    if (frag === FRAG_FIRST) this.fragmentsFirst++;
    else if (frag === FRAG_LATER) this.fragmentsLater++;
    const c = f.csum;
    for (let i = 0; i < LAYER_COUNT; i++) {
      const r = c[i];
      if (r >= 0) this.csum[i * CSUM_COUNT + r]++;
    }
    if (f.pseudoOnlyBad !== 0) {
      for (let i = 0; i < LAYER_COUNT; i++) if ((f.pseudoOnlyBad & (1 << i)) !== 0) this.pseudoOnlyBad[i]++;
    }
  }

  count(layer: number, result: number): number {
    return this.csum[layer * CSUM_COUNT + result];
  }
}
