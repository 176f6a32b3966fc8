// The allocator's AddressGuard on the LAN: before an address is handed out, is anyone using it?
// Three witnesses, cheapest first: what discovery traffic showed (SeenAddresses), the LAN link's
// neighbour table, and an RFC 5227 probe on the LAN (the only one that costs time: `waitMs`).
import type { IPv4Address } from '../../config/types.js';
import type { MacAddress } from '../../links/arp.js';
import type { ProbeConflict } from '../../links/arp-rules.js';
import { isLiveNeighbour, type Neighbour } from '../../links/netlink-neigh.js';
import type { AddressGuard } from '../types.js';
import type { SeenAddresses } from './seen-addresses.js';

export interface GuardDeps {
  seen: Pick<SeenAddresses, 'lookup'>;
  /** The LAN link's ARP cache (not its proxy entries). */
  neighbours: () => Promise<Neighbour[]>;
  /** Undefined when probing is off (`ipam.probe.enabled: false`) or no packet socket could open. */
  probe?: (address: IPv4Address, waitMs: number) => Promise<'free' | ProbeConflict>;
  ownMac: MacAddress;
  waitMs: number;
  /** One neighbour dump serves every ADD that asks within this window (a burst of 200 ADDs). */
  neighbourCacheMs?: number;
  now?: () => number;
}

export interface GuardCounters {
  checked: number;
  seen: number;
  neighbour: number;
  probeAnswered: number;
  probeMs: number[];
}

export class LanAddressGuard implements AddressGuard {
  readonly counters: GuardCounters = { checked: 0, seen: 0, neighbour: 0, probeAnswered: 0, probeMs: [] };
  private cached?: { at: number; table: Promise<Neighbour[]> };
  private readonly now: () => number;

  constructor(private readonly d: GuardDeps) {
    this.now = d.now ?? Date.now;
  }

  async inUse(address: IPv4Address): Promise<'free' | { by: string }> {
    this.counters.checked++;
    const seen = this.d.seen.lookup(address);
    if (seen) {
      this.counters.seen++;
      return { by: seen === 'source' ? 'seen as a discovery source on the LAN' : 'seen in an mDNS A record' };
    }
    const entry = (await this.neighbourTable()).find((n) => n.address === address && isLiveNeighbour(n));
    if (entry && entry.lladdr !== this.d.ownMac) {
      this.counters.neighbour++;
      return { by: `neighbour table (${entry.lladdr ?? 'no MAC'})` };
    }
    if (!this.d.probe) return 'free';
    const started = this.now();
    const r = await this.d.probe(address, this.d.waitMs);
    this.remember(this.now() - started);
    if (r === 'free') return 'free';
    this.counters.probeAnswered++;
    return { by: r.kind === 'in-use' ? r.by : `${r.by} (probing for it too)` };
  }

  private neighbourTable(): Promise<Neighbour[]> {
    const now = this.now();
    const c = this.cached;
    if (c && now - c.at < (this.d.neighbourCacheMs ?? 250)) return c.table;
    const table = this.d.neighbours().catch(() => [] as Neighbour[]); // the probe still guards
    this.cached = { at: now, table };
    return table;
  }

  /** The last 256 probe durations, for `status` and the README's "what the probe costs". */
  private remember(ms: number): void {
    this.counters.probeMs.push(ms);
    if (this.counters.probeMs.length > 256) this.counters.probeMs.shift();
  }
}
