// Builds the IPAM's LAN side (proxy entries, ARP probes and announcements) for the agent; loaded
// only when the config has an `ipam:` section. Conflict Events need the Kubernetes client, which is
// imported only with --kubernetes, as kube-wiring.ts does.
import type { V1Pod } from '@kubernetes/client-node';
import type { AgentConfig } from '../config/types.js';
import { openLanSide, type LanSide } from '../ipam/lan/lan-side.js';
import type { PodRef } from '../ipam/types.js';
import type { Logger } from '../log/logger.js';
import type { Reflector } from '../reflect/engine.js';

export async function lanSideFor(config: AgentConfig, log: Logger): Promise<LanSide> {
  let warnPod: ((pod: PodRef, reason: string, message: string) => Promise<void>) | undefined;
  if (config.kubernetes.enabled) {
    const { apiEventRecorder } = await import('../pods/kube/event-recorder.js');
    const { kubeConfigFrom } = await import('../pods/kube/kube-config.js');
    const recorder = apiEventRecorder(kubeConfigFrom(), config.kubernetes.nodeName);
    warnPod = (pod, reason, message) => {
      const v1: V1Pod = { metadata: { namespace: pod.namespace, name: pod.name, uid: pod.uid } };
      return recorder.warning(v1, reason, message);
    };
  }
  return openLanSide({
    config: config.ipam!,
    lanLink: config.lanInterface,
    log: log.child({ component: 'ipam-lan' }),
    warnPod,
  });
}

/** Lets the LAN side see the discovery traffic the reflector receives on the LAN link. */
export function observeDiscovery(reflector: Reflector, lan: LanSide): void {
  reflector.lanObserver = (d) => {
    if (d.family === 4) lan.observe(d.src, d.dstPort, d.payload);
  };
}
