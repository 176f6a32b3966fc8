// IPv4 addresses as unsigned 32-bit numbers, and the CIDR / A-B forms the `ipam:` section uses.
import { isIPv4 } from 'node:net';
import type { AddressRange, Cidr, IPv4Address } from '../config/types.js';

export function toInt(a: IPv4Address): number {
  const p = a.split('.').map(Number);
  return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}

export function toAddress(n: number): IPv4Address {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

const mask = (prefix: number): number => (prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0);

/** `192.168.2.0/23` → its network and prefix, or a reason it is not one. */
export function parseCidr(text: string): Cidr | string {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(text.trim());
  if (!m || !isIPv4(m[1])) return 'not a CIDR (e.g. 192.168.2.0/23)';
  const prefix = Number(m[2]);
  if (prefix > 32) return 'has a prefix length above 32';
  const network = toAddress((toInt(m[1]) & mask(prefix)) >>> 0);
  if (network !== m[1]) return `has host bits set (the network is ${network}/${prefix})`;
  return { network, prefix, text: text.trim() };
}

export const cidrFirst = (c: Cidr): number => toInt(c.network);
export const cidrLast = (c: Cidr): number => (toInt(c.network) | (~mask(c.prefix) >>> 0)) >>> 0;
export const broadcastOf = (c: Cidr): IPv4Address => toAddress(cidrLast(c));
export const inCidr = (c: Cidr, a: IPv4Address): boolean => {
  const n = toInt(a);
  return n >= cidrFirst(c) && n <= cidrLast(c);
};

/** A CIDR, `A-B` (inclusive) or one address. */
export function parseRange(text: string): AddressRange | string {
  const t = text.trim();
  if (t.includes('/')) {
    const c = parseCidr(t);
    if (typeof c === 'string') return c;
    return { start: c.network, end: toAddress(cidrLast(c)), text: t };
  }
  const parts = t.split('-').map((s) => s.trim());
  if (parts.length > 2 || !parts.every((p) => isIPv4(p)))
    return 'is not an address, a CIDR or a range A-B (e.g. 192.168.3.10-192.168.3.200)';
  const [start, end = start] = parts;
  if (toInt(end) < toInt(start)) return `ends (${end}) before it starts (${start})`;
  return { start, end, text: t };
}

export const rangeSize = (r: AddressRange): number => toInt(r.end) - toInt(r.start) + 1;
export const inRange = (r: AddressRange, a: IPv4Address): boolean => {
  const n = toInt(a);
  return n >= toInt(r.start) && n <= toInt(r.end);
};
export const overlaps = (a: AddressRange, b: AddressRange): boolean =>
  toInt(a.start) <= toInt(b.end) && toInt(b.start) <= toInt(a.end);
