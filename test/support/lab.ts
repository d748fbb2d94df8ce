// Shared by the lab tests: an analysis's results by layer, and a lab with a directory for a test.

import * as fs from 'node:fs';
import { join } from 'node:path';

import { Analysis } from '../../src/analyze/analyze';
import { Csum } from '../../src/decode/checksum';
import { LAYER_COUNT, LAYER_NAMES } from '../../src/decode/frame';
import { DEFAULT_CONFIG, LabConfig } from '../../src/lab/config';
import { Lab, labUp } from '../../src/lab/lab';

/** Nonzero counts of one checksum result, by layer name. */
export function counts(a: Analysis, result: Csum): Record<string, number> {
  const out: Record<string, number> = {};
  for (let l = 0; l < LAYER_COUNT; l++) {
    const n = a.stats.count(l, result);
    if (n > 0) out[LAYER_NAMES[l]] = n;
  }
  return out;
}

/**
 * The default lab under `name`, with `config` over it, and a directory in its run directory for
 * the test's own files (logs, name lists, configurations).
 */
export function labWithDir(name: string, sub: string, config: Partial<LabConfig> = {}): { lab: Lab; dir: string } {
  const lab = labUp({ ...DEFAULT_CONFIG, ...config, name });
  const dir = join(lab.dir, sub);
  fs.mkdirSync(dir, { recursive: true });
  return { lab, dir };
}
