// PromQL as the deploy files use it (alert rules, dashboard queries): parse with the Prometheus
// project's own grammar (@prometheus-io/lezer-promql, the one its web UI uses), list the metric
// names an expression selects, and list the metric names the agent really exports, read from its
// registry rather than from a list kept by hand.

import { parser } from '@prometheus-io/lezer-promql';
import pino from 'pino';
import type { SyntaxNode } from '@lezer/common';

import { Agent } from '../../src/agent/agent';
import { DEFAULT_AGENT_CONFIG } from '../../src/agent/config';
import { createRegistry } from '../../src/agent/registry';

export interface ParsedPromql {
  /** One line per syntax error: the offset and the text around it. */
  errors: string[];
  /** Metric names the expression selects (by name, or by a `__name__="..."` matcher). */
  metrics: string[];
}

export function parsePromql(expr: string): ParsedPromql {
  const errors = new Set<string>();
  const metrics = new Set<string>();
  const text = (n: SyntaxNode) => expr.slice(n.from, n.to);
  parser.parse(expr).iterate({
    enter: (ref) => {
      if (ref.type.isError) errors.add(`at ${ref.from}: near '${expr.slice(Math.max(0, ref.from - 10), ref.to + 10)}'`);
      if (ref.name !== 'VectorSelector') return;
      const id = ref.node.getChild('Identifier');
      if (id) metrics.add(text(id));
      // {__name__="x"} selects by name too; a regex matcher on __name__ is not allowed here.
      for (const m of ref.node.getChildren('LabelMatchers').flatMap((l) => l.getChildren('UnquotedLabelMatcher'))) {
        const name = m.getChild('LabelName');
        if (!name || text(name) !== '__name__') continue;
        const op = m.getChild('MatchOp');
        const value = m.getChild('StringLiteral');
        if (op && text(op) === '=' && value) metrics.add(JSON.parse(text(value)) as string);
        else errors.add(`at ${m.from}: __name__ must be matched exactly, not '${text(m)}'`);
      }
    },
  });
  return { errors: [...errors], metrics: [...metrics].sort() };
}

/**
 * Every series name the agent can export, as Prometheus stores them (a histogram's _bucket, _sum
 * and _count), from a registry built the way the agent builds it, in a cluster (so the pod
 * directory's families are there), plus `up`, which Prometheus adds per target.
 */
export function exportedMetrics(): Set<string> {
  const agent = new Agent({ ...DEFAULT_AGENT_CONFIG, doctorInterval: 0 }, {
    log: pino({ level: 'silent' }),
    watchLinks: false,
    pods: { lookup: () => null, corednsAddresses: () => [], stats: () => ({ ready: false, pods: 0, addresses: 0, watches: {} }) },
  });
  const names = new Set<string>(['up']);
  for (const m of createRegistry(agent, 'test').getMetricsAsArray()) {
    const type = (m as unknown as { type: string }).type;
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    else names.add(m.name);
  }
  return names;
}
