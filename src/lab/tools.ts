// Running the system tools the lab is built with (ip, ethtool, nsenter, dnsmasq, ...; its BPF goes
// through src/bpf, not bpftool or tc).
// Off the hot path: synchronous, one process per call, every call bounded in time.

import { runTool, ToolOptions, ToolResult } from '../node/run-tool';

/** A lab operation failed: "doing x: cause", code CSW_ERR_LAB. */
export class LabError extends Error {
  readonly code: string = 'CSW_ERR_LAB';
  override readonly name: string = 'LabError';
}

/** A tool the lab needs is missing: code CSW_ERR_LAB_TOOL, with the Debian package to install. */
export class LabToolError extends LabError {
  override readonly code: string = 'CSW_ERR_LAB_TOOL';
  override readonly name: string = 'LabToolError';
}

export type RunResult = ToolResult;
export type RunOptions = Omit<ToolOptions, 'error'>;

/** Runs cmd with args, no shell (default 20 s). Throws LabError on a nonzero exit unless allowFail. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): RunResult {
  return runTool(cmd, args, { timeoutMs: 20_000, ...opts, error: (message, missing) => (missing ? new LabToolError(message) : new LabError(message)) });
}

/** Runs a command inside network namespace ns, with /sys remounted for it (ip netns exec). */
export function inNs(ns: string, cmd: string, args: readonly string[], opts?: RunOptions): RunResult {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/**
 * Runs a command in network namespace ns but in this mount namespace, so that it sees the host's
 * bpffs (tc attaching a pinned program). `ip netns exec` would remount /sys and hide it.
 */
export function inNetNs(ns: string, cmd: string, args: readonly string[], opts?: RunOptions): RunResult {
  return run('nsenter', [`--net=/run/netns/${ns}`, cmd, ...args], opts);
}

/** Tools the lab runs, with the Debian package each comes from. */
export const LAB_TOOLS: Record<string, string> = {
  ip: 'iproute2',
  tc: 'iproute2',
  bridge: 'iproute2',
  ethtool: 'ethtool',
  bpftool: 'bpftool',
  nsenter: 'util-linux',
  dnsmasq: 'dnsmasq-base',
  dig: 'dnsutils',
  dnsperf: 'dnsperf',
  tcpdump: 'tcpdump',
  iptables: 'iptables',
};

/** Throws LabToolError naming every missing tool and its package. */
export function requireTools(names: readonly string[]): void {
  const missing: string[] = [];
  for (const n of names) {
    const r = run('sh', ['-c', 'command -v "$1"', 'sh', n], { allowFail: true });
    if (r.status !== 0) missing.push(`${n} (apt install ${LAB_TOOLS[n] ?? n})`);
  }
  if (missing.length > 0) throw new LabToolError(`lab needs tools that are not installed: ${missing.join(', ')}`);
}

/** Throws LabError unless running as root. */
export function requireRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new LabError(`${what}: must run as root (network namespaces, tc and BPF)`);
  }
}

/** Sleeps synchronously (used between polls while building the lab). */
export function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
