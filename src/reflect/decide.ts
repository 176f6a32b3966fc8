// The per-packet choice: which links get a copy, made how, or why none does. Every drop reason the
// engine counts is decided here, so one table test covers them all. Pure apart from the guards the
// caller hands in (dedupe window, token buckets): the tests feed it plain values.
import type { InterfaceName, IPAddress, ProtocolName } from '../config/types.js';
import type { ProtocolHandler } from '../protocols/types.js';
import { chooseSourceMode } from './source-mode.js';
import { isLinkLocal6 } from '../wire/ipv6.js';
import {
  IP_HEADER_BYTES,
  type Datagram,
  type Family,
  type Decision,
  type DropReason,
  type Flow,
  type PodAttachment,
  type Target,
  type Topology,
} from './types.js';

export interface Arrival {
  ingress: InterfaceName;
  d: Datagram;
  handler: ProtocolHandler;
}

/** What the decision asks of the world. The stateful guards are asked in this order and only while
 *  the packet is still wanted: a dropped packet takes no token and leaves no dedupe entry. */
export interface DecideEnv {
  readonly topology: Topology;
  /** True when the same packet was seen within the dedupe window; remembers it otherwise. */
  duplicate(d: Datagram): boolean;
  /** Takes a token from the source's bucket; false when it is empty. */
  takeSource(src: IPAddress): boolean;
  /** Takes a token from the sending pod's bucket; false when it is empty. */
  takePod(key: string): boolean;
  /** The MTU of a link whose socket for this family is open; undefined when it has none (gone,
   *  just failed, or the link's IPv6 is off). */
  mtu(link: InterfaceName, family: Family): number | undefined;
  /** Whether a node-mode session port is ours: the node hears its own broadcasts back. */
  ownsNodePort(port: number): boolean;
  /** Whether this pod has (or may open) the session for packets from this source port. */
  sessionRoom(from: PodAttachment, protocol: ProtocolHandler, srcPort: number): boolean;
}

const receives = (a: PodAttachment) => a.pod.options.direction !== 'pod-to-lan';
const sends = (a: PodAttachment) => a.pod.options.direction !== 'lan-to-pod';
const speaks = (a: PodAttachment, p: ProtocolName) => a.pod.options.protocols.includes(p);

/** Pods that take this protocol in, except the sender (a pod never gets its own packet back) and
 *  the sender's bridge neighbours: the bridge has already flooded its multicast to them. */
function podCandidates(topo: Topology, protocol: ProtocolName, from?: PodAttachment): PodAttachment[] {
  const bridged = from !== undefined && from.port !== from.link;
  const out: PodAttachment[] = [];
  for (const list of topo.podsByLink.values()) {
    for (const a of list) {
      if (a === from || (bridged && a.link === from.link)) continue;
      if (receives(a) && speaks(a, protocol)) out.push(a);
    }
  }
  return out;
}

const drop = (flow: Flow, reason: DropReason, from?: PodAttachment, detail?: string): Decision => ({
  relay: false,
  flow,
  from,
  reason,
  detail,
});

export function decide(arrival: Arrival, env: DecideEnv): Decision {
  const { ingress, d, handler: h } = arrival;
  const topo = env.topology;
  const hasNodeAddress = topo.lanAddress !== undefined;
  let flow: Flow;
  let from: PodAttachment | undefined;
  let pods: PodAttachment[];

  if (ingress === topo.lanLink) {
    flow = 'lan-to-pod';
    // A pod's own packet seen again on the LAN (a second agent, a bridged loop), or a broadcast a
    // node-mode session sent, delivered back to the node (multicast loop does not cover broadcasts).
    if (topo.podsByAddress.has(d.src)) return drop(flow, 'own-echo');
    if (d.src === topo.lanAddress?.address && env.ownsNodePort(d.srcPort)) return drop(flow, 'own-echo');
    if (topo.podsByAddress.size === 0) return drop(flow, 'no-target');
    pods = podCandidates(topo, h.name); // never LAN -> LAN
    if (pods.length === 0) return drop(flow, 'filtered');
  } else {
    flow = 'pod-to-lan';
    // Attribute by link first, then by address on that link (DESIGN.md decision 4). Claiming an
    // opted-in pod's address from another link is spoofing; anything else on a shared bridge is a
    // pod that did not opt in.
    const onLink = topo.podsByLink.get(ingress);
    from = onLink?.find((a) => a.pod.addresses.includes(d.src));
    // IPv6 multicast leaves a pod from its link-local address, which no pod source lists. On a
    // pod's own link (Calico's veth: one pod, port = link) that source can only be the pod; on a
    // bridge it is told apart by the neighbour table (topology.linkLocals, learned each scan).
    if (!from && d.family === 6 && isLinkLocal6(d.src)) {
      if (onLink?.length === 1 && onLink[0].port === onLink[0].link) from = onLink[0];
      else from = topo.linkLocals?.get(`${ingress}%${d.src}`);
    }
    if (!from) return drop(flow, topo.podsByAddress.has(d.src) ? 'spoofed' : 'not-opted-in');
    if (!sends(from) || !speaks(from, h.name)) return drop(flow, 'filtered', from);
    pods = podCandidates(topo, h.name, from);
  }

  if (env.duplicate(d)) return drop(flow, 'duplicate', from);
  if (!env.takeSource(d.src)) return drop(flow, 'rate-limited', from);
  if (from && !env.takePod(from.pod.key)) return drop(flow, 'rate-limited', from);
  const bad = h.check(d.payload);
  if (bad !== undefined) return drop(flow, 'malformed', from, bad);
  // Every copy crosses links: what the protocol says about that (link-local rules).
  const across = h.acrossLinks?.(d);
  if (across && 'refuse' in across) return drop(flow, 'filtered', from, across.refuse);
  const payload = across?.payload;

  // The pods' own filters (service types, broadcast ports), on facts read once and only if asked.
  let facts: unknown;
  let read = false;
  const lazyFacts = () => {
    if (!read) {
      facts = h.facts?.(d.payload);
      read = true;
    }
    return facts;
  };
  const admits = (a: PodAttachment) => !h.admits || h.admits(a.pod.options, d, lazyFacts);
  if (from && !admits(from)) return drop(flow, 'filtered', from);
  const wanted = pods.filter(admits);
  if (!from && wanted.length === 0) return drop(flow, 'filtered');

  const size = IP_HEADER_BYTES[d.family] + (payload ? payload.length + 8 : d.segment.length);
  const targets: Target[] = [];
  let skipped: DropReason | undefined;
  const fits = (link: InterfaceName): DropReason | undefined => {
    const mtu = env.mtu(link, d.family);
    if (mtu === undefined) return 'link-down';
    return size > mtu ? 'too-big' : undefined;
  };

  if (from) {
    const lan = topo.lanLink;
    // IPv6 has no node source mode (README, Limitations): its copies keep their source.
    const mode = d.family === 6 ? 'preserve' : chooseSourceMode(topo.sourceMode, from.reach, hasNodeAddress);
    let why: DropReason | undefined;
    let via: Target['via'] = 'as-is';
    if (mode === 'no-node-address') why = 'no-node-address';
    else if (mode === 'preserve') why = fits(lan);
    else if (h.viaNode?.direct(d)) {
      // The rewrite can change the size: the engine checks it again once the payload is built.
      why = fits(lan);
      via = 'node-direct';
    } else if (env.sessionRoom(from, h, d.srcPort)) via = 'node-session';
    else why = 'session-full';
    if (why) skipped = why;
    else targets.push({ link: lan, dst: d.dst, via });
  }

  const podDst = h.podDestination?.(d) ?? d.dst;
  for (const a of wanted) {
    const why = fits(a.port);
    if (why) {
      skipped ??= why;
      continue;
    }
    const nodeMode = d.family === 4 && chooseSourceMode(topo.sourceMode, a.reach, hasNodeAddress) === 'node';
    const via = !from && nodeMode && h.forNodeModePod ? 'node-mode-pod' : 'as-is';
    targets.push({ link: a.port, pod: a, dst: podDst, via });
  }

  if (targets.length === 0) return drop(flow, skipped ?? 'filtered', from);
  return payload ? { relay: true, flow, from, targets, payload } : { relay: true, flow, from, targets };
}
