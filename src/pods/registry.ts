// The opted-in pods of this node, whatever source reported them.
import type { PodKey, PodSink, PodSpec } from './types.js';

export class PodRegistry implements PodSink {
  private readonly pods = new Map<PodKey, PodSpec>();
  /** Counts changes, so a scan can tell which view of the pods it acted on. */
  generation = 0;
  constructor(private readonly onChange: (change: 'upsert' | 'remove', pod: PodSpec) => void) {}

  upsert(pod: PodSpec): void {
    this.pods.set(pod.key, pod);
    this.generation++;
    this.onChange('upsert', pod);
  }
  remove(key: PodKey): void {
    const pod = this.pods.get(key);
    if (!pod) return;
    this.pods.delete(key);
    this.generation++;
    this.onChange('remove', pod);
  }
  all(): PodSpec[] {
    return [...this.pods.values()];
  }
}
