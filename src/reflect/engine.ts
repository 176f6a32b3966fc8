// The packet path: receive -> classify -> attribute -> policy -> loop guard -> emit (DESIGN.md).
// Nothing here throws past handle(): a bad packet becomes a counted drop.
import type { InterfaceName, IPv4Address } from '../config/types.js';
import type { EventBus } from '../events/bus.js';
import { LIMITED_BROADCAST } from '../protocols/broadcast.js';
import { MDNS_PORT, matchesServices } from '../protocols/mdns.js';
import { clearQuBits, rewriteAddressRecords } from '../protocols/mdns-rewrite.js';
import type { ProtocolTable } from '../protocols/registry.js';
import type { ProtocolHandler } from '../protocols/types.js';
import { buildIPv4, buildUdp, parseIPv4Udp, type UdpDatagram } from '../wire/ipv4.js';
import type { Counters } from './counters.js';
import { decide } from './decide.js';
import { DedupeWindow } from './dedupe.js';
import type { TokenBuckets } from './token-buckets.js';
import type { Decision, DropReason, Flow, PodAttachment, Target, Topology } from './types.js';

/** The I/O the engine needs, implemented over raw sockets by src/agent. */
export interface Emitter {
  send(link: InterfaceName, packet: Buffer, dst: IPv4Address): void;
  mtu(link: InterfaceName): number;
}

/** `node` source mode (DESIGN.md "Reflection rules"): a pod's packet leaves from a port of the
 *  node's own address, and unicast replies to that port come back through `Reflector.injectReply`. */
export interface NodeRelay {
  /** The node's LAN address; undefined when the LAN link has none (then no pod is in node mode). */
  readonly address: IPv4Address | undefined;
  /** Returns false when no session can be opened (table full). */
  send(from: PodAttachment, protocol: ProtocolHandler, d: UdpDatagram, ttl: number): boolean;
  /** Whether a node port belongs to a session: the node hears its own broadcasts back. */
  owns(port: number): boolean;
}

export interface NodeModeOptions {
  relay: NodeRelay;
  mdnsAddressRecords: 'rewrite' | 'strip' | 'keep';
}

export interface ReflectorDeps {
  protocols: ProtocolTable;
  emitter: Emitter;
  dedupe: DedupeWindow;
  perSource: TokenBuckets;
  perPod: TokenBuckets;
  bus: EventBus;
  counters: Counters;
  nodeMode?: NodeModeOptions;
  now?: () => number;
}

export class Reflector {
  topology: Topology;
  protocols: ProtocolTable;
  nodeMode?: NodeModeOptions;
  private readonly now: () => number;

  constructor(
    private readonly deps: ReflectorDeps,
    topology: Topology,
  ) {
    this.topology = topology;
    this.protocols = deps.protocols;
    this.nodeMode = deps.nodeMode;
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
    const handler = this.protocols.classify(d.dst, d.dstPort);
    if (!handler) return;
    let outcome: Outcome;
    try {
      outcome = this.route(d, handler, ingress);
    } catch (err) {
      // Only a codec can throw here; whatever it was, it costs one counted packet, never the agent.
      this.deps.counters.drop(handler.name, 'malformed');
      const flow = ingress === this.topology.lanLink ? 'lan-to-pod' : 'pod-to-lan';
      outcome = { flow, reason: 'malformed', detail: (err as Error).message };
    }
    if (outcome.targets) this.deps.counters.observeLatency(Number(process.hrtime.bigint() - started) / 1e9);
    if (this.deps.bus.active) this.publish(d, handler, ingress, outcome);
  }

  private route(d: UdpDatagram, h: ProtocolHandler, ingress: InterfaceName): Outcome {
    const { counters } = this.deps;
    const now = this.now();
    const decision: Decision = this.isOwnNodeSend(d, ingress)
      ? { relay: false, flow: 'lan-to-pod', reason: 'own-echo' }
      : decide({ ingress, src: d.src, protocol: h.name }, this.topology);
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
      if (decision.from && !matchesServices(names, decision.from.pod.options.services))
        return drop('filtered');
      targets = targets.filter((t) => !t.pod || matchesServices(names, t.pod.pod.options.services));
    }
    if (h.name === 'broadcast') {
      if (decision.from && !takesPort(decision.from, d.dstPort)) return drop('filtered');
      targets = targets.filter((t) => !t.pod || takesPort(t.pod, d.dstPort));
    }
    const sent = this.emit(d, h, targets, decision.from);
    if (sent.length === 0) return drop(targets.length === 0 ? 'filtered' : 'too-big');
    counters.relay(h.name, decision.flow, sent.length);
    return { flow: decision.flow, from: decision.from, targets: sent };
  }

  /** Sends one copy per target; returns the targets a copy left for. Each packet variant (as is,
   *  to the limited broadcast, without QU bits) is built once, however many targets share it. */
  private emit(d: UdpDatagram, h: ProtocolHandler, targets: Target[], from?: PodAttachment): Target[] {
    const ttl = h.emitTtl(d.ttl);
    const { emitter } = this.deps;
    let asIs: Buffer | undefined;
    let toPodsLimited: Buffer | undefined;
    let toNodeModePods: Buffer | undefined;
    const sent: Target[] = [];
    for (const t of targets) {
      if (!t.pod && from?.sourceMode === 'node') {
        if (this.emitFromNode(d, h, from, ttl)) sent.push(t);
        continue;
      }
      // A pod with a /32 does not know the LAN's subnet broadcast: give it the limited one.
      const dst = t.pod && h.name === 'broadcast' ? LIMITED_BROADCAST : d.dst;
      let out: Buffer;
      if (dst !== d.dst) out = toPodsLimited ??= buildIPv4(d.src, dst, ttl, d.segment);
      else if (t.pod && !from && h.name === 'mdns' && t.pod.sourceMode === 'node')
        out = toNodeModePods ??= this.withoutQu(d, dst, ttl);
      else out = asIs ??= buildIPv4(d.src, dst, ttl, d.segment);
      if (out.length > emitter.mtu(t.link)) continue;
      emitter.send(t.link, out, dst);
      sent.push(t);
    }
    return sent;
  }

  /** A LAN query goes into a node-mode pod without its QU bits: a unicast answer from the pod would
   *  reach the device through the node's masquerade, past the A-record rewrite of its answers. */
  private withoutQu(d: UdpDatagram, dst: IPv4Address, ttl: number): Buffer {
    return buildIPv4(d.src, dst, ttl, buildUdp(d.srcPort, d.dstPort, clearQuBits(d.payload)));
  }

  /** A broadcast a node-mode session sent is delivered back to the node itself (multicast loop
   *  does not apply to broadcasts); it must not be reflected into the pods as if a device sent it. */
  private isOwnNodeSend(d: UdpDatagram, ingress: InterfaceName): boolean {
    const relay = this.nodeMode?.relay;
    return ingress === this.topology.lanLink && relay?.address === d.src && relay.owns(d.srcPort);
  }

  private emitFromNode(d: UdpDatagram, h: ProtocolHandler, from: PodAttachment, ttl: number): boolean {
    const node = this.nodeMode;
    if (!node?.relay.address) return false;
    if (h.name === 'mdns' && d.srcPort === MDNS_PORT) {
      // Multicast answers come back to every relayed pod on their own; no session needed.
      let payload = clearQuBits(d.payload);
      if (node.mdnsAddressRecords !== 'keep')
        payload = rewriteAddressRecords(
          payload,
          from.pod.addresses,
          node.relay.address,
          node.mdnsAddressRecords,
        );
      const out = buildIPv4(node.relay.address, d.dst, ttl, buildUdp(MDNS_PORT, MDNS_PORT, payload));
      if (out.length > this.deps.emitter.mtu(this.topology.lanLink)) return false;
      this.deps.emitter.send(this.topology.lanLink, out, d.dst);
      return true;
    }
    return node.relay.send(from, h, d, ttl);
  }

  /** Re-injects a unicast reply that reached a node-mode session into the pod that asked, with the
   *  device's address as source (SoCo and WiZ clients take it as the device's address). */
  injectReply(
    to: PodAttachment,
    h: ProtocolHandler,
    src: IPv4Address,
    srcPort: number,
    podPort: number,
    payload: Buffer,
  ): void {
    const podAddress = to.pod.addresses[0];
    if (!podAddress) return;
    const seg = buildUdp(srcPort, podPort, payload);
    // RFC 6762 11: mDNS answers, unicast ones included, carry TTL 255; other replies a host's default.
    const ttl = h.name === 'mdns' ? 255 : 64;
    const out = buildIPv4(src, podAddress, ttl, seg);
    this.deps.counters.receive(h.name, 'lan-to-pod');
    // Unicast goes out of the pod's link, not its bridge port: the bridge resolves and delivers it
    // to that pod alone, where a bare port has no neighbour entry for the pod.
    if (out.length > this.deps.emitter.mtu(to.link)) {
      this.deps.counters.drop(h.name, 'too-big');
      return;
    }
    this.deps.emitter.send(to.link, out, podAddress);
    this.deps.counters.relay(h.name, 'lan-to-pod', 1);
    if (this.deps.bus.active) {
      const d = { src, dst: podAddress, ttl, srcPort, dstPort: podPort, segment: seg, payload };
      this.publish(d, h, this.topology.lanLink, {
        flow: 'lan-to-pod',
        targets: [{ link: to.port, pod: to }],
      });
    }
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

const takesPort = (a: PodAttachment, port: number) =>
  a.pod.options.broadcastPorts.length === 0 || a.pod.options.broadcastPorts.includes(port);

interface Outcome {
  flow: Flow;
  from?: PodAttachment;
  targets?: Target[];
  reason?: DropReason;
  detail?: string;
}
