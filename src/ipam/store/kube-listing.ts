// `lan-reflector ipam list` with the Kubernetes store: the pool's blocks (node, used, free) and every
// allocation in the cluster, from fresh lists of the API. Pure counting here; the lists come from
// the caller.
import type { IPv4Address } from '../../config/types.js';
import { inBlock, parseBlock, usableCount, type PoolShape } from './kube-blocks.js';
import type { AllocationObject, BlockObject } from './kube-objects.js';

export interface ClusterBlock {
  cidr: string;
  node: string;
  used: number;
  held: number;
  free: number;
}

export interface ClusterAllocation {
  address: IPv4Address;
  node: string;
  pod?: string;
  containerId: string;
  ifname: string;
  source: string;
  since: string;
}

export interface ClusterListing {
  blocks: ClusterBlock[];
  allocations: ClusterAllocation[];
  /** Blocks nobody has claimed yet. */
  unclaimedBlocks: number;
}

export function clusterListing(
  pool: PoolShape,
  blocks: BlockObject[],
  allocs: AllocationObject[],
  now: Date,
  allBlocks: number,
): ClusterListing {
  const t = now.toISOString();
  const rows = blocks
    .map((b) => ({ b, parsed: parseBlock(b.spec.cidr) }))
    .filter((x) => x.parsed)
    .sort((x, y) => x.parsed!.first - y.parsed!.first)
    .map(({ b, parsed }) => {
      const used = allocs.filter((a) => inBlock(parsed!, a.spec.address)).length;
      const held = (b.spec.held ?? []).filter((h) => h.until > t).length;
      return {
        cidr: b.spec.cidr,
        node: b.spec.node,
        used,
        held,
        free: Math.max(0, usableCount(parsed!, pool) - used - held),
      };
    });
  const allocations = allocs
    .map((a) => ({
      address: a.spec.address,
      node: a.spec.node,
      pod: a.spec.pod ? `${a.spec.pod.namespace}/${a.spec.pod.name}` : undefined,
      containerId: a.spec.containerId,
      ifname: a.spec.ifname,
      source: a.spec.source,
      since: a.spec.since,
    }))
    .sort((x, y) => x.node.localeCompare(y.node) || x.since.localeCompare(y.since));
  return { blocks: rows, allocations, unclaimedBlocks: Math.max(0, allBlocks - rows.length) };
}

export function formatClusterListing(c: ClusterListing): string {
  const table = (rows: string[][]) => {
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    return rows
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n');
  };
  const blocks = [['BLOCK', 'NODE', 'USED', 'HELD', 'FREE']];
  for (const b of c.blocks) blocks.push([b.cidr, b.node, String(b.used), String(b.held), String(b.free)]);
  const allocs = [['ADDRESS', 'NODE', 'POD', 'CONTAINER', 'IF', 'SOURCE', 'SINCE']];
  for (const a of c.allocations)
    allocs.push([a.address, a.node, a.pod ?? '-', a.containerId.slice(0, 12), a.ifname, a.source, a.since]);
  return [
    'cluster (ipam.store: kubernetes)',
    table(blocks),
    `${c.blocks.length} blocks claimed, ${c.unclaimedBlocks} unclaimed`,
    '',
    table(allocs),
    `${c.allocations.length} addresses allocated across the cluster`,
    '',
  ].join('\n');
}
