// The agent's side services: control socket and metrics server. Each starts only if configured. A
// service that cannot start is logged and retried: relaying matters more than observing it.
import type { Agent } from '../agent/agent.js';
import { ControlServer } from '../control/server.js';
import type { ControlSource } from '../control/types.js';
import type { Logger } from '../log/logger.js';
import { createMetricsRegistry } from '../metrics/collectors.js';
import { MetricsServer, readinessOf } from '../metrics/server.js';

const RETRY_MS = 5000;
const stops: Array<() => Promise<void>> = [];
let stopping = false;

/** Starts `open`; on failure logs why and tries again every few seconds until it works or we stop. */
async function keepTrying(what: string, log: Logger, open: () => Promise<void>): Promise<void> {
  try {
    await open();
  } catch (err) {
    if (stopping) return;
    log.error(`cannot start the ${what}; retrying in ${RETRY_MS / 1000}s`, { error: (err as Error).message });
    const timer = setTimeout(() => void keepTrying(what, log, open), RETRY_MS);
    timer.unref();
    stops.push(async () => clearTimeout(timer));
  }
}

export async function startServices(agent: Agent, log: Logger): Promise<void> {
  const source: ControlSource = agent;
  const { controlSocket, metricsAddress } = agent.config;
  if (controlSocket) {
    const control = new ControlServer(source, { path: controlSocket, log });
    await keepTrying('control socket', log, async () => {
      await control.listen();
      stops.push(() => control.close());
    });
  }
  if (metricsAddress) {
    const registry = createMetricsRegistry(agent);
    const metrics = new MetricsServer(registry, readinessOf(agent), { address: metricsAddress, log });
    await keepTrying('metrics server', log, async () => {
      await metrics.listen();
      stops.push(() => metrics.close());
    });
  }
}

export async function stopServices(): Promise<void> {
  stopping = true;
  await Promise.allSettled(stops.map((s) => s()));
}
