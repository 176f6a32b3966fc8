// CNI versions, the abbreviated IPAM result and the spec's error object (CNI spec 1.1, section 5).
import type { IpamRoute, IPv4Address } from '../../config/types.js';

/** What VERSION reports. 0.1.0/0.2.0 results have another shape (ip4: {...}); we do not speak it. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];

/** CNI spec 1.1, "Error": the well-known codes we use. */
export const CNI_ERR = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  io: 5,
  decode: 6,
  invalidConfig: 7,
  tryAgain: 11,
  notAvailable: 50,
} as const;

export interface CniError {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

export const cniError = (cniVersion: string, code: number, msg: string, details?: string): CniError =>
  details ? { cniVersion, code, msg, details } : { cniVersion, code, msg };

export const isSupported = (v: unknown): v is CniVersion =>
  typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);

/** GC and STATUS exist from 1.1.0 on (CNI spec 1.1, "CNI operations"). */
export const hasGcAndStatus = (v: string): boolean => v === '1.1.0';

export interface IpamResultInput {
  address: IPv4Address;
  prefix: number;
  gateway?: IPv4Address;
  routes: IpamRoute[];
}

/**
 * The abbreviated result an IPAM plugin returns (CNI spec 1.1, "Delegated plugins (IPAM)": no
 * `interfaces`, no `ips[].interface`), in the version the config asked for. Below 1.0.0 every IP
 * carries `version: "4"` (the 0.3.x/0.4.0 result format); from 1.0.0 on it is gone.
 */
export function ipamResult(cniVersion: CniVersion, r: IpamResultInput): Record<string, unknown> {
  const ip: Record<string, unknown> = {};
  if (!cniVersion.startsWith('1.')) ip.version = '4';
  ip.address = `${r.address}/${r.prefix}`;
  if (r.gateway) ip.gateway = r.gateway;
  return {
    cniVersion,
    ips: [ip],
    routes: r.routes.map((rt) => (rt.gw ? { dst: rt.dst, gw: rt.gw } : { dst: rt.dst })),
    dns: {},
  };
}
