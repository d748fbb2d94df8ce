// Shared by the lab tests: the CLI as a user runs it, and an analysis's results by layer.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { Analysis } from '../../src/analyze/analyze';
import { Csum } from '../../src/decode/checksum';
import { LAYER_COUNT, LAYER_NAMES } from '../../src/decode/frame';

export const BIN = join(__dirname, '..', '..', '..', 'bin', 'csumwatch');

/** Runs `csumwatch args...` (bounded: 2 minutes). */
export function cli(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Nonzero counts of one checksum result, by layer name. */
export function counts(a: Analysis, result: Csum): Record<string, number> {
  const out: Record<string, number> = {};
  for (let l = 0; l < LAYER_COUNT; l++) {
    const n = a.stats.count(l, result);
    if (n > 0) out[LAYER_NAMES[l]] = n;
  }
  return out;
}
