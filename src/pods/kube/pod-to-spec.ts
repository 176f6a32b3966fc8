// A Kubernetes pod -> the PodSpec the agent serves, or the reason it serves none. Pure.
import { isIPv4, isIPv6 } from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';
import type { IPv4Address, PodOptions } from '../../config/types.js';
import type { PodKey, PodSpec } from '../types.js';
import { canonical6, isLinkLocal6 } from '../../wire/ipv6.js';
import { parseAnnotations } from './annotations.js';

export type SkipReason =
  'not-opted-in' | 'invalid-annotation' | 'host-network' | 'finished' | 'terminating' | 'no-address';

export interface PodSkip {
  skip: SkipReason;
  /** For `invalid-annotation`: what is wrong, one sentence per annotation. */
  errors: string[];
}

export type PodDecision = PodSpec | PodSkip;

export function isSkip(d: PodDecision): d is PodSkip {
  return 'skip' in d;
}

export function podKey(pod: V1Pod): PodKey {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

export function podToSpec(pod: V1Pod, defaults: PodOptions): PodDecision {
  const parsed = parseAnnotations(pod.metadata?.annotations, defaults);
  if (parsed.errors.length > 0) return { skip: 'invalid-annotation', errors: parsed.errors };
  if (!parsed.enabled || !parsed.options) return skip('not-opted-in');
  // A hostNetwork pod's address is the node's: it hears the LAN itself, and "its" packets are the
  // node's own, which the agent must never treat as a pod's.
  if (pod.spec?.hostNetwork === true) return skip('host-network');
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return skip('finished');
  // Once deletion has begun the address may be handed to a new pod any moment.
  if (pod.metadata?.deletionTimestamp) return skip('terminating');
  const addresses = podAddresses(pod);
  if (addresses.length === 0) return skip('no-address');
  const key = podKey(pod);
  return { key, name: key, addresses, options: parsed.options };
}

/** status.podIPs (one per family on a dual-stack cluster) with status.podIP as fallback. IPv4
 *  first: node-mode replies (IPv4 only) go to the first address. IPv6 in canonical text, so it
 *  compares equal to what the sockets report. */
function podAddresses(pod: V1Pod): IPv4Address[] {
  const all = [...(pod.status?.podIPs ?? []).map((p) => p.ip), pod.status?.podIP ?? ''];
  const v4: string[] = [];
  const v6: string[] = [];
  for (const ip of all) {
    if (ip && isIPv4(ip) && !v4.includes(ip)) v4.push(ip);
    else if (ip && isIPv6(ip) && !isLinkLocal6(ip)) {
      const c = canonical6(ip);
      if (!v6.includes(c)) v6.push(c);
    }
  }
  return [...v4, ...v6];
}

function skip(reason: SkipReason): PodSkip {
  return { skip: reason, errors: [] };
}
