// `lan-reflector status`: what the agent on this node relays for, and how much, since it started.
import type { Command } from 'commander';
import { DEFAULT_CONTROL_SOCKET } from '../config/load.js';
import { ControlClientError, requestStatus } from '../control/client.js';
import { formatStatus } from '../control/format.js';

const EXAMPLES = `
Shows the opted-in pods with their host links and options, the open interfaces and the multicast
groups joined on each, the source mode, and packet counters per protocol and direction since the
agent started. Talks to the agent's control socket (root only).

Examples:
  # on the node, as root
  sudo lan-reflector status

  # in a cluster
  kubectl -n lan-reflector exec ds/lan-reflector -- lan-reflector status

  # for scripts: one JSON object
  lan-reflector status --json | jq '.pods[] | {name, link}'

Exit codes: 0 shown; 3 the agent is not reachable; 4 permission denied (run as root).`;

export interface StatusFlags {
  controlSocket: string;
  json?: boolean;
}

export function statusCommand(program: Command): void {
  program
    .command('status')
    .description("show the agent's opted-in pods, interfaces, group memberships and packet counters")
    .option('--control-socket <path>', "the agent's control socket", DEFAULT_CONTROL_SOCKET)
    .option('--json', 'print the status as one JSON object')
    .addHelpText('after', EXAMPLES)
    .action(async (flags: StatusFlags) => {
      try {
        const status = await requestStatus(flags.controlSocket);
        process.stdout.write(flags.json ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status));
      } catch (err) {
        if (!(err instanceof ControlClientError)) throw err;
        process.stderr.write(`lan-reflector: ${err.message}\n`);
        process.exit(err.exitCode);
      }
    });
}
