// Every series of a Prometheus text page, with its family's type, so that two scrapes can be
// compared: a counter (and a histogram's buckets, count and sum) may only grow while the
// process lives. Used by the fault and soak tests and by test/reliability/soak.ts.

export interface Sample {
  /** The family the series belongs to (a histogram's _bucket, _sum and _count belong to it). */
  family: string;
  type: string;
  value: number;
}

/**
 * Parses a text page strictly: every line is a comment or a sample and the page ends with a
 * newline; throws on anything else (a truncated or garbled page). Returns series by
 * `name{labels}` as written.
 */
export function parseSeries(text: string): Map<string, Sample> {
  if (!text.endsWith('\n')) throw new Error('metrics page does not end with a newline (truncated?)');
  const types = new Map<string, string>();
  const out = new Map<string, Sample>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      types.set(name, type);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue; // empty lines are allowed (and prom-client writes them)
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line.slice(0, 200))}`);
    const value = Number(m[3].replace(/^\+Inf$/, 'Infinity'));
    if (Number.isNaN(value) && m[3] !== 'NaN') throw new Error(`not a number: ${line}`);
    const name = m[1];
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    const type = types.get(family);
    if (type === undefined) throw new Error(`sample without a # TYPE line: ${name}`);
    out.set(name + (m[2] ?? ''), { family, type, value });
  }
  return out;
}

/** A family whose series may only grow: counters, histograms and summaries (their _sum too: no negative observations here). */
export function monotonic(s: Sample): boolean {
  return s.type === 'counter' || s.type === 'histogram' || s.type === 'summary';
}

/**
 * The series that break the rules between two scrapes of one process: a counter that went
 * down, or one that disappeared. Each as a line saying which and how.
 */
export function regressions(before: Map<string, Sample>, after: Map<string, Sample>): string[] {
  const out: string[] = [];
  for (const [k, b] of before) {
    if (!monotonic(b) || (b.type === 'summary' && k.includes('quantile="'))) continue;
    const a = after.get(k);
    if (a === undefined) out.push(`${k}: gone (was ${b.value})`);
    else if (a.value < b.value) out.push(`${k}: ${b.value} → ${a.value}`);
  }
  return out;
}
