// The `ipam:` section, raw YAML → typed IpamConfig. Every refusal names the field (STYLE.md 6).
import { ConfigError } from './errors.js';
import type { AddressRange, Cidr, IpamConfig, IpamPin, IpamRoute, IpamStoreConfig } from './types.js';
import * as v from './validate.js';
import {
  broadcastOf,
  cidrFirst,
  inCidr,
  inRange,
  overlaps,
  parseCidr,
  parseRange,
  toAddress,
  toInt,
} from '../ipam/address-math.js';

export const DEFAULT_IPAM_SOCKET = '/run/lan-reflector/ipam.sock';
export const DEFAULT_IPAM_STORE = '/var/lib/lan-reflector/ipam';
/** NetworkManager shortens RFC 5227's 1-2 s probe wait to 200 ms (DESIGN.md); so do we. */
export const DEFAULT_PROBE_TIMEOUT_MS = 200;
export const DEFAULT_HOLD_BACK_MS = 10 * 60_000;
/** How old an allocation must be before a missing route and pod may free it (src/ipam/reclaim.ts):
 *  far beyond any ADD in flight (ptp makes the veth and route after the IPAM answered). */
export const DEFAULT_RECLAIM_AFTER_S = 600;

const IPAM_KEYS = [
  'mode',
  'subnet',
  'ranges',
  'exclude',
  'gateway',
  'routes',
  'pinned',
  'probe',
  'store',
  'blockSize',
  'socket',
  'delegate',
  'reclaimAfterSeconds',
] as const;
const POD_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;
const PLUGIN_TYPE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** sockaddr_un.sun_path is 108 bytes with its NUL. */
const MAX_SOCKET_PATH = 107;

const show = (x: unknown) => JSON.stringify(x) ?? String(x);

function cidr(raw: unknown, field: string): Cidr {
  if (typeof raw !== 'string')
    throw new ConfigError(field, `${show(raw)} is not a CIDR (e.g. 192.168.2.0/23)`);
  const c = parseCidr(raw);
  if (typeof c === 'string')
    throw new ConfigError(field, `${show(raw)} ${c.startsWith('not') ? 'is ' : ''}${c}`);
  return c;
}

function ranges(raw: unknown, field: string): AddressRange[] {
  return v.list(raw, field).map((x, i) => {
    const r = typeof x === 'string' ? parseRange(x) : 'is not a string';
    if (typeof r === 'string') throw new ConfigError(`${field}[${i}]`, `${show(x)} ${r}`);
    return r;
  });
}

function storeConfig(raw: unknown, blockSize: number): IpamStoreConfig {
  if (raw === undefined) return { kind: 'file', directory: DEFAULT_IPAM_STORE };
  if (raw === 'kubernetes') return { kind: 'kubernetes', blockSize };
  if (typeof raw === 'string') {
    const directory = v.str(
      raw,
      'ipam.store',
      /^\/.+/,
      'an absolute directory (the file store) or "kubernetes"',
    );
    return { kind: 'file', directory };
  }
  const r = v.record(raw, 'ipam.store');
  v.knownKeys(r, 'ipam.store', ['kind', 'directory', 'gcGraceSeconds', 'gcIntervalSeconds']);
  const kind = v.oneOf(r.kind ?? 'file', 'ipam.store.kind', ['file', 'kubernetes'] as const);
  if (kind === 'kubernetes') {
    // issue 11: how long a leak stays a leak before it is freed (Calico's default is 15 min), and
    // how often the collector looks.
    const grace =
      r.gcGraceSeconds === undefined ? 600 : v.int(r.gcGraceSeconds, 'ipam.store.gcGraceSeconds', 1, 86_400);
    const every =
      r.gcIntervalSeconds === undefined
        ? 60
        : v.int(r.gcIntervalSeconds, 'ipam.store.gcIntervalSeconds', 1, 86_400);
    return { kind, blockSize, gcGraceMs: grace * 1000, gcIntervalMs: every * 1000 };
  }
  if (r.gcGraceSeconds !== undefined || r.gcIntervalSeconds !== undefined)
    throw new ConfigError(
      'ipam.store',
      'gcGraceSeconds and gcIntervalSeconds apply to kind "kubernetes" only',
    );
  const directory =
    r.directory === undefined
      ? DEFAULT_IPAM_STORE
      : v.str(r.directory, 'ipam.store.directory', /^\/.+/, 'an absolute directory');
  return { kind, directory };
}

function probe(raw: unknown): IpamConfig['probe'] {
  const base = { enabled: true, timeoutMs: DEFAULT_PROBE_TIMEOUT_MS, holdBackMs: DEFAULT_HOLD_BACK_MS };
  if (raw === undefined) return base;
  if (typeof raw === 'boolean' || raw === 'true' || raw === 'false')
    return { ...base, enabled: v.bool(raw, 'ipam.probe') };
  const r = v.record(raw, 'ipam.probe');
  v.knownKeys(r, 'ipam.probe', ['enabled', 'timeoutMs', 'holdBackMs']);
  return {
    enabled: r.enabled === undefined ? true : v.bool(r.enabled, 'ipam.probe.enabled'),
    // Well under a second: the probe is on every ADD's path (issue 10).
    timeoutMs:
      r.timeoutMs === undefined ? base.timeoutMs : v.int(r.timeoutMs, 'ipam.probe.timeoutMs', 10, 900),
    holdBackMs:
      r.holdBackMs === undefined
        ? base.holdBackMs
        : v.int(r.holdBackMs, 'ipam.probe.holdBackMs', 0, 86_400_000),
  };
}

function routes(raw: unknown): IpamRoute[] {
  if (raw === undefined) return [{ dst: '0.0.0.0/0' }];
  return v.list(raw, 'ipam.routes').map((x, i) => {
    const f = `ipam.routes[${i}]`;
    const r = typeof x === 'string' ? { dst: x } : v.record(x, f);
    v.knownKeys(r, f, ['dst', 'gw']);
    const dst = cidr(r.dst, `${f}.dst`).text;
    return r.gw === undefined ? { dst } : { dst, gw: v.ipv4(r.gw, `${f}.gw`) };
  });
}

function pins(raw: unknown, subnet: Cidr, exclude: AddressRange[]): IpamPin[] {
  const rawList = raw ?? [];
  if (!Array.isArray(rawList))
    throw new ConfigError('ipam.pinned', 'is not a list of {pod: NAMESPACE/NAME, address}');
  const seenPod = new Set<string>();
  const seenAddress = new Set<string>();
  return rawList.map((x, i) => {
    const f = `ipam.pinned[${i}]`;
    const r = v.record(x, f);
    v.knownKeys(r, f, ['pod', 'address']);
    const pod = v.str(r.pod, `${f}.pod`, POD_NAME, 'NAMESPACE/NAME (e.g. home/home-assistant)');
    const address = v.ipv4(r.address, `${f}.address`);
    if (!inCidr(subnet, address))
      throw new ConfigError(`${f}.address`, `${address} is outside ipam.subnet ${subnet.text}`);
    const ex = exclude.find((e) => inRange(e, address));
    if (ex) throw new ConfigError(`${f}.address`, `${address} is in ipam.exclude (${ex.text})`);
    if (seenPod.has(pod)) throw new ConfigError(`${f}.pod`, `${pod} is pinned twice`);
    if (seenAddress.has(address)) throw new ConfigError(`${f}.address`, `${address} is pinned twice`);
    seenPod.add(pod);
    seenAddress.add(address);
    return { pod, address };
  });
}

function delegate(raw: unknown): IpamConfig['delegate'] {
  if (raw === undefined || raw === null) return undefined;
  const r = v.record(raw, 'ipam.delegate');
  const type = v.str(
    r.type,
    'ipam.delegate.type',
    PLUGIN_TYPE,
    'a CNI IPAM plugin name found in CNI_PATH (e.g. host-local)',
  );
  if (type === 'lan-reflector-ipam')
    throw new ConfigError(
      'ipam.delegate.type',
      'is lan-reflector-ipam itself: name the IPAM pods had before (host-local, calico-ipam)',
    );
  return { ...r, type };
}

export function loadIpamConfig(raw: unknown): IpamConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const r = v.record(raw, 'ipam');
  v.knownKeys(r, 'ipam', IPAM_KEYS);
  const mode = v.oneOf(r.mode ?? 'pool', 'ipam.mode', ['pool', 'dhcp'] as const);
  if (r.subnet === undefined)
    throw new ConfigError('ipam.subnet', "is required: the LAN's CIDR (e.g. 192.168.2.0/23)");
  const subnet = cidr(r.subnet, 'ipam.subnet');
  if (subnet.prefix > 30 || subnet.prefix < 8)
    throw new ConfigError('ipam.subnet', `${subnet.text}: the prefix length must be 8 to 30`);

  const pool = ranges(r.ranges, 'ipam.ranges');
  if (mode === 'pool' && pool.length === 0)
    throw new ConfigError(
      'ipam.ranges',
      `is required with mode pool: addresses inside ${subnet.text} for pods (e.g. 192.168.3.0/24)`,
    );
  pool.forEach((p, i) => {
    if (!inCidr(subnet, p.start) || !inCidr(subnet, p.end))
      throw new ConfigError(`ipam.ranges[${i}]`, `${p.text} is not inside ipam.subnet ${subnet.text}`);
    pool.slice(0, i).forEach((q, j) => {
      if (overlaps(p, q))
        throw new ConfigError(`ipam.ranges[${i}]`, `${p.text} overlaps ipam.ranges[${j}] ${q.text}`);
    });
  });
  const exclude = ranges(r.exclude, 'ipam.exclude');

  let gateway: IpamConfig['gateway'] = 'node';
  if (r.gateway !== undefined && r.gateway !== 'node') {
    gateway = v.ipv4(r.gateway, 'ipam.gateway');
    // ptp installs the result's routes before its on-link route to the gateway: one outside the
    // subnet fails every ADD with "network is unreachable" (seen with Debian's ptp 1.1.1).
    if (!inCidr(subnet, gateway))
      throw new ConfigError(
        'ipam.gateway',
        `${gateway} is outside ipam.subnet ${subnet.text} (ptp cannot reach it; use "node")`,
      );
    const inPool = pool.find((p) => inRange(p, gateway as string));
    if (inPool && !exclude.some((e) => inRange(e, gateway as string)))
      throw new ConfigError(
        'ipam.gateway',
        `${gateway} is inside ipam.ranges (${inPool.text}) and would be given to a pod`,
      );
  }
  // The network and broadcast addresses of the subnet are never a pod's.
  const edges = [toAddress(cidrFirst(subnet)), broadcastOf(subnet)];
  for (const [i, p] of pool.entries())
    for (const e of edges)
      if (inRange(p, e) && toInt(p.start) === toInt(p.end))
        throw new ConfigError(`ipam.ranges[${i}]`, `${p.text} is the subnet's network or broadcast address`);

  const blockSize = r.blockSize === undefined ? 26 : v.int(r.blockSize, 'ipam.blockSize', subnet.prefix, 30);
  const socket =
    r.socket === undefined
      ? DEFAULT_IPAM_SOCKET
      : v.str(r.socket, 'ipam.socket', /^\/.+/, 'an absolute path');
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH)
    throw new ConfigError(
      'ipam.socket',
      `is ${Buffer.byteLength(socket)} bytes long; a unix socket path fits ${MAX_SOCKET_PATH}`,
    );

  return {
    mode,
    subnet,
    ranges: pool,
    exclude,
    gateway,
    routes: routes(r.routes),
    pinned: pins(r.pinned, subnet, exclude),
    probe: probe(r.probe),
    store: storeConfig(r.store, blockSize),
    socket,
    delegate: delegate(r.delegate),
    reclaimAfterMs:
      1000 *
      (r.reclaimAfterSeconds === undefined
        ? DEFAULT_RECLAIM_AFTER_S
        : v.int(r.reclaimAfterSeconds, 'ipam.reclaimAfterSeconds', 1, 7 * 86_400)),
  };
}
