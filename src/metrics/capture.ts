// Capture and checksum families: packets, checksum results, decode errors and capture drops per
// interface, read from the agent's IfaceCounters.

import { Registry } from 'prom-client';
import { IfaceCounters, DIRECTIONS, ENCAPS } from '../agent/counters';
import { CSUM_COUNT, CSUM_NAMES } from '../decode/checksum';
import { ENCAP_COUNT, LAYER_COUNT, LAYER_NAMES } from '../decode/frame';
import { REASON_PREFIXES } from '../decode/tally';
import { Status, STATUS_COUNT, statusName } from '../decode/status';
import { arrayCounter, arrayGauge, CollectorHealth } from './family';

/** refresh: reads the capture drop counters; kernel: reads the kernel filter's counts (kernel datapath). */
export function registerCaptureMetrics(reg: Registry, health: CollectorHealth, c: IfaceCounters, refresh: () => void, running: () => Map<string, boolean>, kernel: () => void = () => {}): void {
  arrayCounter(reg, health, 'capture', 'csumwatch_packets_total', 'Packets seen, by interface, direction and encapsulation: DNS captured and decoded; VXLAN counted in the kernel (kernel datapath) or captured and decoded (pcap datapath); Geneve captured and decoded.', ['iface', 'direction', 'encap'], (emit) => {
    kernel();
    c.names.forEach((iface, slot) => {
      for (let d = 0; d < 2; d++) {
        for (let e = 0; e < ENCAP_COUNT; e++) emit({ iface, direction: DIRECTIONS[d], encap: ENCAPS[e] }, c.packets[(slot * 2 + d) * ENCAP_COUNT + e] + c.kernelTunnel[(slot * 2 + d) * ENCAP_COUNT + e]);
      }
    });
  });
  arrayCounter(reg, health, 'capture', 'csumwatch_checksums_total', 'Checksums verified, by interface, direction, layer (vxlan.* inside VXLAN, geneve.* inside Geneve) and result.', ['iface', 'direction', 'layer', 'result'], (emit) => {
    c.names.forEach((iface, slot) => {
      for (let d = 0; d < 2; d++) {
        for (let l = 0; l < LAYER_COUNT; l++) {
          for (let r = 0; r < CSUM_COUNT; r++) {
            emit({ iface, direction: DIRECTIONS[d], layer: LAYER_NAMES[l], result: CSUM_NAMES[r] }, c.csum[((slot * 2 + d) * LAYER_COUNT + l) * CSUM_COUNT + r]);
          }
        }
      }
    });
  });
  arrayCounter(reg, health, 'capture', 'csumwatch_decode_errors_total', 'Frames that could not be decoded to the end: malformed (the packet lies) or truncated (the capture cut it); vxlan.* reasons arose inside VXLAN, geneve.* inside Geneve.', ['iface', 'reason'], (emit) => {
    c.names.forEach((iface, slot) => {
      for (let where = 0; where < ENCAP_COUNT; where++) {
        for (let s = 0; s < STATUS_COUNT; s++) {
          if (s === Status.OK || s === Status.NOT_IP) continue;
          const v = c.decodeErrors[(slot * ENCAP_COUNT + where) * STATUS_COUNT + s];
          // Only reasons that happened: 100-odd zero series per interface would say nothing.
          if (v > 0) emit({ iface, reason: REASON_PREFIXES[where] + statusName(s) }, v);
        }
      }
    });
  });
  arrayCounter(reg, health, 'capture', 'csumwatch_capture_dropped_total', 'Packets the capture itself dropped (ring full: TPACKET tp_drops, or libpcap ps_drop + ps_ifdrop): the agent fell behind.', ['iface'], (emit) => {
    refresh();
    c.names.forEach((iface, slot) => emit({ iface }, c.captureDropped[slot]));
  });
  arrayGauge(reg, health, 'capture', 'csumwatch_capture_running', 'Whether the capture on the interface runs now (1) or is waiting for it (0).', ['iface'], (emit) => {
    for (const [iface, on] of running()) emit({ iface }, on ? 1 : 0);
  });
}
