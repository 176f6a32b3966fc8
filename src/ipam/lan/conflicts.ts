// What the agent does when another MAC claims one of its pods' addresses (RFC 5227 2.4: the address
// is contested after assignment): a log line, a metric, and a Warning Event on the pod, so that
// `kubectl describe pod` shows it. Reported once per address and MAC per `quietMs`; a device that
// keeps claiming the address every second does not flood the log or the API.
import type { IPv4Address } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import type { MacAddress } from '../../links/arp.js';
import type { PodRef } from '../types.js';

export const CONFLICT_REASON = 'LANAddressConflict';

export interface ConflictDeps {
  log: Logger;
  podAt: (address: IPv4Address) => PodRef | undefined;
  /** Posts a Warning Event on the pod (best effort); absent without Kubernetes. */
  warnPod?: (pod: PodRef, reason: string, message: string) => Promise<void>;
  quietMs?: number;
  now?: () => number;
}

export type ConflictListener = (address: IPv4Address, by: MacAddress) => void;

export class ConflictReporter {
  /** Conflicts seen (every frame, not only the reported ones): the metric. */
  total = 0;
  /** Told of every conflicting frame (the IPAM's metric: conflicts{when="assigned"}). */
  readonly listeners: ConflictListener[] = [];
  private readonly last = new Map<string, number>();

  constructor(private readonly d: ConflictDeps) {}

  report(address: IPv4Address, by: MacAddress, ownMac: MacAddress): void {
    this.total++;
    for (const l of this.listeners) l(address, by);
    const now = (this.d.now ?? Date.now)();
    const key = `${address}/${by}`;
    const last = this.last.get(key);
    if (last !== undefined && now - last < (this.d.quietMs ?? 60_000)) return;
    this.last.set(key, now);
    if (this.last.size > 1024) this.last.delete(this.last.keys().next().value!);
    const pod = this.d.podAt(address);
    const name = pod ? `${pod.namespace}/${pod.name}` : undefined;
    const message =
      `another host (${by}) claims ${address}, which this node gave to ${name ?? 'a pod'} and answers for ` +
      `as ${ownMac}: find the device with that MAC and give it another address, or add ${address} to ipam.exclude`;
    this.d.log.warn('LAN address conflict', { address, by, pod: name });
    if (pod && this.d.warnPod)
      this.d
        .warnPod(pod, CONFLICT_REASON, message)
        .catch((err: unknown) =>
          this.d.log.debug('cannot post the conflict event', { pod: name, error: String(err) }),
        );
  }
}
