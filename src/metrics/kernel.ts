// The kernel's own UDP error counters (/proc/net/snmp, /proc/net/snmp6): what the receiving stack
// dropped, whoever sent it. Read at scrape time.

import { Registry } from 'prom-client';
import { Snmp, snmpValue } from '../node/snmp';
import { arrayCounter, CollectorHealth } from './family';

export function registerKernelMetrics(reg: Registry, health: CollectorHealth, read: () => { snmp: Snmp; snmp6: Snmp }): void {
  let cached: { snmp: Snmp; snmp6: Snmp } | null = null;
  // One read of /proc per scrape: the first family to be collected reads, the others reuse it.
  const snap = (first: boolean) => {
    if (first || !cached) cached = read();
    return cached;
  };
  const family = (name: string, help: string, file: 'snmp' | 'snmp6', proto: string, field: string, first = false) =>
    arrayCounter(reg, health, 'snmp', name, help, [], (emit) => {
      const s = snap(first);
      const src = file === 'snmp' ? s.snmp : s.snmp6;
      if (!src[proto]) throw new Error(`no ${proto} in /proc/net/${file}`);
      emit({}, snmpValue(src, proto, field));
    });
  family('csumwatch_kernel_udp_in_csum_errors_total', 'UDP datagrams the kernel dropped for a bad checksum (/proc/net/snmp Udp InCsumErrors).', 'snmp', 'Udp', 'InCsumErrors', true);
  family('csumwatch_kernel_udp_in_errors_total', 'UDP datagrams the kernel could not deliver, checksum errors included (/proc/net/snmp Udp InErrors).', 'snmp', 'Udp', 'InErrors');
  family('csumwatch_kernel_udp6_in_csum_errors_total', 'UDP over IPv6 dropped for a bad checksum (/proc/net/snmp6 Udp6InCsumErrors).', 'snmp6', 'Udp6', 'InCsumErrors');
  family('csumwatch_kernel_udp6_in_errors_total', 'UDP over IPv6 not delivered (/proc/net/snmp6 Udp6InErrors).', 'snmp6', 'Udp6', 'InErrors');
}
