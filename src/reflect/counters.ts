// Packet counters kept as plain numbers on the hot path; src/metrics exports them on scrape.
import type { ProtocolName } from '../config/types.js';
import type { DropReason, Flow } from './types.js';

type Nested<K extends string> = Record<string, Partial<Record<K, number>>>;

/** Relay latency buckets in seconds: from the packet's arrival in the handler to its last send. */
export const LATENCY_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01];

export class Counters {
  readonly received: Nested<Flow> = {};
  readonly relayed: Nested<Flow> = {};
  /** Copies sent: one relayed packet into three pods is three emissions. */
  readonly emitted: Nested<Flow> = {};
  readonly dropped: Nested<DropReason> = {};
  readonly latency = { buckets: LATENCY_BUCKETS.map(() => 0), count: 0, sum: 0 };

  private static add<K extends string>(t: Nested<K>, p: string, k: K, n = 1): void {
    const row = (t[p] ??= {});
    row[k] = (row[k] ?? 0) + n;
  }
  receive(p: ProtocolName, f: Flow): void {
    Counters.add(this.received, p, f);
  }
  relay(p: ProtocolName, f: Flow, copies: number): void {
    Counters.add(this.relayed, p, f);
    Counters.add(this.emitted, p, f, copies);
  }
  drop(p: ProtocolName | 'unknown', r: DropReason): void {
    Counters.add(this.dropped, p, r);
  }
  observeLatency(seconds: number): void {
    const l = this.latency;
    l.count++;
    l.sum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]) l.buckets[i]++;
  }
  total(t: Nested<string>): number {
    let n = 0;
    for (const row of Object.values(t)) for (const v of Object.values(row)) n += v ?? 0;
    return n;
  }
}
