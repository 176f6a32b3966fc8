// Registers the IPAM's metrics on the agent's Prometheus registry; values are read at scrape time.
import client from 'prom-client';
import type { IpamMetrics, LabelledCounter } from './metrics.js';
import { registerDhcpMetrics } from './dhcp/metrics.js';

function fromCounter<L extends string>(metric: client.Counter<L>, c: LabelledCounter): void {
  metric.reset();
  for (const [k, v] of c.values) metric.inc(JSON.parse(k) as client.LabelValues<L>, v);
}

export function registerIpamMetrics(registry: client.Registry, m: IpamMetrics): void {
  registerDhcpMetrics(registry, m.dhcp);
  new client.Counter({
    name: 'lan_reflector_ipam_cni_calls_total',
    help: 'CNI calls the IPAM served, by command (ADD, DEL, CHECK, GC, STATUS) and result (ok, error, delegated).',
    labelNames: ['command', 'result'] as const,
    registers: [registry],
    collect() {
      fromCounter(this, m.calls);
    },
  });
  new client.Gauge({
    name: 'lan_reflector_ipam_allocations',
    help: 'LAN addresses currently assigned to pods by this node.',
    registers: [registry],
    collect() {
      this.set(m.allocations.value);
    },
  });
  new client.Gauge({
    name: 'lan_reflector_ipam_free_addresses',
    help: 'Addresses of ipam.ranges that are neither assigned, excluded nor held back.',
    registers: [registry],
    collect() {
      this.set(m.free.value);
    },
  });
  new client.Counter({
    name: 'lan_reflector_ipam_reclaimed_total',
    help: 'Addresses the file store released because their pod was gone without a DEL (no route to it, no pod).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(m.reclaimed.get());
    },
  });
  new client.Counter({
    name: 'lan_reflector_ipam_address_conflicts_total',
    help: 'Addresses another device claimed: when=probe (answered before assignment, skipped) or when=assigned (ARP from another MAC for a pod address).',
    labelNames: ['when'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ when: 'probe' }, m.conflicts.counter.get({ when: 'probe' }));
      this.inc({ when: 'assigned' }, m.conflicts.counter.get({ when: 'assigned' }));
    },
  });
  const name = 'lan_reflector_ipam_add_duration_seconds';
  const help = 'Time the agent took to answer a CNI ADD (probe included), by result.';
  class AddHistogram extends client.Histogram<'result'> {
    private snapshot() {
      const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> =
        [];
      for (const [k, s] of m.addSeconds.series) {
        const labels = JSON.parse(k) as Record<string, string>;
        m.addSeconds.bounds.forEach((le, i) =>
          values.push({ labels: { ...labels, le }, value: s.buckets[i], metricName: `${name}_bucket` }),
        );
        values.push(
          { labels: { ...labels, le: '+Inf' }, value: s.count, metricName: `${name}_bucket` },
          { labels, value: s.sum, metricName: `${name}_sum` },
          { labels, value: s.count, metricName: `${name}_count` },
        );
      }
      return { name, help, type: 'histogram' as const, values, aggregator: 'sum' as const };
    }
    override async get() {
      return this.snapshot() as unknown as Awaited<ReturnType<client.Histogram<'result'>['get']>>;
    }
    async getForPromString() {
      return this.snapshot();
    }
  }
  new AddHistogram({
    name,
    help,
    labelNames: ['result'],
    buckets: [...m.addSeconds.bounds],
    registers: [registry],
  });
}
