import { ConfigError } from '../config/errors.js';
import type { AgentConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { PodSource } from '../pods/types.js';
export async function kubeSourceFor(_c: AgentConfig, _l: Logger): Promise<PodSource> {
  throw new ConfigError('kubernetes.enabled', 'the Kubernetes pod source is not wired yet');
}
