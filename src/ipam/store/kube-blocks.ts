// Per-node blocks of the pool (issue 11; the write-up's requirement 4: "at least one /26 per node"),
// as pure functions over plain values: which blocks the pool has, which block an address is in, which
// block a node should claim next, how many addresses a block can still give. No sockets, no client.
//
// The shape follows Calico's IPAM (IPAMBlock + affinity): blocks are aligned CIDRs of a fixed size cut
// from the pool; a node hands out only inside blocks it holds, so nodes never race each other for an
// address in the common case, and the API's create-by-name decides the rare case when they do.
import type { IPv4Address } from '../../config/types.js';
import { toAddress as intToIp, toInt as ipToInt } from '../address-math.js';

/** An inclusive run of addresses (structurally the config's AddressRange). */
export interface Span {
  start: IPv4Address;
  end: IPv4Address;
}

/** The pool as the config gives it (structurally the config's Cidr and AddressRange). */
export interface PoolShape {
  subnet: { network: IPv4Address; prefix: number };
  ranges: Span[];
  exclude: Span[];
}

export interface Block {
  /** `198.18.4.64/26` */
  cidr: string;
  /** The API object's name: `198.18.4.64-26` (an RFC 1123 subdomain: no '/'). */
  name: string;
  first: number;
  last: number;
}

export const DEFAULT_BLOCK_SIZE = 26;

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0);

export function blockAt(address: IPv4Address | number, prefix: number): Block {
  const n = typeof address === 'number' ? address : ipToInt(address);
  const first = (n & maskOf(prefix)) >>> 0;
  const last = (first | ~maskOf(prefix)) >>> 0;
  const cidr = `${intToIp(first)}/${prefix}`;
  return { cidr, name: blockName(cidr), first, last };
}

export const blockName = (cidr: string): string => cidr.replace('/', '-');

/** `198.18.4.64/26` → the block; undefined when it is not an aligned CIDR. */
export function parseBlock(cidr: string): Block | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr);
  if (!m || Number(m[2]) > 32) return undefined;
  const b = blockAt(m[1], Number(m[2]));
  return b.cidr === cidr ? b : undefined;
}

/** Every block of size `prefix` that holds at least one address of the pool's ranges, in address order. */
export function poolBlocks(pool: PoolShape, prefix: number): Block[] {
  const seen = new Map<number, Block>();
  for (const r of pool.ranges) {
    for (let n = ipToInt(r.start); n <= ipToInt(r.end);) {
      const b = blockAt(n, prefix);
      seen.set(b.first, b);
      n = b.last + 1;
      if (n === 0) break; // wrapped past 255.255.255.255
    }
  }
  return [...seen.values()].sort((a, b) => a.first - b.first);
}

/**
 * The addresses of `block` the allocator may hand out: inside a range, not excluded, not the
 * subnet's network or broadcast address (which the config excludes anyway; kept here so a count
 * never includes them).
 */
export function usableSpans(block: Block, pool: PoolShape): Span[] {
  const netFirst = ipToInt(pool.subnet.network);
  const netLast = (netFirst | ~maskOf(pool.subnet.prefix)) >>> 0;
  let spans: Array<[number, number]> = [];
  for (const r of pool.ranges) {
    const a = Math.max(ipToInt(r.start), block.first, netFirst + 1);
    const b = Math.min(ipToInt(r.end), block.last, netLast - 1);
    if (a <= b) spans.push([a, b]);
  }
  for (const x of pool.exclude) spans = cut(spans, ipToInt(x.start), ipToInt(x.end));
  return merge(spans).map(([a, b]) => ({ start: intToIp(a), end: intToIp(b) }));
}

export const spanSize = (s: Span): number => ipToInt(s.end) - ipToInt(s.start) + 1;
export const usableCount = (block: Block, pool: PoolShape): number =>
  usableSpans(block, pool).reduce((n, s) => n + spanSize(s), 0);

export const inBlock = (block: Block, address: IPv4Address): boolean => {
  const n = ipToInt(address);
  return n >= block.first && n <= block.last;
};

/**
 * The block a node should try to claim next: the first block with usable addresses that nobody
 * holds, searched from an offset derived from the node's name, so that nodes starting together
 * mostly try different blocks (a collision is still safe: the create decides). Undefined: the pool
 * has no unclaimed block left.
 */
export function nextBlockToClaim(
  pool: PoolShape,
  prefix: number,
  claimed: ReadonlySet<string>,
  node: string,
): Block | undefined {
  const free = poolBlocks(pool, prefix).filter((b) => !claimed.has(b.name) && usableCount(b, pool) > 0);
  if (free.length === 0) return undefined;
  return free[hash(node) % free.length];
}

/** FNV-1a: small, stable across processes and versions. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function cut(spans: Array<[number, number]>, a: number, b: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [s, e] of spans) {
    if (b < s || a > e) out.push([s, e]);
    else {
      if (s < a) out.push([s, a - 1]);
      if (e > b) out.push([b + 1, e]);
    }
  }
  return out;
}

function merge(spans: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...spans].sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const [s, e] of sorted) {
    const last = out.at(-1);
    if (last && s <= last[1] + 1) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** Free addresses of `block` given what is taken (allocated or held back), in address order; at most `limit`. */
export function freeInBlock(
  block: Block,
  pool: PoolShape,
  taken: ReadonlySet<IPv4Address>,
  limit = Infinity,
): IPv4Address[] {
  const out: IPv4Address[] = [];
  for (const s of usableSpans(block, pool)) {
    for (let n = ipToInt(s.start); n <= ipToInt(s.end) && out.length < limit; n++) {
      const a = intToIp(n);
      if (!taken.has(a)) out.push(a);
    }
  }
  return out;
}
