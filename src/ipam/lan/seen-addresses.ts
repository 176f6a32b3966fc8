// Addresses the reflector has seen in use on the LAN: the sources of discovery packets that arrived
// on the LAN link, and the A records of mDNS answers there. A device that only ever talks mDNS
// (a printer asleep to ARP, a phone on Wi-Fi power save) may miss a 200 ms probe; what it announced
// still keeps the allocator away from its address. Bounded in size and age; no sockets.
import dnsPacket from 'dns-packet';
import type { IPv4Address } from '../../config/types.js';

export type SeenHow = 'source' | 'mdns-a-record';

const MDNS_PORT = 5353;
const QR_RESPONSE = 0x8000;

export interface SeenOptions {
  /** How long a sighting keeps an address from being handed out (default 30 minutes). */
  ttlMs?: number;
  /** Most addresses remembered; the oldest sighting goes first (default 4096). */
  max?: number;
  /** Most mDNS answers decoded per second for their A records (default 200); the rest are only sources. */
  decodesPerSecond?: number;
  now?: () => number;
}

export class SeenAddresses {
  /** Insertion order is sighting order: re-seeing an address moves it to the end. */
  private readonly seen = new Map<IPv4Address, { how: SeenHow; at: number }>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly decodesPerSecond: number;
  private readonly now: () => number;
  private second = 0;
  private decodes = 0;

  constructor(o: SeenOptions = {}) {
    this.ttlMs = o.ttlMs ?? 30 * 60_000;
    this.max = o.max ?? 4096;
    this.decodesPerSecond = o.decodesPerSecond ?? 200;
    this.now = o.now ?? Date.now;
  }

  /** Called by the reflector for each discovery datagram that arrived on the LAN link. Never throws. */
  observe(src: IPv4Address, dstPort: number, payload: Buffer): void {
    const now = this.now();
    if (src !== '0.0.0.0') this.note(src, 'source', now);
    if (dstPort !== MDNS_PORT || payload.length < 12 || (payload.readUInt16BE(2) & QR_RESPONSE) === 0) return;
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.decodes = 0;
    }
    if (++this.decodes > this.decodesPerSecond) return;
    try {
      const p = dnsPacket.decode(payload);
      for (const list of [p.answers, p.additionals, p.authorities])
        for (const a of list ?? []) if (a.type === 'A') this.note(a.data, 'mdns-a-record', now);
    } catch {
      // a malformed answer says nothing about addresses; the reflector counts it
    }
  }

  /** How the address was last seen, if within the TTL. */
  lookup(address: IPv4Address): SeenHow | undefined {
    const s = this.seen.get(address);
    if (!s) return undefined;
    if (this.now() - s.at > this.ttlMs) {
      this.seen.delete(address);
      return undefined;
    }
    return s.how;
  }

  get size(): number {
    return this.seen.size;
  }

  private note(address: IPv4Address, how: SeenHow, at: number): void {
    const prev = this.seen.get(address);
    this.seen.delete(address);
    // An A record is the stronger statement (a device named it); keep it over a plain source.
    this.seen.set(address, { how: prev?.how === 'mdns-a-record' ? prev.how : how, at });
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value!);
  }
}
