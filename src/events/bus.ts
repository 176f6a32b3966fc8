// The event bus between the packet path and its observers (control socket tail, logs). Publishing
// costs nothing while nobody listens (the engine checks `active`), and little while nobody wants
// this packet: listeners see a probe of plain fields first, and the event (with its payload copy)
// is built only if one of them wants it.
import type { IPv4Address, InterfaceName, ProtocolName } from '../config/types.js';
import type { DropReason, Flow, PodAttachment, Target } from '../reflect/types.js';

/** What a listener can filter on before an event is built: the engine's own values, not copied. */
export interface PacketProbe {
  protocol: ProtocolName;
  flow: Flow;
  src: string;
  dst: string;
  drop?: DropReason;
  from?: PodAttachment;
  targets: readonly Target[];
}

export interface PacketEvent {
  time: number;
  protocol: ProtocolName;
  flow: Flow;
  ingress: InterfaceName;
  src: IPv4Address;
  srcPort: number;
  dst: IPv4Address;
  dstPort: number;
  size: number;
  /** The opted-in pod the packet came from, if any. */
  pod?: string;
  /** Where copies went: `lan` or pod names. Empty for drops. */
  targets: string[];
  drop?: DropReason;
  /** Why decoding failed, for malformed drops. */
  detail?: string;
  /** A private copy of the UDP payload, decoded only by observers that want it. */
  payload: Buffer;
}

export type PacketListener = (e: PacketEvent) => void;
/** Whether a listener wants the packet this probe describes; absent: it wants every packet. */
export type PacketWants = (p: PacketProbe) => boolean;

interface Subscription {
  listener: PacketListener;
  wants?: PacketWants;
}

export class EventBus {
  private readonly subs = new Set<Subscription>();
  get active(): boolean {
    return this.subs.size > 0;
  }
  subscribe(listener: PacketListener, wants?: PacketWants): () => void {
    const s = { listener, wants };
    this.subs.add(s);
    return () => this.subs.delete(s);
  }
  /** Builds the event only if a listener wants the probed packet, then delivers it once to each. */
  offer(probe: PacketProbe, build: () => PacketEvent): void {
    let e: PacketEvent | undefined;
    for (const s of this.subs) {
      try {
        if (s.wants && !s.wants(probe)) continue;
        e ??= build();
        s.listener(e);
      } catch {
        // an observer's bug must never reach the packet path
      }
    }
  }
  /** Delivers a built event to every listener (their own filters still apply to it). */
  publish(e: PacketEvent): void {
    for (const s of this.subs) {
      try {
        s.listener(e);
      } catch {
        // an observer's bug must never reach the packet path
      }
    }
  }
}
