// What every discovery protocol tells the reflector. Codecs stay pure: they see bytes, not sockets.
import type { IPv4Address, ProtocolName } from '../config/types.js';

export interface ProtocolHandler<D = unknown> {
  name: ProtocolName;
  /** Multicast groups to join on every relayed link. */
  groups: readonly IPv4Address[];
  /** Whether a datagram to this destination belongs to the protocol. */
  matches(dst: IPv4Address, dstPort: number): boolean;
  /** IP TTL for re-emitted packets, given the TTL the packet arrived with. */
  emitTtl(receivedTtl: number): number;
  /** Decodes the payload; throws an Error with a stable message on malformed input. */
  decode(payload: Buffer): D;
  /** Names a service filter matches against (mDNS owner names); empty when not applicable. */
  names(decoded: D): string[];
  /** One line a person can read, for `tail`. */
  summarize(decoded: D): string;
}
