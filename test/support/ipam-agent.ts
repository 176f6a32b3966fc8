// An agent with an `ipam:` section, started in a node namespace of a bed, with its own socket and
// store directory under a temporary directory (namespaces share the host's /run and /tmp).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startAgent, type RunningAgent } from './agent.js';
import type { Bed } from './netns.js';

export interface IpamAgentOptions {
  /** The `ipam:` section (socket and store are filled in unless given). */
  ipam: Record<string, unknown>;
  /** Other top-level config keys. */
  extra?: Record<string, unknown>;
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

export interface IpamAgent extends RunningAgent {
  dir: string;
  socket: string;
  store: string;
  configPath: string;
  /** Starts the agent again on the same config, socket and store (after stop or kill -9). */
  restart(): Promise<IpamAgent>;
  /** SIGKILL to the agent, at once: no cleanup of any kind runs. */
  kill9(): Promise<void>;
  remove(): void;
}

export function ipamDir(): string {
  return mkdtempSync(join(tmpdir(), 'lr-ipam-'));
}

export async function startIpamAgent(
  bed: Bed,
  node: string,
  o: IpamAgentOptions,
  dir = ipamDir(),
): Promise<IpamAgent> {
  const socket = join(dir, 'run', 'ipam.sock');
  const store = join(dir, 'store');
  mkdirSync(join(dir, 'run'), { recursive: true });
  const configPath = join(dir, 'config.yaml');
  const config = { lanInterface: 'lan0', ...o.extra, ipam: { socket, store, ...o.ipam } };
  writeFileSync(configPath, stringify(config));
  const agent = await startAgent(bed, node, {
    args: ['--config', configPath, ...(o.args ?? [])],
    env: o.env,
  });
  await agent.proc.waitForLine(/"ipam listening"/, { stream: 'stderr', timeoutMs: 15_000 });
  const self: IpamAgent = {
    ...agent,
    dir,
    socket,
    store,
    configPath,
    restart: () => startIpamAgent(bed, node, o, dir),
    kill9: async () => {
      agent.proc.signal('SIGKILL');
      await agent.proc.exited;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  return self;
}
