// Pods named by --pod flags or the config file's `pods:` list, for nodes without Kubernetes.
import type { StaticPod } from '../config/types.js';
import type { PodSink, PodSource } from './types.js';

export class StaticPodSource implements PodSource {
  readonly name = 'static';
  synced = false;
  constructor(private readonly pods: StaticPod[]) {}
  async start(sink: PodSink): Promise<void> {
    for (const p of this.pods) {
      sink.upsert({
        key: p.address,
        name: p.name ?? p.address,
        addresses: p.address.split(','),
        options: p.options,
      });
    }
    this.synced = true;
  }
  async stop(): Promise<void> {}
}
