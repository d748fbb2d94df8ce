// Running the node's own tools (ethtool, ip, bridge, conntrack) for the readers in src/node:
// synchronous, no shell, every call bounded in time and in output, and every failure a NodeError
// ("running x: cause") with the tool's first line of complaint.

import { spawnSync } from 'child_process';

import { NodeError } from './interfaces';

export interface ToolResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface ToolOptions {
  /** Milliseconds before the process is killed (default 10 s). */
  timeoutMs?: number;
  /** Return a nonzero exit instead of throwing. */
  allowFail?: boolean;
  /** Written to the tool's stdin. */
  input?: string;
}

/** Output cap: a conntrack table of a busy node is the largest thing read here. */
const MAX_OUTPUT = 64 << 20;

/** Runs cmd with args; throws NodeError when it cannot run, times out, or exits nonzero (unless allowFail). */
export function runTool(cmd: string, args: readonly string[], opts: ToolOptions = {}): ToolResult {
  const timeout = opts.timeoutMs ?? 10_000;
  const what = `${cmd} ${args.join(' ')}`;
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout,
    input: opts.input,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    maxBuffer: MAX_OUTPUT,
  });
  if (r.error) {
    const e = r.error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new NodeError(`running ${cmd}: not installed`);
    if (e.code === 'ETIMEDOUT') throw new NodeError(`running ${what}: no result after ${timeout / 1000} s`);
    throw new NodeError(`running ${what}: ${e.message}`);
  }
  const res = { status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (res.status !== 0 && !opts.allowFail) {
    throw new NodeError(`running ${what}: exit ${res.status}${firstLine(res.stderr, res.stdout)}`);
  }
  return res;
}

function firstLine(...texts: string[]): string {
  for (const t of texts) {
    const line = t.trim().split('\n')[0];
    if (line) return `: ${line}`;
  }
  return '';
}
