// Values the per-packet decision works on. No sockets, no Kubernetes: plain data.
import type { InterfaceName, IPv4Address } from '../config/types.js';
import type { PodSpec } from '../pods/types.js';

/** Why a packet was not relayed (STYLE.md example 1); bounded, so usable as a metric label. */
export type DropReason =
  | 'malformed'
  | 'too-big'
  | 'not-opted-in'
  | 'spoofed'
  | 'own-echo'
  | 'duplicate'
  | 'rate-limited'
  | 'filtered'
  | 'no-target';

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
];

/** Which way a packet travels: from the LAN into pods, or from a pod (to the LAN and other pods). */
export type Flow = 'lan-to-pod' | 'pod-to-lan';

/** An opted-in pod and the host-side links that reach it. */
export interface PodAttachment {
  pod: PodSpec;
  /** Where the pod's packets arrive: its veth (Calico) or the bridge (flannel's cni0). */
  link: InterfaceName;
  /** Where packets for this pod alone are sent: the veth, or the pod's own bridge port, so a
   *  bridge's other pods (which may not have opted in) never get them. */
  port: InterfaceName;
  /** `preserve` keeps the pod's address on the LAN; `node` re-sends from the node's (resolved from
   *  the configured source mode; DESIGN.md "Reflection rules"). */
  sourceMode: 'preserve' | 'node';
}

export interface Topology {
  lanLink: InterfaceName;
  /** Opted-in pods by host link; a bridge-less CNI has one pod per link. */
  podsByLink: Map<InterfaceName, PodAttachment[]>;
  podsByAddress: Map<IPv4Address, PodAttachment>;
}

/** Where a copy goes: the LAN (no pod) or one pod's link. */
export interface Target {
  link: InterfaceName;
  pod?: PodAttachment;
}

export type Decision =
  | { relay: true; flow: Flow; from?: PodAttachment; targets: Target[] }
  | { relay: false; flow: Flow; from?: PodAttachment; reason: DropReason };

export function emptyTopology(lanLink: InterfaceName): Topology {
  return { lanLink, podsByLink: new Map(), podsByAddress: new Map() };
}

export function buildTopology(lanLink: InterfaceName, attachments: PodAttachment[]): Topology {
  const t = emptyTopology(lanLink);
  for (const a of attachments) {
    const list = t.podsByLink.get(a.link) ?? [];
    list.push(a);
    t.podsByLink.set(a.link, list);
    for (const addr of a.pod.addresses) t.podsByAddress.set(addr, a);
  }
  return t;
}
