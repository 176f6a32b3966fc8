import assert from 'node:assert/strict';
import type { Registry } from 'prom-client';
import { createMetricsRegistry } from '../../../src/metrics/collectors.js';
import { MetricsServer, parseHostPort, readinessOf } from '../../../src/metrics/server.js';
import { DROP_REASONS } from '../../../src/reflect/types.js';
import { TestSource } from '../control/helpers.js';

/** Series from the Prometheus text format: `name{a="b",...} value` keyed by the part before the value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('metrics', function () {
  let source: TestSource;
  let registry: Registry;
  let server: MetricsServer;
  let base: string;

  async function start(defaultMetrics = false) {
    registry = createMetricsRegistry(source, { defaultMetrics });
    server = new MetricsServer(registry, readinessOf(source), { address: '127.0.0.1:0' });
    const addr = await server.listen();
    base = `http://127.0.0.1:${addr.port}`;
  }
  async function scrape(): Promise<{ text: string; series: Map<string, number> }> {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    return { text, series: parse(text) };
  }

  beforeEach(() => {
    source = new TestSource();
  });
  afterEach(async () => {
    await server?.close();
  });

  it('exports the packet counters as they stand at each scrape', async () => {
    const c = source.counters;
    for (let i = 0; i < 3; i++) c.receive('mdns', 'lan-to-pod');
    c.receive('mdns', 'pod-to-lan');
    c.relay('mdns', 'lan-to-pod', 2);
    c.relay('mdns', 'lan-to-pod', 2);
    c.drop('ssdp', 'rate-limited');
    c.drop('ssdp', 'rate-limited');
    c.drop('unknown', 'malformed');
    await start();
    let { series } = await scrape();
    assert.equal(
      series.get('lan_reflector_packets_received_total{protocol="mdns",direction="lan-to-pod"}'),
      3,
    );
    assert.equal(
      series.get('lan_reflector_packets_received_total{protocol="mdns",direction="pod-to-lan"}'),
      1,
    );
    assert.equal(
      series.get('lan_reflector_packets_relayed_total{protocol="mdns",direction="lan-to-pod"}'),
      2,
    );
    assert.equal(
      series.get('lan_reflector_packets_emitted_total{protocol="mdns",direction="lan-to-pod"}'),
      4,
    );
    assert.equal(series.get('lan_reflector_packets_dropped_total{protocol="ssdp",reason="rate-limited"}'), 2);
    assert.equal(series.get('lan_reflector_packets_dropped_total{protocol="unknown",reason="malformed"}'), 1);
    // Every enabled protocol's series exist from the start, so rate() works from the first packet.
    assert.equal(
      series.get('lan_reflector_packets_received_total{protocol="broadcast",direction="pod-to-lan"}'),
      0,
    );
    assert.equal(
      series.get('lan_reflector_packets_dropped_total{protocol="broadcast",reason="own-echo"}'),
      0,
    );

    c.receive('mdns', 'lan-to-pod');
    c.drop('ssdp', 'rate-limited');
    ({ series } = await scrape());
    assert.equal(
      series.get('lan_reflector_packets_received_total{protocol="mdns",direction="lan-to-pod"}'),
      4,
    );
    assert.equal(series.get('lan_reflector_packets_dropped_total{protocol="ssdp",reason="rate-limited"}'), 3);
  });

  it('has one series per protocol, direction and reason, with the counts the packet path made', async () => {
    const c = source.counters;
    const protocols = ['mdns', 'ssdp', 'broadcast'] as const;
    const flows = ['lan-to-pod', 'pod-to-lan'] as const;
    // Cell k (1..6) receives k packets and relays one of them as k copies; reason i is dropped i+1 times.
    const want = new Map<string, number>();
    let k = 1;
    for (const p of protocols)
      for (const f of flows) {
        for (let i = 0; i < k; i++) c.receive(p, f);
        c.relay(p, f, k);
        const labels = `{protocol="${p}",direction="${f}"}`;
        want.set(`lan_reflector_packets_received_total${labels}`, k);
        want.set(`lan_reflector_packets_relayed_total${labels}`, 1);
        want.set(`lan_reflector_packets_emitted_total${labels}`, k);
        k++;
      }
    DROP_REASONS.forEach((r, i) => {
      for (let n = 0; n <= i; n++) c.drop('mdns', r);
      want.set(`lan_reflector_packets_dropped_total{protocol="mdns",reason="${r}"}`, i + 1);
    });
    await start();
    const { series } = await scrape();
    for (const [name, value] of want) assert.equal(series.get(name), value, name);
    // Every reason exists for every protocol (0 until it happens), and no other label values appear.
    assert.equal(series.get('lan_reflector_packets_dropped_total{protocol="ssdp",reason="session-full"}'), 0);
    const received = [...series.keys()].filter((n) => n.startsWith('lan_reflector_packets_received_total'));
    assert.equal(received.length, 6);
    const dropped = [...series.keys()].filter((n) => n.startsWith('lan_reflector_packets_dropped_total'));
    assert.equal(dropped.length, 3 * 13, 'three protocols, thirteen reasons');
  });

  it('exports the relay latency histogram kept in Counters', async () => {
    for (const s of [0.00002, 0.0003, 0.0003, 0.02]) source.counters.observeLatency(s);
    await start();
    const { series, text } = await scrape();
    assert.match(text, /# TYPE lan_reflector_relay_latency_seconds histogram/);
    const bucket = (le: string) => series.get(`lan_reflector_relay_latency_seconds_bucket{le="${le}"}`);
    assert.equal(bucket('0.00001'), 0);
    assert.equal(bucket('0.000025'), 1);
    assert.equal(bucket('0.0005'), 3);
    assert.equal(bucket('0.01'), 3);
    assert.equal(bucket('+Inf'), 4);
    assert.equal(series.get('lan_reflector_relay_latency_seconds_count'), 4);
    assert.ok(Math.abs(series.get('lan_reflector_relay_latency_seconds_sum')! - 0.02062) < 1e-9);
  });

  it('gauges opted-in pods, relayed pods and the session table (0 until one exists)', async () => {
    await start();
    let { series } = await scrape();
    assert.equal(series.get('lan_reflector_opted_in_pods'), 3);
    assert.equal(series.get('lan_reflector_relayed_pods'), 2);
    assert.equal(series.get('lan_reflector_session_table_entries'), 0);
    assert.equal(series.get('lan_reflector_ready'), 1);
    source.sessions = { size: 5 };
    source.attachments = source.attachments.slice(0, 1);
    ({ series } = await scrape());
    assert.equal(series.get('lan_reflector_session_table_entries'), 5);
    assert.equal(series.get('lan_reflector_relayed_pods'), 1);
  });

  it('names counters _total, helps with full sentences, and labels nothing with an address', async () => {
    source.counters.receive('mdns', 'lan-to-pod');
    await start();
    const { text, series } = await scrape();
    const helps = text.split('\n').filter((l) => l.startsWith('# HELP lan_reflector_'));
    assert.ok(helps.length >= 9);
    for (const h of helps) assert.match(h, /^# HELP \w+ [A-Z].{20,}\.$/, h);
    for (const t of text.split('\n').filter((l) => /^# TYPE lan_reflector_\w+ counter$/.test(l)))
      assert.match(t, /_total counter$/);
    for (const key of series.keys())
      if (key.startsWith('lan_reflector_')) assert.doesNotMatch(key, /"\d+\.\d+\.\d+\.\d+"/, key);
  });

  it('includes process and Node.js runtime metrics', async () => {
    await start(true);
    const { series } = await scrape();
    assert.ok(series.has('process_cpu_user_seconds_total'));
    assert.ok(series.has('process_resident_memory_bytes'));
    assert.ok([...series.keys()].some((k) => k.startsWith('nodejs_eventloop_lag_seconds')));
  });

  describe('probes', function () {
    it('answers /healthz while the process is alive, ready or not', async () => {
      source.ready = false;
      await start();
      const res = await fetch(`${base}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'ok\n');
    });

    it('answers /readyz 503 with the reason until the agent is ready, then 200', async () => {
      source.ready = false;
      source.links.links.delete('eth0');
      await start();
      let res = await fetch(`${base}/readyz`);
      assert.equal(res.status, 503);
      assert.match(await res.text(), /^not ready: the LAN interface eth0 is not open/);

      source.links.links.set('eth0', {
        index: 2,
        mtu: 1500,
        groups: new Set(),
        stats: { received: 0, sent: 0, sendErrors: 0 },
      });
      res = await fetch(`${base}/readyz`);
      assert.equal(res.status, 503);
      assert.match(await res.text(), /^not ready: starting: waiting for the pod sources to sync/);

      source.ready = true;
      res = await fetch(`${base}/readyz`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'ready\n');
    });

    it('says which paths exist for any other path', async () => {
      await start();
      const res = await fetch(`${base}/`);
      assert.equal(res.status, 404);
      assert.match(await res.text(), /try \/metrics, \/healthz or \/readyz/);
    });
  });

  describe('parseHostPort', function () {
    for (const [input, want] of [
      ['127.0.0.1:9412', { host: '127.0.0.1', port: 9412 }],
      [':9412', { host: undefined, port: 9412 }],
      ['[::1]:9412', { host: '::1', port: 9412 }],
      ['localhost:0', { host: 'localhost', port: 0 }],
    ] as const) {
      it(`reads ${input}`, () => assert.deepEqual(parseHostPort(input), want));
    }
    it('refuses a port out of range, saying what is expected', () => {
      assert.throws(() => parseHostPort('0.0.0.0:70000'), /is not HOST:PORT \(e\.g\. 127\.0\.0\.1:9412/);
    });
  });
});
