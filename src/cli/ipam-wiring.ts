// Builds the agent's IPAM from the `ipam:` section; loaded only when the config has one. The
// Kubernetes client is imported only with --kubernetes, as kube-wiring.ts does.
import type { AgentConfig } from '../config/types.js';
import type { PodAnnotationLookup } from '../ipam/cni/verbs.js';
import type { KubePodLookup } from '../ipam/kube-pod-lookup.js';
import { IpamService, type IpamServiceOptions } from '../ipam/service.js';
import { readLanAddress } from '../links/lan-address.js';
import type { Logger } from '../log/logger.js';
import type { KubePodSource } from '../pods/kube/kube-source.js';
import type { PodSource } from '../pods/types.js';

/** The LAN side (issue 10 part 2) plugs its AddressGuard and Announcer in here; issue 11 its store, 12 its provider. */
export type IpamExtras = Partial<
  Pick<IpamServiceOptions, 'guard' | 'announcer' | 'hostRoutes' | 'pods' | 'store' | 'provider'>
>;

/** The annotation lookup through the agent's pod watch, and a GET for pods it has not seen yet. */
async function kubeLookup(sources: PodSource[]): Promise<KubePodLookup | undefined> {
  const watch = sources.find((s) => s.name === 'kubernetes') as KubePodSource | undefined;
  if (!watch) return undefined;
  const { CoreV1Api } = await import('@kubernetes/client-node');
  const { kubeConfigFrom } = await import('../pods/kube/kube-config.js');
  const { KubePodLookup } = await import('../ipam/kube-pod-lookup.js');
  const api = kubeConfigFrom().makeApiClient(CoreV1Api);
  return new KubePodLookup({
    cached: (ns, name) => watch.cachedPod(ns, name),
    get: async (namespace, name) => {
      try {
        return await api.readNamespacedPod({ namespace, name });
      } catch (err) {
        if ((err as { code?: number }).code === 404) return undefined;
        throw err;
      }
    },
  });
}

async function dhcpFactory(
  config: AgentConfig,
  log: Logger,
  service: () => IpamService,
): Promise<IpamServiceOptions['provider']> {
  const { dhcpProvider, kubeWarnPod } = await import('../ipam/dhcp/wiring.js');
  return dhcpProvider({
    config,
    log,
    metrics: () => service().metrics.dhcp,
    warnPod: config.kubernetes.enabled ? await kubeWarnPod(config.kubernetes.nodeName) : undefined,
  });
}

/** The file store is for one node or non-overlapping ranges: say so at start when another node's pods show otherwise. */
async function warnOnOverlap(config: AgentConfig, log: Logger): Promise<void> {
  try {
    const { CoreV1Api } = await import('@kubernetes/client-node');
    const { kubeConfigFrom } = await import('../pods/kube/kube-config.js');
    const { otherNodesInRanges } = await import('../ipam/overlap-check.js');
    const me = config.kubernetes.nodeName;
    const api = kubeConfigFrom().makeApiClient(CoreV1Api);
    const list = await api.listPodForAllNamespaces({ fieldSelector: `spec.nodeName!=${me}` });
    const pods = list.items.map((p) => ({
      namespace: p.metadata?.namespace ?? '',
      name: p.metadata?.name ?? '',
      node: p.spec?.nodeName ?? '',
      ips: (p.status?.podIPs ?? []).map((i) => i.ip).filter((ip): ip is string => !!ip),
    }));
    for (const w of otherNodesInRanges(pods, config.ipam!.ranges, me))
      log.warn(
        "another node has pods in this node's ipam.ranges: the file store is for one node or per-node ranges that do not overlap (or use store: kubernetes)",
        { otherNode: w.node, pod: w.example, address: w.address, pods: w.count },
      );
  } catch (err) {
    log.debug("could not compare ipam.ranges with other nodes' pods", {
      error: String((err as Error).message),
    });
  }
}

export async function ipamFor(
  config: AgentConfig,
  log: Logger,
  sources: PodSource[],
  extras: IpamExtras = {},
): Promise<IpamService> {
  const kubePods = config.kubernetes.enabled ? await kubeLookup(sources) : undefined;
  const pods: PodAnnotationLookup | undefined = extras.pods ?? kubePods;
  const node = config.kubernetes.nodeName;
  const { readRoutes } = await import('../links/route-table.js');
  // issue 11: `ipam.store: kubernetes` (the client is loaded only for it).
  const kube =
    config.ipam!.store.kind === 'kubernetes' && !extras.store
      ? await (await import('./ipam-kube-wiring.js')).kubeStoreFor(config, log, () => extras.announcer)
      : undefined;
  let service: IpamService | undefined = undefined;
  // ipam.mode dhcp (issue 12): addresses leased from the LAN's DHCP server instead of the pool.
  const provider =
    extras.provider ??
    (config.ipam!.mode === 'dhcp' ? await dhcpFactory(config, log, () => service!) : undefined);
  service = new IpamService(
    {
      config: config.ipam!,
      log,
      nodeName: config.kubernetes.nodeName || undefined,
      nodeAddress: async () => (await readLanAddress(config.lanInterface).catch(() => undefined))?.address,
      ...extras,
      provider,
      pods,
      reclaim: {
        lanLink: config.lanInterface,
        routes: readRoutes,
        pod: kubePods && ((ref, since) => kubePods.presence(ref, node, since)),
      },
      ...(kube && { store: kube.store }),
    },
    config.podDefaults,
  );
  if (config.kubernetes.enabled && config.ipam!.store.kind === 'file') void warnOnOverlap(config, log);
  // Without Kubernetes the reflector serves every pod the IPAM gave an address to (podDefaults).
  if (!config.kubernetes.enabled) sources.push(service.podSource);
  return service;
}
