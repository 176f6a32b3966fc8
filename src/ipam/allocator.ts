// The allocator's decisions as pure functions over plain values: which pods get a LAN address, and
// the order addresses are tried in. No store, no socket: pool-provider.ts applies these.
import { isIPv4 } from 'node:net';
import type { AddressRange, IpamConfig, IPv4Address } from '../config/types.js';
import { broadcastOf, cidrFirst, inCidr, inRange, toAddress, toInt } from './address-math.js';
import type { PodRef } from './types.js';
import { podKey } from './types.js';

/** The pod annotation that asks for a LAN address: "true", or an address to pin. */
export const LAN_ADDRESS_ANNOTATION = 'lan-reflector.io/lan-address';

/** What to do with one ADD. */
export type Route =
  | { kind: 'lan'; want?: IPv4Address; why: string }
  | { kind: 'delegate'; why: string }
  | { kind: 'refuse'; why: string };

/**
 * Decides where a pod's address comes from. `annotation` is the pod's lan-address annotation;
 * `undefined` when the pod has none or there is no pod (no Kubernetes, no K8S_POD_* in CNI_ARGS).
 */
export function routeFor(
  cfg: Pick<IpamConfig, 'pinned' | 'delegate' | 'subnet' | 'exclude'>,
  pod: PodRef | undefined,
  annotation: string | undefined,
): Route {
  const pin = pod && cfg.pinned.find((p) => p.pod === podKey(pod));
  if (pin) return { kind: 'lan', want: pin.address, why: 'pinned in ipam.pinned' };
  const a = annotation?.trim();
  if (a === 'true') return { kind: 'lan', why: `annotation ${LAN_ADDRESS_ANNOTATION}` };
  if (a !== undefined && a !== '' && a !== 'false') {
    if (!isIPv4(a))
      return {
        kind: 'refuse',
        why: `annotation ${LAN_ADDRESS_ANNOTATION}: ${JSON.stringify(a)} is neither "true" nor an IPv4 address`,
      };
    if (!inCidr(cfg.subnet, a))
      return {
        kind: 'refuse',
        why: `annotation ${LAN_ADDRESS_ANNOTATION}: ${a} is outside ipam.subnet ${cfg.subnet.text}`,
      };
    const ex = cfg.exclude.find((e) => inRange(e, a));
    if (ex)
      return {
        kind: 'refuse',
        why: `annotation ${LAN_ADDRESS_ANNOTATION}: ${a} is in ipam.exclude (${ex.text})`,
      };
    return { kind: 'lan', want: a, why: `annotation ${LAN_ADDRESS_ANNOTATION} pins it` };
  }
  // A pod that did not ask keeps the IPAM it had before; without a delegate every pod gets a LAN address.
  if (cfg.delegate)
    return { kind: 'delegate', why: pod ? 'pod did not ask for a LAN address' : 'no pod named' };
  return { kind: 'lan', why: 'no ipam.delegate: every pod gets a LAN address' };
}

/**
 * Addresses the walk never hands out: ipam.exclude, the subnet's network and broadcast address,
 * the gateway and the node's own address, and pinned addresses (those go to their pod only).
 */
export function exclusion(
  cfg: Pick<IpamConfig, 'subnet' | 'exclude' | 'pinned'>,
  extra: IPv4Address[],
): (address: IPv4Address) => boolean {
  const singles = new Set<number>([
    cidrFirst(cfg.subnet),
    toInt(broadcastOf(cfg.subnet)),
    ...extra.filter((a) => isIPv4(a)).map(toInt),
    ...cfg.pinned.map((p) => toInt(p.address)),
  ]);
  const ranges = cfg.exclude.map((r) => [toInt(r.start), toInt(r.end)] as const);
  return (address) => {
    const n = toInt(address);
    return singles.has(n) || ranges.some(([s, e]) => n >= s && n <= e);
  };
}

/**
 * Every address of `ranges`, starting after `after` (the last one handed out) and wrapping round,
 * as host-local's range iterator does: a freed address is not given out again at once, so a LAN
 * device's stale ARP entry for it has time to expire.
 */
export function* walk(ranges: AddressRange[], after?: IPv4Address): Generator<IPv4Address> {
  const spans = ranges.map((r) => [toInt(r.start), toInt(r.end)] as const).sort((a, b) => a[0] - b[0]);
  if (spans.length === 0) return;
  const a = after !== undefined && isIPv4(after) ? toInt(after) : -1;
  // Start in the span holding `after` (or the first span past it), one address later.
  let si = spans.findIndex(([, e]) => a < e);
  let n: number;
  if (si < 0) {
    si = 0;
    n = spans[0][0];
  } else n = Math.max(spans[si][0], a + 1);
  const total = spans.reduce((t, [s, e]) => t + (e - s + 1), 0);
  for (let i = 0; i < total; i++) {
    yield toAddress(n);
    if (n >= spans[si][1]) {
      si = (si + 1) % spans.length;
      n = spans[si][0];
    } else n++;
  }
}

/** The first address of the walk that nothing rules out, or undefined. */
export function firstFree(
  ranges: AddressRange[],
  after: IPv4Address | undefined,
  unavailable: (address: IPv4Address) => boolean,
): IPv4Address | undefined {
  for (const a of walk(ranges, after)) if (!unavailable(a)) return a;
  return undefined;
}

/** Free addresses of `ranges` (for `ipam list` and the free-addresses metric). */
export function freeCount(ranges: AddressRange[], unavailable: (address: IPv4Address) => boolean): number {
  let free = 0;
  for (const a of walk(ranges)) if (!unavailable(a)) free++;
  return free;
}
