// At start with the file store and Kubernetes: does another node hand out addresses from our
// ranges? A pod on another node whose IP lies in our ranges says so — two file stores over one range
// give the same address twice (seen with host-local), so the agent warns, naming node and pod.
import type { AddressRange, IPv4Address } from '../config/types.js';
import { inRange } from './address-math.js';

export interface PodIp {
  namespace: string;
  name: string;
  node: string;
  ips: IPv4Address[];
}

export interface OverlapWarning {
  node: string;
  example: string;
  address: IPv4Address;
  count: number;
}

/** One warning per other node that holds an address in `ranges`. */
export function otherNodesInRanges(pods: PodIp[], ranges: AddressRange[], me: string): OverlapWarning[] {
  const byNode = new Map<string, OverlapWarning>();
  for (const p of pods) {
    if (!p.node || p.node === me) continue;
    for (const ip of p.ips) {
      if (!ranges.some((r) => inRange(r, ip))) continue;
      const w = byNode.get(p.node);
      if (w) w.count++;
      else byNode.set(p.node, { node: p.node, example: `${p.namespace}/${p.name}`, address: ip, count: 1 });
    }
  }
  return [...byNode.values()];
}
