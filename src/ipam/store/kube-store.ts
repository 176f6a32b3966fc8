// `ipam.store: kubernetes` (issue 11): the IpamStore kept in the Kubernetes API, so that the nodes of a
// cluster share one pool without a database of their own.
//
// - Each node claims blocks of the pool (IPBlock, `ipam.blockSize`, a /26 by default) and hands out
//   only inside its own blocks, so it never asks other nodes; when its blocks are full it claims
//   another (grow()). Claiming a block or an address is a create of an object named after it: the
//   API server lets exactly one creator win, whatever the nodes believe (Whereabouts'
//   OverlappingRangeIPReservation and Calico's block claims work the same way).
// - Every update is a replace guarded by resourceVersion, retried on 409 Conflict (kube-retry.ts).
// - What this node holds is cached from a LIST of its own objects (label selector). The cache only
//   speeds lookups up: the create decides. After an outage the cache is rebuilt from a fresh list,
//   never patched from memory of what was missed.
// - API unreachable: reserve() fails fast with IpamError(11) (CNI "try again later"); a create whose
//   answer was lost is looked up before anything is assumed; a release the API did not take is kept
//   and carried out when it is back. Addresses already given are kernel state and keep working.
import type { IPv4Address } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import { IpamError, sameOwner, type Allocation, type Owner } from '../types.js';
import { failureOf, KubeApiError, type IpamApi } from './kube-api.js';
import {
  blockAt,
  freeInBlock,
  nextBlockToClaim as nextFree,
  parseBlock,
  poolBlocks,
  usableSpans,
  type Block,
  type PoolShape,
} from './kube-blocks.js';
import {
  allocationName,
  allocationObject,
  blockObject,
  nodeLabel,
  NODE_LABEL,
  sameOwnerAs,
  toAllocation,
  type AllocationObject,
  type BlockObject,
} from './kube-objects.js';
import { clusterListing, type ClusterListing } from './kube-listing.js';
import { DEFAULT_RETRY, onConflictRetry, type RetryOptions } from './kube-retry.js';
import type { HeldBack, IpamStore } from './types.js';

/** CNI spec 1.1 error 11: "Try again later". */
export const TRY_AGAIN_LATER = 11;
/** Our own code (CNI: 100+ are the plugin's) for a store that refuses us for good (RBAC, schema). */
export const STORE_REFUSED = 110;

export interface KubeStoreOptions {
  api: IpamApi;
  node: string;
  pool: PoolShape & { subnetText: string };
  /** Prefix length of a block (ipam.blockSize). */
  blockSize: number;
  logger: Logger;
  /** An allocation of this node vanished from the API without this store releasing it (GC elsewhere, kubectl delete). */
  onLost?: (a: Allocation) => void;
  /** Full relist this often, to catch up on changes made by others (default 30 s). */
  resyncMs?: number;
  /** While the API is unreachable, try to catch up this often (default 1 s, doubling to 15 s). */
  retryMs?: { initial: number; max: number };
  retry?: RetryOptions;
  now?: () => Date;
}

export interface StoreStatus {
  synced: boolean;
  reachable: boolean;
  blocks: string[];
  allocations: number;
  pendingReleases: number;
}

export class KubeStore implements IpamStore {
  private readonly blocks = new Map<string, BlockObject>();
  private readonly allocs = new Map<IPv4Address, AllocationObject>();
  /** Addresses a reserve() is creating right now: a second caller backs off without a request. */
  private readonly claiming = new Set<IPv4Address>();
  /** Creates whose answer was lost: the object may exist. Released with their owner. */
  private readonly uncertain = new Map<IPv4Address, Owner>();
  /** Releases the API has not taken yet (it was unreachable); carried out at the next sync. */
  private readonly pendingDeletes = new Map<IPv4Address, Owner>();
  /** Owners released before the first sync: their addresses are not known yet. */
  private readonly pendingOwners: Owner[] = [];
  /** Holds for addresses outside this node's blocks, or not written yet. */
  private readonly localHolds = new Map<IPv4Address, HeldBack>();
  /** Local changes made while a relist was in flight, re-applied over its snapshot. */
  private journal?: Array<{ address: IPv4Address; obj?: AllocationObject }>;
  private synced = false;
  private reachable = false;
  private syncing?: Promise<void>;
  private growing?: Promise<boolean>;
  /** grow() answered "look again" without claiming, and no reserve succeeded since. */
  private lookedAgain = false;
  private timer?: NodeJS.Timeout;
  private retryDelay: number;
  private closed = false;
  private readonly log: Logger;
  private readonly retry: RetryOptions;
  private readonly now: () => Date;

  constructor(private readonly o: KubeStoreOptions) {
    this.log = o.logger.child({ component: 'ipam-kube-store', node: o.node });
    this.retry = o.retry ?? DEFAULT_RETRY;
    this.now = o.now ?? (() => new Date());
    this.retryDelay = o.retryMs?.initial ?? 1000;
  }

  get node(): string {
    return this.o.node;
  }

  /** First sync; an unreachable API is no error (the agent starts, ADDs fail with 11 until it is back). */
  async start(): Promise<void> {
    await this.sync().catch(() => undefined);
    this.schedule();
  }

  status(): StoreStatus {
    return {
      synced: this.synced,
      reachable: this.reachable,
      blocks: [...this.blocks.values()].map((b) => b.spec.cidr),
      allocations: this.allocs.size,
      pendingReleases: this.pendingDeletes.size + this.pendingOwners.length,
    };
  }

  /** This node's blocks, in address order. */
  ownBlocks(): Block[] {
    return [...this.blocks.values()]
      .map((b) => parseBlock(b.spec.cidr))
      .filter((b): b is Block => b !== undefined)
      .sort((a, b) => a.first - b.first);
  }

  // --- IpamStore ---------------------------------------------------------------------------------

  async reserve(a: Allocation): Promise<boolean> {
    await this.ready();
    const block = blockAt(a.address, this.o.blockSize);
    const own = this.blocks.has(block.name);
    // Pool addresses only inside our own blocks; a pinned or DHCP address may lie anywhere (its
    // object is still unique by name, so the block's owner cannot hand it out too).
    if (a.source === 'pool' && !own) return false;
    if (this.allocs.has(a.address) || this.claiming.has(a.address) || this.uncertain.has(a.address))
      return false;
    this.claiming.add(a.address);
    try {
      const created = await this.o.api.createAllocation(
        allocationObject(a, this.o.node, own ? block.name : undefined),
      );
      this.put(created);
      this.lookedAgain = false;
      return true;
    } catch (err) {
      const f = failureOf(err);
      if (f === 'already-exists') return await this.learnHolder(a);
      if (f === 'unavailable') return await this.resolveLostCreate(a, err);
      throw this.refused(err);
    } finally {
      this.claiming.delete(a.address);
    }
  }

  async update(a: Allocation): Promise<boolean> {
    await this.ready();
    const name = allocationName(a.address);
    return this.unavailableAs11(() =>
      onConflictRetry(async () => {
        const cur = this.allocs.get(a.address) ?? (await this.getOrUndefined(name));
        if (!cur || !sameOwnerAs(cur, a) || cur.spec.node !== this.o.node) return false;
        const next = allocationObject(a, this.o.node, cur.spec.block);
        next.metadata = { ...cur.metadata, labels: next.metadata.labels };
        try {
          this.put(await this.o.api.replaceAllocation(next));
        } catch (err) {
          if (failureOf(err) === 'conflict') this.allocs.delete(a.address); // re-read on retry
          throw err;
        }
        return true;
      }, this.retry),
    );
  }

  async releaseByOwner(owner: Owner): Promise<Allocation[]> {
    if (!this.synced) {
      await this.sync().catch(() => undefined);
      if (!this.synced) {
        // Nothing known yet: DEL must still succeed (CNI spec 1.1); carried out after the first sync.
        this.pendingOwners.push(owner);
        return [];
      }
    }
    const held = [...this.allocs.values()].filter((o) => sameOwnerAs(o, { owner }));
    const maybe = [...this.uncertain].filter(([, o]) => sameOwner(o, owner)).map(([addr]) => addr);
    for (const o of held) this.forget(o.spec.address);
    for (const address of [...held.map((o) => o.spec.address), ...maybe]) {
      const rv = held.find((o) => o.spec.address === address)?.metadata.resourceVersion;
      await this.deleteOwned(address, owner, rv);
    }
    return held.map(toAllocation);
  }

  async releaseAddress(address: IPv4Address): Promise<Allocation | undefined> {
    await this.ready();
    const cur =
      this.allocs.get(address) ??
      (await this.unavailableAs11(() => this.getOrUndefined(allocationName(address))));
    if (!cur) return undefined;
    this.forget(address);
    await this.deleteOwned(
      address,
      { containerId: cur.spec.containerId, ifname: cur.spec.ifname },
      cur.metadata.resourceVersion,
    );
    return toAllocation(cur);
  }

  /**
   * Garbage collection's delete: only if the allocation is still at `resourceVersion` (unchanged
   * since it was judged). True when it was freed; a 404 or 409 frees nothing.
   */
  async collect(address: IPv4Address, resourceVersion: string | undefined): Promise<boolean> {
    try {
      await this.o.api.deleteAllocation(allocationName(address), resourceVersion);
    } catch (err) {
      const f = failureOf(err);
      if (f === 'not-found' || f === 'conflict') return false;
      throw err;
    }
    this.forget(address);
    return true;
  }

  /** Every block and allocation of the cluster, fresh from the API (for `ipam list`). */
  async clusterListing(): Promise<ClusterListing> {
    return this.unavailableAs11(async () => {
      const [blocks, allocs] = await Promise.all([this.o.api.listBlocks(), this.o.api.listAllocations()]);
      const all = poolBlocks(this.o.pool, this.o.blockSize).length;
      return clusterListing(this.o.pool, blocks.items, allocs.items, this.now(), all);
    });
  }

  async getByOwner(owner: Owner): Promise<Allocation[]> {
    await this.knownOnce();
    return [...this.allocs.values()].filter((o) => sameOwnerAs(o, { owner })).map(toAllocation);
  }

  /** This node's allocations (what its proxy entries must match), not the cluster's. */
  async list(): Promise<Allocation[]> {
    await this.knownOnce();
    return [...this.allocs.values()].map(toAllocation);
  }

  async holdBack(h: HeldBack): Promise<void> {
    const block = blockAt(h.address, this.o.blockSize);
    this.localHolds.set(h.address, h);
    if (!this.blocks.has(block.name) || !this.reachable) return;
    try {
      await onConflictRetry(async () => {
        const cur = this.blocks.get(block.name) ?? (await this.o.api.getBlock(block.name));
        const now = this.now().toISOString();
        const held = (cur.spec.held ?? []).filter((x) => x.address !== h.address && x.until > now);
        const next: BlockObject = { ...cur, spec: { ...cur.spec, held: [...held, h].slice(-256) } };
        try {
          this.blocks.set(block.name, await this.o.api.replaceBlock(next));
        } catch (err) {
          if (failureOf(err) === 'conflict') this.blocks.delete(block.name); // re-read on retry
          throw err;
        }
      }, this.retry);
      this.localHolds.delete(h.address);
    } catch (err) {
      // The hold still works on this node (localHolds); other nodes never hand out in our block.
      this.log.warn('could not record a held-back address in its block', {
        address: h.address,
        error: String(err),
      });
      if (!this.blocks.has(block.name)) await this.sync().catch(() => undefined);
    }
  }

  async heldBack(now: Date): Promise<HeldBack[]> {
    const t = now.toISOString();
    const all = new Map<IPv4Address, HeldBack>();
    for (const b of this.blocks.values()) for (const h of b.spec.held ?? []) all.set(h.address, h);
    for (const [a, h] of this.localHolds) {
      if (h.until <= t) this.localHolds.delete(a);
      else all.set(a, h);
    }
    return [...all.values()].filter((h) => h.until > t);
  }

  /**
   * From the cache once it was complete: STATUS reads it too, and an API blip must not mark the
   * node's network not ready (reserve() is what fails, fast, with error 11).
   */
  async scope(): Promise<Array<{ start: IPv4Address; end: IPv4Address; text: string }>> {
    await this.knownOnce();
    return this.ownBlocks().flatMap((b) =>
      usableSpans(b, this.o.pool).map((s) => ({ ...s, text: `${b.cidr} (${this.o.node})` })),
    );
  }

  /** Claims another block; concurrent callers share one claim. */
  grow(): Promise<boolean> {
    this.growing ??= this.claimBlock().finally(() => (this.growing = undefined));
    return this.growing;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.syncing?.catch(() => undefined);
  }

  // --- catching up ----------------------------------------------------------------------------

  /** Rebuilds the cache from a fresh LIST of this node's blocks and allocations. */
  sync(): Promise<void> {
    this.syncing ??= this.relist().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async relist(): Promise<void> {
    const selector = `${NODE_LABEL}=${nodeLabel(this.o.node)}`;
    this.journal = [];
    try {
      const [blocks, allocs] = await Promise.all([
        this.o.api.listBlocks(selector),
        this.o.api.listAllocations(selector),
      ]);
      const before = new Map(this.allocs);
      this.blocks.clear();
      for (const b of blocks.items) if (b.spec.node === this.o.node) this.blocks.set(b.metadata.name, b);
      this.allocs.clear();
      // A release not carried out yet is no allocation any more, whatever the API still says.
      for (const a of allocs.items)
        if (a.spec.node === this.o.node && !this.pendingDeletes.has(a.spec.address))
          this.allocs.set(a.spec.address, a);
      for (const j of this.journal) {
        if (j.obj) this.allocs.set(j.address, j.obj);
        else this.allocs.delete(j.address);
      }
      const wasSynced = this.synced;
      this.synced = true;
      this.markReachable();
      if (wasSynced)
        for (const [address, o] of before)
          if (
            !this.allocs.has(address) &&
            !this.pendingDeletes.has(address) &&
            !this.journal.some((j) => j.address === address)
          ) {
            this.log.info('allocation removed elsewhere', { address, pod: o.spec.pod });
            this.o.onLost?.(toAllocation(o));
          }
    } catch (err) {
      this.markUnreachable(err);
      throw err;
    } finally {
      this.journal = undefined;
    }
    await this.carryOutPending();
  }

  private async carryOutPending(): Promise<void> {
    for (const owner of this.pendingOwners.splice(0)) await this.releaseByOwner(owner).catch(() => undefined);
    for (const [address, owner] of [...this.pendingDeletes]) {
      this.pendingDeletes.delete(address);
      await this.deleteOwned(address, owner, undefined).catch(() => undefined);
    }
    for (const [address, owner] of [...this.uncertain]) {
      const cur = await this.getOrUndefined(allocationName(address)).catch(() => 'unknown' as const);
      if (cur === 'unknown') continue;
      this.uncertain.delete(address);
      if (cur && sameOwnerAs(cur, { owner }) && cur.spec.node === this.o.node) this.put(cur);
    }
  }

  /** The next relist: the periodic one while reachable, a retry with back-off while not. */
  private schedule(): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    const ms = this.reachable ? (this.o.resyncMs ?? 30_000) : this.retryDelay;
    this.timer = setTimeout(() => {
      void this.sync()
        .catch(() => {
          this.retryDelay = Math.min(this.retryDelay * 2, this.o.retryMs?.max ?? 15_000);
        })
        .finally(() => this.schedule());
    }, ms);
    this.timer.unref();
  }

  private markReachable(): void {
    if (!this.reachable && this.synced)
      this.log.info('Kubernetes API reachable; store in sync', {
        blocks: this.blocks.size,
        allocations: this.allocs.size,
      });
    this.reachable = true;
    this.retryDelay = this.o.retryMs?.initial ?? 1000;
  }

  private markUnreachable(err: unknown): void {
    const was = this.reachable;
    if (was || !this.synced) this.log.warn('Kubernetes API unreachable', { error: String(err) });
    this.reachable = false;
    if (was && this.timer) this.schedule(); // catch up soon, not at the next periodic relist
  }

  /** Before an ADD: in sync and reachable, or a fast IpamError(11). */
  private async ready(): Promise<void> {
    if (this.synced && this.reachable) return;
    try {
      await this.sync();
    } catch (err) {
      throw new IpamError(TRY_AGAIN_LATER, 'the Kubernetes API is unreachable; try again later', String(err));
    }
  }

  /** Lookups may answer from a cache that was complete once; before any sync there is nothing to say. */
  private async knownOnce(): Promise<void> {
    if (this.synced) return;
    await this.ready();
  }

  // --- helpers --------------------------------------------------------------------------------

  private put(o: AllocationObject): void {
    this.allocs.set(o.spec.address, o);
    this.journal?.push({ address: o.spec.address, obj: o });
  }

  private forget(address: IPv4Address): void {
    this.allocs.delete(address);
    this.journal?.push({ address });
  }

  /** Create refused with AlreadyExists: ours (an earlier create whose answer was lost) or someone else's. */
  private async learnHolder(a: Allocation): Promise<boolean> {
    const cur = await this.getOrUndefined(allocationName(a.address)).catch(() => undefined);
    if (!cur || cur.spec.node !== this.o.node) return false;
    this.put(cur);
    return sameOwnerAs(cur, a);
  }

  /** The create got no answer: it may or may not have happened. Look before deciding. */
  private async resolveLostCreate(a: Allocation, err: unknown): Promise<boolean> {
    this.uncertain.set(a.address, a.owner);
    if (err instanceof KubeApiError && err.timedOut) {
      // No answer in time: a lookup would wait as long again. Fail this ADD now; the next sync (or
      // this owner's DEL) settles whether the create happened.
      this.markUnreachable(err);
      throw new IpamError(
        TRY_AGAIN_LATER,
        'the Kubernetes API did not answer in time; try again later',
        String(err),
      );
    }
    let cur: AllocationObject | undefined;
    try {
      cur = await this.getOrUndefined(allocationName(a.address));
    } catch (lookup) {
      this.markUnreachable(lookup);
      // Left uncertain: a DEL of this owner removes it if it exists; the next sync settles it.
      throw new IpamError(TRY_AGAIN_LATER, 'the Kubernetes API is unreachable; try again later', String(err));
    }
    this.uncertain.delete(a.address);
    if (cur && sameOwnerAs(cur, a) && cur.spec.node === this.o.node) {
      this.put(cur);
      return true;
    }
    return false;
  }

  private async getOrUndefined(name: string): Promise<AllocationObject | undefined> {
    try {
      return await this.o.api.getAllocation(name);
    } catch (err) {
      if (failureOf(err) === 'not-found') return undefined;
      throw err;
    }
  }

  /** Deletes `address` if `owner` still holds it; an unreachable API keeps the release for later. */
  private async deleteOwned(address: IPv4Address, owner: Owner, rv: string | undefined): Promise<void> {
    const name = allocationName(address);
    try {
      await onConflictRetry(async () => {
        let version = rv;
        if (!version) {
          const cur = await this.getOrUndefined(name);
          if (!cur || !sameOwnerAs(cur, { owner })) return;
          version = cur.metadata.resourceVersion;
        }
        try {
          await this.o.api.deleteAllocation(name, version);
        } catch (err) {
          const f = failureOf(err);
          if (f === 'not-found') return;
          if (f === 'conflict') rv = undefined; // changed since: look again, delete only if still this owner's
          throw err;
        }
      }, this.retry);
      this.uncertain.delete(address);
    } catch (err) {
      if (failureOf(err) !== 'unavailable') throw this.refused(err);
      this.markUnreachable(err);
      this.uncertain.delete(address);
      this.pendingDeletes.set(address, owner);
      this.log.warn('release kept until the Kubernetes API is back', { address });
    }
  }

  private async claimBlock(): Promise<boolean> {
    await this.ready();
    // Someone released, or another caller's claim landed meanwhile: look again — but only once in a
    // row, for the allocator may skip addresses this store cannot see (the gateway, pinned ones).
    if (!this.lookedAgain && this.hasFree()) return (this.lookedAgain = true);
    this.lookedAgain = false;
    return this.unavailableAs11(async () => {
      for (let attempt = 0; attempt < 16; attempt++) {
        const all = await this.o.api.listBlocks();
        // A block of ours the cache lacks (a claim whose answer was lost, a restart): adopt it.
        const adopted = all.items.filter(
          (b) => b.spec.node === this.o.node && !this.blocks.has(b.metadata.name),
        );
        for (const b of adopted) this.blocks.set(b.metadata.name, b);
        if (adopted.length && this.hasFree()) return true;
        const claimed = new Set(all.items.map((b) => b.metadata.name));
        const next = nextFree(this.o.pool, this.o.blockSize, claimed, this.o.node);
        if (!next) {
          this.log.warn('IPAM pool exhausted: every block is claimed', { blocks: claimed.size });
          return false;
        }
        try {
          const spec = { cidr: next.cidr, node: this.o.node, subnet: this.o.pool.subnetText };
          const made = await this.o.api.createBlock(blockObject(next.name, spec));
          this.blocks.set(made.metadata.name, made);
          this.log.info('block claimed', { block: next.cidr });
          return true;
        } catch (err) {
          if (failureOf(err) !== 'already-exists') throw err; // another node won it: try another
        }
      }
      return false;
    });
  }

  private hasFree(): boolean {
    const taken = new Set<IPv4Address>([...this.allocs.keys(), ...this.claiming, ...this.uncertain.keys()]);
    const t = this.now().toISOString();
    for (const b of this.blocks.values())
      for (const h of b.spec.held ?? []) if (h.until > t) taken.add(h.address);
    for (const h of this.localHolds.values()) if (h.until > t) taken.add(h.address);
    return this.ownBlocks().some((b) => freeInBlock(b, this.o.pool, taken, 1).length > 0);
  }

  private async unavailableAs11<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof IpamError) throw err;
      if (failureOf(err) === 'unavailable') {
        this.markUnreachable(err);
        throw new IpamError(
          TRY_AGAIN_LATER,
          'the Kubernetes API is unreachable; try again later',
          String(err),
        );
      }
      throw this.refused(err);
    }
  }

  private refused(err: unknown): IpamError {
    if (err instanceof IpamError) return err;
    const f = failureOf(err);
    if (f === 'unavailable')
      return new IpamError(
        TRY_AGAIN_LATER,
        'the Kubernetes API is unreachable; try again later',
        String(err),
      );
    const hint =
      f === 'forbidden'
        ? ' (RBAC: apply manifests/rbac.yaml)'
        : f === 'not-found'
          ? ' (CRDs: apply manifests/crds/)'
          : '';
    return new IpamError(
      STORE_REFUSED,
      `the Kubernetes API refused the IPAM store's request${hint}`,
      String(err),
    );
  }
}
