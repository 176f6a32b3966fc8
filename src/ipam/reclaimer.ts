// The file store's leak reclaim, at start and every few minutes: lists the allocations, then the
// node's routes, then asks about the pods of the old, unrouted ones (evidence gathered after the
// list, so every allocation judged is older than what judges it), and releases the owners
// reclaim.ts judges gone through the provider, the same path as DEL (the Announcer drops the proxy
// entry). No decision lives here.
import type { InterfaceName } from '../config/types.js';
import type { Route } from '../links/routes.js';
import type { Logger } from '../log/logger.js';
import {
  judgeAllocation,
  ownersToRelease,
  routeWitness,
  type PodPresence,
  type ReclaimVerdict,
} from './reclaim.js';
import { ownerKey, podKey, type Allocation, type Owner, type PodRef } from './types.js';

export interface ReclaimerOptions {
  graceMs: number;
  intervalMs: number;
  lanLink: InterfaceName;
  list(): Promise<Allocation[]>;
  routes(): Promise<Route[]>;
  /** With Kubernetes: whether the allocation's pod runs on this node. */
  pod?: (ref: PodRef, since: string) => Promise<PodPresence>;
  /** The provider's release (DEL's path). */
  release(owner: Owner): Promise<Allocation[]>;
  log: Logger;
  onReclaimed?: (a: Allocation) => void;
  /** Wall-clock milliseconds; injectable for tests. */
  now?: () => number;
}

export interface ReclaimPass {
  checked: number;
  released: Allocation[];
  kept: Partial<Record<ReclaimVerdict, number>>;
}

export class Reclaimer {
  private timer?: NodeJS.Timeout;
  private running?: Promise<ReclaimPass>;
  private passes = 0;

  constructor(private readonly o: ReclaimerOptions) {}

  /** One pass now, then one every intervalMs. */
  start(): void {
    const tick = () => {
      this.timer = setTimeout(() => void this.pass().finally(tick), this.o.intervalMs);
      this.timer.unref();
    };
    void this.pass().finally(tick);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One pass; a store or route table that cannot be read ends it (the next pass starts over). */
  pass(): Promise<ReclaimPass> {
    this.running ??= this.collect()
      .catch((err) => {
        this.o.log.warn('leak reclaim pass stopped', { error: String((err as Error)?.message ?? err) });
        return { checked: 0, released: [], kept: {} };
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async collect(): Promise<ReclaimPass> {
    const allocations = await this.o.list();
    const routes = await this.o.routes();
    const now = (this.o.now ?? Date.now)();
    const judged: Array<{ a: Allocation; verdict: ReclaimVerdict }> = [];
    for (const a of allocations) {
      const e = { now, graceMs: this.o.graceMs, route: routeWitness(routes, a.address, this.o.lanLink) };
      let verdict = judgeAllocation(a, { ...e, pod: undefined });
      // Only an old, unrouted allocation costs a pod lookup.
      if (verdict === 'gone' && this.o.pod && a.pod)
        verdict = judgeAllocation(a, { ...e, pod: await this.o.pod(a.pod, a.since) });
      judged.push({ a, verdict });
    }
    const released: Allocation[] = [];
    for (const owner of ownersToRelease(judged)) {
      for (const a of await this.o.release(owner)) {
        released.push(a);
        this.o.onReclaimed?.(a);
        this.o.log.info('address reclaimed: its attachment is gone (no DEL came)', {
          address: a.address,
          owner: ownerKey(owner),
          pod: a.pod ? podKey(a.pod) : undefined,
          since: a.since,
        });
      }
    }
    const kept: ReclaimPass['kept'] = {};
    for (const { verdict } of judged) if (verdict !== 'gone') kept[verdict] = (kept[verdict] ?? 0) + 1;
    const summary = { checked: allocations.length, released: released.length, ...kept };
    if (this.passes++ === 0) this.o.log.info('allocations checked for leaks', summary);
    else this.o.log.debug('allocations checked for leaks', summary);
    return { checked: allocations.length, released, kept };
  }
}
