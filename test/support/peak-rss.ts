// A child's peak memory, for tests that bound it. Run as a program, this file runs the node
// script named by its first argument (with the rest as that script's arguments) in its own
// process and, when the process exits, writes the peak resident set size (VmHWM from
// /proc/self/status, in KiB) on file descriptor 3. runMeasured() spawns it, bounded in time.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import Module from 'node:module';
import { resolve } from 'node:path';

export interface Measured {
  /** Exit status; null when killed. */
  code: number | null;
  /** The signal that killed it (SIGKILL after the timeout), else null. */
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  /** Peak resident set size in KiB; -1 when the child died before reporting it. */
  peakKiB: number;
}

/**
 * Runs `node script args...` with its peak RSS measured; killed (SIGKILL) after timeoutMs.
 * input: bytes written to its standard input, a pipe (default: none, stdin ignored).
 */
export function runMeasured(script: string, args: string[], timeoutMs: number, input?: Uint8Array): Measured {
  const r = spawnSync(process.execPath, [__filename, script, ...args], {
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', 'pipe'],
    ...(input === undefined ? {} : { input }),
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 64 << 20,
  });
  const fd3 = (r.output?.[3] ?? '') as string;
  const peak = /^(\d+)\n$/.exec(fd3);
  return { code: r.status, signal: r.signal, out: r.stdout ?? '', err: r.stderr ?? '', peakKiB: peak ? Number(peak[1]) : -1 };
}

if (require.main === module) {
  const [script, ...args] = process.argv.slice(2);
  const path = resolve(script);
  process.argv = [process.argv[0], path, ...args];
  process.on('exit', () => {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    fs.writeSync(3, `${m ? m[1] : -1}\n`);
  });
  // Run it as `node script` does, as the main module, not with require(): under tap, whose
  // @tapjs/processinfo follows children through NODE_OPTIONS, Node >= 24.13.1 has tap register its
  // hooks with module.registerHooks, and their synchronous load hook gives require() no source for
  // an extensionless file (bin/csumwatch): ERR_INVALID_RETURN_PROPERTY_VALUE. As the main module,
  // the file goes through the loader that `node bin/csumwatch` uses.
  Module.runMain(path);
}
