// Where the agent finds the API server: the service account inside a cluster, a kubeconfig outside.
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** An explicit kubeconfig file; wins over the environment. */
  kubeconfigPath?: string;
}

export function kubeConfigFrom(opts: KubeConfigOptions = {}): KubeConfig {
  const env = opts.env ?? process.env;
  const kc = new KubeConfig();
  if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
  // The kubelet sets KUBERNETES_SERVICE_HOST in every pod, hostNetwork ones included.
  else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault(); // $KUBECONFIG, then ~/.kube/config
  return kc;
}
