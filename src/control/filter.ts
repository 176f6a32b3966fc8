// Pure: validating a tail filter from the wire, and matching packet events against it. The cheap part
// (protocol, direction, drops, pod) runs on plain event fields; only the service part needs the
// packet decoded, so it is asked separately, after the cheap part has passed.
import { PROTOCOL_NAMES, type IPv4Address, type ProtocolName } from '../config/types.js';
import type { PacketEvent, PacketProbe } from '../events/bus.js';
import type { Flow } from '../reflect/types.js';
import type { TailFilter } from './types.js';

export const FLOWS: readonly Flow[] = ['lan-to-pod', 'pod-to-lan'];

export class FilterError extends Error {}

/** Checks a filter received on the socket; throws FilterError naming the bad field. */
export function parseFilter(raw: unknown): TailFilter {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new FilterError('filter must be an object');
  const r = raw as Record<string, unknown>;
  const known = ['protocols', 'pod', 'direction', 'service', 'drops'];
  for (const k of Object.keys(r))
    if (!known.includes(k)) throw new FilterError(`filter.${k} is not known (known: ${known.join(', ')})`);
  const f: TailFilter = {};
  if (r.protocols !== undefined) {
    if (!Array.isArray(r.protocols) || r.protocols.some((p) => !PROTOCOL_NAMES.includes(p as ProtocolName)))
      throw new FilterError(`filter.protocols must be a list of: ${PROTOCOL_NAMES.join(', ')}`);
    if (r.protocols.length) f.protocols = r.protocols as ProtocolName[];
  }
  if (r.direction !== undefined) {
    if (!FLOWS.includes(r.direction as Flow))
      throw new FilterError(`filter.direction must be one of: ${FLOWS.join(', ')}`);
    f.direction = r.direction as Flow;
  }
  for (const k of ['pod', 'service'] as const) {
    const v = r[k];
    if (v === undefined || v === '') continue;
    if (typeof v !== 'string') throw new FilterError(`filter.${k} must be a string`);
    f[k] = v;
  }
  if (r.drops !== undefined) {
    if (typeof r.drops !== 'boolean') throw new FilterError('filter.drops must be true or false');
    if (r.drops) f.drops = true;
  }
  return f;
}

/** A service type as the mDNS handler reports names: lower case, no trailing dot, under `.local`. */
export function normalizeService(s: string): string {
  const t = s.toLowerCase().replace(/\.$/, '');
  return t.endsWith('.local') ? t : `${t}.local`;
}

/** Whether any of the packet's (lower-case) names is the service type or ends with it. */
export function namesMatchService(names: readonly string[], service: string): boolean {
  const s = normalizeService(service);
  return names.some((n) => n === s || n.endsWith('.' + s));
}

/** Looks up a pod's addresses by its name; the event carries names only. */
export type PodAddresses = (podName: string) => readonly IPv4Address[] | undefined;

function nameMatches(name: string, wanted: string): boolean {
  if (name === wanted) return true;
  const slash = name.indexOf('/');
  return slash >= 0 && name.slice(slash + 1) === wanted;
}

/** The part of a filter that needs no decoding. */
export function matchesCheap(f: TailFilter, e: PacketEvent, addressesOf: PodAddresses): boolean {
  if (f.protocols && !f.protocols.includes(e.protocol)) return false;
  if (f.direction && e.flow !== f.direction) return false;
  if (f.drops && !e.drop) return false;
  if (f.pod !== undefined && !matchesPod(f.pod, e, addressesOf)) return false;
  return true;
}

function matchesPod(wanted: string, e: PacketEvent, addressesOf: PodAddresses): boolean {
  if (e.src === wanted || e.dst === wanted) return true;
  if (e.pod !== undefined && nameMatches(e.pod, wanted)) return true;
  for (const t of e.targets) {
    if (t === 'lan') continue;
    if (nameMatches(t, wanted)) return true;
    if (addressesOf(t)?.includes(wanted)) return true;
  }
  return false;
}

/** The cheap part again, on the engine's probe, before any event exists: what `tail` clients want
 *  decides whether the event (and its payload copy) is built at all. */
export function probeMatches(f: TailFilter, p: PacketProbe): boolean {
  if (f.protocols && !f.protocols.includes(p.protocol)) return false;
  if (f.direction && p.flow !== f.direction) return false;
  if (f.drops && !p.drop) return false;
  if (f.pod === undefined) return true;
  const wanted = f.pod;
  if (p.src === wanted || p.dst === wanted) return true;
  if (p.from && nameMatches(p.from.pod.name, wanted)) return true;
  for (const t of p.targets) {
    if (!t.pod) continue;
    if (nameMatches(t.pod.pod.name, wanted) || t.pod.pod.addresses.includes(wanted)) return true;
  }
  return false;
}
