// Per-frame counters for the offline analyzer: the tally the live agent keeps per interface and
// direction (src/decode/tally.ts), once for the whole capture, plus what only a report needs.

import { CSUM_COUNT } from '../decode/checksum';
import { ENCAP_GENEVE, ENCAP_VXLAN, FRAG_FIRST, FRAG_LATER, Frame, LAYER_COUNT } from '../decode/frame';
import { isMalformed, Status } from '../decode/status';
import { CSUM_TALLY, STATUS_TALLY, tallyFrame } from '../decode/tally';

export class FrameStats {
  frames = 0;
  bytes = 0;
  malformed = 0;
  truncated = 0;
  notIp = 0;
  vxlanFrames = 0;
  geneveFrames = 0;
  fragmentsFirst = 0;
  fragmentsLater = 0;
  /** [layer * CSUM_COUNT + result]. */
  readonly csum = new Float64Array(CSUM_TALLY);
  /** BAD results whose field held only the pseudo-header sum, per layer. */
  readonly pseudoOnlyBad = new Float64Array(LAYER_COUNT);
  /** Malformed or truncated frames per status: [status] outside a tunnel, [encap * STATUS_COUNT + status] inside (tally.ts). */
  readonly decodeErrors = new Float64Array(STATUS_TALLY);

  add(f: Frame, wireLen: number): void {
    this.frames++;
    this.bytes += wireLen;
    const st = f.status;
    if (st === Status.NOT_IP) this.notIp++;
    else if (st === Status.TRUNCATED) this.truncated++;
    else if (isMalformed(st)) this.malformed++;
    if (f.encap === ENCAP_VXLAN) this.vxlanFrames++;
    else if (f.encap === ENCAP_GENEVE) this.geneveFrames++;
    const frag = f.outer.fragment;
    if (frag === FRAG_FIRST) this.fragmentsFirst++;
    else if (frag === FRAG_LATER) this.fragmentsLater++;
    tallyFrame(f, this.csum, 0, this.decodeErrors, 0);
    if (f.pseudoOnlyBad !== 0) {
      for (let i = 0; i < LAYER_COUNT; i++) if ((f.pseudoOnlyBad & (1 << i)) !== 0) this.pseudoOnlyBad[i]++;
    }
  }

  count(layer: number, result: number): number {
    return this.csum[layer * CSUM_COUNT + result];
  }
}
