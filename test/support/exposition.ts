// The agent's metrics page as the benchmarks and the fuzzer read it: Prometheus text parsed into
// samples with their labels, and sums over them.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text: every non-comment line must be `name{labels} value`; the others are `bad`. */
export function parseMetrics(text: string): { samples: Sample[]; bad: string[] } {
  const samples: Sample[] = [];
  const bad: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) {
      bad.push(line);
      continue;
    }
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
      let lm: RegExpExecArray | null;
      let used = 0;
      while ((lm = re.exec(m[2])) !== null) {
        labels[lm[1]] = lm[2];
        used += lm[0].length;
      }
      if (used !== m[2].length) bad.push(line);
    }
    const value = Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') bad.push(line);
    samples.push({ name: m[1], labels, value });
  }
  return { samples, bad };
}

/** Sum over the samples of name whose labels include every k="v". */
export function sumSamples(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  let s = 0;
  for (const x of samples) if (x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)) s += x.value;
  return s;
}
