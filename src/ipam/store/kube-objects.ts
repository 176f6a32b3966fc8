// The custom resources of the Kubernetes store (manifests/crds/) as plain values: their names,
// labels and the mapping to and from the IPAM's Allocation and HeldBack. No client, no I/O.
import type { IPv4Address } from '../../config/types.js';
import type { Allocation, AllocationSource, LeaseData, PodRef } from '../types.js';
import type { HeldBack } from './types.js';

export const GROUP = 'ipam.lan-reflector.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const BLOCKS = { plural: 'ipblocks', kind: 'IPBlock' } as const;
export const ALLOCATIONS = { plural: 'ipallocations', kind: 'IPAllocation' } as const;
export const NODE_LABEL = `${GROUP}/node`;
export const BLOCK_LABEL = `${GROUP}/block`;

export interface ObjectMeta {
  name: string;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
}

export interface BlockSpec {
  cidr: string;
  node: string;
  subnet: string;
  held?: HeldBack[];
}

export interface BlockObject {
  apiVersion: typeof API_VERSION;
  kind: 'IPBlock';
  metadata: ObjectMeta;
  spec: BlockSpec;
}

export interface AllocationSpec {
  address: IPv4Address;
  block?: string;
  node: string;
  network: string;
  containerId: string;
  ifname: string;
  pod?: PodRef;
  since: string;
  source: AllocationSource;
  lease?: LeaseData;
}

export interface AllocationObject {
  apiVersion: typeof API_VERSION;
  kind: 'IPAllocation';
  metadata: ObjectMeta;
  spec: AllocationSpec;
}

/**
 * A label value for a node name. Node names may be DNS subdomains of up to 253 characters, label
 * values only 63: a longer name is labelled by a hash (the spec keeps the full name).
 */
export function nodeLabel(node: string): string {
  if (node.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(node)) return node;
  let h = 0x811c9dc5;
  for (let i = 0; i < node.length; i++) h = Math.imul(h ^ node.charCodeAt(i), 0x01000193) >>> 0;
  return `h-${h.toString(16)}-${node.length}`;
}

/** An allocation is named after its address (`198.18.4.70`: a valid RFC 1123 subdomain). */
export const allocationName = (address: IPv4Address): string => address;

export function blockObject(name: string, spec: BlockSpec): BlockObject {
  return {
    apiVersion: API_VERSION,
    kind: BLOCKS.kind,
    metadata: { name, labels: { [NODE_LABEL]: nodeLabel(spec.node) } },
    spec,
  };
}

export function allocationObject(a: Allocation, node: string, block: string | undefined): AllocationObject {
  const spec: AllocationSpec = {
    address: a.address,
    node,
    network: a.network,
    containerId: a.owner.containerId,
    ifname: a.owner.ifname,
    since: a.since,
    source: a.source,
  };
  if (block) spec.block = block;
  if (a.pod) spec.pod = { ...a.pod };
  if (a.lease) spec.lease = structuredClone(a.lease);
  const labels: Record<string, string> = { [NODE_LABEL]: nodeLabel(node) };
  if (block) labels[BLOCK_LABEL] = block;
  return {
    apiVersion: API_VERSION,
    kind: ALLOCATIONS.kind,
    metadata: { name: allocationName(a.address), labels },
    spec,
  };
}

export function toAllocation(o: AllocationObject): Allocation {
  const s = o.spec;
  const a: Allocation = {
    address: s.address,
    owner: { containerId: s.containerId, ifname: s.ifname },
    network: s.network,
    since: s.since,
    source: s.source,
  };
  if (s.pod) a.pod = { ...s.pod };
  if (s.lease) a.lease = structuredClone(s.lease);
  return a;
}

export const sameOwnerAs = (o: AllocationObject, a: Pick<Allocation, 'owner'>): boolean =>
  o.spec.containerId === a.owner.containerId && o.spec.ifname === a.owner.ifname;
