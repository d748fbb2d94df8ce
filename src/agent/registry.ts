// The agent's one private registry: every collector of src/metrics/ given the narrow view of the
// agent it reads, the build info, the collectors' health, and the process's own CPU, memory and
// descriptors. The one place that knows both the Agent and the collectors.

import { Gauge, Registry } from 'prom-client';
import type { Agent } from './agent';
import { agentFindings } from './diagnosis';
import { registerBpfMetrics } from '../metrics/bpf';
import { registerCaptureMetrics } from '../metrics/capture';
import { registerDatapathMetrics } from '../metrics/datapath';
import { registerDnsMetrics } from '../metrics/dns';
import { registerDoctorMetrics } from '../metrics/findings';
import { arrayCounter, arrayGauge, CollectorHealth } from '../metrics/family';
import { registerKernelMetrics } from '../metrics/kernel';
import { registerKubeMetrics } from '../metrics/kube';
import { registerProcessMetrics } from '../metrics/process';
import { registerVtepMetrics } from '../metrics/vtep';

export function createRegistry(agent: Agent, version: string): Registry {
  const reg = new Registry();
  const health = new CollectorHealth();
  // First registered, so collected first in every scrape (prom-client collects in registration
  // order): it marks the scrape's start for the collectors' health.
  new Gauge({
    name: 'csumwatch_build_info',
    help: 'Always 1; the version label says which csumwatch runs.',
    labelNames: ['version'],
    registers: [reg],
    collect() {
      health.begin();
      this.set({ version }, 1);
    },
  });
  arrayGauge(reg, health, 'interfaces', 'csumwatch_interface_info', 'Always 1 per interface the agent captures or waits for, with its driver, kind and MTU.', ['iface', 'driver', 'kind', 'mtu'], (emit) => {
    for (const c of agent.captures()) emit({ iface: c.name, driver: c.driver, kind: c.kind, mtu: String(c.mtu) }, 1);
  });
  arrayGauge(reg, health, 'interfaces', 'csumwatch_vtep_info', "Always 1 per VTEP of this node as its peers see it: the address they send VXLAN or Geneve to (the peer label of their csumwatch_vtep_packets_total), its VXLAN or Geneve device, UDP port and underlay.", ['address', 'iface', 'port', 'underlay'], (emit) => {
    for (const v of agent.vteps) emit({ address: v.address, iface: v.iface, port: String(v.port), underlay: v.underlay }, 1);
  });
  const kernel = () => agent.collectKernelCounts();
  registerCaptureMetrics(reg, health, agent.counters, () => agent.collectCaptureStats(), () => new Map(agent.captures().map((c) => [c.name, c.running])), kernel);
  registerDatapathMetrics(reg, health, { mode: () => agent.datapath, filterStats: () => agent.kfilter?.stats() ?? null });
  registerDnsMetrics(reg, health, agent.servers, agent.dns, (ip) => agent.podOf(ip));
  registerVtepMetrics(reg, health, agent.vtep, agent.config.vtepSeries, kernel);
  registerKernelMetrics(reg, health, () => agent.readSnmp());
  registerBpfMetrics(reg, health, agent.drops, agent.dns);
  if (agent.pods) registerKubeMetrics(reg, health, agent.pods);
  registerDoctorMetrics(reg, health, { findings: () => agentFindings(agent), offload: () => agent.doctor.report?.offload ?? [] });
  arrayCounter(reg, health, 'capture', 'csumwatch_internal_errors_total', 'Capture batches and kernel drop events whose handling threw (a bug): counted and logged, the agent continues.', [], (emit) => emit({}, agent.internalErrors + agent.drops.internalErrors));
  registerProcessMetrics(reg);
  // Last, so that they report the collections of this scrape.
  new Gauge({
    name: 'csumwatch_collector_success',
    help: 'Whether the collector\'s last collection worked (1: every family it fills was read) or failed (0: those families kept their last values).',
    labelNames: ['collector'],
    registers: [reg],
    collect() {
      this.reset();
      for (const [collector, ok] of health.last) this.set({ collector }, ok ? 1 : 0);
    },
  });
  new Gauge({
    name: 'csumwatch_collector_duration_seconds',
    help: 'How long the collector\'s last collection took, over every family it fills.',
    labelNames: ['collector'],
    registers: [reg],
    collect() {
      this.reset();
      for (const [collector, s] of health.seconds) this.set({ collector }, s);
    },
  });
  return reg;
}
