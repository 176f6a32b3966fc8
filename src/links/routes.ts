// Pure route lookup over `ip -j -4 route show table main`: a pod's address -> the link that reaches
// it. For Calico that is the pod's host route (`10.x.y.z dev caliXXX scope link`); for a bridge CNI it
// is the bridge's subnet route.
import type { IPv4Address, InterfaceName } from '../config/types.js';
import { ipToInt } from '../wire/ipv4.js';

export interface Route {
  dst: string; // "default", "a.b.c.d" or "a.b.c.d/n"
  dev?: InterfaceName;
  gateway?: IPv4Address;
  type?: string; // unicast when absent; blackhole, unreachable, prohibit...
}

export function parseRoutes(json: string): Route[] {
  const raw = JSON.parse(json) as unknown;
  if (!Array.isArray(raw)) throw new Error('ip route output is not a JSON list');
  return raw.filter(
    (r): r is Route => typeof r === 'object' && r !== null && typeof (r as Route).dst === 'string',
  );
}

function prefix(dst: string): { net: number; len: number } {
  if (dst === 'default') return { net: 0, len: 0 };
  const [addr, len] = dst.split('/');
  return { net: ipToInt(addr), len: len === undefined ? 32 : Number(len) };
}

/** Longest-prefix match, as the kernel's main table would answer (policy routing is not followed). */
export function lookupRoute(routes: Route[], addr: IPv4Address): Route | undefined {
  const a = ipToInt(addr);
  let best: Route | undefined;
  let bestLen = -1;
  for (const r of routes) {
    const { net, len } = prefix(r.dst);
    const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
    if ((a & mask) >>> 0 === (net & mask) >>> 0 && len > bestLen) {
      best = r;
      bestLen = len;
    }
  }
  return best;
}

/** Whether an address lies in a CIDR (used for the LAN subnet test of the `auto` source mode). */
export function inSubnet(addr: IPv4Address, cidr: string): boolean {
  const { net, len } = prefix(cidr);
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  return (ipToInt(addr) & mask) >>> 0 === (net & mask) >>> 0;
}
