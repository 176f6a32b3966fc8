// Pure: which host links reach each opted-in pod, and a clear message for each pod that has none.
import type { InterfaceName, IPv4Address } from '../config/types.js';
import type { PodSpec } from '../pods/types.js';
import type { PodAttachment, Reach } from '../reflect/types.js';
import { lookupRoute, type Route } from './routes.js';

export interface AttachProblem {
  pod: PodSpec;
  /** `bridge-port` clears once the bridge learns the pod's MAC; the agent nudges it along. */
  kind: 'no-address' | 'no-route' | 'not-local' | 'bridge-port';
  message: string;
}

export interface AttachContext {
  lanLink: InterfaceName;
  /** Links that are bridges (flannel's cni0): their pods are told apart by their bridge port. */
  bridges: ReadonlySet<InterfaceName>;
  /** Pod address -> its bridge port, from the bridge's neighbour and forwarding tables. */
  bridgePorts: ReadonlyMap<IPv4Address, InterfaceName>;
  /** Whether the LAN reaches the address (src/links/reach.ts); the source mode follows from it. */
  reachOf(address: IPv4Address): Reach;
}

export function attachPods(
  pods: Iterable<PodSpec>,
  routes: Route[],
  ctx: AttachContext,
): { attachments: PodAttachment[]; problems: AttachProblem[] } {
  const attachments: PodAttachment[] = [];
  const problems: AttachProblem[] = [];
  for (const pod of pods) {
    if (pod.addresses.length === 0) {
      problems.push({ pod, kind: 'no-address', message: 'has no address yet' });
      continue;
    }
    // A dual-stack pod has one address per family, both behind the same host link: the first
    // address that resolves to a pod link decides; the problem of the first one is reported.
    let first: AttachProblem | undefined;
    let done = false;
    for (const addr of pod.addresses) {
      const r = attachOne(pod, addr, routes, ctx);
      if ('problem' in r) {
        first ??= r.problem;
        continue;
      }
      const port = pod.addresses.map((a) => ctx.bridgePorts.get(a)).find((p) => p !== undefined);
      attachments.push({ pod, link: r.link, port: port ?? r.link, reach: ctx.reachOf(addr) });
      done = true;
      break;
    }
    if (!done && first) problems.push(first);
  }
  return { attachments, problems };
}

function attachOne(
  pod: PodSpec,
  addr: string,
  routes: Route[],
  ctx: AttachContext,
): { link: InterfaceName } | { problem: AttachProblem } {
  const r = lookupRoute(routes, addr);
  if (!r || !r.dev || (r.type && r.type !== 'unicast'))
    return {
      problem: {
        pod,
        kind: 'no-route',
        message: `no route to ${addr} on this node (is the pod running here?)`,
      },
    };
  if (r.dev === ctx.lanLink || r.gateway)
    return {
      problem: {
        pod,
        kind: 'not-local',
        message: `${addr} is reached through ${r.gateway ? 'gateway ' + r.gateway : 'the LAN interface ' + ctx.lanLink}, not a pod link: the pod does not run on this node`,
      },
    };
  if (ctx.bridges.has(r.dev) && !pod.addresses.some((a) => ctx.bridgePorts.has(a)))
    return {
      problem: {
        pod,
        kind: 'bridge-port',
        message: `${addr} is behind bridge ${r.dev} but its bridge port is not known yet`,
      },
    };
  return { link: r.dev };
}

/** Pure diff of open links against wanted ones (STYLE.md example 2). */
export function diffLinks(open: Iterable<InterfaceName>, wanted: Iterable<InterfaceName>) {
  const o = new Set(open);
  const w = new Set(wanted);
  return { add: [...w].filter((l) => !o.has(l)), remove: [...o].filter((l) => !w.has(l)) };
}
