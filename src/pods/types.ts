// What a pod source tells the agent: the pods of this node that opted in, and their options.
import type { IPv4Address, PodOptions } from '../config/types.js';

export type PodKey = string;

export interface PodSpec {
  /** Stable identity: `namespace/name` for Kubernetes pods, the address for static ones. */
  key: PodKey;
  /** A name for people: `namespace/name`, or the address. */
  name: string;
  addresses: IPv4Address[];
  options: PodOptions;
}

/** Receives pod changes; the agent's pod registry implements it. */
export interface PodSink {
  upsert(pod: PodSpec): void;
  remove(key: PodKey): void;
}

/** Anything that can tell the agent which pods opted in: static config, the Kubernetes API. */
export interface PodSource {
  readonly name: string;
  start(sink: PodSink): Promise<void>;
  stop(): Promise<void>;
  /** True once the source has delivered its first complete view. */
  readonly synced: boolean;
}
