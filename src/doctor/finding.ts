// What a check says: one finding with its severity, the evidence it rests on and the change that
// removes it. `csumwatch doctor` prints them; the agent serves them on /diagnosis and exports
// csumwatch_finding{check,severity}.

export type Severity = 'info' | 'warning' | 'critical';

export interface Finding {
  /** The check that made it: offload, binding, mtu, resolv, ipv6, nat (the agent adds its own). */
  check: string;
  severity: Severity;
  evidence: string;
  remediation: string;
}

export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];

/** 0 info, 1 warning, 2 critical. */
export function rank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** The severity n steps above s, at most critical. */
export function raise(s: Severity, n = 1): Severity {
  return SEVERITIES[Math.min(SEVERITIES.length - 1, rank(s) + n)];
}

/** Most severe first; a stable sort keeps each check's own order. */
export function bySeverity(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => rank(b.severity) - rank(a.severity));
}
