// The monitoring component, offline: it renders with the base (`kubectl kustomize`), its PodMonitor
// finds the DaemonSet's pods and port, the PrometheusRule and every dashboard query parse with
// promtool (Debian's prometheus package; .ci/run extracts the binary), and the alerts fire, and stay
// quiet, on series written here (`promtool test rules`). That every metric named is one the agent
// exports is checked against a live agent in test/integration/monitoring-metrics.test.ts.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  allExpressions,
  dashboard,
  renderWithMonitoring,
  ruleGroups,
  type K8s,
} from '../support/monitoring.js';

function promtool(args: string[], cwd: string): { code: number; out: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (r.error)
    throw new Error(
      `promtool is not on PATH (.ci/run installs it from Debian's prometheus package): ${r.error.message}`,
    );
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

describe('manifests/components/monitoring', function () {
  this.timeout(60_000);
  let objects: K8s[];
  let dir: string;

  before(function () {
    objects = renderWithMonitoring();
    dir = mkdtempSync(join(tmpdir(), 'lr-promtool-'));
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('renders with the base into a PodMonitor, a PrometheusRule and a sidecar-labelled dashboard ConfigMap, in the agent’s namespace', function () {
    const added = objects.filter(
      (o) =>
        ['PodMonitor', 'PrometheusRule'].includes(o.kind) || o.metadata.name === 'lan-reflector-dashboard',
    );
    assert.deepEqual(added.map((o) => o.kind).sort(), ['ConfigMap', 'PodMonitor', 'PrometheusRule']);
    for (const o of added) assert.equal(o.metadata.namespace, 'lan-reflector', `${o.kind} namespace`);
    const cm = added.find((o) => o.kind === 'ConfigMap')!;
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
    assert.equal(objects.filter((o) => o.kind === 'DaemonSet').length, 1, 'the base is there, once');
  });

  it('has a PodMonitor that selects the DaemonSet’s pods and port, with job = the alerts’ job', function () {
    const pm = objects.find((o) => o.kind === 'PodMonitor')!;
    const ds = objects.find((o) => o.kind === 'DaemonSet')!;
    const podLabels = ds.spec.template.metadata.labels as Record<string, string>;
    for (const [k, v] of Object.entries(pm.spec.selector.matchLabels as Record<string, string>))
      assert.equal(podLabels[k], v, `pod label ${k}`);
    const ports = ds.spec.template.spec.containers.flatMap((c: any) => c.ports ?? []).map((p: any) => p.name);
    for (const ep of pm.spec.podMetricsEndpoints) assert.ok(ports.includes(ep.port), `port ${ep.port}`);
    const job = podLabels[pm.spec.jobLabel];
    assert.equal(job, 'lan-reflector');
    const upRules = ruleGroups(objects)
      .flatMap((g) => g.rules)
      .filter((r) => /\bup\{/.test(r.expr));
    assert.ok(upRules.length > 0);
    for (const r of upRules) assert.match(r.expr, new RegExp(`job="${job}"`));
  });

  it('has rules that promtool accepts, each alert with a severity, a summary and a description', function () {
    const groups = ruleGroups(objects);
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
    const r = promtool(['check', 'rules', 'rules.yaml'], dir);
    const count = groups.reduce((n, g) => n + g.rules.length, 0);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${count} rules found`));
    for (const rule of groups.flatMap((g) => g.rules)) {
      assert.ok(rule.alert, 'alerting rules only');
      assert.match(rule.labels?.severity ?? '', /^(info|warning|critical)$/, rule.alert);
      assert.ok(rule.annotations?.summary && rule.annotations?.description, rule.alert);
    }
    const names = groups.flatMap((g) => g.rules.map((x) => x.alert));
    for (const want of [
      'LanReflectorPodNotRelayed',
      'LanReflectorDropsRising',
      'LanReflectorIpamAddressesRunningOut',
      'LanReflectorIpamAddressesExhausted',
      'LanReflectorIpamAddressConflict',
    ])
      assert.ok(names.includes(want), want);
  });

  it('has dashboard queries that all parse as PromQL (as recording rules, with Grafana’s variables filled in)', function () {
    const exprs = allExpressions(objects).filter((e) => !e.where.startsWith('rule '));
    assert.ok(exprs.length >= 15, `${exprs.length} queries`);
    const rules = exprs.map((e, i) => ({ record: `dashboard:query_${i}`, expr: e.expr }));
    writeFileSync(join(dir, 'dashboard.yaml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
    const r = promtool(['check', 'rules', 'dashboard.yaml'], dir);
    assert.equal(r.code, 0, `${r.out}\n${exprs.map((e) => `${e.where}: ${e.expr}`).join('\n')}`);
  });

  it('lays the dashboard out on Grafana’s 24-column grid with unique panel ids, every query on the chosen data source', function () {
    const { json } = dashboard(objects);
    const ids = json.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const p of json.panels as any[]) {
      assert.ok(p.gridPos.x + p.gridPos.w <= 24, p.title);
      if (p.type !== 'row') assert.equal(p.datasource.uid, '${datasource}', p.title);
    }
    assert.deepEqual(
      json.templating.list.map((v) => v.name),
      ['datasource', 'node'],
    );
  });

  describe('alerts, on series (promtool test rules)', function () {
    const at = (series: string, values: string) => ({ series, values });
    const node = (n: string) => `{job="lan-reflector", instance="198.18.4.2:9412", node="${n}"}`;

    /** Writes the rules and one test file, runs promtool, and returns its verdict. */
    function check(tests: object[]): { code: number; out: string } {
      writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: ruleGroups(objects) }));
      writeFileSync(
        join(dir, 'tests.yaml'),
        stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }),
      );
      return promtool(['test', 'rules', 'tests.yaml'], dir);
    }

    it('LanReflectorPodNotRelayed: fires after 10 minutes with the number of pods left out, not before, not when all are relayed', function () {
      const r = check([
        {
          interval: '1m',
          input_series: [
            at(`lan_reflector_opted_in_pods${node('n1')}`, '3x30'),
            at(`lan_reflector_relayed_pods${node('n1')}`, '1x30'),
            at(`lan_reflector_opted_in_pods${node('n2')}`, '2x30'),
            at(`lan_reflector_relayed_pods${node('n2')}`, '2x30'),
          ],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'LanReflectorPodNotRelayed', exp_alerts: [] },
            {
              eval_time: '12m',
              alertname: 'LanReflectorPodNotRelayed',
              exp_alerts: [
                {
                  exp_labels: {
                    severity: 'warning',
                    job: 'lan-reflector',
                    instance: '198.18.4.2:9412',
                    node: 'n1',
                  },
                  exp_annotations: {
                    summary: '2 opted-in pod(s) on n1 not relayed for',
                    description: ruleAnnotation('LanReflectorPodNotRelayed', 'description')
                      .replaceAll('{{ $value }}', '2')
                      .replaceAll('{{ $labels.node }}', 'n1'),
                  },
                },
              ],
            },
          ],
        },
      ]);
      assert.equal(r.code, 0, r.out);
    });

    it('LanReflectorDropsRising: malformed drops that jump fire; a steady flood of duplicates does not', function () {
      const r = check([
        {
          interval: '1m',
          input_series: [
            // 0/s for 90 minutes, then 2/s (120 per minute).
            at(
              `lan_reflector_packets_dropped_total{job="lan-reflector", node="n1", protocol="mdns", reason="malformed"}`,
              '0x90 120+120x60',
            ),
            at(
              `lan_reflector_packets_dropped_total{job="lan-reflector", node="n1", protocol="mdns", reason="duplicate"}`,
              '0+6000x150',
            ),
          ],
          alert_rule_test: [
            { eval_time: '85m', alertname: 'LanReflectorDropsRising', exp_alerts: [] },
            {
              eval_time: '120m',
              alertname: 'LanReflectorDropsRising',
              exp_alerts: [
                fired(
                  'LanReflectorDropsRising',
                  { severity: 'warning', node: 'n1', reason: 'malformed' },
                  '2',
                  'lan-reflector on n1: malformed drops rising',
                ),
              ],
            },
          ],
        },
      ]);
      assert.equal(r.code, 0, r.out);
    });

    it('IPAM: running out at under 10% free, exhausted at 0, a conflict on an assigned address at once', function () {
      const r = check([
        {
          interval: '1m',
          input_series: [
            at(`lan_reflector_ipam_free_addresses${node('n1')}`, '10x20 1x20 0x10'),
            at(`lan_reflector_ipam_allocations${node('n1')}`, '10x20 19x20 20x10'),
            at(
              `lan_reflector_ipam_address_conflicts_total{job="lan-reflector", node="n1", when="assigned"}`,
              '0x30 1x20',
            ),
            at(
              `lan_reflector_ipam_address_conflicts_total{job="lan-reflector", node="n1", when="probe"}`,
              '0x50',
            ),
          ],
          alert_rule_test: [
            { eval_time: '19m', alertname: 'LanReflectorIpamAddressesRunningOut', exp_alerts: [] },
            {
              eval_time: '37m',
              alertname: 'LanReflectorIpamAddressesRunningOut',
              exp_alerts: [
                fired(
                  'LanReflectorIpamAddressesRunningOut',
                  { severity: 'warning', job: 'lan-reflector', instance: '198.18.4.2:9412', node: 'n1' },
                  '5%',
                  'lan-reflector IPAM on n1 has 5% of its LAN addresses left',
                ),
              ],
            },
            { eval_time: '37m', alertname: 'LanReflectorIpamAddressesExhausted', exp_alerts: [] },
            {
              eval_time: '45m',
              alertname: 'LanReflectorIpamAddressesExhausted',
              exp_alerts: [
                fired(
                  'LanReflectorIpamAddressesExhausted',
                  { severity: 'critical', job: 'lan-reflector', instance: '198.18.4.2:9412', node: 'n1' },
                  '0',
                  'lan-reflector IPAM on n1 has no LAN address left',
                ),
              ],
            },
            { eval_time: '29m', alertname: 'LanReflectorIpamAddressConflict', exp_alerts: [] },
            {
              eval_time: '32m',
              alertname: 'LanReflectorIpamAddressConflict',
              exp_alerts: [
                fired(
                  'LanReflectorIpamAddressConflict',
                  { severity: 'critical', job: 'lan-reflector', node: 'n1', when: 'assigned' },
                  '1',
                  "another device claims a pod's LAN address on n1",
                ),
              ],
            },
            { eval_time: '45m', alertname: 'LanReflectorIpamProbeConflicts', exp_alerts: [] },
          ],
        },
      ]);
      assert.equal(r.code, 0, r.out);
    });

    it('the check itself fails when an alert is expected that the rules do not raise', function () {
      const r = check([
        {
          interval: '1m',
          input_series: [
            at(`lan_reflector_opted_in_pods${node('n1')}`, '2x30'),
            at(`lan_reflector_relayed_pods${node('n1')}`, '2x30'),
          ],
          alert_rule_test: [
            {
              eval_time: '20m',
              alertname: 'LanReflectorPodNotRelayed',
              exp_alerts: [{ exp_labels: { severity: 'warning', node: 'n1' } }],
            },
          ],
        },
      ]);
      assert.notEqual(r.code, 0, r.out);
    });

    /**
     * The alert as promtool must see it: these labels, the summary written out here (which checks
     * the template), and the rule's description with the same values filled in.
     */
    function fired(alert: string, labels: Record<string, string>, value: string, summary: string): object {
      const fill = (t: string) =>
        t
          .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, k: string) => labels[k] ?? '')
          .replace(/\{\{ \$value( \| \w+)? \}\}/g, value);
      return {
        exp_labels: labels,
        exp_annotations: { summary, description: fill(ruleAnnotation(alert, 'description')) },
      };
    }

    function ruleAnnotation(alert: string, key: string): string {
      const rule = ruleGroups(objects)
        .flatMap((g) => g.rules)
        .find((x) => x.alert === alert);
      return rule!.annotations![key];
    }
  });
});
