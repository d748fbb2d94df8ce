// Running the agent in a lab namespace for the live tests: start it, read its HTTP endpoints
// from inside the namespace, pick metrics out of its text output, wait with a bound.

import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';

import { inNs, sleepMs } from '../../src/lab/tools';
import { BIN } from './cli';

/** GET url from inside namespace ns (curl): status and body. */
export function get(ns: string, url: string): { status: number; body: string } {
  const r = inNs(ns, 'curl', ['-s', '-m', '5', '-w', '\n%{http_code}', url], { allowFail: true });
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
}

/** Sum of the samples of a metric whose labels include all of `labels`. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** Polls fn every 200 ms until it returns a value; throws after timeoutMs. */
export function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 15_000): T {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    sleepMs(200);
  }
}

/** Starts `csumwatch agent args...` in namespace ns, stdout and stderr to logFile; procs keeps it for teardown. */
export function startAgent(ns: string, logFile: string, args: string[], procs: ChildProcess[]): ChildProcess {
  const out = fs.openSync(logFile, 'w');
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN, 'agent', ...args], { stdio: ['ignore', out, out] });
  procs.push(p);
  return p;
}

/** Waits until the agent at url answers /readyz with every capture running; returns that answer. */
export function waitReady(ns: string, base: string): { captures: Array<{ name: string; role: string; ifindex: number; running: boolean }> } {
  return waitFor('the agent to be ready', () => {
    const r = get(ns, `${base}/readyz`);
    return r.status === 200 && JSON.parse(r.body).captures.every((c: { running: boolean }) => c.running) ? JSON.parse(r.body) : undefined;
  });
}

/** Sends SIGTERM and resolves with the exit code, or 'timeout' after 5 s. */
export async function stopAgent(p: ChildProcess): Promise<number | null | string> {
  if (p.exitCode !== null) return p.exitCode;
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  p.kill('SIGTERM');
  return Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 5000))]);
}

/**
 * The packet sockets in namespace ns (`ss -0 -p`), each as the pids holding it: a capture's
 * socket should be held by its agent alone. allowFail: [] when ss fails (a sampler).
 */
export function packetSocketOwners(ns: string, allowFail = false): number[][] {
  const out = inNs(ns, 'ss', ['-0', '-p', '-H'], { allowFail }).stdout;
  return out.split('\n').filter((l) => l.startsWith('p_raw')).map((l) => [...l.matchAll(/\("([^"]+)",pid=(\d+),fd=\d+\)/g)].map((m) => Number(m[2])));
}
