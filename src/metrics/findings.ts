// The node's findings and offload flags: csumwatch_finding{check,severity} (1 while a finding of
// that check and severity stands, 0 otherwise, for every check the agent knows) and
// csumwatch_offload_enabled{iface,feature} from the doctor's latest run.

import { Registry } from 'prom-client';
import { Finding, SEVERITIES } from '../doctor/finding';
import { arrayGauge, CollectorHealth } from './family';

/** Every check that can report: the agent's own, then the doctor's. Each gets its series at 0 or 1. */
export const CHECKS = ['capture', 'capture_drops', 'bpf', 'doctor', 'offload', 'binding', 'mtu', 'vxlan_port', 'resolv', 'ipv6', 'nat'] as const;

/** What the doctor's collector reads: the findings standing now and the last run's offload flags. */
export interface DoctorView {
  findings(): Finding[];
  offload(): ReadonlyArray<{ iface: string; feature: string; enabled: boolean }>;
}

export function registerDoctorMetrics(reg: Registry, health: CollectorHealth, view: DoctorView): void {
  arrayGauge(reg, health, 'doctor', 'csumwatch_finding', 'Whether a finding of this check and severity stands now (1) or not (0); /diagnosis says what and how to fix it.', ['check', 'severity'], (emit) => {
    const now = new Set(view.findings().map((f) => `${f.check}\0${f.severity}`));
    const checks = new Set<string>(CHECKS);
    for (const k of now) checks.add(k.split('\0')[0]);
    for (const check of checks) for (const severity of SEVERITIES) emit({ check, severity }, now.has(`${check}\0${severity}`) ? 1 : 0);
  });
  arrayGauge(reg, health, 'doctor', 'csumwatch_offload_enabled', 'Transmit offload features of the VXLAN devices and their underlays (1 on, 0 off), as ethtool -k shows them at the doctor\'s last run.', ['iface', 'feature'], (emit) => {
    for (const o of view.offload()) emit({ iface: o.iface, feature: o.feature }, o.enabled ? 1 : 0);
  });
}
