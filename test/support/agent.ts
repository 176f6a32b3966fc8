// Starts the real agent, as a process, inside a node namespace of a test bed.
import { fileURLToPath } from 'node:url';
import type { Bed, Proc } from './netns.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
export const AGENT_BIN = `${root}/bin/lan-reflector.js`;
export const CLI = (args: string[]): string[] => [process.execPath, AGENT_BIN, ...args];

export interface AgentOptions {
  /** Extra flags after `agent`; `--lan-interface lan0` and a private control socket are added. */
  args: string[];
  /** Pod links expected before the agent counts as started (from its `pod link found` lines). */
  pods?: number;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface RunningAgent {
  proc: Proc;
  controlSocket: string;
  /** The agent's log lines (JSON, one per state change). */
  log(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Namespaces share the host's /run: every agent in a test gets a control socket of its own. */
export async function startAgent(bed: Bed, node: string, opts: AgentOptions): Promise<RunningAgent> {
  const controlSocket = `/tmp/${bed.ns(node)}-${Math.random().toString(16).slice(2, 8)}.sock`;
  const argv = CLI([
    'agent',
    '--lan-interface',
    'lan0',
    '--control-socket',
    controlSocket,
    '--log-format',
    'json',
  ]);
  argv.push(...opts.args);
  const proc = bed.spawn(node, argv, { env: opts.env });
  const log = () =>
    proc
      .lines('stderr')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  await proc.waitForLine(/"agent started"/, { stream: 'stderr', timeoutMs: opts.timeoutMs ?? 15_000 });
  const want = opts.pods ?? 0;
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  while (log().filter((l) => l.message === 'link opened').length < want) {
    if (proc.status) throw new Error(`agent exited: ${proc.stderr}`);
    if (Date.now() > deadline) throw new Error(`agent did not open ${want} pod links:\n${proc.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, controlSocket, log, stop: async () => void (await proc.stop()) };
}
