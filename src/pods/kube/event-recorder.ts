// Kubernetes Events about pods: how a user who ran `kubectl describe pod` learns why the agent
// ignores their pod. Posting is best effort; the agent's log carries the same line.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

export interface EventRecorder {
  /** Records a Warning event whose involvedObject is the pod. Rejects when the API refuses it. */
  warning(pod: V1Pod, reason: string, message: string): Promise<void>;
}

export const EVENT_COMPONENT = 'lan-reflector';

/** The API caps an event's message at 1024 bytes; longer ones are refused, not truncated. */
const MAX_MESSAGE = 1000;

/** Posts core/v1 Events, as client-go's recorder does (needs RBAC `create` on `events`). */
export function apiEventRecorder(kubeConfig: KubeConfig, nodeName: string): EventRecorder {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  return {
    async warning(pod, reason, message) {
      const namespace = pod.metadata?.namespace ?? 'default';
      const name = pod.metadata?.name ?? '';
      const now = new Date();
      await api.createNamespacedEvent({
        namespace,
        body: {
          // client-go names events `<object>.<unique suffix>`; the suffix only has to be unique.
          metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
          involvedObject: {
            kind: 'Pod',
            apiVersion: 'v1',
            namespace,
            name,
            uid: pod.metadata?.uid,
            resourceVersion: pod.metadata?.resourceVersion,
          },
          type: 'Warning',
          reason,
          message: message.length > MAX_MESSAGE ? message.slice(0, MAX_MESSAGE - 1) + '…' : message,
          source: { component: EVENT_COMPONENT, host: nodeName },
          reportingComponent: EVENT_COMPONENT,
          reportingInstance: nodeName,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    },
  };
}

/** For sources built without API access (tests that inject list and watch). */
export const noEventRecorder: EventRecorder = { warning: async () => undefined };
