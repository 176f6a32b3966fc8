// The packet path: receive -> classify -> decide -> emit (DESIGN.md). decide() makes every choice;
// this file carries it out: it builds each packet variant once, sends, counts what was sent and
// tells observers. It knows no protocol by name: what differs per protocol is a handler hook.
// Nothing here throws past handle(): a bad packet becomes a counted drop.
import type { InterfaceName, IPAddress } from '../config/types.js';
import type { EventBus } from '../events/bus.js';
import type { ProtocolTable } from '../protocols/registry.js';
import type { ProtocolHandler } from '../protocols/types.js';
import { framePacket } from '../wire/frame.js';
import { buildUdp, parseIPv4Udp } from '../wire/ipv4.js';
import type { Counters } from './counters.js';
import { decide, type DecideEnv } from './decide.js';
import { DedupeWindow } from './dedupe.js';
import type { TokenBuckets } from './token-buckets.js';
import type { Datagram, DropReason, Family, Flow, PodAttachment, Target, Topology } from './types.js';

/** The I/O the engine needs, implemented over the link sockets by src/agent. */
export interface Emitter {
  /** Sends (or queues) one packet out of `link`; false when it was neither sent nor queued. */
  send(link: InterfaceName, packet: Buffer, dst: IPAddress): boolean;
  /** The MTU of a link whose socket for this family is open; undefined when none is. An IPv6
   *  packet (framePacket family 6) goes to the link's IPv6 socket. */
  mtu(link: InterfaceName, family?: Family): number | undefined;
}

/** `node` source mode (DESIGN.md "Reflection rules"): a pod's packet leaves from a port of the
 *  node's own address, and unicast replies to that port come back through `Reflector.injectReply`. */
export interface NodeRelay {
  /** Whether a node port belongs to a session: the node hears its own broadcasts back. */
  owns(port: number): boolean;
  /** Whether `from` has a session for this source port, or may open one (its share is not full). */
  room(from: PodAttachment, protocol: ProtocolHandler, srcPort: number): boolean;
  /** Sends through the pod's session from `source`, opening it if needed; false when nothing was
   *  sent or queued (no room, a failed bind). */
  send(from: PodAttachment, protocol: ProtocolHandler, d: Datagram, ttl: number, source: IPAddress): boolean;
}

export interface ReflectorDeps {
  protocols: ProtocolTable;
  emitter: Emitter;
  dedupe: DedupeWindow;
  perSource: TokenBuckets;
  perPod: TokenBuckets;
  bus: EventBus;
  counters: Counters;
  /** Node-mode sessions; without them every node-mode send is `session-full`. */
  sessions?: NodeRelay;
  now?: () => number;
}

interface Outcome {
  flow: Flow;
  from?: PodAttachment;
  targets?: Target[];
  reason?: DropReason;
  detail?: string;
}

export class Reflector {
  readonly protocols: ProtocolTable;
  private readonly emitter: Emitter;
  private readonly counters: Counters;
  private readonly bus: EventBus;
  private readonly sessions?: NodeRelay;
  private readonly now: () => number;
  private readonly env: DecideEnv & { topology: Topology; clock: number };

  constructor(deps: ReflectorDeps, topology: Topology) {
    this.protocols = deps.protocols;
    this.emitter = deps.emitter;
    this.counters = deps.counters;
    this.bus = deps.bus;
    this.sessions = deps.sessions;
    this.now = deps.now ?? Date.now;
    const { dedupe, perSource, perPod, emitter, sessions } = deps;
    // One env for the agent's life; `clock` is set once per packet, `topology` when the agent
    // replaces it.
    this.env = {
      topology,
      clock: 0,
      duplicate: (d) => dedupe.isDuplicate(DedupeWindow.key(d.src, d.segment), this.env.clock),
      takeSource: (src) => perSource.take(src, this.env.clock),
      takePod: (key) => perPod.take(key, this.env.clock),
      mtu: (link, family) => emitter.mtu(link, family),
      ownsNodePort: (port) => sessions?.owns(port) ?? false,
      sessionRoom: (from, h, srcPort) => sessions?.room(from, h, srcPort) ?? false,
    };
  }

  /** Sees every discovery datagram that arrives on the LAN link, before any decision: the IPAM
   *  keeps the addresses devices use out of its pool (src/ipam/lan/seen-addresses.ts). */
  lanObserver?: (d: Datagram) => void;

  get topology(): Topology {
    return this.env.topology;
  }

  /** The agent's one way to change what the reflector relays for: a new topology, whole. */
  setTopology(t: Topology): void {
    this.env.topology = t;
  }

  /** One packet as a raw IPv4 socket delivers it (IP header included). */
  handle(packet: Buffer, ingress: InterfaceName): void {
    const parsed = parseIPv4Udp(packet);
    if (!parsed.ok) {
      this.counters.drop('unknown', 'malformed');
      return;
    }
    this.handleDatagram(parsed.datagram, ingress);
  }

  handleDatagram(d: Datagram, ingress: InterfaceName): void {
    const started = process.hrtime.bigint();
    // A raw UDP socket sees every UDP packet on its link; only discovery traffic concerns us.
    const handler = this.protocols.classify(d.dst, d.dstPort, this.env.topology.lanAddress);
    if (!handler) return;
    if (this.lanObserver && ingress === this.env.topology.lanLink) this.lanObserver(d);
    let outcome: Outcome;
    try {
      outcome = this.route(d, handler, ingress);
    } catch (err) {
      // Only a codec can throw here; whatever it was, it costs one counted packet, never the agent.
      this.counters.drop(handler.name, 'malformed');
      const flow = ingress === this.env.topology.lanLink ? 'lan-to-pod' : 'pod-to-lan';
      outcome = { flow, reason: 'malformed', detail: (err as Error).message };
    }
    if (outcome.targets) this.counters.observeLatency(Number(process.hrtime.bigint() - started) / 1e9);
    if (this.bus.active) this.publish(d, handler, ingress, outcome);
  }

  private route(d: Datagram, h: ProtocolHandler, ingress: InterfaceName): Outcome {
    this.env.clock = this.now();
    const decision = decide({ ingress, d, handler: h }, this.env);
    this.counters.receive(h.name, decision.flow);
    const { flow, from } = decision;
    if (!decision.relay) {
      this.counters.drop(h.name, decision.reason);
      return { flow, from, reason: decision.reason, detail: decision.detail };
    }
    const { sent, failure } = this.emit(d, h, decision.targets, from, decision.payload);
    if (sent.length === 0) {
      this.counters.drop(h.name, failure);
      return { flow, from, reason: failure };
    }
    this.counters.relay(h.name, flow, sent.length);
    return { flow, from, targets: sent };
  }

  /** Sends one copy per target; returns the targets a copy left for (sent or queued), and why the
   *  others did not. Each packet variant is built once, however many targets share it. */
  private emit(
    d: Datagram,
    h: ProtocolHandler,
    targets: Target[],
    from?: PodAttachment,
    edited?: Buffer,
  ): { sent: Target[]; failure: DropReason } {
    const ttl = h.emitTtl(d.ttl);
    const variants = new Variants(d, h, ttl, edited);
    const sent: Target[] = [];
    let failure: DropReason = 'send-failed';
    for (const t of targets) {
      if (t.via === 'node-session') {
        const node = this.env.topology.lanAddress;
        if (from && node && this.sessions?.send(from, h, d, ttl, node.address)) sent.push(t);
        else failure = 'session-full';
        continue;
      }
      let out: Buffer;
      if (t.via === 'node-direct') {
        const node = this.env.topology.lanAddress;
        if (!from || !node || !h.viaNode) continue;
        const payload = h.viaNode.rewrite(edited ?? d.payload, {
          podAddresses: from.pod.addresses,
          nodeAddress: node.address,
        });
        out = framePacket(d.family, node.address, t.dst, ttl, buildUdp(d.srcPort, d.dstPort, payload));
        // The rewrite may have grown the packet past what decide() checked.
        if (out.length > (this.emitter.mtu(t.link, d.family) ?? 0)) {
          failure = 'too-big';
          continue;
        }
      } else out = variants.get(t);
      if (this.emitter.send(t.link, out, t.dst)) sent.push(t);
    }
    return { sent, failure };
  }

  /** Re-injects a unicast reply that reached a node-mode session into the pod that asked, with the
   *  device's address as source (SoCo and WiZ clients take it as the device's address). */
  injectReply(
    to: PodAttachment,
    h: ProtocolHandler,
    src: IPAddress,
    srcPort: number,
    podPort: number,
    payload: Buffer,
  ): void {
    const podAddress = to.pod.addresses[0];
    if (!podAddress) return;
    const seg = buildUdp(srcPort, podPort, payload);
    const family = podAddress.includes(':') ? 6 : 4;
    const ttl = h.replyTtl;
    this.counters.receive(h.name, 'lan-to-pod');
    // Unicast goes out of the pod's link, not its bridge port: the bridge resolves and delivers it
    // to that pod alone, where a bare port has no neighbour entry for the pod.
    const mtu = this.emitter.mtu(to.link, family);
    const out = framePacket(family, src, podAddress, ttl, seg);
    let reason: DropReason | undefined;
    if (mtu === undefined) reason = 'link-down';
    else if (out.length > mtu) reason = 'too-big';
    else if (!this.emitter.send(to.link, out, podAddress)) reason = 'send-failed';
    if (reason) this.counters.drop(h.name, reason);
    else this.counters.relay(h.name, 'lan-to-pod', 1);
    if (this.bus.active) {
      const d: Datagram = {
        family,
        src,
        dst: podAddress,
        ttl,
        srcPort,
        dstPort: podPort,
        segment: seg,
        payload,
      };
      const target: Target = { link: to.port, pod: to, dst: podAddress, via: 'as-is' };
      this.publish(
        d,
        h,
        this.env.topology.lanLink,
        reason ? { flow: 'lan-to-pod', reason } : { flow: 'lan-to-pod', targets: [target] },
      );
    }
  }

  private publish(d: Datagram, h: ProtocolHandler, ingress: InterfaceName, o: Outcome): void {
    const targets = o.targets ?? [];
    const probe = {
      protocol: h.name,
      flow: o.flow,
      src: d.src,
      dst: d.dst,
      drop: o.reason,
      from: o.from,
      targets,
    };
    this.bus.offer(probe, () => ({
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
      targets: targets.map((t) => (t.pod ? t.pod.pod.name : 'lan')),
      drop: o.reason,
      detail: o.detail,
      payload: Buffer.from(d.payload),
    }));
  }
}

/** The packets one arrival's copies need: as received or with the pod-side payload edit, to each
 *  destination in use. A few at most, so a short list beats a map. */
class Variants {
  private readonly built: Array<{ via: Target['via']; dst: IPAddress; packet: Buffer }> = [];
  constructor(
    private readonly d: Datagram,
    private readonly h: ProtocolHandler,
    private readonly ttl: number,
    /** The payload crossing links gave every copy (link-local rules), when it changed one. */
    private readonly edited?: Buffer,
  ) {}

  get(t: Target): Buffer {
    for (const v of this.built) if (v.via === t.via && v.dst === t.dst) return v.packet;
    const { d } = this;
    const payload = this.edited ?? d.payload;
    const segment =
      t.via === 'node-mode-pod' && this.h.forNodeModePod
        ? buildUdp(d.srcPort, d.dstPort, this.h.forNodeModePod(payload))
        : this.edited
          ? buildUdp(d.srcPort, d.dstPort, this.edited)
          : d.segment;
    const packet = framePacket(d.family, d.src, t.dst, this.ttl, segment);
    this.built.push({ via: t.via, dst: t.dst, packet });
    return packet;
  }
}
