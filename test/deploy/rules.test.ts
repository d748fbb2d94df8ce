// The alert rules (deploy/rules/prometheusrule.yaml): the PrometheusRule's shape and conventions, every
// expression parsed by the Prometheus grammar and naming only metrics the agent's registry really
// exports, `promtool check rules` and `promtool test rules test/deploy/rules.promtool.yaml` on the
// spec.groups written as a plain rule file, the promtool file covering each alert both ways, broken
// copies of the rules that promtool must reject, and the runbook links (docs/runbooks/, docs/deploying.md).

import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import YAML from 'yaml';

import { exportedMetrics, parsePromql } from '../support/promql';
import { alertNames, alertRules, Rule, RULE_FILE_NAME, ruleGroups, RULES_FILE, RuleGroup, RUNBOOK_BASE, writeRuleFile } from '../support/rules';

const ROOT = join(__dirname, '..', '..', '..');
const PROMTOOL_TESTS = join(ROOT, 'test', 'deploy', 'rules.promtool.yaml');
const DEPLOYING = join(ROOT, 'docs', 'deploying.md');

const ALERTS = [
  'CsumwatchChecksumDropSpike',
  'CsumwatchDnsLost',
  'CsumwatchVxlanOffloadSuspected',
  'CsumwatchVxlanSenderBroken',
  'CsumwatchVtepLoss',
  'CsumwatchCriticalFinding',
  'CsumwatchCaptureFallingBehind',
  'CsumwatchBpfNotLoaded',
  'CsumwatchAgentDown',
];

/** Labels whose value an alert's description must show when its expression keeps them. */
const NAMED_LABELS = ['iface', 'peer', 'server'];

// ------------------------------------------------------------------------------------------------
// promtool

function promtool(args: string[], cwd?: string) {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd });
  return { status: r.status, error: r.error, out: `${r.stdout}${r.stderr}` };
}

/**
 * A directory holding rules.promtool.yaml and, next to it, `groups` as the rule file it loads
 * (promtool resolves rule_files from the test file's directory).
 */
function testDir(groups: RuleGroup[] = ruleGroups()): string {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-rules-'));
  fs.copyFileSync(PROMTOOL_TESTS, join(dir, 'rules.promtool.yaml'));
  writeRuleFile(dir, groups);
  return dir;
}

function runTests(dir: string) {
  return promtool(['test', 'rules', 'rules.promtool.yaml'], dir);
}

/** promtool without blocking, for the many runs of the mutation test. */
function promtoolAsync(args: string[], cwd?: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('promtool', args, { cwd });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, out }));
  });
}

// ------------------------------------------------------------------------------------------------
// The promtool test file, read as data

interface ExpAlert {
  exp_labels?: Record<string, string>;
  exp_annotations?: Record<string, string>;
}

interface AlertCase {
  eval_time: string;
  alertname: string;
  exp_alerts?: ExpAlert[];
}

interface TestGroup {
  interval?: string;
  input_series?: Array<{ series: string; values: string }>;
  alert_rule_test?: AlertCase[];
}

interface PromtoolFile {
  rule_files?: string[];
  evaluation_interval?: string;
  tests?: TestGroup[];
}

/** Milliseconds in a Prometheus duration ("30s", "1h30m"). */
function durationMs(d: string): number {
  const units: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };
  const parts = [...d.matchAll(/(\d+)(ms|s|m|h|d|w)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== d) throw new Error(`not a duration: ${d}`);
  return parts.reduce((ms, p) => ms + Number(p[1]) * units[p[2]], 0);
}

/**
 * A series' samples as promtool expands them, one per interval: "a+bxn" is n+1 values, "axn" n+1,
 * "_xn" n gaps (null), "_" one gap, "stale" a gap too.
 */
function expandValues(values: string): Array<number | null> {
  const out: Array<number | null> = [];
  for (const tok of values.trim().split(/\s+/)) {
    let m: RegExpMatchArray | null;
    if ((m = tok.match(/^_x(\d+)$/))) for (let i = 0; i < Number(m[1]); i++) out.push(null);
    else if (tok === '_' || tok === 'stale') out.push(null);
    else if ((m = tok.match(/^(-?[\d.e]+)([+-][\d.e]+)?x(\d+)$/))) {
      const a = Number(m[1]);
      const b = m[2] ? Number(m[2]) : 0;
      for (let i = 0; i <= Number(m[3]); i++) out.push(a + i * b);
    } else if (/^-?[\d.e]+$/.test(tok)) out.push(Number(tok));
    else throw new Error(`series value not understood: ${tok}`);
  }
  return out;
}

function seriesMetric(series: string): string {
  return series.match(/^([a-zA-Z_:][\w:]*)/)?.[1] ?? '';
}

/** Whether some input series of `metric` has a sample at `at` or in the 5 minutes before it. */
function hasDataAt(group: TestGroup, metric: string, at: number): boolean {
  const step = durationMs(group.interval ?? '1m');
  return (group.input_series ?? []).some((s) => {
    if (seriesMetric(s.series) !== metric) return false;
    return expandValues(s.values).some((v, i) => v !== null && i * step <= at && at - i * step < 5 * 60e3);
  });
}

// ------------------------------------------------------------------------------------------------
// Expressions

/** Every selector in an expression with its label matchers, by the Prometheus grammar. */
function selectors(expr: string): Array<{ metric: string; matchers: Record<string, string> }> {
  const out: Array<{ metric: string; matchers: Record<string, string> }> = [];
  const text = (n: { from: number; to: number }) => expr.slice(n.from, n.to);
  parser.parse(expr).iterate({
    enter: (ref) => {
      if (ref.name !== 'VectorSelector') return;
      const id = ref.node.getChild('Identifier');
      const matchers: Record<string, string> = {};
      for (const m of ref.node.getChildren('LabelMatchers').flatMap((l) => l.getChildren('UnquotedLabelMatcher'))) {
        const name = m.getChild('LabelName');
        const op = m.getChild('MatchOp');
        const value = m.getChild('StringLiteral');
        if (name && op && value) matchers[text(name)] = `${text(op)}${JSON.parse(text(value)) as string}`;
      }
      out.push({ metric: id ? text(id) : '', matchers });
    },
  });
  return out;
}

/** The agent's metrics an expression reads, through the recording rules it reads. */
function inputMetrics(expr: string, depth = 0): string[] {
  const records = new Map(ruleGroups().flatMap((g) => g.rules).filter((r) => r.record).map((r) => [r.record as string, r.expr]));
  return [...new Set(parsePromql(expr).metrics.flatMap((m) => (records.has(m) && depth < 8 ? inputMetrics(records.get(m)!, depth + 1) : [m])))];
}

// ------------------------------------------------------------------------------------------------

t.test('the PrometheusRule: metadata, alert names, labels and annotations', async (t) => {
  const doc = YAML.parse(fs.readFileSync(RULES_FILE, 'utf8'));
  t.equal(doc.apiVersion, 'monitoring.coreos.com/v1');
  t.equal(doc.kind, 'PrometheusRule');
  t.equal(doc.metadata.name, 'csumwatch');
  t.equal(doc.metadata.namespace, 'csumwatch');
  t.same(doc.metadata.labels, { 'app.kubernetes.io/name': 'csumwatch', 'app.kubernetes.io/part-of': 'csumwatch', 'app.kubernetes.io/component': 'alerts' });

  const groups = ruleGroups();
  t.ok(groups.length >= 1, 'at least one group');
  t.same(new Set(groups.map((g) => g.name)).size, groups.length, 'group names are unique');
  t.same([...alertNames()].sort(), [...ALERTS].sort(), 'exactly the agreed alert names');
  t.equal(new Set(alertNames()).size, alertNames().length, 'no alert defined twice');

  for (const r of alertRules()) {
    t.test(r.alert, async (t) => {
      t.match(r.labels?.severity, /^(critical|warning)$/, 'severity is critical (pages) or warning');
      t.ok(r.for && durationMs(r.for) > 0, `has a for: (${r.for})`);
      t.ok(durationMs(r.for ?? '0s') <= 30 * 60e3, 'for: at most 30m');
      const a = r.annotations ?? {};
      for (const k of ['summary', 'description', 'runbook_url']) t.ok(a[k] && a[k].trim(), `annotation ${k}`);
      t.match(a.description, /\$labels\.node\b/, 'description names the node');
      t.equal(a.runbook_url, `${RUNBOOK_BASE}/${r.alert}.md`, 'runbook_url is its runbook, docs/runbooks/' + r.alert + '.md, at the default base');
      // A label the expression keeps per alert (by (..., iface)) is named in the description.
      const kept = new Set([...r.expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) => m[1].split(',').map((s) => s.trim())));
      for (const l of NAMED_LABELS) if (kept.has(l)) t.match(a.description, new RegExp(`\\$labels\\.${l}\\b`), `description names the ${l}`);
      const namesNode = /label_replace\([^]*"node", "\$1"/.test(r.expr);
      if (r.alert !== 'CsumwatchAgentDown') t.ok(kept.has('node') || namesNode, 'aggregates by node (or keeps it, or names it)');
    });
  }

  const spike = alertRules().find((r) => r.alert === 'CsumwatchChecksumDropSpike') as Rule;
  t.equal(spike.labels?.severity, 'critical', 'the spike pages');
  t.equal(spike.for, '1m', 'the lead\'s end-to-end test budgets for 1m');
  const windows = [...spike.expr.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]);
  t.ok(windows.length > 0 && windows.every((w) => durationMs(w) <= 5 * 60e3), `rate windows at most 5m: ${windows.join(', ')}`);
  t.match(spike.expr, /csumwatch_checksums_total/);
  t.match(spike.expr, /csumwatch_kernel_drops_total/);
});

t.test('every expression parses and selects only exported metrics, always with job="csumwatch"', async (t) => {
  const exported = exportedMetrics();
  // Recording rules' series are the rules' own: recorded before they are read (same group, or
  // an earlier one), selected without a job (they carry none).
  const recorded = new Set<string>();
  for (const r of ruleGroups().flatMap((g) => g.rules)) {
    const name = r.alert ?? r.record ?? '(unnamed)';
    const p = parsePromql(r.expr);
    t.same(p.errors, [], `${name}: parses`);
    t.ok(p.metrics.length > 0, `${name}: selects something`);
    for (const m of p.metrics) t.ok(exported.has(m) || recorded.has(m), `${name}: ${m} is exported by the agent or recorded by an earlier rule`);
    for (const s of selectors(r.expr)) {
      if (recorded.has(s.metric)) continue;
      t.equal(s.matchers.job, '=csumwatch', `${name}: ${s.metric} selected with job="csumwatch"`);
    }
    if (r.record) {
      t.match(r.record, /^csumwatch:[a-z0-9_]+:[a-z0-9_]+$/, `${r.record}: named level:metric:operations`);
      recorded.add(r.record);
    }
  }
});

t.test('promtool check rules on spec.groups as a rule file', async (t) => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-rules-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = writeRuleFile(dir);
  t.equal(file, join(dir, RULE_FILE_NAME));
  const back = YAML.parse(fs.readFileSync(file, 'utf8'));
  t.same(back, { groups: ruleGroups() }, 'the plain rule file holds exactly spec.groups');
  const r = promtool(['check', 'rules', file]);
  t.equal(r.error, undefined, 'promtool runs (scripts/setup.sh installs it)');
  t.equal(r.status, 0, r.out);
  t.match(r.out, new RegExp(`SUCCESS: ${ruleGroups().flatMap((g) => g.rules).length} rules found`));
});

t.test('promtool test rules test/deploy/rules.promtool.yaml', async (t) => {
  const dir = testDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = runTests(dir);
  t.equal(r.status, 0, r.out);
  t.match(r.out, /SUCCESS/);
});

t.test('the promtool file tests every alert firing and, on healthy series, not firing', async (t) => {
  const file = YAML.parse(fs.readFileSync(PROMTOOL_TESTS, 'utf8')) as PromtoolFile;
  t.same(file.rule_files, [RULE_FILE_NAME], 'loads the rule file writeRuleFile() writes');
  const rules = new Map(alertRules().map((r) => [r.alert, r]));
  const firing = new Map<string, number>();
  const quiet = new Map<string, number>();
  for (const group of file.tests ?? []) {
    for (const c of group.alert_rule_test ?? []) {
      const rule = rules.get(c.alertname);
      t.ok(rule, `${c.alertname} at ${c.eval_time}: an alert of the rule file`);
      if (!rule) continue;
      const exp = c.exp_alerts ?? [];
      if (exp.length > 0) {
        firing.set(c.alertname, (firing.get(c.alertname) ?? 0) + 1);
        for (const e of exp) {
          t.ok(e.exp_labels?.node, `${c.alertname} at ${c.eval_time}: expected alert has a node`);
          t.equal(e.exp_labels?.severity, rule.labels?.severity, `${c.alertname} at ${c.eval_time}: severity`);
          t.equal(e.exp_annotations?.runbook_url, rule.annotations?.runbook_url, `${c.alertname} at ${c.eval_time}: runbook_url`);
        }
        continue;
      }
      // A quiet case counts only where every metric the rule reads has samples at that time:
      // an alert that is quiet because its inputs are missing proves nothing.
      const at = durationMs(c.eval_time);
      const missing = inputMetrics(rule.expr).filter((m) => !hasDataAt(group, m, at));
      if (missing.length === 0) quiet.set(c.alertname, (quiet.get(c.alertname) ?? 0) + 1);
      else t.comment(`${c.alertname} at ${c.eval_time}: quiet, but no samples of ${missing.join(', ')}`);
    }
  }
  for (const a of ALERTS) {
    t.ok((firing.get(a) ?? 0) >= 1, `${a}: at least one case where it fires`);
    t.ok((quiet.get(a) ?? 0) >= 1, `${a}: at least one case where its series are there and it does not fire`);
  }
});

t.test('promtool test rules rejects broken copies of the rules', async (t) => {
  /** The rule file with one rule's (an alert's, or a recording rule's) expression or fields changed. */
  const mutate = (alert: string, change: (r: Rule) => Rule): RuleGroup[] => {
    const groups = ruleGroups();
    let found = false;
    const out = groups.map((g) => ({
      ...g,
      rules: g.rules.map((r) => {
        if ((r.alert ?? r.record) !== alert) return r;
        found = true;
        return change({ ...r, labels: { ...r.labels }, annotations: { ...r.annotations } });
      }),
    }));
    if (!found) throw new Error(`no alert ${alert}`);
    return out;
  };
  const replace = (alert: string, from: string | RegExp, to: string) =>
    mutate(alert, (r) => {
      const expr = r.expr.replace(from, to);
      if (expr === r.expr) throw new Error(`${alert}: ${String(from)} not in its expression`);
      return { ...r, expr };
    });

  const cases: Array<[string, RuleGroup[]]> = [];
  for (const a of ALERTS) {
    cases.push([`${a} never fires`, mutate(a, (r) => ({ ...r, expr: `(${r.expr}) unless on () vector(1)` }))]);
    cases.push([`${a} always fires`, mutate(a, (r) => ({ ...r, expr: `(${r.expr}) or vector(1)` }))]);
  }
  cases.push(
    ['spike: threshold 1/s raised to 100/s', replace('CsumwatchChecksumDropSpike', /\) > 1\n\s*or/, ') > 100\nor')],
    ['spike: bad results summed over layers (one packet counted twice)', replace('CsumwatchChecksumDropSpike', /max by \(node, iface\)/, 'sum by (node, iface)')],
    ['spike: summed across interfaces (underlay + vxlan device)', replace('CsumwatchChecksumDropSpike', /max by \(node, iface\) \(\s*sum by \(node, iface, layer\)/, 'max by (node) (sum by (node, layer)')],
    ['spike: every result, not only bad', replace('CsumwatchChecksumDropSpike', ', result="bad"', '')],
    ['spike: every kernel drop reason', replace('CsumwatchChecksumDropSpike', /reason=~"[^"]*"/, 'reason!=""')],
    ['spike: kernel threshold 1/s lowered to 0', replace('CsumwatchChecksumDropSpike', /\[2m\]\)\s*\)\s*> 1\s*$/, '[2m])) > 0\n')],
    ['spike: for 2m', mutate('CsumwatchChecksumDropSpike', (r) => ({ ...r, for: '2m' }))],
    ['spike: for 30s', mutate('CsumwatchChecksumDropSpike', (r) => ({ ...r, for: '30s' }))],
    ['spike: severity warning', mutate('CsumwatchChecksumDropSpike', (r) => ({ ...r, labels: { ...r.labels, severity: 'warning' } }))],
    ['dns: every cause, evicted too', replace('CsumwatchDnsLost', /cause=~"checksum\|kernel_drop\|timeout"/g, 'cause!=""')],
    ['dns: any share alerts', replace('CsumwatchDnsLost', /\) > 0\.05/, ') > 0')],
    ['dns: no floor', replace('CsumwatchDnsLost', />= 3\s*$/, '>= 0\n')],
    ['dns: a 10m window (slow to resolve)', replace('CsumwatchDnsLost', /\[2m\]/g, '[10m]')],
    ['dns: for 5m', mutate('CsumwatchDnsLost', (r) => ({ ...r, for: '5m' }))],
    ['dns: severity warning', mutate('CsumwatchDnsLost', (r) => ({ ...r, labels: { ...r.labels, severity: 'warning' } }))],
    ['finding: warnings page too', replace('CsumwatchCriticalFinding', 'severity="critical"', 'severity!=""')],
    ['finding: for 5m', mutate('CsumwatchCriticalFinding', (r) => ({ ...r, for: '5m' }))],
    ['finding: check not kept', replace('CsumwatchCriticalFinding', 'max by (node, check)', 'max by (node)')],
    ['offload: flag alone, the sender not asked', replace('CsumwatchVxlanOffloadSuspected', /and on \(node\)\s*csumwatch:vxlan_sender_bad_peers:count2m > 0\s*$/, '\n')],
    ['offload: every feature, tunnel segmentation too', replace('CsumwatchVxlanOffloadSuspected', /feature=~"tx-checksum-\.\*"/g, 'feature!=""')],
    ['offload: offload off counts as on', replace('CsumwatchVxlanOffloadSuspected', /== 1\)\s*\* on/, '>= 0) * on')],
    ['offload: feature not kept', replace('CsumwatchVxlanOffloadSuspected', /by \(node, iface, feature\)/g, 'by (node, iface)')],
    ['sender: one receiver of two is enough', replace('CsumwatchVxlanSenderBroken', /> 0\.5\s*$/, '>= 0.5\n')],
    ['sender: for 10m', mutate('CsumwatchVxlanSenderBroken', (r) => ({ ...r, for: '10m' }))],
    ['sender: the bad share over 5m (resolves over 3 minutes after the fix)', replace('csumwatch:vtep_rx_bad_ratio:rate2m', /\[2m\]/g, '[5m]')],
    ['spike: a 5m window (resolves over 3 minutes after the fix)', replace('CsumwatchChecksumDropSpike', /\[2m\]/g, '[5m]')],
    ['sender: severity warning', mutate('CsumwatchVxlanSenderBroken', (r) => ({ ...r, labels: { ...r.labels, severity: 'warning' } }))],
    ['offload: interfaces without interface_info dropped', replace('CsumwatchVxlanOffloadSuspected', /unless on \(node, iface\)/, 'and on (node, iface)')],
    ['offload: description without the driver', mutate('CsumwatchVxlanOffloadSuspected', (r) => ({ ...r, annotations: { ...r.annotations, description: r.annotations?.description?.replace(/\{\{ with\s+\$labels\.driver \}\}.*?\{\{ end \}\}/, '') ?? '' } }))],
    ['vtep: any share alerts', replace('CsumwatchVtepLoss', /\) > 0\.1/, ') > 0')],
    ['vtep: no minimum traffic', replace('CsumwatchVtepLoss', /> 0\.2\s*$/, '> 0\n')],
    ['vtep: sent packets count too', replace('CsumwatchVtepLoss', 'direction="rx", result="bad"', 'result="bad"')],
    ['capture: 0.1% alerts', replace('CsumwatchCaptureFallingBehind', /\) > 0\.01/, ') > 0.001')],
    ['capture: for 5m', mutate('CsumwatchCaptureFallingBehind', (r) => ({ ...r, for: '5m' }))],
    ['bpf: both programs must be loaded', replace('CsumwatchBpfNotLoaded', 'max by (node) (csumwatch_bpf_program_loaded', 'min by (node) (csumwatch_bpf_program_loaded')],
    ['bpf: --bpf off alerts', replace('CsumwatchBpfNotLoaded', /unless on \(node\)[^]*$/, '\n')],
    ['bpf: for 10m', mutate('CsumwatchBpfNotLoaded', (r) => ({ ...r, for: '10m' }))],
    ['agent down: every job', replace('CsumwatchAgentDown', 'up{job="csumwatch"}', 'up')],
    ['agent down: for 2m', mutate('CsumwatchAgentDown', (r) => ({ ...r, for: '2m' }))],
  );

  const results: Array<{ name: string; check: { status: number | null; out: string }; test: { status: number | null; out: string } }> = [];
  const queue = [...cases];
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const [name, groups] = c;
      const dir = testDir(groups);
      try {
        const check = await promtoolAsync(['check', 'rules', join(dir, RULE_FILE_NAME)]);
        const test = await promtoolAsync(['test', 'rules', 'rules.promtool.yaml'], dir);
        results.push({ name, check, test });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(2, os.availableParallelism()) }, worker));
  t.equal(results.length, cases.length);
  for (const { name, check, test } of results.sort((a, b) => a.name.localeCompare(b.name))) {
    // Still valid rules: promtool must fail on behaviour, not on syntax.
    t.equal(check.status, 0, `${name}: still valid rules ${check.out}`);
    t.not(test.status, 0, `${name}: promtool test rules fails`);
    t.match(test.out, /FAILED/, `${name}: because an expectation failed`);
  }
});

t.test('runbooks: docs/runbooks/<Alert>.md for every alert, each complete, linked from docs/deploying.md', async (t) => {
  const dir = join(ROOT, 'docs', 'runbooks');
  t.same(fs.readdirSync(dir).filter((f) => f.endsWith('.md')).sort(), alertNames().map((a) => `${a}.md`).sort(), 'one runbook per alert, no other');
  const deploying = fs.readFileSync(DEPLOYING, 'utf8');
  const section = /^## Runbooks\n([^]*?)(?:^## |(?![^]))/m.exec(deploying)?.[1] ?? '';
  t.ok(section, 'docs/deploying.md has ## Runbooks');
  for (const r of alertRules()) {
    const file = join(dir, `${r.alert}.md`);
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    t.ok(section.includes(`[${r.alert}](runbooks/${r.alert}.md)`), `${r.alert}: docs/deploying.md links docs/runbooks/${r.alert}.md`);
    t.match(text, new RegExp(`^# ${r.alert}\n`), `${r.alert}.md: titled with the alert`);
    t.match(text, new RegExp(`\\*\\*${r.labels?.severity === 'critical' ? 'Critical' : 'Warning'}\\b`), `${r.alert}.md: says its severity (${r.labels?.severity})`);
    for (const h of ['What it means', 'Confirm', 'Fix', 'When it resolves']) t.match(text, new RegExp(`^## ${h}$`, 'm'), `${r.alert}.md: ## ${h}`);
    // Every relative link goes to a file that exists (anchors: test/docs/links.test.ts).
    for (const m of text.matchAll(/\]\((?!https?:)([^)#\s]*)(#[^)\s]*)?\)/g)) {
      const target = m[1] ? join(dir, m[1]) : file;
      t.ok(fs.existsSync(target), `${r.alert}.md: link ${m[0].slice(1)} resolves`);
    }
  }
});
