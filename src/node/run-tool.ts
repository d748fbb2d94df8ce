// Running a tool (ethtool, ip, bridge, conntrack for the readers in src/node; ip, sysctl,
// dnsmasq, dig for the lab): synchronous, no shell, every call bounded in time and in output, and every
// failure one error ("running x: cause") with the tool's first line of complaint. The one runner
// of the code base; the lab's run() is this with its own error classes.

import { spawnSync } from 'child_process';

/** Reading the node failed: code CSW_ERR_NODE, "doing x: cause". */
export class NodeError extends Error {
  readonly code = 'CSW_ERR_NODE';
  override readonly name = 'NodeError';
}

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
  /**
   * The error thrown for a failure (default NodeError); missing is true when the tool is not
   * installed at all, so that a caller can name the package.
   */
  error?: (message: string, missing: boolean) => Error;
}

/** Output cap: a conntrack table of a busy node is the largest thing read here. */
const MAX_OUTPUT = 64 << 20;

/** Runs cmd with args; throws NodeError when it cannot run, times out, or exits nonzero (unless allowFail). */
export function runTool(cmd: string, args: readonly string[], opts: ToolOptions = {}): ToolResult {
  const timeout = opts.timeoutMs ?? 10_000;
  const what = `${cmd} ${args.join(' ')}`;
  const fail = opts.error ?? ((message: string) => new NodeError(message));
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout,
    input: opts.input,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    maxBuffer: MAX_OUTPUT,
  });
  if (r.error) {
    const e = r.error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw fail(`running ${cmd}: not installed`, true);
    if (e.code === 'ETIMEDOUT') throw fail(`running ${what}: no result after ${timeout / 1000} s`, false);
    throw fail(`running ${what}: ${e.message}`, false);
  }
  const res = { status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (res.status !== 0 && !opts.allowFail) {
    throw fail(`running ${what}: exit ${res.status}${firstLine(res.stderr, res.stdout)}`, false);
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
