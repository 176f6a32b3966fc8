// A DHCP lease as the agent keeps it (and persists it in the IPAM store), and its RFC 2131 times.
import type { IPv4Address } from '../../config/types.js';
import { Option } from './constants.js';
import type { ReceivedReply } from './frame.js';
import { optionIp, optionU32, type MacAddress } from './message.js';

/** RFC 2131 §3.3: 0xffffffff is an infinite lease. */
export const INFINITE = 0xffffffff;

export interface DhcpLease {
  address: IPv4Address;
  /** Option 61 as `00:6c:…` hex (client-id.ts). */
  clientId: string;
  hostname: string;
  /** Option 54: where RENEWING unicasts and RELEASE goes. */
  serverId: IPv4Address;
  /** Ethernet source of the ACK: the server itself, or the router/relay in front of it. */
  serverMac: MacAddress;
  leaseSeconds: number;
  t1Seconds: number;
  t2Seconds: number;
  /** RFC 2131 §4.4.1: the lease runs from the time the REQUEST was sent (ms since the epoch). */
  boundAt: number;
}

/** Lease, T1 and T2 from an ACK; RFC 2131 §4.4.5 defaults (0.5 and 0.875 of the lease) when the
 *  server sends none or inconsistent ones. */
export function leaseTimes(reply: ReceivedReply): {
  leaseSeconds: number;
  t1Seconds: number;
  t2Seconds: number;
} {
  const m = reply.message;
  const leaseSeconds = optionU32(m, Option.LEASE_TIME) ?? INFINITE;
  if (leaseSeconds === INFINITE) return { leaseSeconds, t1Seconds: INFINITE, t2Seconds: INFINITE };
  let t1 = optionU32(m, Option.RENEWAL_TIME) ?? Math.floor(leaseSeconds * 0.5);
  let t2 = optionU32(m, Option.REBINDING_TIME) ?? Math.floor(leaseSeconds * 0.875);
  if (!(t2 <= leaseSeconds)) t2 = Math.floor(leaseSeconds * 0.875);
  if (!(t1 <= t2)) t1 = Math.floor(Math.min(leaseSeconds * 0.5, t2));
  return { leaseSeconds, t1Seconds: t1, t2Seconds: t2 };
}

export function serverIdOf(reply: ReceivedReply): IPv4Address {
  // A server that omits option 54 (RFC 2131 says MUST) is still reachable at the reply's source.
  return optionIp(reply.message, Option.SERVER_ID) ?? reply.srcIp;
}

const at = (l: DhcpLease, s: number): number => (s === INFINITE ? Infinity : l.boundAt + s * 1000);
export const t1At = (l: DhcpLease): number => at(l, l.t1Seconds);
export const t2At = (l: DhcpLease): number => at(l, l.t2Seconds);
export const expiresAt = (l: DhcpLease): number => at(l, l.leaseSeconds);
