// The node's health as /diagnosis and csumwatch_finding give it: what the agent can say from its
// own state (interfaces it should capture but cannot, captures that drop packets, a kernel drop
// tracer that could not run), then the doctor's latest findings (src/agent/node-doctor.ts). `csumwatch doctor`'s checks join these.

import type { Finding } from '../doctor/finding';
import type { Agent } from './agent';

export function agentFindings(agent: Agent): Finding[] {
  const out: Finding[] = [];
  const caps = agent.captures();
  if (agent.scanError !== '') {
    out.push({
      check: 'capture',
      severity: caps.length === 0 ? 'critical' : 'warning',
      evidence: `the interfaces could not be listed (${agent.scanError}): ${caps.length === 0 ? 'nothing is captured' : 'the captures stay as they were'}, and a VXLAN device that appears is not seen`,
      remediation: 'the agent lists them with `ip -details -json link` and `ip -json addr` in the node\'s network namespace (hostNetwork): check that iproute2 is in the image and the pod runs on the host network; it retries every --rescan-interval',
    });
  } else if (caps.length === 0) {
    // Not an error: a node of a mixed cluster, or a CNI without VXLAN. The agent stays ready.
    out.push({
      check: 'capture',
      severity: 'info',
      evidence: 'no VXLAN device on this node and no interface configured: nothing is captured; the agent watches the kernel\'s drops (the tracer, where it loads) and UDP checksum errors (/proc/net/snmp), runs the doctor\'s resolv.conf and IPv6 checks, and starts capturing when a VXLAN device appears',
      remediation: 'none needed on a node without VXLAN; to capture other interfaces, name them with --interface (or CSUMWATCH_INTERFACE)',
    });
  }
  for (const c of caps) {
    if (!c.running) {
      out.push({
        check: 'capture',
        severity: 'warning',
        evidence: `${c.name}: not captured: ${c.error ?? 'waiting for the interface'}`,
        remediation: 'the agent retries by itself when the interface comes up; check that it exists (ip link show) and that the agent has CAP_NET_RAW',
      });
    }
  }
  if (agent.drops.unavailable !== null && agent.config.bpf !== 'off') {
    out.push({
      check: 'bpf',
      severity: 'warning',
      evidence: `kernel drop tracer not running: ${agent.drops.unavailable}`,
      remediation: 'kernel drops are counted from /proc/net/snmp only, without reasons or the queries they hit; the tracer needs kernel BTF (/sys/kernel/btf/vmlinux) and CAP_BPF with CAP_PERFMON (or CAP_SYS_ADMIN)',
    });
  }
  if (agent.doctor.error) {
    out.push({
      check: 'doctor',
      severity: 'warning',
      evidence: `the doctor's checks could not run: ${agent.doctor.error}`,
      remediation: 'the findings below are from its last run, if any; check that ip and ethtool are in the image and /sys, /proc are the node\'s (hostNetwork)',
    });
  }
  out.push(...(agent.doctor.report?.findings ?? []));
  agent.collectCaptureStats();
  agent.counters.names.forEach((name, slot) => {
    const dropped = agent.counters.captureDropped[slot];
    if (dropped > 0) {
      out.push({
        check: 'capture_drops',
        severity: 'warning',
        evidence: `${name}: the capture dropped ${dropped} packets since the agent started`,
        remediation: 'raise --capture-buffer, or use --vtep-packets dns to pass only DNS through the filter',
      });
    }
  });
  return out;
}
