// What the benchmarks read from /proc: a process's CPU time and memory, the machine's busy CPU.

import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { run } from '../../src/lab/tools';

const HZ = Number(run('getconf', ['CLK_TCK'], { allowFail: true }).stdout.trim()) || 100;

/** utime + stime of pid in seconds (fields 14 and 15 of /proc/PID/stat, counted after the comm). */
export function cpuSeconds(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3
  return (Number(f[11]) + Number(f[12])) / HZ;
}

/** A memory line of /proc/PID/status in KiB: VmRSS now, VmHWM the peak; NaN when absent. */
export function memKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Busy CPU seconds of the whole machine so far (/proc/stat: everything but idle and iowait). */
export function cpuBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3] - f[4]) / HZ;
}

/**
 * The program pid runs, from its executable (/proc/PID/exe), not its comm: Node 24 names its main
 * thread "MainThread", and comm is the thread's name.
 */
export function programOf(pid: number): string {
  return basename(readlinkSync(`/proc/${pid}/exe`));
}
