// The pod's lan-address annotation, from the agent's pod watch (every pod of this node, opted in to
// the reflector or not). The runtime calls ADD right after the kubelet saw the pod, so the watch may
// not have it yet: wait briefly for it, then GET it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import { LAN_ADDRESS_ANNOTATION } from './allocator.js';
import type { PodAnnotationLookup } from './cni/verbs.js';
import type { PodPresence } from './reclaim.js';
import { IpamError, type PodRef } from './types.js';

/** How long the leak reclaim waits for a GET before it counts the pod as unknown (kept). */
const PRESENCE_GET_MS = 5000;

/**
 * Whether `p` (what the watch or the API holds under the allocation's pod name) is the allocation's
 * pod, running on `node`. Pure. The UID decides when it was recorded (a StatefulSet's new pod under
 * the old name is another pod); without one, a pod created after the allocation cannot be its pod
 * (ADD runs after the pod object exists), as kube-gc-judge.ts judges. A pod that finished
 * (Succeeded, Failed) has had its sandbox torn down.
 */
export function presenceOf(p: V1Pod | undefined, pod: PodRef, node: string, since?: string): PodPresence {
  if (!p) return 'absent';
  if (pod.uid && p.metadata?.uid !== pod.uid) return 'absent';
  if (node && p.spec?.nodeName && p.spec.nodeName !== node) return 'absent';
  if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') return 'absent';
  if (!pod.uid && since) {
    const made = Date.parse(String(p.metadata?.creationTimestamp ?? ''));
    const allocated = Date.parse(since);
    if (!Number.isNaN(made) && !Number.isNaN(allocated) && made > allocated + 1000) return 'absent';
  }
  return 'present';
}

export interface KubePodLookupOptions {
  cached(namespace: string, name: string): V1Pod | undefined;
  /** GET /api/v1/namespaces/NS/pods/NAME; undefined on 404; throws when the API cannot answer. */
  get(namespace: string, name: string): Promise<V1Pod | undefined>;
  /** How long to wait for the watch before asking the API (default 500 ms). */
  waitMs?: number;
}

export class KubePodLookup implements PodAnnotationLookup {
  constructor(private readonly o: KubePodLookupOptions) {}

  private fits(p: V1Pod | undefined, pod: PodRef): p is V1Pod {
    // A recreated pod of the same name (StatefulSet) is another pod: only the UID tells.
    return !!p && (!pod.uid || p.metadata?.uid === pod.uid);
  }

  async lanAddress(pod: PodRef): Promise<string | undefined> {
    const deadline = Date.now() + (this.o.waitMs ?? 500);
    let p = this.o.cached(pod.namespace, pod.name);
    while (!this.fits(p, pod) && Date.now() < deadline) {
      await sleep(25);
      p = this.o.cached(pod.namespace, pod.name);
    }
    if (!this.fits(p, pod)) {
      try {
        p = await this.o.get(pod.namespace, pod.name);
      } catch (err) {
        // Without the annotation the address could come from the wrong IPAM: a transient error.
        throw new IpamError(
          11,
          `cannot read pod ${pod.namespace}/${pod.name} from the Kubernetes API`,
          (err as Error).message,
        );
      }
    }
    return p?.metadata?.annotations?.[LAN_ADDRESS_ANNOTATION];
  }

  /**
   * For the leak reclaim: the watch first (it holds this node's pods), then a GET (the watch may
   * lag or be down). An API that does not answer says 'unknown', which keeps the address.
   */
  async presence(pod: PodRef, node: string, since?: string): Promise<PodPresence> {
    if (presenceOf(this.o.cached(pod.namespace, pod.name), pod, node, since) === 'present') return 'present';
    let timer: NodeJS.Timeout | undefined;
    try {
      const p = await Promise.race([
        this.o.get(pod.namespace, pod.name),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), PRESENCE_GET_MS);
        }),
      ]);
      return presenceOf(p, pod, node, since);
    } catch {
      return 'unknown';
    } finally {
      clearTimeout(timer);
    }
  }
}
