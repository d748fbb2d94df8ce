// The Grafana dashboard (deploy/base/dashboards/csumwatch.json): its layout, its variables, every
// expression parsed by the Prometheus grammar (lezer-promql) and type-checked by promtool,
// selecting only metrics the agent's registry really exports, units that fit what the
// expressions compute, the sections an operator chasing DNS timeouts needs, and coverage of the
// metric families. Each check is a function that returns problems; the last test breaks copies
// of the dashboard in memory to show each check catches what it is for.

import t, { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';

import {
  allPanels,
  Dashboard,
  DASHBOARD_FILE,
  DashboardQuery,
  GRAFANA_BUILTINS,
  loadDashboard,
  Panel,
  queriesOf,
  substituteVariables,
  variables,
  variablesIn,
} from '../support/dashboard';
import { exportedMetrics, parsePromql } from '../support/promql';
import { alertRules } from '../support/rules';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const COLUMNS = 24;
/** Units for a per-second rate of a counter. */
const RATE_UNITS = ['pps', 'cps', 'reqps', 'ops', 'Bps', 'binBps'];
/** Metrics other exporters export too: always selected with the csumwatch job. */
const GENERIC = /^(up|process_.*|nodejs_.*)$/;

// ------------------------------------------------------------------------------------------------
// Reading expressions with the Prometheus grammar

interface Matcher {
  label: string;
  op: string;
  value: string;
}

interface Analysis {
  functions: Set<string>;
  division: boolean;
  selectors: Array<{ metric: string; matchers: Matcher[] }>;
}

function analyse(promql: string): Analysis {
  const a: Analysis = { functions: new Set(), division: false, selectors: [] };
  const text = (from: number, to: number) => promql.slice(from, to);
  parser.parse(promql).iterate({
    enter: (ref) => {
      if (ref.name === 'FunctionIdentifier') a.functions.add(text(ref.from, ref.to));
      if (ref.name === 'Div') a.division = true;
      if (ref.name !== 'VectorSelector') return;
      const id = ref.node.getChild('Identifier');
      const matchers: Matcher[] = [];
      for (const m of ref.node.getChildren('LabelMatchers').flatMap((l) => l.getChildren('UnquotedLabelMatcher'))) {
        const name = m.getChild('LabelName');
        const op = m.getChild('MatchOp');
        const value = m.getChild('StringLiteral');
        if (!name || !op || !value) continue;
        matchers.push({ label: text(name.from, name.to), op: text(op.from, op.to), value: JSON.parse(text(value.from, value.to)) as string });
      }
      a.selectors.push({ metric: id ? text(id.from, id.to) : '', matchers });
    },
  });
  return a;
}

/** expr with each dashboard variable replaced by a marker `__var_NAME__`, built-ins by durations. */
function marked(d: Dashboard, expr: string): string {
  const values = new Map(Object.entries(GRAFANA_BUILTINS));
  for (const v of variables(d)) values.set(v.name, `__var_${v.name}__`);
  return substituteVariables(expr, values);
}

// ------------------------------------------------------------------------------------------------
// The checks: each returns one line per problem.

function isRow(p: Panel): boolean {
  return p.type === 'row';
}

function sameDatasource(ds: unknown): boolean {
  return JSON.stringify(ds) === JSON.stringify(DATASOURCE);
}

function layoutProblems(d: Dashboard): string[] {
  const out: string[] = [];
  if (d.uid !== 'csumwatch') out.push(`uid is ${JSON.stringify(d.uid)}, not "csumwatch"`);
  if (d.title !== 'csumwatch: VXLAN checksums and DNS') out.push(`title is ${JSON.stringify(d.title)}`);
  if (d.schemaVersion !== 39) out.push(`schemaVersion is ${d.schemaVersion}, not 39`);
  if ('id' in d) out.push('the dashboard has an id (provisioning assigns one)');
  if ('__inputs' in d) out.push('the dashboard has __inputs (an export for import, not for provisioning)');
  const panels = allPanels(d);
  if (panels.length === 0) out.push('no panels');
  const ids = new Map<number, string>();
  for (const p of panels) {
    const name = `panel ${p.id} "${p.title}"`;
    if (typeof p.id !== 'number') out.push(`${name}: no numeric id`);
    else if (ids.has(p.id)) out.push(`${name}: id ${p.id} also used by "${ids.get(p.id)}"`);
    else ids.set(p.id, p.title ?? '');
    if (!p.title?.trim()) out.push(`${name}: no title`);
    if (!sameDatasource(p.datasource)) out.push(`${name}: datasource ${JSON.stringify(p.datasource)}, not ${JSON.stringify(DATASOURCE)}`);
    const g = p.gridPos;
    if (!g || ![g.x, g.y, g.w, g.h].every((n) => Number.isInteger(n))) out.push(`${name}: gridPos ${JSON.stringify(g)} is not four integers`);
    else if (g.x < 0 || g.y < 0 || g.w < 1 || g.h < 1 || g.x + g.w > COLUMNS) out.push(`${name}: gridPos ${JSON.stringify(g)} is outside the ${COLUMNS} columns`);
    if (isRow(p)) {
      if (p.collapsed || (p.panels ?? []).length > 0) out.push(`${name}: a collapsed row (keep every section open)`);
      if ((p.targets ?? []).length > 0) out.push(`${name}: a row with targets`);
      continue;
    }
    if (!p.description?.trim()) out.push(`${name}: no description`);
    const targets = p.targets ?? [];
    if (targets.length === 0) out.push(`${name}: no targets`);
    const refIds = new Set<string>();
    for (const tg of targets) {
      if (!tg.refId) out.push(`${name}: a target without refId`);
      else if (refIds.has(tg.refId)) out.push(`${name}: refId ${tg.refId} twice`);
      else refIds.add(tg.refId);
      if (!sameDatasource(tg.datasource)) out.push(`${name} ${tg.refId}: datasource ${JSON.stringify(tg.datasource)}, not ${JSON.stringify(DATASOURCE)}`);
      if (typeof tg.expr !== 'string' || !tg.expr.trim()) out.push(`${name} ${tg.refId}: no expr`);
    }
  }
  // No two panels overlap (rows are panels one unit high across the width).
  for (let i = 0; i < panels.length; i++) {
    for (let j = i + 1; j < panels.length; j++) {
      const a = panels[i].gridPos;
      const b = panels[j].gridPos;
      if (!a || !b) continue;
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) {
        out.push(`"${panels[i].title}" ${JSON.stringify(a)} overlaps "${panels[j].title}" ${JSON.stringify(b)}`);
      }
    }
  }
  return out;
}

function variableProblems(d: Dashboard): string[] {
  const out: string[] = [];
  const vars = variables(d);
  const byName = new Map(vars.map((v) => [v.name, v]));
  if (byName.size !== vars.length) out.push('two variables share a name');
  const ds = byName.get('datasource');
  if (!ds || ds.type !== 'datasource' || ds.query !== 'prometheus') out.push('no variable datasource of type datasource with query prometheus');
  const node = byName.get('node');
  const q = (v: typeof node) => (typeof v?.query === 'string' ? v.query : v?.query?.query ?? '').replace(/\s+/g, '');
  if (!node || node.type !== 'query' || q(node) !== 'label_values(csumwatch_build_info,node)') {
    out.push('no variable node with query label_values(csumwatch_build_info, node)');
  } else if (!node.multi || !node.includeAll) out.push('variable node is not multi-value with an All option');
  for (const v of vars) {
    if (v.type === 'query' && !sameDatasource(v.datasource)) out.push(`variable ${v.name}: datasource ${JSON.stringify(v.datasource)}, not ${JSON.stringify(DATASOURCE)}`);
  }
  return out;
}

/** Which target a query came from (null for a variable's query). */
function targetOf(d: Dashboard, q: DashboardQuery) {
  if (q.variable) return null;
  for (const p of allPanels(d)) {
    if (p.title !== q.panel) continue;
    const tg = (p.targets ?? []).find((x) => x.refId === q.refId);
    if (tg) return tg;
  }
  return null;
}

function queryProblems(d: Dashboard, exported: Set<string>): string[] {
  const out: string[] = [];
  const defined = new Map(variables(d).map((v) => [v.name, v.type]));
  const queries = queriesOf(d);
  if (queries.length === 0) out.push('no queries');
  for (const q of queries) {
    const where = `${q.panel} ${q.refId}`;
    for (const name of variablesIn(q.expr)) {
      if (name in GRAFANA_BUILTINS) continue;
      if (!defined.has(name)) out.push(`${where}: undefined variable $${name}`);
      else if (defined.get(name) === 'datasource') out.push(`${where}: datasource variable $${name} in an expression`);
    }
    // Outside strings: "$1" in a label_replace is PromQL's, not Grafana's.
    if (q.promql.replace(/"(?:[^"\\]|\\.)*"/g, '""').includes('$')) out.push(`${where}: '$' left after substitution: ${q.promql}`);
    const parsed = parsePromql(q.promql);
    for (const e of parsed.errors) out.push(`${where}: parse error ${e} in ${q.promql}`);
    if (parsed.metrics.length === 0) out.push(`${where}: selects no metric by name`);
    for (const m of parsed.metrics) if (!exported.has(m)) out.push(`${where}: ${m} is not exported by the agent`);

    // Ranges: Grafana's intervals, never a fixed duration, except in a panel that shows an
    // alert's expression (its title names the alert), whose window is the alert's; $__range only
    // in instant queries.
    const bare = q.expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
    const shows = /\((Csumwatch\w+)\)/.exec(q.panel)?.[1];
    const alertExpr = shows === undefined ? undefined : alertRules().find((r) => r.alert === shows)?.expr;
    if (shows !== undefined && alertExpr === undefined) out.push(`${where}: names no alert of deploy/rules/prometheusrule.yaml`);
    for (const m of bare.matchAll(/\[([^\]]*)\]/g)) {
      const alertWindow = alertExpr !== undefined && alertExpr.includes(`[${m[1]}]`);
      if (m[1] !== '$__rate_interval' && m[1] !== '$__range' && !alertWindow) out.push(`${where}: range [${m[1]}], not [$__rate_interval] or [$__range] (or the window of the alert its title names)`);
      if (m[1] === '$__range' && targetOf(d, q)?.instant !== true) out.push(`${where}: [$__range] in a range query`);
    }

    // Variables: in regex matchers only (multi-value and All expand to alternations); every
    // selector filtered by node; generic metric names only with the csumwatch job.
    if (parsed.errors.length > 0) continue;
    for (const s of analyse(marked(d, q.expr)).selectors) {
      for (const m of s.matchers) {
        if (m.value.includes('__var_') && m.op !== '=~' && m.op !== '!~') out.push(`${where}: ${s.metric}{${m.label}${m.op}"${m.value}"}: a variable needs =~`);
      }
      if (q.variable !== 'node' && !NODE_FREE.has(s.metric) && !s.matchers.some((m) => m.label === 'node' && m.op === '=~' && m.value === '__var_node__')) {
        out.push(`${where}: ${s.metric} without node=~"$node"`);
      }
      if (GENERIC.test(s.metric) && !s.matchers.some((m) => m.label === 'job' && m.op === '=' && m.value === 'csumwatch')) {
        out.push(`${where}: ${s.metric} without job="csumwatch" (other targets export it too)`);
      }
    }
  }
  return out;
}

/** promtool's parser type-checks (a rate of an instant vector, a bad function arity): every query as a rule. */
function promtoolProblems(queries: DashboardQuery[]): string[] {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-dashboard-'));
  try {
    const file = join(dir, 'dashboard.rules.json');
    const groups = queries.map((q, i) => ({ name: `${q.panel} ${q.refId}`, rules: [{ record: `dashboard:query_${i}`, expr: q.promql }] }));
    fs.writeFileSync(file, JSON.stringify({ groups }, null, 1));
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    if (r.error) return [`promtool does not run (scripts/setup.sh installs it): ${r.error.message}`];
    if (r.status === 0) return [];
    return `${r.stdout}${r.stderr}`.split('\n').filter((l) => /group|parse|error/i.test(l) && !/^Checking /.test(l));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function unitProblems(d: Dashboard): string[] {
  const out: string[] = [];
  const values = new Map(Object.entries(GRAFANA_BUILTINS));
  for (const v of variables(d)) values.set(v.name, '.*');
  for (const p of allPanels(d)) {
    if (isRow(p)) continue;
    const unit = p.fieldConfig?.defaults?.unit;
    const name = `"${p.title}"`;
    if (typeof unit !== 'string' || !unit) {
      out.push(`${name}: no unit`);
      continue;
    }
    const as = (p.targets ?? []).map((tg) => analyse(substituteVariables(tg.expr ?? '', values)));
    const fn = (f: string) => as.some((a) => a.functions.has(f));
    const metric = (re: RegExp) => as.some((a) => a.selectors.some((s) => re.test(s.metric)));
    const rate = fn('rate') || fn('irate');
    let want: string[] | null = null;
    let why = '';
    if (fn('histogram_quantile') || /latency|p50|p99/i.test(p.title ?? '')) [want, why] = [['s'], 'a latency'];
    else if (metric(/_bytes$/)) [want, why] = [['bytes'], 'a size in bytes'];
    else if (as.some((a) => a.division) || /share/i.test(p.title ?? '') || (rate && metric(/_seconds_total$/))) [want, why] = [['percentunit'], 'a ratio'];
    else if (rate) [want, why] = [RATE_UNITS, 'a rate'];
    if (want && !want.includes(unit)) out.push(`${name}: unit ${unit} for ${why}, not ${want.join('|')}`);
  }
  return out;
}

/** The sections top to bottom, and the panels each must hold: a title and a metric it selects. */
const SECTIONS: Array<[string, Array<[RegExp, string, string?]>]> = [
  ['Overview', [
    [/^bad checksums\/s/i, 'csumwatch_checksums_total', 'stat'],
    [/dns lost to checksums/i, 'csumwatch_dns_lost_total', 'stat'],
    [/udp_csum/i, 'csumwatch_kernel_drops_total', 'stat'],
    [/findings standing/i, 'csumwatch_finding', 'stat'],
    [/agents up/i, 'up', 'stat'],
  ]],
  ['Checksums', [
    [/^bad checksums by interface and layer/i, 'csumwatch_checksums_total'],
    [/partial and none/i, 'csumwatch_checksums_total'],
    [/ok share/i, 'csumwatch_checksums_total'],
  ]],
  ['DNS', [
    [/queries\/s by server/i, 'csumwatch_dns_queries_total'],
    [/lost\/s by cause and server/i, 'csumwatch_dns_lost_total'],
    [/latency p50 and p99/i, 'csumwatch_dns_latency_seconds_bucket'],
    [/responses\/s by rcode/i, 'csumwatch_dns_responses_total'],
    [/in flight/i, 'csumwatch_dns_transactions_in_flight'],
  ]],
  ['Kernel drops', [
    [/by reason and protocol/i, 'csumwatch_kernel_drops_total'],
    [/snmp/i, 'csumwatch_kernel_udp_in_csum_errors_total'],
    [/events lost/i, 'csumwatch_bpf_events_lost_total'],
  ]],
  ['VTEP loss matrix', [
    [/receiving node × sending node/i, 'csumwatch_vtep_packets_total', 'table'],
  ]],
  ['Findings', [
    [/standing findings/i, 'csumwatch_finding', 'table'],
    [/offload flags/i, 'csumwatch_offload_enabled'],
    [/interfaces \(driver, kind, mtu\)/i, 'csumwatch_interface_info', 'table'],
  ]],
  ['Capture health', [
    [/packets captured\/s/i, 'csumwatch_packets_total'],
    [/capture dropped\/s/i, 'csumwatch_capture_dropped_total'],
    [/capture dropped share/i, 'csumwatch_capture_dropped_total'],
    [/capture running/i, 'csumwatch_capture_running'],
    [/tracer loaded/i, 'csumwatch_bpf_program_loaded'],
    [/events\/s and lost/i, 'csumwatch_bpf_events_lost_total'],
    [/collector success/i, 'csumwatch_collector_success'],
    [/cpu/i, 'process_cpu_seconds_total'],
    [/memory/i, 'process_resident_memory_bytes'],
    [/file descriptors/i, 'process_open_fds'],
    [/targets up/i, 'up'],
  ]],
];

function panelMetrics(d: Dashboard, p: Panel): string[] {
  const values = new Map(Object.entries(GRAFANA_BUILTINS));
  for (const v of variables(d)) values.set(v.name, '.*');
  return (p.targets ?? []).flatMap((tg) => parsePromql(substituteVariables(tg.expr ?? '', values)).metrics);
}

function sectionProblems(d: Dashboard): string[] {
  const out: string[] = [];
  const panels = allPanels(d).filter((p) => p.gridPos);
  const rows = panels.filter(isRow).sort((a, b) => a.gridPos!.y - b.gridPos!.y);
  const rowTitles = rows.map((r) => r.title);
  const want = SECTIONS.map(([s]) => s);
  if (JSON.stringify(rowTitles.filter((r) => want.includes(r ?? ''))) !== JSON.stringify(want)) {
    out.push(`rows ${JSON.stringify(rowTitles)} do not hold ${JSON.stringify(want)} in that order`);
  }
  const sectionOf = (p: Panel) => rows.filter((r) => r.gridPos!.y <= p.gridPos!.y).pop()?.title ?? '(above every row)';
  for (const [section, required] of SECTIONS) {
    const inSection = panels.filter((p) => !isRow(p) && sectionOf(p) === section);
    for (const [title, metric, type] of required) {
      const p = inSection.find((x) => title.test(x.title ?? ''));
      if (!p) out.push(`${section}: no panel titled ${title}`);
      else if (!panelMetrics(d, p).includes(metric)) out.push(`${section}: "${p.title}" does not select ${metric}`);
      else if (type && p.type !== type) out.push(`${section}: "${p.title}" is a ${p.type}, not a ${type}`);
    }
  }
  // What those panels must compute, beyond their metric.
  const latency = panels.find((p) => /latency p50 and p99/i.test(p.title ?? ''));
  const exprs = (latency?.targets ?? []).map((tg) => tg.expr ?? '');
  for (const q of ['0.5', '0.99']) {
    if (!exprs.some((e) => e.includes(`histogram_quantile(${q},`) && /by \(([^)]*\b)?server\b/.test(e))) out.push(`latency: no p${q.slice(2)} by server from the histogram`);
  }
  const matrix = panels.find((p) => /receiving node × sending node/i.test(p.title ?? ''));
  if (matrix) {
    const grouping = (matrix.transformations ?? []).find((x) => x.id === 'groupingToMatrix')?.options ?? {};
    if (grouping.rowField !== 'node' || grouping.columnField !== 'sender') out.push('VTEP matrix: no groupingToMatrix with rows node and columns sender');
    if (!/csumwatch_vtep_info/.test(matrix.targets?.[0]?.expr ?? '')) out.push('VTEP matrix: senders not named by node (csumwatch_vtep_info)');
    const tg = matrix.targets?.[0];
    if (tg?.format !== 'table' || tg.instant !== true) out.push('VTEP matrix: the query is not an instant table query');
    if (!/direction="rx"/.test(tg?.expr ?? '') || !/result="bad"/.test(tg?.expr ?? '')) out.push('VTEP matrix: not the rx bad share');
  }
  return out;
}

/** What an operator needs on the dashboard whatever else changes. */
const REQUIRED_METRICS = [
  'csumwatch_checksums_total',
  'csumwatch_dns_lost_total',
  'csumwatch_dns_latency_seconds_bucket',
  'csumwatch_kernel_drops_total',
  'csumwatch_vtep_packets_total',
  'csumwatch_finding',
  'csumwatch_capture_dropped_total',
  'csumwatch_bpf_program_loaded',
];

/** Metrics a query may read on every node, whichever are selected, and why. */
const NODE_FREE = new Set([
  'csumwatch_vtep_info', // names the sending nodes of the selected nodes' peers, wherever they are
]);

/** Exported but deliberately not on the dashboard, and why. */
const NOT_SHOWN: Record<string, string> = {
  csumwatch_dns_latency_seconds_sum: 'the latency panel uses quantiles from the buckets',
  csumwatch_dns_latency_seconds_count: 'answered transactions are in csumwatch_dns_responses_total',
  process_start_time_seconds: 'restarts show in up and the process panels',
  csumwatch_vtep_peers: 'how many peers a node has seen is context, not a symptom; the matrix lists the peers with bad packets',
  csumwatch_collector_duration_seconds: 'for debugging a slow scrape; the collector success panel says which collector failed',
  csumwatch_dns_server_series_replaced_total: "how often a server's series went to another: context for a series that ended, not a symptom",
  csumwatch_dns_tcp_stream_events_total: "the TCP stream reader's own accounting; what it costs DNS shows in the lost and unjudged counts",
};

function coverageProblems(d: Dashboard, exported: Set<string>): string[] {
  const out: string[] = [];
  const used = new Set(allPanels(d).flatMap((p) => panelMetrics(d, p)));
  for (const m of REQUIRED_METRICS) if (!used.has(m)) out.push(`${m}: no panel selects it (operators need it)`);
  for (const m of [...exported].sort()) {
    if (!used.has(m) && !(m in NOT_SHOWN)) out.push(`${m}: exported but on no panel (add a panel or list it in NOT_SHOWN with a reason)`);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------

const exported = exportedMetrics();
const dashboard = loadDashboard();

t.test('the file is JSON, a dashboard for provisioning', async (t) => {
  const text = fs.readFileSync(DASHBOARD_FILE, 'utf8');
  t.doesNotThrow(() => JSON.parse(text), 'valid JSON');
  t.equal(dashboard.uid, 'csumwatch');
  t.equal(dashboard.title, 'csumwatch: VXLAN checksums and DNS');
  t.equal(dashboard.schemaVersion, 39);
  t.notOk('id' in dashboard, 'no id');
});

t.test('layout: ids, grid, titles, descriptions, targets, datasources', async (t) => {
  t.ok(allPanels(dashboard).length >= 30, `${allPanels(dashboard).length} panels`);
  t.same(layoutProblems(dashboard), []);
});

t.test('variables: datasource, node, and their datasource', async (t) => {
  t.same(variableProblems(dashboard), []);
  t.same(variables(dashboard).map((v) => v.name), ['datasource', 'node', 'iface', 'server']);
});

t.test('every query parses, selects exported metrics, filters by node', async (t) => {
  const queries = queriesOf(dashboard);
  t.ok(queries.some((q) => q.variable === 'node'), 'the node variable\'s query is listed');
  t.ok(queries.filter((q) => !q.variable).length >= 50, `${queries.length} queries`);
  t.same(queryProblems(dashboard, exported), []);
});

t.test('promtool type-checks every query', async (t) => {
  t.same(promtoolProblems(queriesOf(dashboard)), []);
});

t.test('units fit what the queries compute', async (t) => {
  t.same(unitProblems(dashboard), []);
});

t.test('the sections, top to bottom, with the panels they need', async (t) => {
  t.same(sectionProblems(dashboard), []);
});

t.test('the metric families an operator needs are on it', async (t) => {
  t.same(coverageProblems(dashboard, exported), []);
});

t.test('the checks catch broken copies', async (t) => {
  const copy = (): Dashboard => JSON.parse(JSON.stringify(dashboard)) as Dashboard;
  const panel = (d: Dashboard, title: RegExp): Panel => {
    const p = allPanels(d).find((x) => title.test(x.title ?? ''));
    if (!p) throw new Error(`no panel ${title}`);
    return p;
  };
  const latency = /latency p50 and p99/i;
  /** One assertion per expected problem: some line of problems matches re. */
  const caught = (t: Test, problems: string[], ...res: RegExp[]) => {
    for (const re of res) t.ok(problems.some((p) => re.test(p)), `caught: ${re.source}`, { problems });
  };

  t.test('an unknown metric name', async (t) => {
    const d = copy();
    const tg = panel(d, latency).targets![0];
    tg.expr = tg.expr!.replace('csumwatch_dns_latency_seconds_bucket', 'csumwatch_dns_latency_seconds_buckets');
    caught(t, queryProblems(d, exported), /csumwatch_dns_latency_seconds_buckets is not exported/);
  });

  t.test('a broken expression', async (t) => {
    const d = copy();
    const tg = panel(d, /DNS lost\/s by cause/).targets![0];
    tg.expr = tg.expr!.replace(/\)$/, '');
    caught(t, queryProblems(d, exported), /parse error/);
  });

  t.test('a type error only promtool sees', async (t) => {
    const d = copy();
    const tg = panel(d, /DNS lost\/s by cause/).targets![0];
    tg.expr = tg.expr!.replace('[$__rate_interval]', '');
    t.same(queryProblems(d, exported).filter((p) => /parse error/.test(p)), [], 'lezer-promql parses it');
    caught(t, promtoolProblems(queriesOf(d)), /expected type range vector/);
  });

  t.test('a fixed range, and $__range in a range query', async (t) => {
    const d = copy();
    const tgs = panel(d, /DNS queries\/s by server/).targets!;
    tgs[0].expr = tgs[0].expr!.replace('$__rate_interval', '5m');
    const matrix = panel(d, /receiving node × sending node/).targets![0];
    matrix.instant = false;
    caught(t, queryProblems(d, exported), /range \[5m\]/, /\[\$__range\] in a range query/);
  });

  t.test('an undefined variable, a variable in an = matcher, no node filter, up without job', async (t) => {
    const d = copy();
    const tg = panel(d, /DNS queries\/s by server/).targets![0];
    tg.expr = tg.expr!.replace('server=~"$server"', 'server=~"$servers"');
    const inflight = panel(d, /in flight/).targets![0];
    inflight.expr = inflight.expr!.replace('node=~"$node"', 'node="$node"');
    const fds = panel(d, /file descriptors/).targets![0];
    fds.expr = fds.expr!.replace(', node=~"$node"', '');
    const up = panel(d, /agents up/i).targets![0];
    up.expr = up.expr!.replace('job="csumwatch", ', '');
    const problems = queryProblems(d, exported);
    caught(t, problems, /undefined variable \$servers/);
    caught(t, problems, /in flight .*a variable needs =~/);
    caught(t, problems, /file descriptors .*without node=~/);
    caught(t, problems, /Agents up .*up without job="csumwatch"/);
  });

  t.test('the datasource variable in an expression', async (t) => {
    const d = copy();
    const tg = panel(d, /in flight/).targets![0];
    tg.expr = tg.expr!.replace('node=~"$node"', 'node=~"$node", ds="${datasource}"');
    caught(t, queryProblems(d, exported), /datasource variable \$datasource/);
  });

  t.test('overlapping panels, a panel past 24 columns, a duplicate id', async (t) => {
    const d = copy();
    const a = panel(d, /^bad checksums by interface and layer/i);
    const b = panel(d, /partial and none/i);
    b.gridPos = { ...a.gridPos!, x: a.gridPos!.x + 2 };
    const c = panel(d, /^DNS transactions in flight/);
    c.gridPos = { ...c.gridPos!, x: 20 };
    panel(d, /rcode/).id = a.id;
    const problems = layoutProblems(d);
    caught(t, problems, /"Bad checksums by interface and layer" .* overlaps "Partial and none/);
    caught(t, problems, /in flight.*outside the 24 columns/);
    caught(t, problems, /id \d+ also used by/);
  });

  t.test('a fixed datasource, a duplicate refId, a missing description, an id', async (t) => {
    const d = copy();
    const p = panel(d, latency);
    p.targets![1].refId = 'A';
    p.targets![0].datasource = { type: 'prometheus', uid: 'prometheus' };
    delete panel(d, /rcode/).description;
    (d as Record<string, unknown>).id = 7;
    const problems = layoutProblems(d);
    caught(t, problems, /refId A twice/);
    caught(t, problems, /latency .* A: datasource .*"uid":"prometheus"/i);
    caught(t, problems, /rcode.*no description/);
    caught(t, problems, /has an id/);
  });

  t.test('wrong units', async (t) => {
    const d = copy();
    panel(d, latency).fieldConfig!.defaults!.unit = 'ms';
    panel(d, /capture dropped share/i).fieldConfig!.defaults!.unit = 'pps';
    panel(d, /DNS queries\/s by server/).fieldConfig!.defaults!.unit = 'short';
    const problems = unitProblems(d);
    caught(t, problems, /latency.*unit ms for a latency, not s$/);
    caught(t, problems, /share.*unit pps for a ratio, not percentunit/);
    caught(t, problems, /queries.*unit short for a rate/);
  });

  t.test('the VTEP matrix gone, the latency quantiles wrong', async (t) => {
    const d = copy();
    d.panels = d.panels!.filter((p) => !/receiving node × sending node/.test(p.title ?? ''));
    const tg = panel(d, latency).targets![1];
    tg.expr = tg.expr!.replace('histogram_quantile(0.99,', 'histogram_quantile(0.9,');
    caught(t, sectionProblems(d), /VTEP loss matrix: no panel titled/, /no p99 by server/);
    // The timeseries still shows csumwatch_vtep_packets_total; without it too, coverage fails.
    d.panels = d.panels.filter((p) => !/VTEP bad packets/.test(p.title ?? ''));
    caught(t, coverageProblems(d, exported), /csumwatch_vtep_packets_total: no panel selects it \(operators need it\)/);
  });

  t.test('a required variable wrong', async (t) => {
    const d = copy();
    const node = variables(d).find((v) => v.name === 'node')!;
    node.multi = false;
    const ds = variables(d).find((v) => v.name === 'datasource')!;
    ds.query = 'loki';
    caught(t, variableProblems(d), /no variable datasource/, /node is not multi-value/);
  });
});
