// docs/metrics.md, made from the registry itself: every family the agent registers, with its type,
// labels, collector and help, in registration order. test/metrics/reference.test.ts checks the
// committed file against it and against the golden scrape.

import type { Registry } from 'prom-client';
import { collectorOf } from './family';

interface Family {
  name: string;
  help: string;
  type: string;
  labelNames?: readonly string[];
}

const HEADER = `# Metrics

Every family the agent exports at \`/metrics\`, in the order it registers them, as the code
defines them: this file is generated from the registry (\`src/metrics/reference.ts\`), and
\`test/metrics/reference.test.ts\` fails when it differs from what the code exports. Names and
labels are a contract ([CONTRACT.md](CONTRACT.md)): they are only ever added to. The collector is
the \`collector\` label of \`csumwatch_collector_success\` and \`csumwatch_collector_duration_seconds\`
for the families it fills. Some families exist only in some set-ups: \`csumwatch_kube_*\` when the
agent runs in a cluster.

| metric | type | labels | collector | what it counts |
| --- | --- | --- | --- | --- |
`;

/** docs/metrics.md for the families of reg. */
export function metricsReference(reg: Registry): string {
  const rows = (reg.getMetricsAsArray() as unknown as Family[]).map((m) => {
    const labels = (m.labelNames ?? []).map((l) => `\`${l}\``).join(', ') || '—';
    return `| \`${m.name}\` | ${m.type} | ${labels} | ${collectorOf(m) ?? '—'} | ${m.help.replace(/\|/g, '\\|')} |`;
  });
  return HEADER + rows.join('\n') + '\n';
}
