// Values the per-packet decision works on. No sockets, no Kubernetes: plain data.
import type { InterfaceName, IPAddress, SourceMode } from '../config/types.js';
import type { PodSpec } from '../pods/types.js';

export type Family = 4 | 6;

/** One UDP datagram as the engine sees it, whatever the IP family (addresses in text form). */
export interface Datagram {
  family: Family;
  src: IPAddress;
  dst: IPAddress;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl: number;
  srcPort: number;
  dstPort: number;
  /** UDP header + payload, exactly as received: re-emitting it unchanged keeps its checksum valid
   *  as long as source, destination and ports are kept (they are all in the pseudo-header). */
  segment: Buffer;
  payload: Buffer;
}

/** Bytes an IP header adds to a segment on the wire (no IPv4 options, no IPv6 extension headers). */
export const IP_HEADER_BYTES: Readonly<Record<Family, number>> = { 4: 20, 6: 40 };

/** Why a packet (or one of its copies) was not relayed (STYLE.md example 1); bounded, so usable as a
 *  metric label. */
export type DropReason =
  | 'malformed'
  | 'too-big'
  | 'not-opted-in'
  | 'spoofed'
  | 'own-echo'
  | 'duplicate'
  | 'rate-limited'
  | 'filtered'
  | 'no-target'
  | 'link-down'
  | 'session-full'
  | 'no-node-address'
  | 'send-failed';

export const DROP_REASONS: readonly DropReason[] = [
  'malformed',
  'too-big',
  'not-opted-in',
  'spoofed',
  'own-echo',
  'duplicate',
  'rate-limited',
  'filtered',
  'no-target',
  'link-down',
  'session-full',
  'no-node-address',
  'send-failed',
];

/** Which way a packet travels: from the LAN into pods, or from a pod (to the LAN and other pods). */
export type Flow = 'lan-to-pod' | 'pod-to-lan';

/** What the node can tell about whether the LAN reaches a pod's address (src/links/reach.ts):
 *  inside the LAN subnet, covered by a route the LAN learns (BGP, a configured routed CIDR), or
 *  neither. The `auto` source mode keeps the source of the first two. */
export type Reach = 'lan-subnet' | 'routed' | 'unroutable';

/** An opted-in pod and the host-side links that reach it. */
export interface PodAttachment {
  pod: PodSpec;
  /** Where the pod's packets arrive: its veth (Calico) or the bridge (flannel's cni0). */
  link: InterfaceName;
  /** Where packets for this pod alone are sent: the veth, or the pod's own bridge port, so a
   *  bridge's other pods (which may not have opted in) never get them. */
  port: InterfaceName;
  reach: Reach;
}

/** The LAN link's own address: the `node` source, the `auto` subnet test, the directed broadcast. */
export interface LanAddress {
  address: IPAddress;
  prefixLength: number;
  cidr: string;
  broadcast: IPAddress;
}

export interface Topology {
  lanLink: InterfaceName;
  /** Undefined while the LAN link has no address (then no pod can use the node's). */
  lanAddress?: LanAddress;
  /** The configured source mode; decide() resolves it per pod (src/reflect/source-mode.ts). */
  sourceMode: SourceMode;
  /** Opted-in pods by host link; a bridge-less CNI has one pod per link. */
  podsByLink: Map<InterfaceName, PodAttachment[]>;
  podsByAddress: Map<IPAddress, PodAttachment>;
  /** Bridged pods by `link%fe80::…`: their IPv6 link-local addresses, from the bridge's neighbour
   *  table (a pod on its own veth needs none: its link names it). */
  linkLocals?: Map<string, PodAttachment>;
}

/** How a copy is made:
 *  - `as-is`: the received segment, source kept;
 *  - `node-mode-pod`: into a node-mode pod, payload edited by the protocol's `forNodeModePod`;
 *  - `node-direct`: onto the LAN from the node's address, payload edited by `viaNode.rewrite`;
 *  - `node-session`: onto the LAN through a node-mode session, whose replies come back. */
export type Via = 'as-is' | 'node-mode-pod' | 'node-direct' | 'node-session';

/** Where a copy goes: the LAN (no pod) or one pod's link, to which destination, made how. */
export interface Target {
  link: InterfaceName;
  pod?: PodAttachment;
  dst: IPAddress;
  via: Via;
}

export type Decision =
  | {
      relay: true;
      flow: Flow;
      from?: PodAttachment;
      targets: Target[];
      /** The payload every copy carries, when crossing links edits it (ProtocolHandler.acrossLinks). */
      payload?: Buffer;
    }
  | { relay: false; flow: Flow; from?: PodAttachment; reason: DropReason; detail?: string };

export interface TopologyOptions {
  lanAddress?: LanAddress;
  sourceMode?: SourceMode;
  linkLocals?: Map<string, PodAttachment>;
}

export function emptyTopology(lanLink: InterfaceName, o: TopologyOptions = {}): Topology {
  return {
    lanLink,
    lanAddress: o.lanAddress,
    sourceMode: o.sourceMode ?? 'auto',
    linkLocals: o.linkLocals,
    podsByLink: new Map(),
    podsByAddress: new Map(),
  };
}

export function buildTopology(
  lanLink: InterfaceName,
  attachments: PodAttachment[],
  o: TopologyOptions = {},
): Topology {
  const t = emptyTopology(lanLink, o);
  for (const a of attachments) {
    const list = t.podsByLink.get(a.link) ?? [];
    list.push(a);
    t.podsByLink.set(a.link, list);
    for (const addr of a.pod.addresses) t.podsByAddress.set(addr, a);
  }
  return t;
}
