// A short memory of relayed packets, bounded in time and size (STYLE.md example 4). Multicast loop is
// off on every socket, so our own emissions never come back through the kernel; what this catches
// is a packet that returns through the network: two agents on one node, a bridged loop.
// An echo through the network returns within a millisecond or two; legitimate repeats of the same
// packet come much later (mDNS probes are 250 ms apart, RFC 6762 8.1; python-zeroconf repeats its
// first queries ~175 ms apart). The default window, 30 ms, sits between the two.

export class DedupeWindow {
  /** key -> end of its window, for lookups; the ring holds the same in arrival order, for eviction. */
  private readonly seen = new Map<number, number>();
  private readonly ringKeys: Float64Array;
  private readonly ringUntil: Float64Array;
  private head = 0;
  private count = 0;

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 16384,
  ) {
    this.ringKeys = new Float64Array(maxEntries);
    this.ringUntil = new Float64Array(maxEntries);
  }

  /** A 53-bit hash of source and segment (two FNV-1a passes): a number keys a Map far cheaper than
   *  a digest string. A false match needs two different packets with one key inside one window,
   *  about (packets per window) / 2^53: never, at any rate a LAN carries. */
  static key(src: string, segment: Buffer): number {
    let a = 0x811c9dc5;
    let b = 0x01000193 ^ segment.length;
    for (let i = 0; i < src.length; i++) {
      a = Math.imul(a ^ src.charCodeAt(i), 0x01000193);
      b = Math.imul(b ^ src.charCodeAt(i), 0x5bd1e995);
    }
    for (let i = 0; i < segment.length; i++) {
      a = Math.imul(a ^ segment[i], 0x01000193);
      b = Math.imul(b ^ segment[i], 0x5bd1e995);
    }
    return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff);
  }

  /** True when the same packet was seen within the window; otherwise remembers it. */
  isDuplicate(key: number, now: number): boolean {
    if (this.windowMs <= 0) return false;
    this.evict(now);
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return true;
    if (this.count === this.maxEntries) this.dropOldest(); // full: forget early rather than grow
    const until2 = now + this.windowMs;
    this.seen.set(key, until2);
    const tail = (this.head + this.count) % this.maxEntries;
    this.ringKeys[tail] = key;
    this.ringUntil[tail] = until2;
    this.count++;
    return false;
  }

  get size(): number {
    return this.seen.size;
  }

  /** One window for all entries, so they expire in arrival order: the expired sit at the head. */
  private evict(now: number): void {
    while (this.count > 0 && this.ringUntil[this.head] <= now) this.dropOldest();
  }

  private dropOldest(): void {
    const key = this.ringKeys[this.head];
    // A key seen again later has a newer window in the map: only its own entry may remove it.
    if (this.seen.get(key) === this.ringUntil[this.head]) this.seen.delete(key);
    this.head = (this.head + 1) % this.maxEntries;
    this.count--;
  }
}
