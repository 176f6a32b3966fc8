// Whether an allocation's pod is gone: the garbage collector's one decision, as a pure function.
//
// Lessons this follows (read, not copied):
// - Calico IPAM GC freed healthy pods' addresses (projectcalico/calico#5044) and empty blocks a node
//   was about to use (#5812): a leak is only a candidate at first sight, freed after a grace period
//   and a second look.
// - Whereabouts' reconciler matched pods by name and freed a StatefulSet pod's new address
//   (k8snetworkplumbingwg/whereabouts#176), and freed the address of a pod created while it was
//   listing (#207): compare UIDs, and list allocations *before* pods, so every allocation listed is
//   older than the pod list that judges it.
import type { V1Pod } from '@kubernetes/client-node';
import type { AllocationObject } from './kube-objects.js';

export type Verdict = 'alive' | 'gone';

/**
 * `pod` is what the API holds under the allocation's pod name (undefined: no such pod).
 * - An allocation that names no pod is never judged gone by its pod (nothing to compare with).
 * - With the pod's UID recorded (K8S_POD_UID from the runtime), only that UID keeps it alive: a new
 *   pod under the old name (a StatefulSet's) does not.
 * - Without a UID, a pod of that name created after the allocation cannot be its pod (a CNI ADD runs
 *   after the pod object exists); one created before, or in the same second, keeps it alive.
 */
export function judge(a: AllocationObject, pod: V1Pod | undefined): Verdict {
  const ref = a.spec.pod;
  if (!ref) return 'alive';
  if (!pod) return 'gone';
  if (ref.uid) return pod.metadata?.uid === ref.uid ? 'alive' : 'gone';
  const podMade = Date.parse(String(pod.metadata?.creationTimestamp ?? ''));
  const allocMade = Date.parse(a.metadata.creationTimestamp ?? '');
  if (Number.isNaN(podMade) || Number.isNaN(allocMade)) return 'alive';
  return podMade > allocMade + 1000 ? 'gone' : 'alive';
}

export const podKeyOf = (p: V1Pod): string => `${p.metadata?.namespace}/${p.metadata?.name}`;
