// Pod annotations -> whether the pod opted in, and its options. Pure: no Kubernetes client here.
//
// Policy for a bad value: the pod is not served at all. The options restrict what a pod gets; a typo
// that silently fell back to a default would open more than the user asked for (fail closed).
import { DIRECTIONS, PROTOCOL_NAMES } from '../../config/types.js';
import type { Direction, PodOptions, ProtocolName } from '../../config/types.js';
import { BROADCAST_PRESETS } from '../../protocols/broadcast-presets.js';
import { SERVICE_TYPE, normalizeServiceType } from '../../protocols/mdns.js';

export const ANNOTATION_PREFIX = 'lan-reflector.io/';
export const ANNOTATION_ENABLED = 'lan-reflector.io/enabled';
export const ANNOTATION_PROTOCOLS = 'lan-reflector.io/protocols';
export const ANNOTATION_DIRECTION = 'lan-reflector.io/direction';
export const ANNOTATION_SERVICES = 'lan-reflector.io/services';
export const ANNOTATION_BROADCAST_PORTS = 'lan-reflector.io/broadcast-ports';

/** Every key under our prefix that means something; any other is reported (a typo'd key is a lost option). */
export const ANNOTATION_KEYS: readonly string[] = [
  ANNOTATION_ENABLED,
  ANNOTATION_PROTOCOLS,
  ANNOTATION_DIRECTION,
  ANNOTATION_SERVICES,
  ANNOTATION_BROADCAST_PORTS,
];

export interface ParsedAnnotations {
  enabled: boolean;
  /** Set when enabled and every option parsed. */
  options?: PodOptions;
  /** One sentence per bad annotation value: names the annotation, the value and what is valid. */
  errors: string[];
}

export function parseAnnotations(
  annotations: Readonly<Record<string, string>> | undefined,
  defaults: PodOptions,
): ParsedAnnotations {
  const a = annotations ?? {};
  const errors: string[] = [];
  const enabledRaw = a[ANNOTATION_ENABLED];
  if (enabledRaw === undefined) return { enabled: false, errors };
  const enabledValue = enabledRaw.trim().toLowerCase();
  if (enabledValue !== 'true' && enabledValue !== 'false') {
    return { enabled: false, errors: [notOneOf(ANNOTATION_ENABLED, enabledRaw, ['true', 'false'])] };
  }
  // An opted-out pod's other annotations do not matter: nothing of it is served either way.
  if (enabledValue === 'false') return { enabled: false, errors };

  for (const key of Object.keys(a)) {
    if (key.startsWith(ANNOTATION_PREFIX) && !ANNOTATION_KEYS.includes(key)) {
      errors.push(`${key} is not a known annotation; known: ${ANNOTATION_KEYS.join(', ')}`);
    }
  }
  const options: PodOptions = {
    protocols: [...defaults.protocols],
    direction: defaults.direction,
    services: [...defaults.services],
    broadcastPorts: [...defaults.broadcastPorts],
  };
  const protocols = a[ANNOTATION_PROTOCOLS];
  if (protocols !== undefined) {
    options.protocols = parseList(ANNOTATION_PROTOCOLS, protocols, errors, (item) =>
      (PROTOCOL_NAMES as readonly string[]).includes(item)
        ? [item as ProtocolName]
        : notOneOf(ANNOTATION_PROTOCOLS, item, PROTOCOL_NAMES),
    );
  }
  const direction = a[ANNOTATION_DIRECTION];
  if (direction !== undefined) {
    const d = direction.trim().toLowerCase();
    if ((DIRECTIONS as readonly string[]).includes(d)) options.direction = d as Direction;
    else errors.push(notOneOf(ANNOTATION_DIRECTION, direction, DIRECTIONS));
  }
  const services = a[ANNOTATION_SERVICES];
  if (services !== undefined) {
    options.services = parseList(ANNOTATION_SERVICES, services, errors, parseServiceType);
  }
  const ports = a[ANNOTATION_BROADCAST_PORTS];
  if (ports !== undefined) {
    options.broadcastPorts = parseList(ANNOTATION_BROADCAST_PORTS, ports, errors, parsePort).sort(
      (x, y) => x - y,
    );
  }
  return errors.length > 0 ? { enabled: true, errors } : { enabled: true, options, errors };
}

/**
 * Splits a comma list, parses each item, de-duplicates. An empty list is an error rather than
 * "no restriction": for services and ports empty means *all*, the opposite of what it looks like.
 */
function parseList<T>(
  key: string,
  raw: string,
  errors: string[],
  parseItem: (item: string) => T[] | string,
): T[] {
  const items = raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  if (items.length === 0) {
    errors.push(`${key}: "${raw}" is empty; leave the annotation out to use the agent's defaults`);
    return [];
  }
  const out: T[] = [];
  for (const item of items) {
    const parsed = parseItem(item);
    if (typeof parsed === 'string') errors.push(parsed);
    else for (const v of parsed) if (!out.includes(v)) out.push(v);
  }
  return out;
}

function parseServiceType(item: string): string[] | string {
  if (!SERVICE_TYPE.test(item)) {
    return `${ANNOTATION_SERVICES}: "${item}" is not an mDNS service type like _hap._tcp or _hap._tcp.local`;
  }
  return [normalizeServiceType(item)];
}

function parsePort(item: string): number[] | string {
  // hasOwn: a value like "constructor" must not find Object.prototype's members.
  if (Object.hasOwn(BROADCAST_PRESETS, item)) return [...BROADCAST_PRESETS[item]];
  const port = /^[0-9]{1,5}$/.test(item) ? Number(item) : NaN;
  if (port >= 1 && port <= 65535) return [port];
  const names = Object.keys(BROADCAST_PRESETS).join(', ');
  return `${ANNOTATION_BROADCAST_PORTS}: "${item}" is not a port 1-65535 or one of ${names}`;
}

function notOneOf(key: string, value: string, valid: readonly string[]): string {
  return `${key}: "${value}" is not one of ${valid.join(', ')}`;
}
