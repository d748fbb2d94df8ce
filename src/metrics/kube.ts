// The pod directory's health (src/kube/pods.ts), when the agent runs in a cluster: whether it
// has listed the pods, how many it knows, and its list and watch errors per watch.

import { Registry } from 'prom-client';
import type { PodNames } from '../agent/agent';
import { arrayCounter, arrayGauge, CollectorHealth } from './family';

export function registerKubeMetrics(reg: Registry, health: CollectorHealth, pods: PodNames): void {
  arrayGauge(reg, health, 'kube', 'csumwatch_kube_ready', 'Whether the pod directory has listed its pods (1): until then servers and clients are named by IP.', [], (emit) => emit({}, pods.stats().ready ? 1 : 0));
  arrayGauge(reg, health, 'kube', 'csumwatch_kube_pods', 'Pods the directory knows (CoreDNS pods and the pods on this node).', [], (emit) => emit({}, pods.stats().pods));
  arrayCounter(reg, health, 'kube', 'csumwatch_kube_errors_total', 'Failed list and watch requests to the Kubernetes API, by watch (coredns, node) and operation.', ['watch', 'op'], (emit) => {
    for (const [watch, w] of Object.entries(pods.stats().watches)) {
      if (!w) continue;
      emit({ watch, op: 'list' }, w.listErrors);
      emit({ watch, op: 'watch' }, w.watchErrors);
    }
  });
}
