// What every discovery protocol tells the reflector. The engine and decide() call these hooks and
// never branch on a protocol's name: a new protocol (IPv6 twins, vendor groups) is a new handler.
// Codecs stay pure: they see bytes, not sockets.
import type { IPAddress, PodOptions, ProtocolName } from '../config/types.js';
import type { Datagram, LanAddress } from '../reflect/types.js';

/** What the node-mode rewrite of a pod's packet needs to know. */
export interface NodeRewrite {
  podAddresses: readonly IPAddress[];
  nodeAddress: IPAddress;
}

export type AcrossLinks = { payload: Buffer } | { refuse: string };

export interface ProtocolHandler<D = unknown, F = unknown> {
  name: ProtocolName;
  /** Multicast groups to join on every relayed link. */
  groups: readonly IPAddress[];
  /** IPv6 groups to join on every relayed link that carries IPv6 (ff02::fb, ff02::c). */
  groups6?: readonly IPAddress[];
  /** Whether a datagram to this destination belongs to the protocol; `lan` gives the LAN's current
   *  address (its subnet broadcast), when it has one. */
  matches(dst: IPAddress, dstPort: number, lan?: LanAddress): boolean;
  /** A cheap structural check before anything reads the payload further: undefined when the payload
   *  may be relayed, else why not (a stable message, shown by `tail`). Must not allocate per record. */
  check(payload: Buffer): string | undefined;
  /** What the per-pod filter (`admits`) reads from the payload; computed at most once per packet,
   *  and only when some pod's options need it. */
  facts?(payload: Buffer): F;
  /** Whether a pod with these options takes (and may send) this packet: service types, ports.
   *  Absent: every pod that speaks the protocol does. */
  admits?(options: PodOptions, d: Datagram, facts: () => F): boolean;
  /** The destination a copy into a pod gets, when it differs from the packet's (a /32 pod does not
   *  know the LAN's subnet broadcast). */
  podDestination?(d: Datagram): IPAddress;
  /** The payload a LAN packet gets on its way into a pod whose packets leave from the node. */
  forNodeModePod?(payload: Buffer): Buffer;
  /** Node source mode without a session: packets whose answers come back by multicast on their own. */
  viaNode?: {
    direct(d: Datagram): boolean;
    rewrite(payload: Buffer, r: NodeRewrite): Buffer;
  };
  /** What crossing links does to this packet (every relayed copy crosses one): undefined when it
   *  goes as it is; an edited payload for every copy; or why it must not cross at all (a `filtered`
   *  drop with that detail). The link-local rules of src/protocols/mdns-link-local.ts. */
  acrossLinks?(d: Datagram): AcrossLinks | undefined;
  /** IP TTL for re-emitted packets, given the TTL the packet arrived with. */
  emitTtl(receivedTtl: number): number;
  /** IP TTL of a unicast reply a node-mode session re-injects into its pod. */
  replyTtl: number;
  /** Decodes the payload for `tail`; throws an Error with a stable message on malformed input. */
  decode(payload: Buffer): D;
  /** Names a `tail --service` filter matches against (mDNS owner names); empty when not applicable. */
  names(decoded: D): string[];
  /** One line a person can read, for `tail`. */
  summarize(decoded: D): string;
}
