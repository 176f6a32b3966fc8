// The per-packet choice: which links get a copy, or why none does. Pure: the tests feed it values.
import type { InterfaceName, IPv4Address, ProtocolName } from '../config/types.js';
import type { Decision, PodAttachment, Target, Topology } from './types.js';

export interface Arrival {
  ingress: InterfaceName;
  src: IPv4Address;
  protocol: ProtocolName;
}

const receives = (a: PodAttachment) => a.pod.options.direction !== 'pod-to-lan';
const sends = (a: PodAttachment) => a.pod.options.direction !== 'lan-to-pod';
const speaks = (a: PodAttachment, p: ProtocolName) => a.pod.options.protocols.includes(p);

/** Pods that take this protocol in, except the sender (a pod never gets its own packet back) and
 *  the sender's bridge neighbours: the bridge has already flooded its multicast to them. */
function podTargets(topo: Topology, protocol: ProtocolName, from?: PodAttachment): Target[] {
  const bridged = from !== undefined && from.port !== from.link;
  const out: Target[] = [];
  for (const list of topo.podsByLink.values()) {
    for (const a of list) {
      if (a === from || (bridged && a.link === from.link)) continue;
      if (receives(a) && speaks(a, protocol)) out.push({ link: a.port, pod: a });
    }
  }
  return out;
}

export function decide(arrival: Arrival, topo: Topology): Decision {
  const { ingress, src, protocol } = arrival;
  if (ingress === topo.lanLink) {
    // A pod's own packet seen again on the LAN: a second agent or a bridged loop sent it back.
    if (topo.podsByAddress.has(src)) return { relay: false, flow: 'lan-to-pod', reason: 'own-echo' };
    if (topo.podsByAddress.size === 0) return { relay: false, flow: 'lan-to-pod', reason: 'no-target' };
    const targets = podTargets(topo, protocol); // never LAN -> LAN
    if (targets.length === 0) return { relay: false, flow: 'lan-to-pod', reason: 'filtered' };
    return { relay: true, flow: 'lan-to-pod', targets };
  }

  // From a pod link: attribute by link first, then by address on that link (DESIGN.md decision 4).
  const onLink = topo.podsByLink.get(ingress);
  const from = onLink?.find((a) => a.pod.addresses.includes(src));
  if (!from) {
    // Claiming an opted-in pod's address from another link is spoofing; anything else on a shared
    // bridge is a pod that did not opt in.
    const reason = topo.podsByAddress.has(src) ? 'spoofed' : 'not-opted-in';
    return { relay: false, flow: 'pod-to-lan', reason };
  }
  if (!sends(from) || !speaks(from, protocol))
    return { relay: false, flow: 'pod-to-lan', from, reason: 'filtered' };
  const targets: Target[] = [{ link: topo.lanLink }, ...podTargets(topo, protocol, from)];
  return { relay: true, flow: 'pod-to-lan', from, targets };
}
