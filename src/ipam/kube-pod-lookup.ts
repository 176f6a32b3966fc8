// The pod's lan-address annotation, from the agent's pod watch (every pod of this node, opted in to
// the reflector or not). The runtime calls ADD right after the kubelet saw the pod, so the watch may
// not have it yet: wait briefly for it, then GET it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import { LAN_ADDRESS_ANNOTATION } from './allocator.js';
import type { PodAnnotationLookup } from './cni/verbs.js';
import { IpamError, type PodRef } from './types.js';

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
}
