// Pure: whether the LAN can reach a pod's address, from what the node can see. The `auto` source
// mode keeps the pod's own address for the pods the LAN reaches and re-sends the others from the
// node (src/reflect/source-mode.ts).
import type { IPAddress } from '../config/types.js';
import type { LanAddress, Reach } from '../reflect/types.js';
import { inSubnet, type Route } from './routes.js';

/** Route protocols of a BGP daemon: Calico's BIRD installs `blackhole <block> proto bird` for each
 *  block it announces; FRR (kube-router, MetalLB's FRR mode) marks its routes `bgp`. */
const BGP_PROTOCOLS = new Set(['bird', 'bgp']);

/** Links of an encapsulating pod network (Calico IPIP/VXLAN/WireGuard, flannel VXLAN, Cilium): when
 *  pod traffic between nodes is tunnelled, the LAN does not route pod addresses, even if BGP runs
 *  between the nodes (Calico's default IPIP mode with its node-to-node mesh). */
const OVERLAY = /^(tunl\d+|vxlan[.-]|wireguard\.cali|flannel[.-]|cilium_|genev|nodelocal)/;

export interface ReachSignals {
  lan?: LanAddress;
  routes: readonly Route[];
  /** Configured (`routedPodCidrs`): when given, the only pod ranges the LAN routes. */
  routedPodCidrs: readonly string[];
}

/** What the node sees, once per scan: BGP announces pod blocks natively, without an overlay. */
export function bgpAnnouncesPods(routes: readonly Route[]): boolean {
  const bgp = routes.some((r) => r.protocol !== undefined && BGP_PROTOCOLS.has(r.protocol));
  const overlay = routes.some((r) => r.dev !== undefined && OVERLAY.test(r.dev));
  return bgp && !overlay;
}

/** The covering block route a BGP daemon installed for this address, if any (not a host route). */
function announcedBlock(routes: readonly Route[], address: IPAddress): Route | undefined {
  return routes.find(
    (r) =>
      r.protocol !== undefined &&
      BGP_PROTOCOLS.has(r.protocol) &&
      r.dst.includes('/') &&
      !r.dst.endsWith('/32') &&
      !r.dst.endsWith('/128') &&
      inSubnet(address, r.dst),
  );
}

export function reachOf(address: IPAddress, s: ReachSignals): Reach {
  if (s.lan && inSubnet(address, s.lan.cidr)) return 'lan-subnet';
  if (s.routedPodCidrs.length > 0)
    return s.routedPodCidrs.some((c) => inSubnet(address, c)) ? 'routed' : 'unroutable';
  if (bgpAnnouncesPods(s.routes) && announcedBlock(s.routes, address)) return 'routed';
  return 'unroutable';
}
