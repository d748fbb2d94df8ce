// bin/csumwatch as a user runs it, for the tests: a bounded child process, and the shape every
// usage error must have (CONTRACT.md: exit 2, one line on stderr, no stack trace).

import { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(__dirname, '..', '..', '..', 'bin', 'csumwatch');

/** Runs `csumwatch args...` (bounded: 2 minutes). */
export function cli(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Each case: exit 2, one stderr line that says why, no stack trace; with quiet, nothing on stdout. */
export function usageErrors(t: Test, cases: ReadonlyArray<[string[], RegExp]>, opts: { quiet?: boolean } = {}): void {
  for (const [args, why] of cases) {
    const r = cli(...args);
    t.equal(r.code, 2, `exit 2: ${args.join(' ')}`);
    const lines = r.err.split('\n').filter((l) => l !== '');
    t.equal(lines.length, 1, `one stderr line: ${args.join(' ')}`);
    t.match(r.err, why, `says why: ${args.join(' ')}`);
    t.notMatch(r.err, /\n\s+at /, 'no stack trace');
    if (opts.quiet) t.equal(r.out, '', 'nothing on stdout');
  }
}
