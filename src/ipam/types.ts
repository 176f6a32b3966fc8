// The IPAM's plain values and the small interfaces its I/O layers implement. Nothing here imports a
// socket, a file or the Kubernetes client: the allocator and the CNI verbs are tested with values.
import type { IPv4Address } from '../config/types.js';

/**
 * Who holds an address: one attachment, as CNI names it (CNI spec 1.1, "Attachment": the container
 * ID and the interface name inside it; host-local keys its store the same way).
 */
export interface Owner {
  containerId: string;
  ifname: string;
}

/** The pod behind an attachment, when the runtime said (CNI_ARGS K8S_POD_NAMESPACE/K8S_POD_NAME). */
export interface PodRef {
  namespace: string;
  name: string;
  /** K8S_POD_UID when the runtime passes it: StatefulSet pods reuse names, UIDs never repeat. */
  uid?: string;
}

/** How an address was chosen. */
export type AllocationSource = 'pool' | 'pinned' | 'dhcp';

/** What dhcp (issue 12) keeps per lease; stored with the allocation so a restart keeps it. */
export interface LeaseData {
  /** DHCP server identifier (option 54). */
  server: IPv4Address;
  /** Client identifier sent (option 61), hex. */
  clientId: string;
  /** ISO times (RFC 2131 4.4.5: T1 renew, T2 rebind, then expiry). */
  obtainedAt: string;
  renewAt: string;
  rebindAt: string;
  expiresAt: string;
  /** Anything else the dhcp client wants back after a restart (strings only, so every store can keep it). */
  extra?: Record<string, string>;
}

/** One address held by one attachment. */
export interface Allocation {
  address: IPv4Address;
  owner: Owner;
  /** The CNI network name (the config's `name`): GC's valid-attachments are per network. */
  network: string;
  pod?: PodRef;
  /** ISO time the address was reserved. */
  since: string;
  source: AllocationSource;
  lease?: LeaseData;
}

export const ownerKey = (o: Owner): string => `${o.containerId}/${o.ifname}`;
export const sameOwner = (a: Owner, b: Owner): boolean =>
  a.containerId === b.containerId && a.ifname === b.ifname;
export const podKey = (p: PodRef): string => `${p.namespace}/${p.name}`;

// ---------------------------------------------------------------------------------------------------
// Hooks for the LAN side (defined here, implemented by src/links: neighbour table, seen-in-discovery,
// RFC 5227 probe, proxy neighbour entries, gratuitous ARP).
// ---------------------------------------------------------------------------------------------------

/**
 * Asked before an address is handed out. Exclusions are the allocator's own; the guard is what only
 * the network can tell: the LAN link's neighbour table, addresses seen in discovery traffic, and an
 * ARP probe (RFC 5227 2.1.1: probes from 0.0.0.0). `by` says who answered (a MAC, "neighbour table",
 * "seen in mDNS A record"), for the log and the hold-back record.
 */
export interface AddressGuard {
  inUse(address: IPv4Address): Promise<'free' | { by: string }>;
}

/** Told after an address is assigned or released, and once at start with every live allocation. */
export interface Announcer {
  /** Adds the proxy neighbour entry on the LAN link and sends gratuitous ARPs. */
  assigned(address: IPv4Address, pod: PodRef | undefined): Promise<void>;
  /** Removes the proxy neighbour entry. */
  released(address: IPv4Address): Promise<void>;
  /** At start: make proxy entries match `live` exactly (add the missing, remove the stale), announce again. */
  reconcile(live: Allocation[]): Promise<void>;
}

/** For tests and for an agent without the LAN side: every address is free, nothing is announced. */
export const NO_GUARD: AddressGuard = { inUse: async () => 'free' };
export const NO_ANNOUNCER: Announcer = {
  assigned: async () => {},
  released: async () => {},
  reconcile: async () => {},
};

// ---------------------------------------------------------------------------------------------------
// Where addresses come from: the static pool (src/ipam/pool-provider.ts) or DHCP (src/ipam/dhcp/).
// The CNI verbs call one of these; both keep their records in an IpamStore.
// ---------------------------------------------------------------------------------------------------

export interface AddressRequest {
  owner: Owner;
  network: string;
  pod?: PodRef;
  /** An address the pod asked for (annotation or `pinned`); the provider refuses it if taken. */
  want?: IPv4Address;
}

export interface AddressProvider {
  /** Idempotent: a second call for the same owner returns the allocation it already has. */
  assign(req: AddressRequest): Promise<Allocation>;
  /** Idempotent: releasing an owner that holds nothing is no error. Returns what was released. */
  release(owner: Owner): Promise<Allocation[]>;
  /** After the store is open and reconciled (dhcp: keep renewing the stored leases). */
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

/** What the service hands a provider it did not build itself (dhcp). */
export interface ProviderContext {
  guard: AddressGuard;
  announcer: Announcer;
  /** The gateway and the node's own LAN address: never a pod's. */
  reserved: IPv4Address[];
  nodeAddress?: IPv4Address;
}

/** Thrown by a provider when an ADD cannot be served; the CNI layer turns `code` into the spec's error. */
export class IpamError extends Error {
  constructor(
    /** CNI spec 1.1 error code (e.g. 11 try again later) or 100+ for our own. */
    readonly code: number,
    message: string,
    readonly details?: string,
  ) {
    super(message);
    this.name = 'IpamError';
  }
}
