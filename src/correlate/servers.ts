// Per-DNS-server counters for the live agent: queries, responses by RCODE, lost transactions by
// cause and a latency histogram, in typed arrays indexed by server (an AddrTable index; index
// `capacity` is the overflow entry for servers past the bound). The correlator counts into it; the
// metrics collector reads it at scrape time.

import { RCODE_SLOTS } from '../decode/dns';
import { AddrTable } from './addrtable';

/** Causes of a lost transaction, as the metric's `cause` label. */
export const LOST_CAUSES = ['checksum', 'kernel_drop', 'timeout', 'evicted'] as const;
export type MetricLostCause = (typeof LOST_CAUSES)[number];
export const CAUSE_CHECKSUM = 0;
export const CAUSE_KERNEL_DROP = 1;
export const CAUSE_TIMEOUT = 2;
export const CAUSE_EVICTED = 3;

/** Upper bounds of the latency buckets, in seconds (a DNS-shaped range: 250 µs to 5 s). */
export const LATENCY_BUCKETS_S: readonly number[] = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const NB = LATENCY_BUCKETS_S.length + 1; // + the +Inf bucket
const BOUNDS_US = Float64Array.from(LATENCY_BUCKETS_S, (s) => s * 1e6);

export const OVERFLOW_SERVER = '(other servers)';

export class ServerStats {
  readonly table: AddrTable;
  readonly queries: Float64Array;
  /** [server * RCODE_SLOTS + rcodeSlot(rcode)] */
  readonly responses: Float64Array;
  /** [server * LOST_CAUSES.length + cause] */
  readonly lost: Float64Array;
  /** [server * (buckets + 1) + bucket]: non-cumulative counts; the last is +Inf. */
  readonly latencyBuckets: Float64Array;
  readonly latencySumUs: Float64Array;
  readonly latencyCount: Float64Array;

  constructor(capacity = 256) {
    this.table = new AddrTable(capacity, OVERFLOW_SERVER);
    const n = capacity + 1;
    this.queries = new Float64Array(n);
    this.responses = new Float64Array(n * RCODE_SLOTS);
    this.lost = new Float64Array(n * LOST_CAUSES.length);
    this.latencyBuckets = new Float64Array(n * NB);
    this.latencySumUs = new Float64Array(n);
    this.latencyCount = new Float64Array(n);
  }

  /** Index of the server whose address words are k (the overflow entry when the table is full). */
  indexOf(k: Int32Array, version: number): number {
    return this.table.lookupKey(k, version);
  }

  answered(i: number, rcodeSlot: number, latencyUs: number): void {
    this.responses[i * RCODE_SLOTS + rcodeSlot]++;
    let b = 0;
    while (b < NB - 1 && latencyUs > BOUNDS_US[b]) b++;
    this.latencyBuckets[i * NB + b]++;
    this.latencySumUs[i] += latencyUs;
    this.latencyCount[i]++;
  }
}
