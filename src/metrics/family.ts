// Helpers shared by the metric families: counters and gauges whose values are copied out of the
// agent's typed arrays at scrape time (prom-client's collect()), a histogram read the same way,
// the per-collector success gauge, and the OpenMetrics rendering of the one registry.

import { Counter, Gauge, Registry } from 'prom-client';

export type Labels = Record<string, string>;
export type Emit = (labels: Labels, value: number) => void;

/** Whether each collector's last collection worked: csumwatch_collector_success{collector}. */
export class CollectorHealth {
  readonly last = new Map<string, boolean>();

  /** Runs one collection, recording whether it threw; a failure leaves the previous values out. */
  run(collector: string, fn: () => void): void {
    try {
      fn();
      this.last.set(collector, true);
    } catch {
      this.last.set(collector, false);
    }
  }
}

/** A counter whose series are set from typed arrays when scraped. */
export function arrayCounter(reg: Registry, health: CollectorHealth, collector: string, name: string, help: string, labelNames: string[], rows: (emit: Emit) => void): Counter<string> {
  return new Counter({ name, help, labelNames, registers: [reg], collect: collectInto(health, collector, rows, (m, labels, v) => m.inc(labels, v)) });
}

/** A gauge whose series are set when scraped. */
export function arrayGauge(reg: Registry, health: CollectorHealth, collector: string, name: string, help: string, labelNames: string[], rows: (emit: Emit) => void): Gauge<string> {
  return new Gauge({ name, help, labelNames, registers: [reg], collect: collectInto(health, collector, rows, (m, labels, v) => m.set(labels, v)) });
}

/** A collect() that drops the last scrape's series and writes this one's through put. */
function collectInto<M extends { reset(): void }>(health: CollectorHealth, collector: string, rows: (emit: Emit) => void, put: (m: M, labels: Labels, value: number) => void) {
  return function (this: M): void {
    health.run(collector, () => {
      this.reset();
      rows((labels, value) => put(this, labels, value));
    });
  };
}

interface MetricValue {
  labels: Labels;
  value: number;
  metricName?: string;
}

/** One histogram series as the agent keeps it: non-cumulative bucket counts, sum and count. */
export interface HistogramRow {
  labels: Labels;
  /** Count per bucket, the last for +Inf; read from start for bounds.length + 1 entries. */
  buckets: Float64Array;
  start: number;
  sum: number;
  count: number;
}

/**
 * A histogram family read from typed arrays at scrape time. prom-client's Histogram can only be
 * fed one observation at a time, so this implements the registry's metric interface directly.
 */
export class ArrayHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly rows: (emit: (r: HistogramRow) => void) => void,
    private readonly health: CollectorHealth,
    private readonly collector: string,
    reg: Registry,
  ) {
    reg.registerMetric(this as never);
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
    const values: MetricValue[] = [];
    this.health.run(this.collector, () => {
      this.rows((r) => {
        let acc = 0;
        for (let i = 0; i <= this.bounds.length; i++) {
          acc += r.buckets[r.start + i];
          const le = i < this.bounds.length ? String(this.bounds[i]) : '+Inf';
          values.push({ labels: { ...r.labels, le }, value: acc, metricName: `${this.name}_bucket` });
        }
        values.push({ labels: r.labels, value: r.sum, metricName: `${this.name}_sum` });
        values.push({ labels: r.labels, value: r.count, metricName: `${this.name}_count` });
      });
    });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    // Values live in the agent's arrays.
  }
}

/**
 * The registry rendered as OpenMetrics. prom-client renders a registry in one format chosen when
 * it is made, and renames counters in place when that format is OpenMetrics; so the metrics are
 * wrapped, per request, in a throw-away OpenMetrics registry that leaves the real ones untouched.
 */
export async function openMetrics(reg: Registry): Promise<string> {
  const om = new Registry();
  om.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
  for (const m of reg.getMetricsAsArray() as unknown as Array<{ name: string; help: string; type: string; get(): Promise<{ name: string }> }>) {
    const bare = m.type === 'counter' ? m.name.replace(/_total$/, '') : m.name;
    om.registerMetric({
      name: bare,
      help: m.help,
      type: m.type,
      get: async () => ({ ...(await m.get()), name: bare }),
      reset() {},
    } as never);
  }
  return om.metrics();
}
