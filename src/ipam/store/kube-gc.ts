// Garbage collection for the Kubernetes store: allocations whose pods are gone, and blocks of nodes
// that left the cluster. Each agent collects its own node's allocations (so it can drop the proxy
// neighbour entries with them) and those of nodes that have no pods at all — not even this
// DaemonSet's agent, which tolerates every taint: the pod GC controller deletes the pods of a node
// object that was deleted, so "no pods" is how a node that left shows to an agent that may only read
// pods. Everything another live node holds is left to that node.
//
// Safety, in order: allocations are listed before pods (an allocation newer than the pod list is not
// judged by it); a suspect is only a candidate; after `graceMs` it gets a second look at the pod,
// fetched by name from the API itself (never a watch cache that may lag) and compared by UID; the
// delete carries the resourceVersion seen at first sight, so an allocation changed meanwhile stays.
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../log/logger.js';
import type { Allocation } from '../types.js';
import { failureOf, type IpamApi } from './kube-api.js';
import { judge, podKeyOf } from './kube-gc-judge.js';
import { BLOCK_LABEL, toAllocation, type AllocationObject } from './kube-objects.js';
import type { KubeStore } from './kube-store.js';

export interface KubeGcOptions {
  api: IpamApi;
  store: KubeStore;
  logger: Logger;
  /** How long a leak must stay a leak before it is freed (Calico's default: 15 min). */
  graceMs: number;
  /** Time between passes. */
  intervalMs: number;
  /** Called for each of this node's allocations freed (the announcer drops its proxy entry). */
  onCollected?: (a: Allocation) => void;
  /** Monotonic milliseconds; injectable for tests. */
  clock?: () => number;
}

export interface GcPass {
  allocationsFreed: string[];
  blocksReturned: string[];
  candidates: number;
}

interface Candidate {
  since: number;
  rv?: string;
}

export class KubeGc {
  private readonly allocCandidates = new Map<string, Candidate>();
  private readonly blockCandidates = new Map<string, Candidate>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<GcPass>;
  private readonly log: Logger;
  private readonly clock: () => number;

  constructor(private readonly o: KubeGcOptions) {
    this.log = o.logger.child({ component: 'ipam-gc', node: o.store.node });
    this.clock = o.clock ?? (() => performance.now());
  }

  start(): void {
    const tick = () => {
      this.timer = setTimeout(() => void this.pass().finally(tick), this.o.intervalMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One pass; an unreachable API ends it quietly (the next pass starts over from fresh lists). */
  pass(): Promise<GcPass> {
    this.running ??= this.collect()
      .catch((err) => {
        this.log.debug('garbage collection pass stopped', { error: String(err) });
        return { allocationsFreed: [], blocksReturned: [], candidates: this.allocCandidates.size };
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async collect(): Promise<GcPass> {
    const me = this.o.store.node;
    const now = this.clock();
    // Allocations first, then pods: every allocation listed is older than the pod list judging it.
    const allocs = (await this.o.api.listAllocations()).items;
    const pods = (await this.o.api.listPods()).items;
    const byName = new Map<string, V1Pod>(pods.map((p) => [podKeyOf(p), p]));
    const nodesWithPods = new Set(pods.map((p) => p.spec?.nodeName).filter(Boolean));
    const ours = (a: AllocationObject) => a.spec.node === me || !nodesWithPods.has(a.spec.node);

    const freed: string[] = [];
    const seen = new Set<string>();
    for (const a of allocs.filter(ours)) {
      const name = a.metadata.name;
      seen.add(name);
      const ref = a.spec.pod;
      if (judge(a, ref && byName.get(`${ref.namespace}/${ref.name}`)) === 'alive') {
        this.allocCandidates.delete(name);
        continue;
      }
      const c = this.allocCandidates.get(name);
      if (!c || c.rv !== a.metadata.resourceVersion) {
        this.allocCandidates.set(name, { since: now, rv: a.metadata.resourceVersion });
        this.log.debug('allocation is a leak candidate', { address: a.spec.address, pod: ref });
        continue;
      }
      if (now - c.since < this.o.graceMs) continue;
      // Second look: the pod from the API itself, now.
      const pod = await this.o.api.getPod(ref!.namespace, ref!.name).catch((err) => {
        if (failureOf(err) === 'not-found') return undefined;
        throw err;
      });
      if (judge(a, pod) === 'alive') {
        this.allocCandidates.delete(name);
        this.log.info('leak candidate is alive after all; kept', { address: a.spec.address, pod: ref });
        continue;
      }
      if (await this.free(a)) freed.push(a.spec.address);
      this.allocCandidates.delete(name);
    }
    for (const name of this.allocCandidates.keys()) if (!seen.has(name)) this.allocCandidates.delete(name);

    const returned = await this.returnBlocks(nodesWithPods, allocs, freed, now);
    return { allocationsFreed: freed, blocksReturned: returned, candidates: this.allocCandidates.size };
  }

  private async free(a: AllocationObject): Promise<boolean> {
    const me = this.o.store.node;
    try {
      if (a.spec.node === me) {
        if (!(await this.o.store.collect(a.spec.address, a.metadata.resourceVersion))) return false;
        this.o.onCollected?.(toAllocation(a));
      } else {
        await this.o.api.deleteAllocation(a.metadata.name, a.metadata.resourceVersion);
      }
    } catch (err) {
      const f = failureOf(err);
      if (f === 'not-found' || f === 'conflict') return false; // already gone, or changed: not ours to free
      throw err;
    }
    this.log.info('freed the address of a pod that is gone', {
      address: a.spec.address,
      pod: a.spec.pod,
      node: a.spec.node,
    });
    return true;
  }

  /** Blocks of nodes without pods, once empty for the grace period and confirmed by fresh lists. */
  private async returnBlocks(
    nodesWithPods: Set<string | undefined>,
    allocs: AllocationObject[],
    freed: string[],
    now: number,
  ): Promise<string[]> {
    const me = this.o.store.node;
    const used = new Set(allocs.filter((a) => !freed.includes(a.spec.address)).map((a) => a.spec.block));
    const returned: string[] = [];
    const blocks = (await this.o.api.listBlocks()).items;
    const seen = new Set<string>();
    for (const b of blocks) {
      const name = b.metadata.name;
      if (b.spec.node === me || nodesWithPods.has(b.spec.node) || used.has(name)) {
        this.blockCandidates.delete(name);
        continue;
      }
      seen.add(name);
      const c = this.blockCandidates.get(name);
      if (!c || c.rv !== b.metadata.resourceVersion) {
        this.blockCandidates.set(name, { since: now, rv: b.metadata.resourceVersion });
        continue;
      }
      if (now - c.since < this.o.graceMs) continue;
      // Second look, from the API: still no pod on that node, still nothing allocated in the block.
      const [pods, inBlock] = await Promise.all([
        this.o.api.listPods(`spec.nodeName=${b.spec.node}`),
        this.o.api.listAllocations(`${BLOCK_LABEL}=${name}`),
      ]);
      this.blockCandidates.delete(name);
      if (pods.items.length > 0 || inBlock.items.length > 0) continue;
      try {
        await this.o.api.deleteBlock(name, b.metadata.resourceVersion);
      } catch (err) {
        const f = failureOf(err);
        if (f === 'not-found' || f === 'conflict') continue;
        throw err;
      }
      this.log.info('returned the block of a node that left the cluster', {
        block: b.spec.cidr,
        node: b.spec.node,
      });
      returned.push(b.spec.cidr);
    }
    for (const name of this.blockCandidates.keys()) if (!seen.has(name)) this.blockCandidates.delete(name);
    return returned;
  }
}
