// The alert rules as the tests and the lab use them: deploy/rules/prometheusrule.yaml (their single
// source) read with `yaml`,
// its spec.groups, and the same groups written as a plain Prometheus rule file (what promtool and
// a Prometheus without the Operator load).

import * as fs from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';

/** The repository root (this file runs from dist/test/support). */
const ROOT = join(__dirname, '..', '..', '..');

export const RULES_FILE = join(ROOT, 'deploy', 'rules', 'prometheusrule.yaml');

/**
 * Where every runbook_url of RULES_FILE points by default: docs/runbooks/ of the project's repository.
 * deploy/rules/kustomization.yaml replaces it with the base it sets when the rules are rendered.
 */
export const RUNBOOK_BASE = 'https://github.com/csumwatch/csumwatch/blob/main/docs/runbooks';

/** The name writeRuleFile() gives the plain rule file; test/deploy/rules.promtool.yaml loads it. */
export const RULE_FILE_NAME = 'csumwatch.rules.yaml';

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: Rule[];
}

/** spec.groups of the PrometheusRule, after checking that the file is one. */
export function ruleGroups(): RuleGroup[] {
  const doc = YAML.parse(fs.readFileSync(RULES_FILE, 'utf8')) as {
    apiVersion?: string;
    kind?: string;
    spec?: { groups?: RuleGroup[] };
  };
  if (doc?.apiVersion !== 'monitoring.coreos.com/v1' || doc.kind !== 'PrometheusRule') {
    throw new Error(`reading ${RULES_FILE}: not a monitoring.coreos.com/v1 PrometheusRule`);
  }
  const groups = doc.spec?.groups;
  if (!Array.isArray(groups)) throw new Error(`reading ${RULES_FILE}: no spec.groups`);
  return groups;
}

/**
 * Writes `groups` (default: the PrometheusRule's spec.groups) as a plain rule file
 * `{groups: [...]}` into dir, and returns its path.
 */
export function writeRuleFile(dir: string, groups: RuleGroup[] = ruleGroups()): string {
  const path = join(dir, RULE_FILE_NAME);
  fs.writeFileSync(path, YAML.stringify({ groups }, { lineWidth: 0 }));
  return path;
}

/** Every alerting rule, in file order. */
export function alertRules(groups: RuleGroup[] = ruleGroups()): Array<Rule & { alert: string }> {
  return groups.flatMap((g) => g.rules).filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');
}

export function alertNames(): string[] {
  return alertRules().map((r) => r.alert);
}
