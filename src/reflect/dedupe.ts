// A short memory of relayed packets, bounded in time and size (STYLE.md example 4). Multicast loop is
// off on every socket, so our own emissions never come back through the kernel; what this catches
// is a packet that returns through the network: two agents on one node, a bridged loop.
// An echo through the network returns within a millisecond or two; legitimate repeats of the same
// packet come much later (mDNS probes are 250 ms apart, RFC 6762 8.1; python-zeroconf repeats its
// first queries ~175 ms apart). The default window, 30 ms, sits between the two.
import { hash } from 'node:crypto';

export class DedupeWindow {
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 16384,
  ) {}

  static key(src: string, segment: Buffer): string {
    return src + '|' + hash('sha1', segment, 'base64');
  }

  /** True when the same packet was seen within the window; otherwise remembers it. */
  isDuplicate(key: string, now: number): boolean {
    if (this.windowMs <= 0) return false;
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return true;
    if (until !== undefined) this.seen.delete(key); // re-insert at the end: Map keeps insertion order
    this.seen.set(key, now + this.windowMs);
    this.evict(now);
    return false;
  }

  get size(): number {
    return this.seen.size;
  }

  /** Entries expire in insertion order (one window for all), so expired ones sit at the front:
   *  dropping a few per insert keeps the map at about rate x window, and its entries short-lived
   *  enough for the young-generation GC. Past `maxEntries`, the oldest go even if unexpired. */
  private evict(now: number): void {
    let budget = 8;
    for (const [k, until] of this.seen) {
      if ((until > now || budget-- <= 0) && this.seen.size <= this.maxEntries) break;
      this.seen.delete(k);
    }
  }
}
