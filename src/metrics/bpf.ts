// The kernel drop tracer's families: the kernel's drops by reason and protocol (counted in the
// kernel, read at scrape time), which program is loaded, and the tracer's own event counters.

import { Registry } from 'prom-client';
import { KernelDrops } from '../agent/drops';
import { DROP_PROTOS, REASON_SLOTS } from '../capture/ebpf';
import { DnsCorrelator } from '../correlate/transactions';
import { arrayCounter, arrayGauge, CollectorHealth } from './family';

export function registerBpfMetrics(reg: Registry, health: CollectorHealth, k: KernelDrops, dns: DnsCorrelator): void {
  const np = DROP_PROTOS.length;
  // The first family collected reads the maps for all of them (registration order).
  arrayCounter(reg, health, 'bpf', 'csumwatch_kernel_drops_total', 'Packets the kernel dropped, by drop reason (the kernel\'s enum skb_drop_reason, lower case) and protocol; counted in the kernel by the kfree_skb tracer, every network namespace on the node.', ['reason', 'proto'], (emit) => {
    k.collect();
    for (let r = 0; r < REASON_SLOTS; r++) {
      for (let p = 0; p < np; p++) {
        const v = k.counts[r * np + p];
        if (v > 0) emit({ reason: k.reasons[r] ?? `reason_${r}`, proto: DROP_PROTOS[p] }, v);
      }
    }
  });
  arrayGauge(reg, health, 'bpf', 'csumwatch_bpf_program_loaded', 'Whether the kernel drop tracer program is loaded and attached (1) or not (0).', ['program'], (emit) => {
    for (const [program, v] of Object.entries(k.programLoaded())) emit({ program }, v);
  });
  arrayCounter(reg, health, 'bpf', 'csumwatch_bpf_events_total', 'Drop events the tracer sent to the agent through its ring buffer.', [], (emit) => emit({}, k.stats.events));
  arrayCounter(reg, health, 'bpf', 'csumwatch_bpf_events_lost_total', 'Drop events the ring buffer had no room for (the drops are still counted in csumwatch_kernel_drops_total).', [], (emit) => emit({}, k.stats.lost));
  arrayCounter(reg, health, 'bpf', 'csumwatch_bpf_unparsed_total', 'Drops the tracer counted but could not read all of: an IP header (part="headers") or a DNS message (part="dns") outside the packet\'s linear data.', ['part'], (emit) => {
    emit({ part: 'headers' }, k.stats.unparsed);
    emit({ part: 'dns' }, k.stats.dnsShort);
  });
  arrayCounter(reg, health, 'bpf', 'csumwatch_kernel_drops_missed_total', 'Drops the tracer did not see: the kernel skipped the program because it was already running on that CPU (a drop in a softirq interrupting one being traced).', [], (emit) => emit({}, k.stats.missed));
  arrayCounter(reg, health, 'bpf', 'csumwatch_dns_kernel_drops_total', 'DNS packets the kernel dropped, by whether the agent matched them to a transaction it saw (matched) or not (unmatched: their transaction was not captured within the DNS timeout, or the message is shorter than a DNS header).', ['result'], (emit) => {
    emit({ result: 'matched' }, dns.kernelDropsMatched);
    emit({ result: 'unmatched' }, dns.kernelDropsUnmatched);
  });
}
