// The packet path: receive -> classify -> attribute -> policy -> loop guard -> emit (DESIGN.md).
// Nothing here throws past handle(): a bad packet becomes a counted drop.
import type { InterfaceName, IPv4Address } from '../config/types.js';
import type { EventBus } from '../events/bus.js';
import { matchesServices } from '../protocols/mdns.js';
import type { ProtocolTable } from '../protocols/registry.js';
import type { ProtocolHandler } from '../protocols/types.js';
import { buildIPv4, parseIPv4Udp, type UdpDatagram } from '../wire/ipv4.js';
import type { Counters } from './counters.js';
import { decide } from './decide.js';
import { DedupeWindow } from './dedupe.js';
import type { TokenBuckets } from './token-buckets.js';
import type { DropReason, Flow, PodAttachment, Target, Topology } from './types.js';

/** The I/O the engine needs, implemented over raw sockets by src/agent. */
export interface Emitter {
  send(link: InterfaceName, packet: Buffer, dst: IPv4Address): void;
  mtu(link: InterfaceName): number;
}

export interface ReflectorDeps {
  protocols: ProtocolTable;
  emitter: Emitter;
  dedupe: DedupeWindow;
  perSource: TokenBuckets;
  perPod: TokenBuckets;
  bus: EventBus;
  counters: Counters;
  now?: () => number;
}

export class Reflector {
  topology: Topology;
  private readonly now: () => number;

  constructor(
    private readonly deps: ReflectorDeps,
    topology: Topology,
  ) {
    this.topology = topology;
    this.now = deps.now ?? Date.now;
  }

  handle(packet: Buffer, ingress: InterfaceName): void {
    const started = process.hrtime.bigint();
    const parsed = parseIPv4Udp(packet);
    if (!parsed.ok) {
      this.deps.counters.drop('unknown', 'malformed');
      return;
    }
    const d = parsed.datagram;
    // A raw UDP socket sees every UDP packet on its link; only discovery traffic concerns us.
    const handler = this.deps.protocols.classify(d.dst, d.dstPort);
    if (!handler) return;
    const outcome = this.route(d, handler, ingress);
    if (outcome.targets) this.deps.counters.observeLatency(Number(process.hrtime.bigint() - started) / 1e9);
    if (this.deps.bus.active) this.publish(d, handler, ingress, outcome);
  }

  private route(d: UdpDatagram, h: ProtocolHandler, ingress: InterfaceName): Outcome {
    const { counters } = this.deps;
    const now = this.now();
    const decision = decide({ ingress, src: d.src, protocol: h.name }, this.topology);
    counters.receive(h.name, decision.flow);
    const drop = (reason: DropReason, detail?: string): Outcome => {
      counters.drop(h.name, reason);
      return { flow: decision.flow, from: decision.from, reason, detail };
    };
    if (!decision.relay) return drop(decision.reason);
    if (this.deps.dedupe.isDuplicate(DedupeWindow.key(d.src, d.segment), now)) return drop('duplicate');
    if (!this.deps.perSource.take(d.src, now)) return drop('rate-limited');
    if (decision.from && !this.deps.perPod.take(decision.from.pod.key, now)) return drop('rate-limited');

    let decoded: unknown;
    try {
      decoded = h.decode(d.payload);
    } catch (err) {
      return drop('malformed', (err as Error).message);
    }
    let targets = decision.targets;
    const names = h.name === 'mdns' ? h.names(decoded) : undefined;
    if (names) {
      if (decision.from && !matchesServices(names, decision.from.pod.options.services)) return drop('filtered');
      targets = targets.filter((t) => !t.pod || matchesServices(names, t.pod.pod.options.services));
    }
    const out = buildIPv4(d.src, d.dst, h.emitTtl(d.ttl), d.segment);
    let copies = 0;
    for (const t of targets) {
      if (out.length > this.deps.emitter.mtu(t.link)) continue;
      this.deps.emitter.send(t.link, out, d.dst);
      copies++;
    }
    if (copies === 0) return drop(targets.length === 0 ? 'filtered' : 'too-big');
    counters.relay(h.name, decision.flow, copies);
    return { flow: decision.flow, from: decision.from, targets };
  }

  private publish(d: UdpDatagram, h: ProtocolHandler, ingress: InterfaceName, o: Outcome): void {
    this.deps.bus.publish({
      time: this.now(),
      protocol: h.name,
      flow: o.flow,
      ingress,
      src: d.src,
      srcPort: d.srcPort,
      dst: d.dst,
      dstPort: d.dstPort,
      size: d.payload.length,
      pod: o.from?.pod.name,
      targets: (o.targets ?? []).map((t) => (t.pod ? t.pod.pod.name : 'lan')),
      drop: o.reason,
      detail: o.detail,
      payload: Buffer.from(d.payload),
    });
  }
}

interface Outcome {
  flow: Flow;
  from?: PodAttachment;
  targets?: Target[];
  reason?: DropReason;
  detail?: string;
}
