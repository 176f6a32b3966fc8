// Wires the boxes of DESIGN.md together: pod sources -> registry -> link resolver -> reflector.
// It holds no packet logic of its own.
import { existsSync, readdirSync } from 'node:fs';
import type { AgentConfig } from '../config/types.js';
import { ConfigError } from '../config/errors.js';
import { EventBus } from '../events/bus.js';
import type { Logger } from '../log/logger.js';
import { attachPods } from '../links/attach.js';
import { isBridge, nudgeNeighbour, readBridgePorts } from '../links/bridge-ports.js';
import { readLanAddress, type LanAddress } from '../links/lan-address.js';
import { LinkMonitor, readRoutes } from '../links/route-table.js';
import { inSubnet, lookupRoute } from '../links/routes.js';
import { PodRegistry } from '../pods/registry.js';
import type { PodSource } from '../pods/types.js';
import { protocolTable, type ProtocolTable } from '../protocols/registry.js';
import { Counters } from '../reflect/counters.js';
import { DedupeWindow } from '../reflect/dedupe.js';
import { Reflector } from '../reflect/engine.js';
import { TokenBuckets } from '../reflect/token-buckets.js';
import { buildTopology, emptyTopology, type PodAttachment } from '../reflect/types.js';
import { LinkSet, type LinkUse } from './link-set.js';
import { NodeSessions } from './node-relay.js';

export class Agent {
  readonly bus = new EventBus();
  readonly counters = new Counters();
  readonly registry: PodRegistry;
  protocols: ProtocolTable;
  readonly reflector: Reflector;
  lanAddress?: LanAddress;
  sessions?: NodeSessions;
  readonly links: LinkSet;
  readonly startedAt = Date.now();
  attachments: PodAttachment[] = [];
  private readonly problems = new Map<string, string>();
  private monitor?: LinkMonitor;
  private timer?: NodeJS.Timeout;
  private scanning?: Promise<void>;
  private rescanWanted = false;
  private started = false;
  private syncedGeneration?: number;
  private attachedGeneration = -1;

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
    );
    const rl = config.rateLimit;
    this.reflector = new Reflector(
      {
        protocols: this.protocols,
        emitter: this.links,
        dedupe: new DedupeWindow(config.dedupeWindowMs),
        perSource: new TokenBuckets(rl.perSourcePps, rl.perSourceBurst),
        perPod: new TokenBuckets(rl.perPodPps, rl.perPodBurst),
        bus: this.bus,
        counters: this.counters,
      },
      emptyTopology(config.lanInterface),
    );
  }

  /** Config loaded, sockets open, every pod source synced, and the pods known at sync attached. */
  get ready(): boolean {
    if (!this.started || !this.links.links.has(this.config.lanInterface)) return false;
    if (!this.sources.every((s) => s.synced)) return false;
    // A source can sync after start; until a scan has seen what it listed, its pods are not relayed.
    this.syncedGeneration ??= this.registry.generation;
    return this.attachedGeneration >= this.syncedGeneration;
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
    this.lanAddress = await readLanAddress(lan);
    if (!this.lanAddress && this.config.sourceMode !== 'preserve')
      this.log.warn(`${lan} has no IPv4 address: every pod keeps its own source address (no node mode)`);
    this.protocols = protocolTable(this.config, this.lanAddress?.broadcast);
    this.reflector.protocols = this.protocols;
    this.sessions = new NodeSessions(
      this.lanAddress?.address,
      this.reflector.injectReply.bind(this.reflector),
      this.log,
      this.config.sessionTtlMs,
    );
    this.reflector.nodeMode = { relay: this.sessions, mdnsAddressRecords: this.config.mdnsAddressRecords };
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

  /** `auto` keeps the source of pods inside the LAN subnet (a BGP route or our IPAM makes them
   *  reachable) and re-sends the others from the node. */
  sourceModeFor(address: string): 'preserve' | 'node' {
    const mode = this.config.sourceMode;
    if (!this.lanAddress || mode === 'preserve') return 'preserve';
    if (mode === 'node') return 'node';
    return inSubnet(address, this.lanAddress.cidr) ? 'preserve' : 'node';
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
    const { attachments, problems } = attachPods(pods, routes, {
      lanLink: lan,
      bridges,
      bridgePorts,
      sourceModeFor: (a) => this.sourceModeFor(a),
    });
    const unknownPorts = problems.filter((p) => p.kind === 'bridge-port');
    for (const p of unknownPorts) nudgeNeighbour(p.pod.addresses[0]);
    if (unknownPorts.length) setTimeout(() => this.requestScan(), 500).unref();
    this.reportProblems(problems.map((p) => [p.pod.name, p.message] as const));
    const before = new Map(this.attachments.map((a) => [a.pod.key, a.link]));
    for (const a of attachments) {
      if (before.get(a.pod.key) !== a.link)
        this.log.info('pod link found', {
          pod: a.pod.name,
          link: a.link,
          port: a.port,
          sourceMode: a.sourceMode,
        });
    }
    const receive: LinkUse = { groups: this.protocols.groups(), receive: true };
    const wanted = new Map<string, LinkUse>([[lan, receive]]);
    for (const a of attachments) wanted.set(a.link, receive);
    for (const a of attachments) if (!wanted.has(a.port)) wanted.set(a.port, { groups: [], receive: false });
    this.links.reconcile(wanted);
    // Only pods whose sockets are open are relayed for; the rest wait for the next scan.
    this.attachments = attachments.filter(
      (a) => this.links.links.has(a.link) && this.links.links.has(a.port),
    );
    this.reflector.topology = buildTopology(lan, this.attachments);
    this.attachedGeneration = generation;
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
    this.sessions?.close();
    this.links.closeAll();
    this.log.info('agent stopped');
  }
}
