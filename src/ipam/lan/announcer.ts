// The allocator's Announcer on the LAN: the node answers ARP for its own pods' addresses, and only
// for them. One kernel proxy neighbour entry on the LAN link per local pod address (never the
// link-wide proxy_arp, which would answer for every address routed elsewhere), a few gratuitous
// ARPs when an address is assigned and when the agent starts, the entry removed on release. Kernel
// entries keep answering while the agent restarts; a new agent reconciles them with the store.
import type { IPv4Address } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import type { Neighbour } from '../../links/netlink-neigh.js';
import { isOurs } from '../../links/neighbours.js';
import type { Allocation, Announcer, PodRef } from '../types.js';

export interface AnnouncerDeps {
  proxies: {
    add(address: IPv4Address): Promise<void>;
    remove(address: IPv4Address): Promise<boolean>;
    list(): Promise<Neighbour[]>;
  };
  /** Gratuitous ARP now and after each delay; undefined without a packet socket. */
  announce?: (address: IPv4Address, spacingMs: readonly number[]) => void;
  log: Logger;
  /** Delays of the repeats after the first announcement (RFC 5227 2.3 sends two, 2 s apart). */
  spacingMs?: readonly number[];
}

export interface AnnouncerCounters {
  proxyAdded: number;
  proxyRemoved: number;
  proxyErrors: number;
}

const DEFAULT_SPACING = [500, 2000] as const;

export class LanAnnouncer implements Announcer {
  readonly counters: AnnouncerCounters = { proxyAdded: 0, proxyRemoved: 0, proxyErrors: 0 };
  /** The addresses of this node's pods, and who holds them (for Events about conflicts). */
  private readonly local = new Map<IPv4Address, PodRef | undefined>();

  constructor(private readonly d: AnnouncerDeps) {}

  isLocal(address: IPv4Address): boolean {
    return this.local.has(address);
  }

  podAt(address: IPv4Address): PodRef | undefined {
    return this.local.get(address);
  }

  addresses(): IPv4Address[] {
    return [...this.local.keys()];
  }

  async assigned(address: IPv4Address, pod: PodRef | undefined): Promise<void> {
    this.local.set(address, pod);
    try {
      await this.d.proxies.add(address);
      this.counters.proxyAdded++;
    } catch (err) {
      this.counters.proxyErrors++;
      this.local.delete(address);
      // Without the entry no device reaches the pod: the ADD fails (the allocator releases the
      // address) and the runtime retries, rather than a pod that silently cannot be reached.
      this.d.log.warn('cannot add the proxy neighbour entry', { address, error: String(err) });
      throw err;
    }
    this.d.announce?.(address, this.d.spacingMs ?? DEFAULT_SPACING);
  }

  async released(address: IPv4Address): Promise<void> {
    this.local.delete(address);
    try {
      if (await this.d.proxies.remove(address)) this.counters.proxyRemoved++;
    } catch (err) {
      this.counters.proxyErrors++;
      this.d.log.warn('cannot remove the proxy neighbour entry', { address, error: String(err) });
    }
  }

  /** At start: entries for exactly the live allocations (ours only: an administrator's own proxy
   *  entries stay), then one announcement per address, so devices that cached another MAC while
   *  the agent was away learn the node's again. */
  async reconcile(live: Allocation[]): Promise<void> {
    this.local.clear();
    for (const a of live) this.local.set(a.address, a.pod);
    let existing: Neighbour[] = [];
    try {
      existing = await this.d.proxies.list();
    } catch (err) {
      this.d.log.warn('cannot list proxy neighbour entries; adding all', { error: String(err) });
    }
    const have = new Set(existing.map((n) => n.address));
    const added: IPv4Address[] = [];
    const removed: IPv4Address[] = [];
    const work: Promise<void>[] = [];
    for (const address of this.local.keys()) {
      if (have.has(address)) continue;
      work.push(
        this.d.proxies.add(address).then(
          () => void (added.push(address), this.counters.proxyAdded++),
          (err: unknown) =>
            void (
              this.counters.proxyErrors++,
              this.d.log.warn('cannot add proxy entry', { address, error: String(err) })
            ),
        ),
      );
    }
    for (const n of existing) {
      if (!isOurs(n) || this.local.has(n.address)) continue;
      work.push(
        this.d.proxies.remove(n.address).then(
          () => void (removed.push(n.address), this.counters.proxyRemoved++),
          (err: unknown) =>
            void (
              this.counters.proxyErrors++,
              this.d.log.warn('cannot remove proxy entry', { address: n.address, error: String(err) })
            ),
        ),
      );
    }
    await Promise.all(work);
    this.d.log.info('proxy neighbour entries reconciled', {
      live: this.local.size,
      kept: this.local.size - added.length,
      added,
      removed,
    });
    for (const address of this.local.keys()) this.d.announce?.(address, [1000]);
  }
}
