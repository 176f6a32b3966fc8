// Builds the Kubernetes IPAM store (`ipam.store: kubernetes`, issue 11) and its garbage collector;
// loaded only with that store, so other setups never import the client for it.
import { ConfigError } from '../config/errors.js';
import type { AgentConfig } from '../config/types.js';
import type { Announcer } from '../ipam/types.js';
import type { Logger } from '../log/logger.js';
import { kubeConfigFrom } from '../pods/kube/kube-config.js';
import { clientIpamApi } from '../ipam/store/kube-api.js';
import { KubeGc } from '../ipam/store/kube-gc.js';
import { KubeStore } from '../ipam/store/kube-store.js';

export const DEFAULT_GC_GRACE_MS = 600_000;
export const DEFAULT_GC_INTERVAL_MS = 60_000;
/** How long the agent waits at start for a first complete view of its allocations. */
const FIRST_SYNC_WAIT_MS = 10_000;

export interface KubeIpam {
  store: KubeStore;
  gc: KubeGc;
}

/** `announcer` is read late: the LAN side may be wired after the store. */
export async function kubeStoreFor(
  config: AgentConfig,
  log: Logger,
  announcer: () => Announcer | undefined,
): Promise<KubeIpam> {
  const ipam = config.ipam!;
  const s = ipam.store;
  if (s.kind !== 'kubernetes') throw new Error('kubeStoreFor: the store is not kubernetes');
  if (!config.kubernetes.enabled || !config.kubernetes.nodeName)
    throw new ConfigError('ipam.store', '"kubernetes" needs --kubernetes and the node name (NODE_NAME)');
  const api = clientIpamApi(kubeConfigFrom());
  const released = (address: string) =>
    void announcer()
      ?.released(address)
      .catch((err) => log.warn('could not remove a proxy entry', { address, error: String(err) }));
  const store = new KubeStore({
    api,
    node: config.kubernetes.nodeName,
    pool: { subnet: ipam.subnet, subnetText: ipam.subnet.text, ranges: ipam.ranges, exclude: ipam.exclude },
    blockSize: s.blockSize,
    logger: log,
    onLost: (a) => released(a.address),
  });
  await store.start();
  // The IPAM reconciles proxy entries with list() at start: give it the node's real allocations,
  // not an empty view. Past the wait, list() fails (error 11) until the API is back.
  const until = Date.now() + FIRST_SYNC_WAIT_MS;
  while (!store.status().synced && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
    await store.sync().catch(() => undefined);
  }
  if (!store.status().synced)
    log.warn('the Kubernetes API is unreachable; IPAM ADDs fail with error 11 until it is back');
  const gc = new KubeGc({
    api,
    store,
    logger: log,
    graceMs: s.gcGraceMs ?? DEFAULT_GC_GRACE_MS,
    intervalMs: s.gcIntervalMs ?? DEFAULT_GC_INTERVAL_MS,
    onCollected: (a) => released(a.address),
  });
  gc.start();
  return { store, gc };
}
