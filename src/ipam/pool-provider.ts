// Hands out addresses from the configured ranges: the allocator's walk applied to a store, an
// AddressGuard and an Announcer. Reserve first, then ask the guard (a probe is never spent on an
// address the store refuses); an address the guard says is in use is held back and released again.
import type { AddressRange, IpamConfig, IPv4Address } from '../config/types.js';
import { exclusion, walk } from './allocator.js';
import type { HeldBack, IpamStore } from './store/types.js';
import {
  IpamError,
  ownerKey,
  type AddressGuard,
  type AddressProvider,
  type AddressRequest,
  type Allocation,
  type Announcer,
  type Owner,
} from './types.js';

/** Our own CNI error codes (CNI spec 1.1: 100+ are plugin specific). */
export const CODE_POOL_EXHAUSTED = 100;
export const CODE_BAD_REQUEST = 101;
export const CODE_ADDRESS_IN_USE = 102;
export const CODE_ANNOUNCE_FAILED = 103;
/** CNI spec 1.1, "Error": 11 = try again later (a transient condition). */
export const CODE_TRY_AGAIN = 11;

export interface PoolEvents {
  /** The guard said an address is in use (probe conflict): counted by the shared metric. */
  conflict?(address: IPv4Address, by: string): void;
  log?(message: string, fields: Record<string, unknown>): void;
}

export interface PoolProviderOptions {
  config: Pick<IpamConfig, 'subnet' | 'ranges' | 'exclude' | 'pinned' | 'probe'>;
  store: IpamStore;
  guard: AddressGuard;
  announcer: Announcer;
  /** Addresses never handed out besides the config's (the gateway, the node's own LAN address). */
  reserved: IPv4Address[];
  now?: () => Date;
  events?: PoolEvents;
}

export class PoolProvider implements AddressProvider {
  private readonly excluded: (a: IPv4Address) => boolean;
  /** Addresses a concurrent assign is trying right now: others walk past them instead of colliding. */
  private readonly trying = new Set<IPv4Address>();
  /** One assign/release at a time per owner: a runtime's retried ADD must not take two addresses. */
  private readonly perOwner = new Map<string, Promise<unknown>>();
  private last?: IPv4Address;
  private readonly now: () => Date;

  constructor(private readonly o: PoolProviderOptions) {
    this.excluded = exclusion(o.config, o.reserved);
    this.now = o.now ?? (() => new Date());
  }

  /** Whether `a` is outside what the walk may give (for `ipam list` free counts). */
  isExcluded(a: IPv4Address): boolean {
    return this.excluded(a);
  }

  private serial<T>(owner: Owner, fn: () => Promise<T>): Promise<T> {
    const k = ownerKey(owner);
    const prev = this.perOwner.get(k) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.perOwner.set(k, tail);
    void tail.then(() => {
      if (this.perOwner.get(k) === tail) this.perOwner.delete(k);
    });
    return next;
  }

  assign(req: AddressRequest): Promise<Allocation> {
    return this.serial(req.owner, async () => {
      // CNI spec 1.1 lets a runtime retry ADD: the same attachment gets the address it already has.
      const have = await this.o.store.getByOwner(req.owner);
      if (have.length) return have[0];
      const a = req.want ? await this.assignWanted(req, req.want) : await this.assignFromPool(req);
      try {
        await this.o.announcer.assigned(a.address, a.pod);
      } catch (err) {
        // STYLE.md 7: undo what this ADD took when a later step fails.
        await this.o.store.releaseAddress(a.address);
        await this.o.announcer.released(a.address).catch(() => {});
        throw new IpamError(
          CODE_ANNOUNCE_FAILED,
          `cannot announce ${a.address} on the LAN`,
          (err as Error).message,
        );
      }
      return a;
    });
  }

  private record(req: AddressRequest, address: IPv4Address, source: Allocation['source']): Allocation {
    const a: Allocation = {
      address,
      owner: req.owner,
      network: req.network,
      since: this.now().toISOString(),
      source,
    };
    if (req.pod) a.pod = req.pod;
    return a;
  }

  private async assignWanted(req: AddressRequest, want: IPv4Address): Promise<Allocation> {
    const a = this.record(req, want, 'pinned');
    if (!(await this.o.store.reserve(a))) {
      const holder = (await this.o.store.list()).find((x) => x.address === want);
      // The pod's previous sandbox may still hold it until its DEL arrives: a transient condition.
      throw new IpamError(
        CODE_TRY_AGAIN,
        `pinned address ${want} is still held`,
        holder
          ? `held by container ${holder.owner.containerId}${holder.pod ? ` (pod ${holder.pod.namespace}/${holder.pod.name})` : ''}`
          : undefined,
      );
    }
    const verdict = await this.guarded(want);
    if (verdict !== 'free') {
      await this.o.store.releaseAddress(want);
      this.o.events?.conflict?.(want, verdict.by);
      throw new IpamError(
        CODE_ADDRESS_IN_USE,
        `pinned address ${want} is in use on the LAN`,
        `answered by ${verdict.by}`,
      );
    }
    return a;
  }

  private async scope(): Promise<AddressRange[]> {
    return this.o.store.scope ? this.o.store.scope() : this.o.config.ranges;
  }

  private async assignFromPool(req: AddressRequest): Promise<Allocation> {
    for (;;) {
      const held = new Set((await this.o.store.heldBack(this.now())).map((h) => h.address));
      const taken = new Set((await this.o.store.list()).map((a) => a.address));
      for (const address of walk(await this.scope(), this.last)) {
        if (this.excluded(address) || taken.has(address) || held.has(address) || this.trying.has(address))
          continue;
        this.trying.add(address);
        try {
          const a = this.record(req, address, 'pool');
          if (!(await this.o.store.reserve(a))) continue; // taken meanwhile (another node, another walk)
          this.last = address;
          // Always asked: the guard skips only its ARP probe when ipam.probe is off (the neighbour
          // table and seen-in-discovery cost nothing).
          const verdict = await this.guarded(address);
          if (verdict === 'free') return a;
          await this.holdBack(address, verdict.by);
          await this.o.store.releaseAddress(address);
        } finally {
          this.trying.delete(address);
        }
      }
      if (!this.o.store.grow || !(await this.o.store.grow()))
        throw new IpamError(
          CODE_POOL_EXHAUSTED,
          'no free address in ipam.ranges',
          `ranges ${this.o.config.ranges.map((r) => r.text).join(', ')}`,
        );
    }
  }

  /** The guard's verdict; when the guard cannot tell (the probe could not be sent), the address
   *  reserved for it is released again and the ADD fails as temporary (STYLE.md 7: roll back). */
  private async guarded(address: IPv4Address): Promise<'free' | { by: string }> {
    try {
      return await this.o.guard.inUse(address);
    } catch (err) {
      await this.o.store.releaseAddress(address);
      throw new IpamError(
        CODE_TRY_AGAIN,
        `cannot check whether ${address} is in use`,
        (err as Error).message,
      );
    }
  }

  private async holdBack(address: IPv4Address, by: string): Promise<void> {
    const now = this.now();
    const h: HeldBack = {
      address,
      by,
      since: now.toISOString(),
      until: new Date(now.getTime() + this.o.config.probe.holdBackMs).toISOString(),
    };
    this.o.events?.conflict?.(address, by);
    this.o.events?.log?.('address in use on the LAN; holding it back', { address, by, until: h.until });
    await this.o.store.holdBack(h);
  }

  release(owner: Owner): Promise<Allocation[]> {
    return this.serial(owner, async () => {
      const gone = await this.o.store.releaseByOwner(owner);
      for (const a of gone) await this.o.announcer.released(a.address).catch(() => {});
      return gone;
    });
  }
}
