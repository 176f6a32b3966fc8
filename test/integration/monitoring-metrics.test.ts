/**
 * Every metric the monitoring component's alerts and dashboard name (manifests/components/monitoring)
 * is one a real agent exports: the agent, with an `ipam:` section so the IPAM metrics are registered
 * and an opted-in pod, runs in a node namespace, and its live /metrics is scraped. A histogram's
 * _bucket/_sum/_count count as exported when the histogram's TYPE line is there (series appear
 * only after the first observation).
 */
import { strict as assert } from 'node:assert';
import { startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { allExpressions, metricNames, renderWithMonitoring } from '../support/monitoring.js';
import { calicoBed, LAN_CIDR, type CalicoBed } from '../support/netns.js';
import { browse, publish, type Published } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';

const METRICS = '127.0.0.1:9412';

describeAsRoot('the monitoring component against a live agent’s /metrics', function () {
  this.timeout(90_000);
  let bed: CalicoBed;
  let agent: IpamAgent;
  let device: Published;
  let types: Map<string, string>;
  let samples: Set<string>;

  before(async function () {
    bed = await calicoBed({ devices: 1, podsPerNode: 1, podAddressing: 'lan' });
    const [pod] = bed.nodes[0].pods;
    agent = await startIpamAgent(bed, 'node1', {
      ipam: { subnet: LAN_CIDR, ranges: ['198.18.4.150-198.18.4.199'], probe: false },
      args: ['--metrics-address', METRICS, '--pod', pod.address],
    });
    // Some traffic, so that the per-packet series and the latency histogram have samples.
    device = await publish(bed, bed.devices[0].ns, {
      name: 'Speaker',
      port: 1400,
      address: bed.devices[0].address,
    });
    await browse(bed, pod.ns, { address: pod.address, count: 1, timeoutS: 8 });
    const { stdout } = await bed.exec('node1', ['curl', '-s', '-m', '3', `http://${METRICS}/metrics`]);
    types = new Map();
    samples = new Set();
    for (const line of stdout.split('\n')) {
      const t = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (t) types.set(t[1], t[2]);
      else if (/^[a-z_]/.test(line)) samples.add(line.split(/[{ ]/)[0]);
    }
  });
  after(async function () {
    await device?.stop().catch(() => undefined);
    await agent?.stop();
    agent?.remove();
    await bed?.teardown();
  });

  it('scrapes an agent that exports the core and the IPAM metrics', function () {
    assert.equal(types.get('lan_reflector_ready'), 'gauge');
    assert.equal(types.get('lan_reflector_ipam_free_addresses'), 'gauge');
    assert.ok(samples.has('lan_reflector_relay_latency_seconds_bucket'), 'the relayed mDNS was timed');
  });

  it('names only metrics the agent exports, in every alert, panel and dashboard variable', function () {
    const exported = (name: string): boolean => {
      if (types.has(name) || samples.has(name)) return true;
      const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
      return base !== undefined && types.get(base) === 'histogram';
    };
    const used = allExpressions(renderWithMonitoring()).flatMap((e) =>
      metricNames(e.expr).map((m) => ({ ...e, m })),
    );
    assert.ok(used.length > 20, `${used.length} uses`);
    const missing = used.filter((u) => !exported(u.m)).map((u) => `${u.where}: ${u.m}`);
    assert.deepEqual(missing, [], `not in /metrics:\n${missing.join('\n')}`);
  });

  it('covers the metrics an operator needs: every lan_reflector gauge and counter appears in the dashboard', function () {
    const inDashboard = new Set(
      allExpressions(renderWithMonitoring())
        .filter((e) => e.where.startsWith('panel'))
        .flatMap((e) => metricNames(e.expr).map((m) => m.replace(/_(bucket|sum|count)$/, ''))),
    );
    const wanted = [...types.keys()].filter(
      (n) => n.startsWith('lan_reflector_') && !n.startsWith('lan_reflector_dhcp_'),
    );
    const absent = wanted.filter((n) => !inDashboard.has(n));
    assert.deepEqual(absent, [], `exported but on no panel: ${absent.join(', ')}`);
  });
});
