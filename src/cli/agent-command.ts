// `lan-reflector agent`: parses flags into a config, starts the agent, stops it on SIGTERM.
import type { Command } from 'commander';
import { Agent } from '../agent/agent.js';
import { loadConfig, type AgentFlags } from '../config/load.js';
import { createLogger } from '../log/logger.js';
import { StaticPodSource } from '../pods/static-source.js';
import type { PodSource } from '../pods/types.js';
import { collect } from './options.js';

const EXAMPLES = `
Examples:
  # relay mDNS between eth0 and two pods of this node (pods are named by address)
  lan-reflector agent --lan-interface eth0 --pod 192.168.4.199 --pod 192.168.4.200

  # everything from a file; flags override it
  lan-reflector agent --config /etc/lan-reflector/config.yaml

  # in a DaemonSet: pods opt in with the annotation lan-reflector.io/enabled: "true"
  lan-reflector agent --config /etc/lan-reflector/config.yaml --kubernetes

Needs root or CAP_NET_RAW (raw sockets) and CAP_NET_ADMIN.`;

export function agentCommand(program: Command): void {
  program
    .command('agent')
    .description('relay discovery traffic between the LAN interface and opted-in pods (runs until SIGTERM)')
    .option('-c, --config <file>', 'YAML config file (see README "Configuration")')
    .option('-i, --lan-interface <name>', "the node's LAN interface, e.g. eth0")
    .option('-p, --pod <address>', 'relay for the pod with this IPv4 address (repeatable)', collect)
    .option('--protocols <list>', 'comma-separated: mdns, ssdp, broadcast (default: mdns)')
    .option('--source-mode <mode>', 'auto | preserve | node: how pod packets are sent onto the LAN')
    .option('--broadcast <presets>', 'broadcast port presets: wiz, kasa, lifx, tuya (repeatable)', collect)
    .option('--broadcast-port <port>', 'a UDP broadcast port to relay (repeatable)', collect)
    .option('--multicast-group <group:port>', 'an extra multicast group to relay (repeatable)', collect)
    .option('--kubernetes', "watch this node's pods for the opt-in annotation (needs NODE_NAME)")
    .option('--node-name <name>', "this node's name (default: $NODE_NAME)")
    .option(
      '--control-socket <path>',
      'unix socket for `tail` and `status` (default: /run/lan-reflector/control.sock)',
    )
    .option('--metrics-address <host:port>', 'serve /metrics, /healthz and /readyz here (default: off)')
    .option('--log-level <level>', 'error | warn | info | debug')
    .option('--log-format <format>', 'auto | json | text (auto: text on a terminal, JSON otherwise)')
    .addHelpText('after', EXAMPLES)
    .action(async (raw: AgentFlags) => {
      const flags: AgentFlags = {
        ...raw,
        pod: raw.pod?.length ? raw.pod : undefined,
        broadcast: raw.broadcast?.length ? raw.broadcast : undefined,
        broadcastPort: raw.broadcastPort?.length ? raw.broadcastPort : undefined,
        multicastGroup: raw.multicastGroup?.length ? raw.multicastGroup : undefined,
      };
      const config = loadConfig(flags);
      const log = createLogger(config.log.level, config.log.format);
      const sources: PodSource[] = [];
      if (config.pods.length) sources.push(new StaticPodSource(config.pods));
      if (config.kubernetes.enabled) {
        const { kubeSourceFor } = await import('./kube-wiring.js');
        sources.push(await kubeSourceFor(config, log));
      }
      // The LAN side answers ARP for the IPAM's pods and guards its pool (issue 10).
      const lanWiring = config.ipam ? await import('./lan-side-wiring.js') : undefined;
      const lan = await lanWiring?.lanSideFor(config, log);
      const ipam = config.ipam
        ? await (
            await import('./ipam-wiring.js')
          ).ipamFor(
            config,
            log,
            sources,
            lan && { guard: lan.guard, announcer: lan.announcer, hostRoutes: lan.hostRoutes },
          )
        : undefined;
      if (sources.length === 0)
        log.warn('no pods to relay for: give --pod ADDRESS, a `pods:` list, or --kubernetes');
      const agent = new Agent(config, sources, log);
      if (lan) lanWiring?.observeDiscovery(agent.reflector, lan);
      if (lan && ipam) lan.onConflict(() => ipam.metrics.conflicts.inc('assigned'));
      const extras = await import('./agent-services.js');
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info('stopping', { signal });
        // Leave nothing behind that cuts pods off; exit even if a close hangs.
        setTimeout(() => process.exit(0), 900).unref();
        await extras.stopServices();
        await ipam?.stop();
        lan?.close(); // the kernel's proxy entries stay: pods stay reachable until the next agent
        await agent.stop();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      agent.preflight();
      // Probes first: /healthz answers while the agent starts; /readyz says 503 until it is ready.
      await extras.startServices(agent, log, ipam);
      // The IPAM first: ADDs for pods must not wait for the reflector's sockets.
      await ipam?.start();
      await agent.start();
    });
}
