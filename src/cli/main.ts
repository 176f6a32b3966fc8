// The lan-reflector command line. Thin: each command lives in its own file.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/errors.js';
import { PrivilegeError } from '../wire/raw-link.js';
import { agentCommand } from './agent-command.js';
import { ipamCommands } from './ipam-command.js';
import { controlCommands } from './tail-command.js';

const program = new Command();
program
  .name('lan-reflector')
  .description(
    'Relays mDNS, SSDP and UDP-broadcast discovery between a LAN and the Kubernetes pods that opt in, ' +
      "keeping each packet's source address, so Home Assistant in a pod finds the devices on your LAN. With an ipam: section it also gives opted-in pods LAN addresses the devices can reach (the lan-reflector-ipam CNI plugin).",
  )
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError('(add --help for usage)');
agentCommand(program);
controlCommands(program);
ipamCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with exit code 0
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`lan-reflector: config: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof PrivilegeError) {
    process.stderr.write(`lan-reflector: ${err.message}\n`);
    process.exit(4);
  }
  process.stderr.write(`lan-reflector: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
