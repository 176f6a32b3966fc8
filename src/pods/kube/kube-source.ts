// The pods of this node that opted in, from the Kubernetes API: client-node's ListWatch informer,
// restricted to `spec.nodeName=<this node>`, feeding a PodSink.
//
// Through an API outage the agent keeps relaying for the pods it knows: a lost watch removes nothing.
// client-node 2.x's ListWatch stops for good on any watch or list error other than 410 (it only fires
// `error`), so this class restarts it with its own back-off. On 410 Gone the informer relists by
// itself, and its relist reports pods that vanished meanwhile as deletes.
import {
  CoreV1Api,
  ListWatch,
  Watch,
  type KubeConfig,
  type ListPromise,
  type V1Pod,
} from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PodOptions } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import type { PodKey, PodSink, PodSource } from '../types.js';
import { apiEventRecorder, noEventRecorder, type EventRecorder } from './event-recorder.js';
import { isSkip, podKey, podToSpec } from './pod-to-spec.js';

/** The part of client-node's Watch the informer uses; tests may pass their own (STYLE.md 9). */
export type WatchLike = Pick<Watch, 'watch'>;
export type ListPods = ListPromise<V1Pod>;
/** Waits `ms`, or less when `signal` aborts; must resolve, never reject. */
export type DelayFn = (ms: number, signal: AbortSignal) => Promise<void>;

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export interface KubePodSourceOptions {
  nodeName: string;
  podDefaults: PodOptions;
  logger: Logger;
  /** API access; list, watch and recorder default to clients built from it. */
  kubeConfig?: KubeConfig;
  list?: ListPods;
  watch?: WatchLike;
  recorder?: EventRecorder;
  backoff?: Partial<BackoffOptions>;
  delay?: DelayFn;
}

export const INVALID_ANNOTATION_REASON = 'InvalidAnnotation';
const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };
/** ListWatch's own reconnect delays start at 1 s; scaled so both paths follow our back-off. */
const LISTWATCH_BASE_MS = 1000;
const defaultDelay: DelayFn = (ms, signal) => sleep(ms, undefined, { signal }).catch(() => undefined);

export class KubePodSource implements PodSource {
  readonly name = 'kubernetes';
  private _synced = false;
  private sink?: PodSink;
  private stopped = true;
  private abort = new AbortController();
  private healthy = true;
  private failures = 0;
  /** Set when the last error ended a watch that had been open: a blip, not (yet) an outage. */
  private dropped = false;
  private readonly informer: ListWatch<V1Pod>;
  private readonly recorder: EventRecorder;
  private readonly backoff: BackoffOptions;
  private readonly delay: DelayFn;
  private readonly log: Logger;
  /** What the sink holds, as JSON, so an unchanged pod (status churn, a relist) is not re-sent. */
  private readonly served = new Map<PodKey, string>();
  /** Invalid pods already reported, by uid and errors: one event per distinct mistake, not per update. */
  private readonly reported = new Map<PodKey, string>();

  constructor(private readonly opts: KubePodSourceOptions) {
    const { kubeConfig, nodeName } = opts;
    const fieldSelector = `spec.nodeName=${nodeName}`;
    const api = kubeConfig?.makeApiClient(CoreV1Api);
    const list = opts.list ?? (api && (() => api.listPodForAllNamespaces({ fieldSelector })));
    const watch = opts.watch ?? (kubeConfig && new Watch(kubeConfig));
    if (!list || !watch) throw new Error('KubePodSource needs a kubeConfig, or both list and watch');
    this.recorder = opts.recorder ?? (kubeConfig ? apiEventRecorder(kubeConfig, nodeName) : noEventRecorder);
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.delay = opts.delay ?? defaultDelay;
    this.log = opts.logger.child({ component: 'pod-watch', node: nodeName });
    const scale = this.backoff.initialMs / LISTWATCH_BASE_MS;
    this.informer = new ListWatch<V1Pod>(
      '/api/v1/pods',
      this.observe(watch) as Watch, // ListWatch calls only watch(); Watch's private fields block a structural match
      list,
      false,
      undefined,
      fieldSelector,
      { delayFn: (ms) => this.delay(Math.min(ms * scale, this.backoff.maxMs), this.abort.signal) },
    );
    this.informer.on('add', (pod) => this.onPod(pod));
    this.informer.on('update', (pod) => this.onPod(pod));
    this.informer.on('delete', (pod) => this.withdraw(podKey(pod), 'deleted'));
    this.informer.on('error', (err) => this.onError(err));
  }

  get synced(): boolean {
    return this._synced;
  }

  /** Any pod of this node the watch has seen, opted in or not (the IPAM reads its annotations). */
  cachedPod(namespace: string, name: string): V1Pod | undefined {
    return this.informer.get(name, namespace);
  }

  /** Resolves after the first list and watch attempt; retries continue in the background. */
  async start(sink: PodSink): Promise<void> {
    this.sink = sink;
    this.stopped = false;
    this.abort = new AbortController();
    await this.informer.start().catch((err) => this.onError(err));
  }

  /** Stops watching. The sink keeps its pods: what to do with them is the agent's decision. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.informer.stop();
  }

  /** Wraps the watch to learn when a (re)connection succeeds, and to ask for bookmarks. */
  private observe(inner: WatchLike): WatchLike {
    return {
      watch: async (path, params, onEvent, done) => {
        // ListWatch only watches after a list went through: the first call means the view is complete.
        this._synced = true;
        // After stop(), ListWatch may still come out of a reconnect delay and try again.
        if (this.stopped) return new AbortController();
        let ended = false;
        let open = false;
        // Bookmarks advance the resourceVersion on a quiet node, so a reconnect resumes instead of
        // hitting 410, and they reset ListWatch's reconnect delay.
        const withBookmarks = { ...params, allowWatchBookmarks: true };
        const ctl = await inner.watch(path, withBookmarks, onEvent, (err) => {
          ended = true;
          this.dropped = open && err != null;
          done(err);
        });
        if (!ended) {
          open = true;
          this.onConnected();
        }
        return ctl;
      },
    };
  }

  private onConnected(): void {
    this.failures = 0;
    if (this.healthy) return;
    this.healthy = true;
    this.log.info('pod watch reconnected', { pods: this.served.size });
  }

  private onError(err: unknown): void {
    if (this.stopped) return; // stop() aborts the request, which ListWatch reports as an error
    const dropped = this.dropped;
    this.dropped = false;
    if (dropped && this.healthy) {
      // An open stream cut (idle timeout of a load balancer, API server restart): resume after the
      // shortest delay (not zero: a server that accepts and cuts must not be hammered), and call the
      // watch lost only if that fails.
      this.log.debug('pod watch dropped; resuming', { error: describeError(err) });
    } else if (this.healthy) {
      this.healthy = false;
      this.log.warn('pod watch lost', { error: describeError(err), keeping: this.served.size });
    } else {
      this.log.debug('pod watch still down', { error: describeError(err) });
    }
    const ms = dropped
      ? this.backoff.initialMs
      : Math.min(this.backoff.initialMs * 2 ** this.failures++, this.backoff.maxMs);
    void this.delay(ms, this.abort.signal).then(() => {
      if (!this.stopped) return this.informer.start().catch((e) => this.onError(e));
    });
  }

  private onPod(pod: V1Pod): void {
    const key = podKey(pod);
    const d = podToSpec(pod, this.opts.podDefaults);
    if (isSkip(d)) {
      if (d.skip === 'invalid-annotation') this.reportInvalid(key, pod, d.errors);
      else this.reported.delete(key);
      return this.withdraw(key, d.skip);
    }
    this.reported.delete(key);
    const json = JSON.stringify(d);
    if (this.served.get(key) === json) return;
    this.log.info(this.served.has(key) ? 'pod changed' : 'pod opted in', {
      pod: key,
      addresses: d.addresses,
    });
    this.served.set(key, json);
    this.toSink((s) => s.upsert(d));
  }

  private withdraw(key: PodKey, reason: string): void {
    if (reason === 'deleted') this.reported.delete(key);
    if (!this.served.delete(key)) return;
    this.log.info('pod withdrawn', { pod: key, reason });
    this.toSink((s) => s.remove(key));
  }

  private reportInvalid(key: PodKey, pod: V1Pod, errors: string[]): void {
    const mistake = `${pod.metadata?.uid}|${errors.join('\n')}`;
    if (this.reported.get(key) === mistake) return;
    this.reported.set(key, mistake);
    this.log.warn('pod has invalid annotations; not serving it', { pod: key, errors });
    const message = `lan-reflector does not serve this pod: ${errors.join('; ')}`;
    this.recorder.warning(pod, INVALID_ANNOTATION_REASON, message).catch((err) => {
      this.log.warn('could not record event', { pod: key, error: describeError(err) });
    });
  }

  /** A throwing sink must not break the informer's loop, which calls us synchronously. */
  private toSink(fn: (sink: PodSink) => void): void {
    try {
      if (this.sink) fn(this.sink);
    } catch (err) {
      this.log.error('pod sink failed', { error: describeError(err) });
    }
  }
}

/** One line for the log: client-node errors carry the HTTP status, fetch errors hide theirs in `cause`. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { statusCode?: number; code?: number | string; cause?: { code?: string } };
  const code = e.statusCode ?? e.code ?? e.cause?.code;
  return code !== undefined ? `${e.message} (${code})` : e.message;
}
