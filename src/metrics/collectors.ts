// Prometheus metrics read from the agent's plain-number Counters at scrape time (collect callbacks):
// the packet path never touches prom-client. Labels are bounded: protocol, direction, reason.
import client from 'prom-client';
import type { ProtocolName } from '../config/types.js';
import { LATENCY_BUCKETS, type Counters } from '../reflect/counters.js';
import { DROP_REASONS, type Flow } from '../reflect/types.js';
import { registerSocketMetrics, type SocketTotals } from './socket-metrics.js';

const FLOWS: readonly Flow[] = ['lan-to-pod', 'pod-to-lan'];

/** What the metrics read from the agent (Agent satisfies it). */
export interface MetricsSource {
  readonly counters: Counters;
  readonly config: { readonly protocols: readonly ProtocolName[] };
  readonly registry: { all(): readonly unknown[] };
  readonly attachments: readonly unknown[];
  readonly ready: boolean;
  /** The node-source-mode session table; absent when no pod needs node source mode. */
  readonly sessions?: { readonly size: number };
  /** The link sockets' counters (src/metrics/socket-metrics.ts); absent in tests without sockets. */
  readonly links?: { readonly links?: unknown; socketTotals?(): SocketTotals };
}

type FlowTable = Counters['received'];

/** Sets a counter to the values of a protocol x key table, with every known series present (0). */
function fillCounter<L extends string>(
  metric: client.Counter<L>,
  table: Record<string, Partial<Record<string, number>>>,
  protocols: readonly string[],
  keyLabel: L,
  keys: readonly string[],
): void {
  metric.reset();
  const seen = new Set<string>();
  for (const p of protocols) for (const k of keys) seen.add(`${p}\u0000${k}`);
  for (const [p, row] of Object.entries(table)) for (const k of Object.keys(row)) seen.add(`${p}\u0000${k}`);
  for (const s of seen) {
    const [p, k] = s.split('\u0000');
    const labels = { protocol: p, [keyLabel]: k } as Record<'protocol' | L, string>;
    metric.inc(labels as client.LabelValues<L>, table[p]?.[k] ?? 0);
  }
}

/**
 * A histogram whose state lives in Counters.latency (cumulative bucket counts kept by the packet
 * path); prom-client only formats it. Overrides both read paths the registry uses.
 */
const LATENCY_NAME = 'lan_reflector_relay_latency_seconds';
const LATENCY_HELP =
  'Time from a packet reaching the agent to its last copy being sent, for relayed packets.';

class CountersLatencyHistogram extends client.Histogram<never> {
  constructor(
    private readonly counters: Counters,
    registry: client.Registry,
  ) {
    super({
      name: LATENCY_NAME,
      help: LATENCY_HELP,
      buckets: [...LATENCY_BUCKETS],
      registers: [registry],
    });
  }

  private snapshot() {
    const l = this.counters.latency;
    const name = LATENCY_NAME;
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> =
      LATENCY_BUCKETS.map((le, i) => ({ labels: { le }, value: l.buckets[i], metricName: `${name}_bucket` }));
    values.push(
      { labels: { le: '+Inf' }, value: l.count, metricName: `${name}_bucket` },
      { labels: {}, value: l.sum, metricName: `${name}_sum` },
      { labels: {}, value: l.count, metricName: `${name}_count` },
    );
    return { name, help: LATENCY_HELP, type: 'histogram' as const, values, aggregator: 'sum' as const };
  }

  override async get() {
    return this.snapshot() as unknown as Awaited<ReturnType<client.Histogram<never>['get']>>;
  }

  async getForPromString() {
    return this.snapshot();
  }
}

export interface MetricsOptions {
  /** Process and Node.js runtime metrics (prom-client's collectDefaultMetrics). */
  defaultMetrics?: boolean;
}

/** A registry with every lan-reflector metric, reading `src` on each scrape. */
export function createMetricsRegistry(src: MetricsSource, opts: MetricsOptions = {}): client.Registry {
  const registry = new client.Registry();
  const protocols = () => src.config.protocols;
  const c = src.counters;
  const perFlow = (name: string, help: string, table: () => FlowTable) =>
    new client.Counter({
      name,
      help,
      labelNames: ['protocol', 'direction'] as const,
      registers: [registry],
      collect() {
        fillCounter(this, table(), protocols(), 'direction', FLOWS);
      },
    });

  perFlow(
    'lan_reflector_packets_received_total',
    'Discovery packets (mDNS, SSDP, broadcast) the agent received on the LAN or a pod link, by protocol and direction.',
    () => c.received,
  );
  perFlow(
    'lan_reflector_packets_relayed_total',
    'Received packets the agent relayed to at least one target, by protocol and direction.',
    () => c.relayed,
  );
  perFlow(
    'lan_reflector_packets_emitted_total',
    'Copies the agent sent: one packet relayed into three pods counts three, by protocol and direction.',
    () => c.emitted,
  );
  new client.Counter({
    name: 'lan_reflector_packets_dropped_total',
    help: 'Packets the agent did not relay, by protocol and reason (see `lan-reflector tail --drops`).',
    labelNames: ['protocol', 'reason'] as const,
    registers: [registry],
    collect() {
      fillCounter(this, c.dropped, protocols(), 'reason', DROP_REASONS);
    },
  });
  new client.Gauge({
    name: 'lan_reflector_opted_in_pods',
    help: 'Pods of this node that opted in to reflection.',
    registers: [registry],
    collect() {
      this.set(src.registry.all().length);
    },
  });
  new client.Gauge({
    name: 'lan_reflector_relayed_pods',
    help: 'Opted-in pods whose host link was found and opened, so the agent relays for them.',
    registers: [registry],
    collect() {
      this.set(src.attachments.length);
    },
  });
  new client.Gauge({
    name: 'lan_reflector_session_table_entries',
    help: 'Entries in the session table that carries unicast replies back to pods in node source mode.',
    registers: [registry],
    collect() {
      this.set(src.sessions?.size ?? 0);
    },
  });
  new client.Gauge({
    name: 'lan_reflector_ready',
    help: 'Whether the agent is ready: 1 once the LAN link is open and the pod sources have synced, else 0.',
    registers: [registry],
    collect() {
      this.set(src.ready ? 1 : 0);
    },
  });
  new CountersLatencyHistogram(c, registry);
  const links = src.links;
  if (links?.socketTotals) registerSocketMetrics(registry, () => links.socketTotals!());
  if (opts.defaultMetrics !== false) client.collectDefaultMetrics({ register: registry });
  return registry;
}
