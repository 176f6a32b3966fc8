// The IPAM's numbers, kept as plain values (prom-client is loaded only when metrics are served;
// src/ipam/metrics-registry.ts formats these at scrape time). Labels are bounded: command, result,
// when — never an address (STYLE.md 10).

/** ADD latency buckets, seconds: the target without the probe is p99 < 20 ms, a probe adds ~200 ms. */
export const ADD_BUCKETS = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

import { DhcpMetrics } from './dhcp/metrics.js';

export class LabelledCounter {
  readonly values = new Map<string, number>();
  inc(labels: Record<string, string> = {}, by = 1): void {
    const k = JSON.stringify(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Record<string, string> = {}): number {
    return this.values.get(JSON.stringify(labels)) ?? 0;
  }
}

export class Gauge {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
}

export class LabelledHistogram {
  readonly series = new Map<string, { buckets: number[]; sum: number; count: number }>();
  constructor(readonly bounds: readonly number[]) {}
  observe(labels: Record<string, string>, seconds: number): void {
    const k = JSON.stringify(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 }));
    this.bounds.forEach((b, i) => {
      if (seconds <= b) s.buckets[i]++;
    });
    s.sum += seconds;
    s.count++;
  }
}

export class IpamMetrics {
  /** ipam.mode dhcp: leases, failures by cause, renewals, lease problems (src/ipam/dhcp/metrics.ts). */
  readonly dhcp = new DhcpMetrics();
  /** CNI calls by command and result (ok, error, delegated). */
  readonly calls = new LabelledCounter();
  readonly addSeconds = new LabelledHistogram(ADD_BUCKETS);
  readonly allocations = new Gauge();
  readonly free = new Gauge();
  /** Addresses released because their attachment was gone without a DEL (src/ipam/reclaim.ts). */
  readonly reclaimed = new LabelledCounter();
  /**
   * Addresses another device claimed: `when: probe` (answered before assignment, skipped) or
   * `when: assigned` (ARP from another MAC after assignment; src/ipam/lan counts those here too).
   */
  readonly conflicts = {
    counter: new LabelledCounter(),
    inc(when: 'probe' | 'assigned' = 'probe'): void {
      this.counter.inc({ when });
    },
  };
}
