// DNS families, per server: queries, responses by RCODE, lost transactions by cause, latency.

import { Gauge, Registry } from 'prom-client';
import { LATENCY_BUCKETS_S, LOST_CAUSES, ServerStats } from '../correlate/servers';
import { DnsCorrelator } from '../correlate/transactions';
import { RCODE_SLOTS, rcodeName } from '../decode/dns';
import { arrayCounter, ArrayHistogram, CollectorHealth } from './family';

/**
 * podOf names a server address by its pod (`namespace/pod`, CONTRACT.md) when the agent knows it;
 * two addresses of one pod (IPv4 and IPv6) add into one series.
 */
export function registerDnsMetrics(reg: Registry, health: CollectorHealth, s: ServerStats, dns: DnsCorrelator, podOf: (ip: string) => string | null = () => null): void {
  const servers = (fn: (server: string, i: number) => void) => {
    const n = s.table.count();
    for (let i = 0; i < n; i++) {
      const ip = s.table.name(i);
      fn(podOf(ip) ?? ip, i);
    }
  };
  arrayCounter(reg, health, 'dns', 'csumwatch_dns_queries_total', 'DNS queries sent, by server (retransmissions count; one packet seen on two interfaces counts once).', ['server'], (emit) => {
    servers((server, i) => emit({ server }, s.queries[i]));
  });
  arrayCounter(reg, health, 'dns', 'csumwatch_dns_responses_total', 'DNS transactions answered, by server and RCODE of the answer.', ['server', 'rcode'], (emit) => {
    servers((server, i) => {
      for (let r = 0; r < RCODE_SLOTS; r++) {
        const v = s.responses[i * RCODE_SLOTS + r];
        if (v > 0 || r === 0) emit({ server, rcode: rcodeName(r) }, v);
      }
    });
  });
  arrayCounter(reg, health, 'dns', 'csumwatch_dns_lost_total', 'DNS transactions never answered, by server and cause: checksum (a packet of it failed a checksum), kernel_drop, timeout, evicted (pushed out of a full table).', ['server', 'cause'], (emit) => {
    servers((server, i) => LOST_CAUSES.forEach((cause, c) => emit({ server, cause }, s.lost[i * LOST_CAUSES.length + c])));
  });
  new ArrayHistogram('csumwatch_dns_latency_seconds', 'Time from a transaction\'s first query to its answer, by server.', ['server'], LATENCY_BUCKETS_S, (emit) => {
    servers((server, i) => emit({ labels: { server }, buckets: s.latencyBuckets, start: i * (LATENCY_BUCKETS_S.length + 1), sum: s.latencySumUs[i] / 1e6, count: s.latencyCount[i] }));
  }, health, 'dns', reg);
  arrayCounter(reg, health, 'dns', 'csumwatch_dns_server_series_replaced_total', 'DNS servers whose series went to a server active more recently (their counts moved into "(other servers)").', [], (emit) => emit({}, s.replaced));
  arrayCounter(reg, health, 'dns', 'csumwatch_dns_tcp_stream_events_total', 'DNS over TCP read as streams: messages joined across segments (joined), messages lost to a missing segment or a quiet flow (gap), partial messages given up at a bound (dropped).', ['event'], (emit) => {
    emit({ event: 'joined' }, dns.tcp.joined);
    emit({ event: 'gap' }, dns.tcp.gaps);
    emit({ event: 'dropped' }, dns.tcp.dropped);
  });
  arrayCounter(reg, health, 'dns', 'csumwatch_dns_unjudged_total', 'DNS transactions that ended unanswered while the capture could have missed their answer (it dropped packets, or was starting): neither answered nor lost.', [], (emit) => emit({}, dns.unjudged));
  arrayCounter(reg, health, 'dns', 'csumwatch_dns_orphan_responses_total', 'DNS responses whose query was never seen (not captured, or already timed out).', [], (emit) => emit({}, dns.orphanResponses));
  new Gauge({
    name: 'csumwatch_dns_transactions_in_flight',
    help: 'DNS transactions in the table now: pending, or answered and kept for the timeout to spot late copies.',
    registers: [reg],
    collect() {
      this.set(dns.inFlight);
    },
  });
}
