// Optimistic updates: read, change, replace with the resourceVersion read; a 409 Conflict means
// another writer came first, so read again and retry — a bounded number of times, with exponential
// back-off and full jitter, so writers that collided do not collide again in lockstep.
import { setTimeout as sleep } from 'node:timers/promises';
import { failureOf, KubeApiError } from './kube-api.js';

export interface RetryOptions {
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** [0, 1), injectable for tests. */
  random?: () => number;
  delay?: (ms: number) => Promise<unknown>;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 6, baseMs: 10, maxMs: 400 };

/** The wait before retry `n` (0-based): uniform in [0, min(max, base·2ⁿ)] ("full jitter"). */
export function backoffMs(n: number, o: RetryOptions): number {
  const cap = Math.min(o.maxMs, o.baseMs * 2 ** n);
  return Math.round((o.random ?? Math.random)() * cap);
}

/**
 * Runs `attempt` until it returns, retrying only on 409 Conflict. After the last attempt the
 * conflict is thrown as is; any other failure is thrown at once.
 */
export async function onConflictRetry<T>(
  attempt: () => Promise<T>,
  o: RetryOptions = DEFAULT_RETRY,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (failureOf(err) !== 'conflict' || n + 1 >= o.attempts) throw err;
      await (o.delay ?? sleep)(backoffMs(n, o));
    }
  }
}

export { KubeApiError };
