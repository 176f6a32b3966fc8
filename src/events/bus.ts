// The event bus between the packet path and its observers (control socket tail, logs). Publishing
// costs nothing while nobody listens: the engine checks `active` before building an event.
import type { IPv4Address, InterfaceName, ProtocolName } from '../config/types.js';
import type { DropReason, Flow } from '../reflect/types.js';

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

export class EventBus {
  private readonly listeners = new Set<PacketListener>();
  get active(): boolean {
    return this.listeners.size > 0;
  }
  subscribe(l: PacketListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  publish(e: PacketEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // an observer's bug must never reach the packet path
      }
    }
  }
}
