// Per remote VTEP: VXLAN and Geneve packets sent to and received from each peer, by checksum result, so loss
// between two nodes shows even where the receiver's own counters stay flat (a vSwitch drops).
//
// Series: by default only for peers a bad packet came from or went to (`--vtep-series bad`).
// Every node of a full-mesh overlay is a peer of every other: 4 series per peer would be 4 000
// per node and 4 million in a 1 000-node cluster (bench/scale.ts), for counters that say nothing
// while the peer is healthy. A peer's series appear with its first bad packet, `ok` and `bad`
// both (the loss ratio needs the two), and stay, since counters never go down. The peers seen
// are counted in csumwatch_vtep_peers whichever way.

import { Registry } from 'prom-client';
import { DIRECTIONS, VtepCounters } from '../agent/counters';
import { arrayCounter, arrayGauge, CollectorHealth } from './family';

/** refresh: reads the kernel filter's per-VTEP counts into v (kernel datapath). */
export function registerVtepMetrics(reg: Registry, health: CollectorHealth, v: VtepCounters, series: 'bad' | 'all', refresh: () => void = () => {}): void {
  const all = series === 'all';
  arrayCounter(reg, health, 'vtep', 'csumwatch_vtep_packets_total', 'VXLAN and Geneve packets by remote VTEP (the tunnel\'s outer address), direction and result (bad: the kernel dropped it for a checksum, or a checksum verified by the agent failed); with --vtep-series bad (default) only peers that sent or received a bad packet.', ['peer', 'direction', 'result'], (emit) => {
    refresh();
    const n = v.peers.count();
    for (let p = 0; p < n; p++) {
      if (!all && v.packets[p * 4 + 1] === 0 && v.packets[p * 4 + 3] === 0) continue;
      const peer = v.peers.name(p);
      for (let d = 0; d < 2; d++) {
        emit({ peer, direction: DIRECTIONS[d], result: 'ok' }, v.packets[(p * 2 + d) * 2]);
        emit({ peer, direction: DIRECTIONS[d], result: 'bad' }, v.packets[(p * 2 + d) * 2 + 1]);
      }
    }
  });
  arrayGauge(reg, health, 'vtep', 'csumwatch_vtep_peers', 'Remote VTEPs this agent has seen VXLAN or Geneve packets from or to (up to --max-peers, then one more for the rest).', [], (emit) => {
    refresh();
    emit({}, v.peers.count());
  });
}
