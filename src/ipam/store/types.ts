// The IPAM store: where allocations live. host-local's Store (backend/store.go) is the model: an
// exclusive reserve, release and lookup by owner. The file store (file-store.ts) is the embedded
// default; the Kubernetes store (issue 11) is a second implementation of the same interface; DHCP
// leases (issue 12) are allocations with `lease` set.
import type { AddressRange, IPv4Address } from '../../config/types.js';
import type { Allocation, Owner } from '../types.js';

/** An address that answered a probe (or a neighbour lookup): skipped until `until`. */
export interface HeldBack {
  address: IPv4Address;
  /** Who answered (a MAC address, "neighbour table", ...). */
  by: string;
  /** ISO times. */
  since: string;
  until: string;
}

/**
 * A DEL the shim took while the agent was down (CNI spec 1.1: DEL must succeed): the agent carries
 * it out at start. The shim writes these itself, without the agent, so they live in a spool the
 * store does not own (see ReleaseSpool); the store only carries them out.
 */
export interface PendingRelease {
  owner: Owner;
  network: string;
  /** ISO time the DEL was taken. */
  at: string;
  /** Opaque handle for ReleaseSpool.done (the spool file's name, for the file spool). */
  id: string;
}

export interface IpamStore {
  /**
   * Exclusive: records `a` if no allocation holds `a.address`, and says whether it did. Two callers
   * racing for one address: exactly one gets true (host-local: O_EXCL create of the address file).
   * Durable before it resolves (a kill -9 afterwards keeps it). The allocator reserves first and
   * probes second (a probe is never spent on an address reserve refuses); it may throw IpamError(11)
   * when the store is unreachable, which becomes the temporary CNI error.
   */
  reserve(a: Allocation): Promise<boolean>;
  /** Replaces the record of an address the same owner already holds (dhcp renewals); false if it does not. */
  update(a: Allocation): Promise<boolean>;
  /** Removes every allocation of `owner`, returning them; none is no error (DEL is idempotent). */
  releaseByOwner(owner: Owner): Promise<Allocation[]>;
  /** Removes the allocation of one address whoever holds it (GC, reconcile); returns it if there was one. */
  releaseAddress(address: IPv4Address): Promise<Allocation | undefined>;
  getByOwner(owner: Owner): Promise<Allocation[]>;
  list(): Promise<Allocation[]>;

  /** Holds an address back (probe answered); a later hold replaces an earlier one. */
  holdBack(h: HeldBack): Promise<void>;
  /** Holds still in force at `now`; expired ones may be dropped as a side effect. */
  heldBack(now: Date): Promise<HeldBack[]>;

  /**
   * The part of the pool this node may hand out from now (kube store: its blocks ∩ ranges).
   * Absent: the config's ranges (file store).
   */
  scope?(): Promise<AddressRange[]>;
  /**
   * Called when nothing in scope() is free (after exclusions, holds and taken addresses): claims
   * more of the pool. true = look again, false = the pool is exhausted.
   */
  grow?(): Promise<boolean>;

  close(): Promise<void>;
}

/** The shim's record of DELs taken while the agent was down (src/ipam/shim writes, the agent reads). */
export interface ReleaseSpool {
  pending(): Promise<PendingRelease[]>;
  /** Forgets one record after the release is carried out (durably, so it is not replayed twice). */
  done(r: PendingRelease): Promise<void>;
}
