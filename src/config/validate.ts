// Small validators: each takes a raw value and its field path, returns a typed value or throws a
// ConfigError that names both (STYLE.md example 6).
import { isIPv4, isIPv6 } from 'node:net';
import { BROADCAST_PRESETS } from '../protocols/broadcast-presets.js';
import { isMulticast } from '../wire/ipv4.js';
import { canonical6, isLinkLocal6, isMulticast6 } from '../wire/ipv6.js';
import { ConfigError } from './errors.js';
import type { MulticastGroup } from './types.js';

const show = (v: unknown) => JSON.stringify(v) ?? String(v);

export function oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new ConfigError(field, `${show(v)} is not one of ${allowed.join(', ')}`);
}

/** A list given as an array or a comma-separated string (flags and annotations use the latter). */
export function list(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v;
  if (typeof v === 'string')
    return v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  if (typeof v === 'number') return [v];
  throw new ConfigError(field, `${show(v)} is not a list (use a YAML list or a comma-separated string)`);
}

export function listOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T[] {
  return [...new Set(list(v, field).map((x, i) => oneOf(x, `${field}[${i}]`, allowed)))];
}

export function int(v: unknown, field: string, min: number, max: number): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max) return n;
  throw new ConfigError(field, `${show(v)} is not a whole number from ${min} to ${max}`);
}

export function ipv4(v: unknown, field: string): string {
  if (typeof v === 'string' && isIPv4(v)) return v;
  throw new ConfigError(field, `${show(v)} is not an IPv4 address (e.g. 192.168.1.50)`);
}

/** A pod's address: IPv4, or IPv6 in canonical form (so it compares equal to what sockets report).
 *  Link-local and multicast IPv6 never name a pod. */
export function podAddress(v: unknown, field: string): string {
  if (typeof v === 'string' && isIPv4(v)) return v;
  if (typeof v === 'string' && isIPv6(v) && !v.includes('%')) {
    if (isLinkLocal6(v) || isMulticast6(v))
      throw new ConfigError(
        field,
        `${show(v)} is link-local or multicast: name the pod by its global or unique-local address`,
      );
    return canonical6(v);
  }
  throw new ConfigError(field, `${show(v)} is not an IPv4 or IPv6 address (e.g. 192.168.1.50, 2001:db8::50)`);
}

/** `A` or `A,B` (one pod, one address per family): the pod's addresses, at least one. */
export function podAddresses(v: unknown, field: string): string[] {
  const parts = typeof v === 'string' ? v.split(',').map((x) => x.trim()) : [v];
  const out = parts.map((x) => podAddress(x, field));
  if (new Set(out).size !== out.length) throw new ConfigError(field, `${show(v)} names an address twice`);
  return out;
}

export function str(v: unknown, field: string, pattern: RegExp, what: string): string {
  if (typeof v === 'string' && pattern.test(v)) return v;
  throw new ConfigError(field, `${show(v)} is not ${what}`);
}

export function bool(v: unknown, field: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new ConfigError(field, `${show(v)} is not true or false`);
}

/** Broadcast ports by number or vendor preset name. */
export function broadcastPorts(v: unknown, field: string): number[] {
  const out: number[] = [];
  list(v, field).forEach((x, i) => {
    const name = typeof x === 'string' ? x.toLowerCase() : '';
    // hasOwn: a value like "constructor" must not find Object.prototype's members.
    const preset = Object.hasOwn(BROADCAST_PRESETS, name) ? BROADCAST_PRESETS[name] : undefined;
    if (preset) out.push(...preset);
    else if (typeof x === 'string' && !/^\d+$/.test(x))
      throw new ConfigError(
        `${field}[${i}]`,
        `${show(x)} is neither a port number nor a preset (${Object.keys(BROADCAST_PRESETS).join(', ')})`,
      );
    else out.push(int(x, `${field}[${i}]`, 1, 65535));
  });
  return [...new Set(out)];
}

export function multicastGroups(v: unknown, field: string): MulticastGroup[] {
  return list(v, field).map((x, i) => {
    const f = `${field}[${i}]`;
    const m = typeof x === 'string' ? /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(x) : null;
    if (!m) throw new ConfigError(f, `${show(x)} is not GROUP:PORT (e.g. 239.255.255.250:1982)`);
    const group = ipv4(m[1], f);
    if (!isMulticast(group)) throw new ConfigError(f, `${group} is not a multicast address (224.0.0.0/4)`);
    return { group, port: int(m[2], f, 1, 65535) };
  });
}

/** Refuses keys the schema does not know: a typo must not be silently ignored. */
export function knownKeys(obj: Record<string, unknown>, field: string, keys: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!keys.includes(k)) {
      const where = field ? `${field}.${k}` : k;
      const near = keys.find((known) => known.toLowerCase() === k.toLowerCase().replace(/[-_]/g, ''));
      const hint = near ? `did you mean ${near}?` : `known: ${keys.join(', ')}`;
      throw new ConfigError(where, `unknown setting (${hint})`);
    }
  }
}

export function record(v: unknown, field: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  throw new ConfigError(field, `${show(v)} is not a mapping`);
}

/** IPv4 CIDRs like 10.42.0.0/16, given as a list or a comma-separated string. */
export function cidrs(v: unknown, field: string): string[] {
  return list(v, field).map((x, i) => {
    const f = `${field}[${i}]`;
    const m = typeof x === 'string' ? /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(x) : null;
    if (!m) throw new ConfigError(f, `${show(x)} is not a CIDR (e.g. 10.42.0.0/16)`);
    ipv4(m[1], f);
    int(m[2], f, 0, 32);
    return x as string;
  });
}
