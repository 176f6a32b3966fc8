// `lan-reflector tail`: one line per packet the agent relayed or dropped, decoded, until Ctrl-C.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_CONTROL_SOCKET } from '../config/load.js';
import { PROTOCOL_NAMES, type ProtocolName } from '../config/types.js';
import { ControlClientError } from '../control/client.js';
import { formatPacketLine } from '../control/format.js';
import { TailFollower } from '../control/tail-client.js';
import type { TailFilter } from '../control/types.js';
import type { Flow } from '../reflect/types.js';
import { statusCommand } from './status-command.js';

const EXAMPLES = `
Each line: time, protocol, direction, source -> targets, then what the packet says (mDNS questions
and answers, SSDP method/ST/NT/LOCATION/USN, broadcast port and size), and for a drop its reason:
not-opted-in, spoofed, own-echo, duplicate, rate-limited, malformed, too-big, filtered, no-target.
Filters are applied in the agent, so filtered-out packets cost nothing. If the agent restarts, tail
waits for it and carries on (it says so on stderr). A terminal that reads too slowly loses lines and
is told how many; the agent itself is never slowed.

Examples:
  # in a cluster: what reaches and leaves Home Assistant
  kubectl -n lan-reflector exec ds/lan-reflector -- lan-reflector tail --pod home-assistant

  # on the node, as root: SSDP packets the agent refused, and why
  sudo lan-reflector tail --proto ssdp --drops

  # HomeKit discovery only, from the LAN into pods
  sudo lan-reflector tail --service _hap._tcp --direction lan-to-pod

  # for scripts: one JSON object per line; stop after 20 packets
  sudo lan-reflector tail --json --count 20 | jq -c '{src, targets, answers}'

  # a pod by address, waiting for the agent if it is not up yet
  sudo lan-reflector tail --pod 10.42.0.17 --wait

Exit codes: 0 stopped; 2 bad filter; 3 the agent is not reachable; 4 permission denied (run as root).`;

export interface TailFlags {
  controlSocket: string;
  proto?: ProtocolName[];
  pod?: string;
  direction?: Flow | 'both';
  service?: string;
  drops?: boolean;
  json?: boolean;
  count?: number;
  wait?: boolean;
}

function protocolList(value: string, previous: ProtocolName[] = []): ProtocolName[] {
  const out = [...previous];
  for (const p of value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)) {
    if (!PROTOCOL_NAMES.includes(p as ProtocolName))
      throw new InvalidArgumentError(`"${p}" is not a protocol (use ${PROTOCOL_NAMES.join(', ')})`);
    out.push(p as ProtocolName);
  }
  return out;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError('give a whole number of packets, 1 or more');
  return n;
}

export function filterFromFlags(f: TailFlags): TailFilter {
  const filter: TailFilter = {};
  if (f.proto?.length) filter.protocols = [...new Set(f.proto)];
  if (f.pod) filter.pod = f.pod;
  if (f.direction && f.direction !== 'both') filter.direction = f.direction;
  if (f.service) filter.service = f.service;
  if (f.drops) filter.drops = true;
  return filter;
}

export function tailCommand(program: Command): void {
  program
    .command('tail')
    .description('stream the packets the agent relays or drops, decoded, one line each (Ctrl-C to stop)')
    .option(
      '--proto <list>',
      `only these protocols, comma-separated: ${PROTOCOL_NAMES.join(', ')}`,
      protocolList,
    )
    .option('--pod <name|address>', 'only packets from or to this pod: namespace/name, name, or IPv4 address')
    .addOption(
      new Option('--direction <direction>', 'only one direction').choices([
        'lan-to-pod',
        'pod-to-lan',
        'both',
      ]),
    )
    .option(
      '--service <type>',
      'only mDNS packets naming this service type, e.g. _hap._tcp or _googlecast._tcp',
    )
    .option('--drops', 'only packets the agent dropped, with the reason')
    .option('--json', 'one JSON object per line (type "packet", or "lost" with a count)')
    .option('-n, --count <n>', 'stop after this many packets', positiveInt)
    .option('--wait', 'if the agent is not running yet, wait for it instead of failing')
    .option('--control-socket <path>', "the agent's control socket", DEFAULT_CONTROL_SOCKET)
    .addHelpText('after', EXAMPLES)
    .action(async (flags: TailFlags) => {
      const out = process.stdout;
      let shown = 0;
      const follower: TailFollower = new TailFollower({
        path: flags.controlSocket,
        filter: filterFromFlags(flags),
        waitAtStart: flags.wait,
        onPacket(p) {
          if (flags.count && shown >= flags.count) return;
          out.write(flags.json ? JSON.stringify(p) + '\n' : formatPacketLine(p) + '\n');
          if (flags.count && ++shown >= flags.count) follower.stop();
        },
        onLost(count) {
          if (flags.json) out.write(JSON.stringify({ type: 'lost', count }) + '\n');
          else
            process.stderr.write(
              `lan-reflector: ${count} packets not shown: this terminal read too slowly\n`,
            );
        },
        onNotice(message) {
          process.stderr.write(`lan-reflector: ${message}\n`);
        },
      });
      // `tail | head` closes stdout: that is a normal way to stop.
      out.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') follower.stop();
      });
      process.once('SIGINT', () => follower.stop());
      process.once('SIGTERM', () => follower.stop());
      try {
        await follower.done;
      } catch (err) {
        if (!(err instanceof ControlClientError)) throw err;
        process.stderr.write(`lan-reflector: ${err.message}\n`);
        process.exit(err.exitCode);
      }
      // Let stdout flush before leaving (it may be a pipe).
      await new Promise<void>((r) =>
        out.writableLength && !out.destroyed ? out.once('drain', () => r()) : r(),
      );
      process.exit(0);
    });
}

/** Registers the commands that talk to the control socket: `status` and `tail`. */
export function controlCommands(program: Command): void {
  statusCommand(program);
  tailCommand(program);
}
