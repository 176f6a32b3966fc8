// `lan-reflector ipam migrate`: copies a node's allocations from the file store into the Kubernetes
// store, each at the address it has (issue 11: "without changing any pod's address"). Idempotent: an
// allocation already in the API for the same attachment is left as it is, so it can run again.
//
// For every address: the block it lies in is claimed for this node (a create; a block another node
// holds is reported, and the address is still recorded — its object is unique by name, so that node
// can never hand it out), then the allocation is created under the address's name. An address the API
// already gives to another attachment is a conflict: reported, never overwritten.
import type { Allocation } from '../types.js';
import { failureOf, type IpamApi } from './kube-api.js';
import { blockAt } from './kube-blocks.js';
import { allocationName, allocationObject, blockObject, sameOwnerAs } from './kube-objects.js';

export interface MigrateReport {
  migrated: string[];
  alreadyThere: string[];
  /** Addresses the API holds for another attachment: left alone, the pod keeps its address only locally. */
  conflicts: Array<{ address: string; holder: string }>;
  /** Blocks claimed for this node. */
  claimed: string[];
  /** Addresses that lie in another node's block. */
  inForeignBlocks: Array<{ address: string; node: string }>;
}

export async function migrateToKube(
  allocations: Allocation[],
  o: { api: IpamApi; node: string; blockSize: number; subnet: string },
): Promise<MigrateReport> {
  const r: MigrateReport = {
    migrated: [],
    alreadyThere: [],
    conflicts: [],
    claimed: [],
    inForeignBlocks: [],
  };
  const owners = new Map<string, string>(); // block name → node
  for (const a of [...allocations].sort((x, y) => x.address.localeCompare(y.address))) {
    const block = blockAt(a.address, o.blockSize);
    if (!owners.has(block.name)) {
      try {
        await o.api.createBlock(
          blockObject(block.name, { cidr: block.cidr, node: o.node, subnet: o.subnet }),
        );
        owners.set(block.name, o.node);
        r.claimed.push(block.cidr);
      } catch (err) {
        if (failureOf(err) !== 'already-exists') throw err;
        owners.set(block.name, (await o.api.getBlock(block.name)).spec.node);
      }
    }
    const own = owners.get(block.name) === o.node;
    if (!own) r.inForeignBlocks.push({ address: a.address, node: owners.get(block.name)! });
    try {
      await o.api.createAllocation(allocationObject(a, o.node, own ? block.name : undefined));
      r.migrated.push(a.address);
    } catch (err) {
      if (failureOf(err) !== 'already-exists') throw err;
      const cur = await o.api.getAllocation(allocationName(a.address));
      if (sameOwnerAs(cur, a) && cur.spec.node === o.node) r.alreadyThere.push(a.address);
      else r.conflicts.push({ address: a.address, holder: `${cur.spec.node}/${cur.spec.containerId}` });
    }
  }
  return r;
}
