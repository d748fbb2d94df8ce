// The Grafana dashboard as the tests and the lab use it: deploy/base/dashboards/csumwatch.json read as
// JSON, its panels (rows' nested panels included), and every PromQL expression in it (panel
// targets and query variables) with Grafana's variables replaced so that a real Prometheus can
// evaluate it.

import * as fs from 'node:fs';
import { join } from 'node:path';

/** The repository root (this file runs from dist/test/support). */
const ROOT = join(__dirname, '..', '..', '..');

export const DASHBOARD_FILE = join(ROOT, 'deploy', 'base', 'dashboards', 'csumwatch.json');

export interface Datasource {
  type?: string;
  uid?: string;
}

export interface Target {
  refId?: string;
  expr?: string;
  datasource?: Datasource;
  format?: string;
  instant?: boolean;
  range?: boolean;
  legendFormat?: string;
}

export interface Panel {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  collapsed?: boolean;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: Datasource;
  fieldConfig?: { defaults?: { unit?: string; [k: string]: unknown }; overrides?: unknown[] };
  targets?: Target[];
  transformations?: Array<{ id: string; options?: Record<string, unknown> }>;
  panels?: Panel[];
  [k: string]: unknown;
}

export interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  datasource?: Datasource;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string | null;
  [k: string]: unknown;
}

export interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: Variable[] };
  [k: string]: unknown;
}

export interface DashboardQuery {
  /** The panel's title, or `variable $name` for a template variable's query. */
  panel: string;
  /** The target's refId, or `variable` for a template variable's query. */
  refId: string;
  /** The expression as Grafana stores it. */
  expr: string;
  /** The expression with Grafana's variables replaced: PromQL a Prometheus can evaluate. */
  promql: string;
  /** Set for a template variable's query: the variable's name. */
  variable?: string;
}

/**
 * What Grafana's built-in interval variables become. `$__rate_interval` is what Grafana computes
 * for the ServiceMonitor's 30 s scrape interval (4 × scrape interval); `$__range` stands for a
 * one-hour dashboard range.
 */
export const GRAFANA_BUILTINS: Readonly<Record<string, string>> = {
  __rate_interval: '2m',
  __interval: '1m',
  __interval_ms: '60000',
  __range: '1h',
  __range_s: '3600',
  __range_ms: '3600000',
};

// Grafana's variable syntaxes: ${name}, ${name:format}, $name, [[name]], [[name:format]].
const VAR_RE = /\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)/g;

export function loadDashboard(file = DASHBOARD_FILE): Dashboard {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Dashboard;
}

/** Every panel, top level and nested in rows, in file order. */
export function allPanels(d: Dashboard): Panel[] {
  return (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

export function variables(d: Dashboard): Variable[] {
  return d.templating?.list ?? [];
}

/** The names of the variables an expression refers to (built-ins included, `$1`-style numbers not). */
export function variablesIn(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(VAR_RE)) {
    const name = m[1] ?? m[2] ?? m[3];
    if (!/^\d+$/.test(name)) names.add(name);
  }
  return [...names];
}

/**
 * The value each variable of the dashboard takes for a Prometheus that has no Grafana in front:
 * a variable with an "All" option takes its all value (`.*` when unset), which matches every value
 * in a `=~` matcher; the built-ins take GRAFANA_BUILTINS. Datasource variables have no value: they
 * do not belong in an expression.
 */
export function variableValues(d: Dashboard): Map<string, string> {
  const values = new Map(Object.entries(GRAFANA_BUILTINS));
  for (const v of variables(d)) {
    if (v.type === 'datasource') continue;
    if (v.includeAll || v.multi) values.set(v.name, v.allValue || '.*');
    else if (v.type === 'constant' || v.type === 'textbox' || v.type === 'custom') {
      const q = typeof v.query === 'string' ? v.query : '';
      values.set(v.name, v.type === 'custom' ? (q.split(',')[0] ?? '').trim() : q);
    } else values.set(v.name, '.*');
  }
  return values;
}

/** expr with every known variable replaced; unknown ones stay as they are (and fail the checks). */
export function substituteVariables(expr: string, values: Map<string, string>): string {
  return expr.replace(VAR_RE, (whole, a?: string, b?: string, c?: string) => values.get((a ?? b ?? c) as string) ?? whole);
}

/**
 * The PromQL a query variable's query stands for: `label_values(metric{...}, label)` selects
 * `metric{...}`, `query_result(expr)` evaluates expr. Null for queries with no PromQL in them
 * (`label_names()`, `label_values(label)`, `metrics(regex)`).
 */
export function variableQueryExpr(query: string): string | null {
  const q = query.trim();
  let m = /^label_values\s*\(\s*(.+)\s*,\s*\w+\s*\)$/s.exec(q);
  if (m) return m[1].trim();
  m = /^query_result\s*\(\s*(.+)\s*\)$/s.exec(q);
  if (m) return m[1].trim();
  return null;
}

function variableQuery(v: Variable): string {
  if (typeof v.query === 'string') return v.query;
  return v.query?.query ?? '';
}

/** Every expression of the dashboard d: panel targets first, then query variables. */
export function queriesOf(d: Dashboard): DashboardQuery[] {
  const values = variableValues(d);
  const out: DashboardQuery[] = [];
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) {
      if (typeof t.expr !== 'string') continue;
      out.push({ panel: p.title ?? `panel ${p.id}`, refId: t.refId ?? '', expr: t.expr, promql: substituteVariables(t.expr, values) });
    }
  }
  for (const v of variables(d)) {
    if (v.type !== 'query') continue;
    const expr = variableQueryExpr(variableQuery(v));
    if (expr === null) continue;
    out.push({ panel: `variable $${v.name}`, refId: 'variable', expr, promql: substituteVariables(expr, values), variable: v.name });
  }
  return out;
}

/** Every expression of deploy/base/dashboards/csumwatch.json, ready for a real Prometheus. */
export function dashboardQueries(): DashboardQuery[] {
  return queriesOf(loadDashboard());
}
