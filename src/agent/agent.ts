// Wires the boxes of DESIGN.md together: pod sources -> registry -> link resolver -> reflector.
// It holds no packet logic and no decisions of its own: those are the pure pieces it calls
// (attachPods, reachOf, wantedLinks, Readiness) and the reflector built complete here.
import { existsSync, readdirSync } from 'node:fs';
import type { AgentConfig } from '../config/types.js';
import { ConfigError } from '../config/errors.js';
import { EventBus } from '../events/bus.js';
import type { Logger } from '../log/logger.js';
import { attachPods } from '../links/attach.js';
import { isBridge, nudgeNeighbour, readBridgePorts } from '../links/bridge-ports.js';
import { readLanAddress } from '../links/lan-address.js';
import { reachOf } from '../links/reach.js';
import { LinkMonitor, readRoutes } from '../links/route-table.js';
import { lookupRoute } from '../links/routes.js';
import { PodRegistry } from '../pods/registry.js';
import type { PodSource } from '../pods/types.js';
import { discoveryPorts } from '../protocols/ports.js';
import { udpPortFilter } from '../wire/bpf.js';
import { protocolTable, type ProtocolTable } from '../protocols/registry.js';
import { Counters } from '../reflect/counters.js';
import { DedupeWindow } from '../reflect/dedupe.js';
import { Reflector } from '../reflect/engine.js';
import { TokenBuckets } from '../reflect/token-buckets.js';
import { buildTopology, type LanAddress, type PodAttachment } from '../reflect/types.js';
import { isLinkLocal6, isV6, parseUdp6 } from '../wire/ipv6.js';
import type { Received } from '../wire/native.js';
import { LinkSet } from './link-set.js';
import { Link6Set } from './link6-set.js';
import { NodeSessions } from './node-relay.js';
import { Readiness } from './readiness.js';
import { relayedAttachments, wantedLinks } from './wanted-links.js';

export class Agent {
  readonly bus = new EventBus();
  readonly counters = new Counters();
  readonly registry: PodRegistry;
  readonly protocols: ProtocolTable;
  readonly reflector: Reflector;
  readonly sessions: NodeSessions;
  readonly links: LinkSet;
  /** The IPv6 sockets, beside the IPv4 ones, on the links of pods with an IPv6 address. */
  readonly links6: Link6Set;
  readonly startedAt = Date.now();
  private readonly readiness = new Readiness();
  private readonly problems = new Map<string, string>();
  private monitor?: LinkMonitor;
  private timer?: NodeJS.Timeout;
  private scanning?: Promise<void>;
  private rescanWanted = false;
  private started = false;
  private relayed: readonly PodAttachment[] = [];

  constructor(
    readonly config: AgentConfig,
    private readonly sources: PodSource[],
    private readonly log: Logger,
  ) {
    this.protocols = protocolTable(config);
    this.registry = new PodRegistry((change, pod) => {
      this.log.info(change === 'upsert' ? 'pod opted in' : 'pod opted out', { pod: pod.name });
      this.requestScan();
    });
    this.links = new LinkSet(
      (buf, link) => this.reflector.handle(buf, link),
      log,
      () => this.requestScan(),
      discoveryPorts(config),
    );
    const ports = discoveryPorts(config);
    this.links6 = new Link6Set(
      (msgs, link) => this.handle6(msgs, link),
      log,
      () => this.requestScan(),
      // The kernel filter of the IPv6 receive sockets: the same discovery ports as IPv4's.
      () => udpPortFilter({ family: 6, ports }),
    );
    this.sessions = new NodeSessions((...reply) => this.reflector.injectReply(...reply), log, {
      ttlMs: config.sessionTtlMs,
      perPod: config.sessionsPerPod,
      onLost: (h, n) => {
        for (let i = 0; i < n; i++) this.counters.drop(h.name, 'send-failed');
      },
    });
    const rl = config.rateLimit;
    this.reflector = new Reflector(
      {
        protocols: this.protocols,
        // One emitter for both families: framePacket() gives IPv6 copies an IPv6 header, which
        // sends them to the link's IPv6 socket.
        emitter: {
          send: (link, packet, dst) =>
            packet[0] >> 4 === 6 ? this.links6.sendFrame(link, packet) : this.links.send(link, packet, dst),
          mtu: (link, family) => (family === 6 ? this.links6.mtu(link) : this.links.mtu(link)),
        },
        dedupe: new DedupeWindow(config.dedupeWindowMs),
        perSource: new TokenBuckets(rl.perSourcePps, rl.perSourceBurst),
        perPod: new TokenBuckets(rl.perPodPps, rl.perPodBurst),
        bus: this.bus,
        counters: this.counters,
        sessions: this.sessions,
      },
      buildTopology(config.lanInterface, [], { sourceMode: config.sourceMode }),
    );
  }

  /** The LAN link's current address, when it has one. */
  get lanAddress(): LanAddress | undefined {
    return this.reflector.topology.lanAddress;
  }

  /** The pods relayed for now (their sockets are open); replaced whole by each scan. */
  get attachments(): readonly PodAttachment[] {
    return this.relayed;
  }

  get ready(): boolean {
    return this.readiness.ready({
      started: this.started,
      lanOpen: this.links.links.has(this.config.lanInterface),
      sourcesSynced: this.sources.every((s) => s.synced),
      generation: this.registry.generation,
    });
  }

  /** Refuses, before anything starts, a LAN interface this node does not have. */
  preflight(): void {
    const lan = this.config.lanInterface;
    if (!existsSync(`/sys/class/net/${lan}`)) {
      const have = readdirSync('/sys/class/net').filter((n) => n !== 'lo');
      throw new ConfigError(
        'lanInterface',
        `interface "${lan}" not found on this node (it has: ${have.join(', ') || 'none'})`,
      );
    }
  }

  async start(): Promise<void> {
    const lan = this.config.lanInterface;
    this.preflight();
    const lanAddress = await readLanAddress(lan);
    if (!lanAddress && this.config.sourceMode !== 'preserve')
      this.log.warn(`${lan} has no IPv4 address: every pod keeps its own source address (no node mode)`);
    this.setTopology(lanAddress, []);
    // The LAN link first: it also proves we may open raw sockets (PrivilegeError otherwise).
    this.links.open(lan, { groups: this.protocols.groups(), receive: true });
    this.log.info('agent started', { lanInterface: lan, protocols: this.config.protocols });
    for (const s of this.sources) await s.start(this.registry);
    this.monitor = new LinkMonitor(() => this.requestScan());
    this.monitor.start();
    this.timer = setInterval(() => this.requestScan(), this.config.linkScanMs);
    this.timer.unref();
    this.requestScan();
    await this.scanning;
    this.started = true;
  }

  private setTopology(
    lanAddress: LanAddress | undefined,
    attachments: PodAttachment[],
    linkLocals?: Map<string, PodAttachment>,
  ): void {
    this.relayed = attachments;
    this.reflector.setTopology(
      buildTopology(this.config.lanInterface, attachments, {
        lanAddress,
        sourceMode: this.config.sourceMode,
        linkLocals,
      }),
    );
  }

  /** One batch from an IPv6 socket: each message becomes a datagram for the reflector. */
  private handle6(msgs: Received[], link: string): void {
    for (const m of msgs) {
      const r = parseUdp6(m);
      if (!r.ok) {
        this.counters.drop('unknown', 'malformed');
        continue;
      }
      this.reflector.handleDatagram(r.datagram, link);
    }
  }

  /** Runs a scan now, or once more after the running one: scans never overlap. */
  requestScan(): void {
    if (this.scanning) {
      this.rescanWanted = true;
      return;
    }
    this.scanning = this.scan()
      .catch((err: unknown) => {
        this.log.warn('link scan failed', { error: String(err) });
      })
      .finally(() => {
        this.scanning = undefined;
        if (this.rescanWanted) {
          this.rescanWanted = false;
          this.requestScan();
        }
      });
  }

  private async scan(): Promise<void> {
    const lan = this.config.lanInterface;
    const routes = await readRoutes();
    const generation = this.registry.generation;
    const pods = this.registry.all();
    const bridges = new Set<string>();
    for (const p of pods) {
      const dev = p.addresses[0] ? lookupRoute(routes, p.addresses[0])?.dev : undefined;
      if (dev && dev !== lan && isBridge(dev)) bridges.add(dev);
    }
    const bridgePorts = new Map<string, string>();
    for (const b of bridges) for (const [addr, port] of await readBridgePorts(b)) bridgePorts.set(addr, port);
    // Read each scan, not once: a DHCP renewal may move the node's address (`ip monitor address`
    // triggers a scan), and node-mode sources, the directed broadcast and `auto`'s subnet follow it.
    const lanAddress = await readLanAddress(lan);
    this.followLanAddress(lanAddress);
    const signals = { lan: lanAddress, routes, routedPodCidrs: this.config.routedPodCidrs };
    const { attachments, problems } = attachPods(pods, routes, {
      lanLink: lan,
      bridges,
      bridgePorts,
      reachOf: (a) => reachOf(a, signals),
    });
    const unknownPorts = problems.filter((p) => p.kind === 'bridge-port');
    for (const p of unknownPorts) nudgeNeighbour(p.pod.addresses[0]);
    if (unknownPorts.length) setTimeout(() => this.requestScan(), 500).unref();
    this.reportProblems(problems.map((p) => [p.pod.name, p.message] as const));
    const before = new Map(this.attachments.map((a) => [a.pod.key, a]));
    for (const a of attachments) {
      const was = before.get(a.pod.key);
      if (was?.link !== a.link || was.reach !== a.reach)
        this.log.info('pod link found', { pod: a.pod.name, link: a.link, port: a.port, reach: a.reach });
    }
    this.links.reconcile(wantedLinks(lan, attachments, this.protocols.groups()));
    // IPv6 sockets on the links of pods that have an IPv6 address, and on the LAN while there is
    // one: a node without IPv6 pods does not read the LAN's IPv6 discovery at all.
    const with6 = attachments.filter((a) => a.pod.addresses.some(isV6));
    const groups6 = this.protocols.groups6();
    this.links6.reconcile(with6.length && groups6.length ? wantedLinks(lan, with6, groups6) : new Map());
    const relayed = relayedAttachments(attachments, (l) => this.links.links.has(l));
    // Bridged pods' link-local addresses: the neighbour entries of the bridge, by bridge port.
    const linkLocals = new Map<string, PodAttachment>();
    const byPort = new Map(relayed.filter((a) => a.port !== a.link).map((a) => [a.port, a]));
    for (const [addr, port] of bridgePorts) {
      const a = byPort.get(port);
      if (a && isLinkLocal6(addr)) linkLocals.set(`${a.link}%${addr}`, a);
    }
    this.setTopology(lanAddress, relayed, linkLocals);
    this.readiness.scanned(generation);
  }

  private followLanAddress(next: LanAddress | undefined): void {
    const was = this.lanAddress;
    if (was?.address === next?.address && was?.prefixLength === next?.prefixLength) return;
    this.log.info('LAN address changed', {
      from: was ? `${was.address}/${was.prefixLength}` : null,
      to: next ? `${next.address}/${next.prefixLength}` : null,
    });
    // Sessions bound to the old address can neither send nor hear replies any more.
    this.sessions.rebind(next?.address);
    this.setTopology(next, [...this.relayed]);
  }

  /** Logs each pod's problem once, when it appears or changes, and once when it clears. */
  private reportProblems(current: ReadonlyArray<readonly [string, string]>): void {
    const now = new Map(current);
    for (const [pod, msg] of now)
      if (this.problems.get(pod) !== msg) this.log.warn(`pod ${pod}: ${msg}`, { pod });
    for (const pod of this.problems.keys()) if (!now.has(pod)) this.log.info('pod problem cleared', { pod });
    this.problems.clear();
    for (const [k, m] of now) this.problems.set(k, m);
  }

  podProblems(): Map<string, string> {
    return new Map(this.problems);
  }

  async stop(): Promise<void> {
    this.monitor?.stop();
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled(this.sources.map((s) => s.stop()));
    this.sessions.close();
    this.links.closeAll();
    this.links6.closeAll();
    this.log.info('agent stopped');
  }
}
