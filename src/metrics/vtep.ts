// Per remote VTEP: VXLAN packets sent to and received from each peer, by checksum result, so loss
// between two nodes shows even where the receiver's own counters stay flat (a vSwitch drops).

import { Registry } from 'prom-client';
import { DIRECTIONS, VtepCounters } from '../agent/counters';
import { arrayCounter, CollectorHealth } from './family';

export function registerVtepMetrics(reg: Registry, health: CollectorHealth, v: VtepCounters): void {
  arrayCounter(reg, health, 'vtep', 'csumwatch_vtep_packets_total', 'VXLAN packets by remote VTEP, direction and result (bad: a checksum in the packet failed).', ['peer', 'direction', 'result'], (emit) => {
    const n = v.peers.count();
    for (let p = 0; p < n; p++) {
      const peer = v.peers.name(p);
      for (let d = 0; d < 2; d++) {
        emit({ peer, direction: DIRECTIONS[d], result: 'ok' }, v.packets[(p * 2 + d) * 2]);
        emit({ peer, direction: DIRECTIONS[d], result: 'bad' }, v.packets[(p * 2 + d) * 2 + 1]);
      }
    }
  });
}
