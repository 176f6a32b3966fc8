// Which of the file store's allocations belong to an attachment that is provably gone: a pod whose
// runtime never sent DEL (a crash, a lost sandbox; containerd does not call CNI GC yet, DESIGN.md
// "Runtimes"), so its address would leak forever. Pure: reclaimer.ts gathers the evidence (the
// store, the node's routes, the pod watch), this judges it. Imports no socket and no client.
//
// Gone means all three at once; any one witness of life keeps the address:
// - older than the grace period: an ADD in flight holds its allocation before ptp or the bridge
//   plugin made the veth and the route, and a clock step must not shorten that;
// - no route to the address through a pod link (ptp and Calico: `ADDR dev vethX`; bridge: the
//   agent's own `ADDR/32 dev cni0`); the LAN link's connected route and a default route are no
//   witness, they exist for every address of the subnet;
// - with Kubernetes, the pod the allocation names (namespace/name, and the UID when recorded) does
//   not run on this node; an API that cannot answer keeps it (kube-pod-lookup.ts).
import type { InterfaceName } from '../config/types.js';
import { lookupRoute, type Route } from '../links/routes.js';
import { ownerKey, type Allocation, type Owner } from './types.js';

/** What the pod watch (or a GET) says about an allocation's pod. */
export type PodPresence = 'present' | 'absent' | 'unknown';

export type ReclaimVerdict = 'young' | 'routed' | 'pod-present' | 'pod-unknown' | 'gone';

export interface ReclaimEvidence {
  /** Wall-clock milliseconds (allocations carry ISO times). */
  now: number;
  graceMs: number;
  /** The route that reaches the address through a pod link (routeWitness), if any. */
  route: Route | undefined;
  /** The allocation's pod; undefined without Kubernetes or when the allocation names no pod. */
  pod: PodPresence | undefined;
}

/** The route that shows a pod link for `address`: the longest match, if it leaves through a link
 *  other than the LAN's and is more than a default route (policy routing is not followed). */
export function routeWitness(
  routes: readonly Route[],
  address: string,
  lanLink: InterfaceName,
): Route | undefined {
  const r = lookupRoute([...routes], address);
  if (!r?.dev || r.dev === lanLink) return undefined;
  if (r.type !== undefined && r.type !== 'unicast') return undefined; // blackhole, unreachable: no link
  if (r.dst === 'default' || r.dst.endsWith('/0')) return undefined;
  return r;
}

export function judgeAllocation(a: Allocation, e: ReclaimEvidence): ReclaimVerdict {
  const since = Date.parse(a.since);
  // An unreadable time, or one in the future (the clock went back), is young: never freed on it.
  if (Number.isNaN(since) || e.now - since < e.graceMs || since > e.now) return 'young';
  if (e.route) return 'routed';
  if (e.pod === 'present') return 'pod-present';
  if (e.pod === 'unknown') return 'pod-unknown';
  return 'gone';
}

/** Owners to release: DEL releases an owner's every address, so only owners whose every allocation is gone. */
export function ownersToRelease(judged: ReadonlyArray<{ a: Allocation; verdict: ReclaimVerdict }>): Owner[] {
  const byOwner = new Map<string, { owner: Owner; gone: boolean }>();
  for (const { a, verdict } of judged) {
    const k = ownerKey(a.owner);
    const o = byOwner.get(k) ?? { owner: a.owner, gone: true };
    o.gone &&= verdict === 'gone';
    byOwner.set(k, o);
  }
  return [...byOwner.values()].filter((o) => o.gone).map((o) => o.owner);
}
