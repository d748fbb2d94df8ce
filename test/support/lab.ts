// Shared by the lab tests: an analysis's results by layer.

import { Analysis } from '../../src/analyze/analyze';
import { Csum } from '../../src/decode/checksum';
import { LAYER_COUNT, LAYER_NAMES } from '../../src/decode/frame';

/** Nonzero counts of one checksum result, by layer name. */
export function counts(a: Analysis, result: Csum): Record<string, number> {
  const out: Record<string, number> = {};
  for (let l = 0; l < LAYER_COUNT; l++) {
    const n = a.stats.count(l, result);
    if (n > 0) out[LAYER_NAMES[l]] = n;
  }
  return out;
}
