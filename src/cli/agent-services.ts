// The agent's side services: control socket and metrics server. Each starts only if configured. A
// service that cannot start is logged and retried: relaying matters more than observing it.
import type { Agent } from '../agent/agent.js';
import { ControlServer } from '../control/server.js';
import type { ControlSource } from '../control/types.js';
import type { IpamService } from '../ipam/service.js';
import type { Logger } from '../log/logger.js';

const RETRY_MS = 5000;
const stops: Array<() => Promise<void>> = [];
let stopping = false;

/**
 * Starts `open`; on failure logs why (again only when the reason changes) and tries again every few
 * seconds until it works or the agent stops — e.g. while the agent being replaced still holds the
 * control socket or the metrics port.
 */
function keepTrying(what: string, log: Logger, open: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let lastError = '';
  stops.push(async () => {
    if (timer) clearTimeout(timer);
  });
  const attempt = async (): Promise<void> => {
    try {
      await open();
      if (lastError) log.info(`${what} started`);
    } catch (err) {
      if (stopping) return;
      const message = (err as Error).message;
      if (message !== lastError)
        log.error(`cannot start the ${what}; retrying every ${RETRY_MS / 1000}s`, { error: message });
      lastError = message;
      timer = setTimeout(() => void attempt(), RETRY_MS);
      timer.unref();
    }
  };
  return attempt();
}

export async function startServices(agent: Agent, log: Logger, ipam?: IpamService): Promise<void> {
  const source: ControlSource = agent;
  const { controlSocket, metricsAddress } = agent.config;
  if (controlSocket) {
    const control = new ControlServer(source, {
      path: controlSocket,
      log,
      ipam: ipam && (() => ipam.cliListing()),
    });
    await keepTrying('control socket', log, async () => {
      await control.listen();
      stops.push(() => control.close());
    });
  }
  if (metricsAddress) {
    // Loaded only when asked for: prom-client alone costs the agent several MB of memory.
    const { createMetricsRegistry } = await import('../metrics/collectors.js');
    const { MetricsServer, readinessOf } = await import('../metrics/server.js');
    const registry = createMetricsRegistry(agent);
    if (ipam) (await import('../ipam/metrics-registry.js')).registerIpamMetrics(registry, ipam.metrics);
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
