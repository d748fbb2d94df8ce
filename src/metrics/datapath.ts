// The datapath: which one runs (the kernel's eBPF socket filter with the agent's own ring, or
// libpcap), and what the kernel filter did with the packets it saw.

import { Registry } from 'prom-client';
import { FILTER_STATS } from '../capture/kfilter';
import { arrayCounter, arrayGauge, CollectorHealth } from './family';

export const DATAPATH_MODES = ['kernel', 'pcap'] as const;
/** How packets reach the agent (csumwatch_datapath{mode}). */
export type DatapathMode = (typeof DATAPATH_MODES)[number];

export interface DatapathView {
  mode(): DatapathMode;
  /** The kernel filter's counters (FILTER_STATS order), or null on the libpcap datapath. */
  filterStats(): number[] | null;
}

export function registerDatapathMetrics(reg: Registry, health: CollectorHealth, v: DatapathView): void {
  arrayGauge(reg, health, 'datapath', 'csumwatch_datapath', 'How packets reach the agent: 1 for the datapath that runs. kernel: an eBPF socket filter counts VXLAN and Geneve in the kernel and copies only DNS and suspect packets; pcap: libpcap copies every tunnel packet (the fallback where BPF cannot load).', ['mode'], (emit) => {
    const m = v.mode();
    for (const mode of DATAPATH_MODES) emit({ mode }, mode === m ? 1 : 0);
  });
  arrayCounter(reg, health, 'datapath', 'csumwatch_filter_packets_total', 'What the kernel capture filter did with the packets it ran on (kernel datapath only): seen, copied as dns, tunnel_dns, suspect, vxlan_copied or geneve_copied, counted as vxlan or geneve (and overflow: past the peer table), not_copied.', ['what'], (emit) => {
    const s = v.filterStats();
    if (!s) return;
    FILTER_STATS.forEach((what, i) => emit({ what }, s[i]));
  });
}
