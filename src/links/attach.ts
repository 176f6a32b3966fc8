// Pure: which host link reaches each opted-in pod, and a clear message for each pod that has none.
import type { InterfaceName } from '../config/types.js';
import type { PodSpec } from '../pods/types.js';
import type { PodAttachment } from '../reflect/types.js';
import { lookupRoute, type Route } from './routes.js';

export interface AttachProblem {
  pod: PodSpec;
  message: string;
}

export function attachPods(
  pods: Iterable<PodSpec>,
  routes: Route[],
  lanLink: InterfaceName,
): { attachments: PodAttachment[]; problems: AttachProblem[] } {
  const attachments: PodAttachment[] = [];
  const problems: AttachProblem[] = [];
  for (const pod of pods) {
    const addr = pod.addresses[0];
    const r = addr === undefined ? undefined : lookupRoute(routes, addr);
    if (!addr) problems.push({ pod, message: 'has no IPv4 address yet' });
    else if (!r || !r.dev || (r.type && r.type !== 'unicast'))
      problems.push({ pod, message: `no route to ${addr} on this node (is the pod running here?)` });
    else if (r.dev === lanLink || r.gateway)
      problems.push({
        pod,
        message: `${addr} is reached through ${r.gateway ? 'gateway ' + r.gateway : 'the LAN interface ' + lanLink}, not a pod link: the pod does not run on this node`,
      });
    else attachments.push({ pod, link: r.dev });
  }
  return { attachments, problems };
}

/** Pure diff of open links against wanted ones (STYLE.md example 2). */
export function diffLinks(open: Iterable<InterfaceName>, wanted: Iterable<InterfaceName>) {
  const o = new Set(open);
  const w = new Set(wanted);
  return { add: [...w].filter((l) => !o.has(l)), remove: [...o].filter((l) => !w.has(l)) };
}
