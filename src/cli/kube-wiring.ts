// Builds the Kubernetes pod source; loaded only with --kubernetes, so static setups never import
// the client library.
import type { AgentConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { kubeConfigFrom } from '../pods/kube/kube-config.js';
import { KubePodSource } from '../pods/kube/kube-source.js';
import type { PodSource } from '../pods/types.js';

export async function kubeSourceFor(config: AgentConfig, log: Logger): Promise<PodSource> {
  return new KubePodSource({
    nodeName: config.kubernetes.nodeName,
    podDefaults: config.podDefaults,
    logger: log,
    kubeConfig: kubeConfigFrom(),
  });
}
