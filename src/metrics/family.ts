// Helpers shared by the metric families: counters and gauges whose values are copied out of the
// agent's typed arrays at scrape time (prom-client's collect()), a histogram read the same way,
// the per-collector success gauge, and the OpenMetrics rendering of the one registry.

import { Counter, Gauge, Registry } from 'prom-client';

export type Labels = Record<string, string>;
export type Emit = (labels: Labels, value: number) => void;

/**
 * Whether each collector's last collection worked, and how long it took
 * (csumwatch_collector_success and csumwatch_collector_duration_seconds{collector}), as
 * node_exporter reports its collectors. A collector is every family registered under its name: it
 * succeeded in a scrape when all of them did, and its duration is theirs summed. begin() marks a
 * new scrape; the success gauge is registered last, so it reads the scrape's own collections.
 */
export class CollectorHealth {
  readonly last = new Map<string, boolean>();
  readonly seconds = new Map<string, number>();
  private scrape = 0;
  private readonly scrapeOf = new Map<string, number>();

  /** A new scrape starts: the next collection of each collector replaces what it said last time. */
  begin(): void {
    this.scrape++;
  }

  /** Runs one family's collection; returns whether it worked. */
  run(collector: string, fn: () => void): boolean {
    const t0 = process.hrtime.bigint();
    let ok = true;
    try {
      fn();
    } catch {
      ok = false;
    }
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (this.scrapeOf.get(collector) !== this.scrape) {
      this.scrapeOf.set(collector, this.scrape);
      this.last.set(collector, ok);
      this.seconds.set(collector, dt);
    } else {
      this.last.set(collector, this.last.get(collector) === true && ok);
      this.seconds.set(collector, (this.seconds.get(collector) ?? 0) + dt);
    }
    return ok;
  }
}

/** The collector (csumwatch_collector_success's label) each family was registered under. */
const COLLECTOR_OF = new WeakMap<object, string>();

/** The collector a family of the registry belongs to; undefined for the registry's own families. */
export function collectorOf(metric: object): string | undefined {
  return COLLECTOR_OF.get(metric);
}

/** A counter whose series are set from typed arrays when scraped. */
export function arrayCounter(reg: Registry, health: CollectorHealth, collector: string, name: string, help: string, labelNames: string[], rows: (emit: Emit) => void): Counter<string> {
  const m = new Counter({ name, help, labelNames, registers: [reg], collect: collectInto(health, collector, rows, (m, labels, v) => m.inc(labels, v)) });
  COLLECTOR_OF.set(m, collector);
  return m;
}

/** A gauge whose series are set when scraped. */
export function arrayGauge(reg: Registry, health: CollectorHealth, collector: string, name: string, help: string, labelNames: string[], rows: (emit: Emit) => void): Gauge<string> {
  const m = new Gauge({ name, help, labelNames, registers: [reg], collect: collectInto(health, collector, rows, (m, labels, v) => m.set(labels, v)) });
  COLLECTOR_OF.set(m, collector);
  return m;
}

/**
 * A collect() that reads this scrape's rows first and only then replaces the family's series with
 * them. When reading fails, the family keeps the series of its last good collection: a counter is
 * never exported lower (a false reset) or half-written because one read threw; the failure shows
 * in csumwatch_collector_success.
 */
function collectInto<M extends { reset(): void }>(health: CollectorHealth, collector: string, rows: (emit: Emit) => void, put: (m: M, labels: Labels, value: number) => void) {
  const labels: Labels[] = [];
  const values: number[] = [];
  return function (this: M): void {
    labels.length = 0;
    values.length = 0;
    if (!health.run(collector, () => rows((l, v) => {
      labels.push(l);
      values.push(v);
    }))) return;
    this.reset();
    for (let i = 0; i < labels.length; i++) put(this, labels[i], values[i]);
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
    /** Its labels, besides `le`. */
    readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
    private readonly rows: (emit: (r: HistogramRow) => void) => void,
    private readonly health: CollectorHealth,
    private readonly collector: string,
    reg: Registry,
  ) {
    reg.registerMetric(this as never);
    COLLECTOR_OF.set(this, collector);
  }

  /** The last good collection's series, kept when a collection fails. */
  private lastValues: MetricValue[] = [];

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
    const values: MetricValue[] = [];
    const ok = this.health.run(this.collector, () => {
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
    if (ok) this.lastValues = values;
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.lastValues };
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
