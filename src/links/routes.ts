// Pure route lookup over `ip -j -4 route show table main` and `ip -j -6 route show table main`: a
// pod's address -> the link that reaches it. For Calico that is the pod's host route
// (`10.x.y.z dev caliXXX scope link`, `2001:db8::5 dev caliXXX`); for a bridge CNI it is the
// bridge's subnet route.
import type { IPv4Address, InterfaceName } from '../config/types.js';
import { ipToInt } from '../wire/ipv4.js';
import { isV6, matchLength6 } from '../wire/ipv6.js';

export interface Route {
  dst: string; // "default", "a.b.c.d" or "a.b.c.d/n"
  dev?: InterfaceName;
  gateway?: IPv4Address;
  type?: string; // unicast when absent; blackhole, unreachable, prohibit...
  /** Which table listing it came from: `default` alone does not tell. Absent means 4. */
  family?: 4 | 6;
  /** Who installed it: `kernel`, `boot`, `static`, `bird` (Calico's BIRD), `bgp` (FRR)... */
  protocol?: string;
}

export function parseRoutes(json: string, family: 4 | 6 = 4): Route[] {
  const raw = JSON.parse(json) as unknown;
  if (!Array.isArray(raw)) throw new Error('ip route output is not a JSON list');
  const routes = raw.filter(
    (r): r is Route => typeof r === 'object' && r !== null && typeof (r as Route).dst === 'string',
  );
  if (family === 6) for (const r of routes) r.family = 6;
  return routes;
}

const familyOf = (r: Route): 4 | 6 => r.family ?? (isV6(r.dst) ? 6 : 4);

function prefix(dst: string): { net: number; len: number } {
  if (dst === 'default') return { net: 0, len: 0 };
  const [addr, len] = dst.split('/');
  return { net: ipToInt(addr), len: len === undefined ? 32 : Number(len) };
}

/** Longest-prefix match, as the kernel's main table would answer (policy routing is not followed). */
export function lookupRoute(routes: Route[], addr: IPv4Address): Route | undefined {
  if (isV6(addr)) return lookupRoute6(routes, addr);
  const a = ipToInt(addr);
  let best: Route | undefined;
  let bestLen = -1;
  for (const r of routes) {
    if (familyOf(r) !== 4) continue;
    const { net, len } = prefix(r.dst);
    const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
    if ((a & mask) >>> 0 === (net & mask) >>> 0 && len > bestLen) {
      best = r;
      bestLen = len;
    }
  }
  return best;
}

/** IPv6 longest-prefix match. Link-local routes (fe80::/64 on every link) never match a pod's
 *  address: pods are named by their global or unique-local addresses. */
function lookupRoute6(routes: Route[], addr: string): Route | undefined {
  let best: Route | undefined;
  let bestLen = -1;
  for (const r of routes) {
    if (familyOf(r) !== 6) continue;
    let len: number;
    try {
      len = matchLength6(addr, r.dst);
    } catch {
      continue; // a dst iproute2 prints that we cannot read is no match
    }
    if (len > bestLen) {
      best = r;
      bestLen = len;
    }
  }
  return best;
}

/** Whether an address lies in a CIDR (used for the LAN subnet test of the `auto` source mode). */
export function inSubnet(addr: IPv4Address, cidr: string): boolean {
  if (isV6(addr) !== isV6(cidr)) return false; // an address is never in the other family's subnet
  if (isV6(addr)) return matchLength6(addr, cidr) >= 0;
  const { net, len } = prefix(cidr);
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  return (ipToInt(addr) & mask) >>> 0 === (net & mask) >>> 0;
}
