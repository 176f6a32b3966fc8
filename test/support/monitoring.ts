// The monitoring component (manifests/components/monitoring), rendered the way a user adds it:
// an overlay with the base as a resource and the component in `components:`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const COMPONENT = join(ROOT, 'manifests', 'components', 'monitoring');

export type K8s = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
} & Record<string, any>;

export function renderWithMonitoring(): K8s[] {
  const overlay = mkdtempSync(join(tmpdir(), 'lr-monitoring-'));
  try {
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      [
        'resources:',
        `  - ${relative(overlay, join(ROOT, 'manifests'))}`,
        'components:',
        `  - ${relative(overlay, COMPONENT)}`,
        '',
      ].join('\n'),
    );
    const text = execFileSync('kubectl', ['kustomize', overlay], { encoding: 'utf8' });
    return parseAllDocuments(text)
      .map((d) => d.toJS() as K8s | null)
      .filter((o): o is K8s => o !== null);
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
}

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function ruleGroups(objects: K8s[]): Array<{ name: string; rules: Rule[] }> {
  const rule = objects.find((o) => o.kind === 'PrometheusRule');
  if (!rule) throw new Error('no PrometheusRule rendered');
  return rule.spec.groups;
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: Array<{ expr: string; refId: string }>;
}

export function dashboard(objects: K8s[]): { json: { panels: Panel[]; templating: { list: any[] } } } {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'lan-reflector-dashboard');
  if (!cm) throw new Error('no lan-reflector-dashboard ConfigMap rendered');
  const files = Object.keys(cm.data as Record<string, string>);
  if (files.length !== 1) throw new Error(`one dashboard file expected, got ${files.join(', ')}`);
  return { json: JSON.parse((cm.data as Record<string, string>)[files[0]]) };
}

/** A dashboard expression with Grafana's variables replaced, so PromQL tools can parse it. */
export function concreteExpr(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$node', '.*');
}

/** Every lan_reflector_* metric name an expression names (histogram suffixes kept). */
export function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\blan_reflector_[a-z0-9_]+/g) ?? [])];
}

/** Every expression of the component: the rules' and the dashboard panels'. */
export function allExpressions(objects: K8s[]): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  for (const g of ruleGroups(objects))
    for (const r of g.rules) out.push({ where: `rule ${r.alert ?? r.record}`, expr: r.expr });
  for (const p of dashboard(objects).json.panels)
    for (const t of p.targets ?? [])
      out.push({ where: `panel "${p.title}" ${t.refId}`, expr: concreteExpr(t.expr) });
  for (const v of dashboard(objects).json.templating.list)
    if (typeof v.definition === 'string')
      out.push({
        where: `variable ${v.name}`,
        expr: v.definition.replace(/^label_values\((.*), \w+\)$/, '$1'),
      });
  return out;
}

export const readText = (path: string): string => readFileSync(path, 'utf8');
