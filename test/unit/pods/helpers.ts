// Test doubles that record what the code under test did; no fakes of the code's collaborators.
import { Writable } from 'node:stream';
import winston from 'winston';
import type { V1Pod } from '@kubernetes/client-node';
import type { PodOptions } from '../../../src/config/types.js';
import type { Logger } from '../../../src/log/logger.js';
import type { PodKey, PodSink, PodSpec } from '../../../src/pods/types.js';

export const DEFAULTS: PodOptions = {
  protocols: ['mdns', 'ssdp', 'broadcast'],
  direction: 'both',
  services: [],
  broadcastPorts: [],
};

/** A PodSink that keeps the calls in order and the resulting view. */
export class RecordingSink implements PodSink {
  readonly calls: Array<{ op: 'upsert'; pod: PodSpec } | { op: 'remove'; key: PodKey }> = [];
  readonly pods = new Map<PodKey, PodSpec>();
  upsert(pod: PodSpec): void {
    this.calls.push({ op: 'upsert', pod });
    this.pods.set(pod.key, pod);
  }
  remove(key: PodKey): void {
    this.calls.push({ op: 'remove', key });
    this.pods.delete(key);
  }
  removes(): PodKey[] {
    return this.calls.flatMap((c) => (c.op === 'remove' ? [c.key] : []));
  }
  upserts(key: PodKey): PodSpec[] {
    return this.calls.flatMap((c) => (c.op === 'upsert' && c.pod.key === key ? [c.pod] : []));
  }
}

/** A real winston logger whose lines land in `lines` (message, level and metadata). */
export function recordingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    objectMode: true,
    write(info, _enc, cb) {
      lines.push(info as Record<string, unknown>);
      cb();
    },
  });
  const logger = winston.createLogger({
    level: 'debug',
    transports: [new winston.transports.Stream({ stream })],
  });
  return { logger: logger as unknown as Logger, lines };
}

/** Polls until `cond` holds; fails with `what` after `ms`. */
export async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let seq = 0;
/** A running pod on `node` with `annotations`, its IP assigned. */
export function pod(
  name: string,
  opts: { node?: string; annotations?: Record<string, string>; ip?: string; namespace?: string } = {},
): V1Pod {
  return {
    metadata: { name, namespace: opts.namespace ?? 'home', annotations: opts.annotations },
    spec: { nodeName: opts.node ?? 'node-a', containers: [{ name: 'main', image: 'example' }] },
    status:
      opts.ip === ''
        ? { phase: 'Pending' }
        : {
            phase: 'Running',
            podIP: opts.ip ?? `10.1.0.${++seq}`,
            podIPs: [{ ip: opts.ip ?? `10.1.0.${seq}` }],
          },
  };
}
