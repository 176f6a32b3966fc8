// The IPAM inside the agent: wires the store, the pool provider, the CNI verbs, the shim's socket,
// the release spool and the LAN side's hooks together. Holds no decisions of its own.
import { stat } from 'node:fs/promises';
import type { InterfaceName, IpamConfig, IPv4Address, PodOptions } from '../config/types.js';
import type { Route } from '../links/routes.js';
import type { Logger } from '../log/logger.js';
import type { PodSink, PodSource, PodSpec } from '../pods/types.js';
import { exclusion, freeCount } from './allocator.js';
import { handle, type PodAnnotationLookup, type Reply } from './cni/verbs.js';
import { FileDelegations } from './delegations.js';
import { ipRoutes, type HostRoutes } from './host-routes.js';
import { IpamMetrics } from './metrics.js';
import { PoolProvider } from './pool-provider.js';
import type { PodPresence } from './reclaim.js';
import { Reclaimer } from './reclaimer.js';
import { FileReleaseSpool } from './release-spool.js';
import { IpamServer } from './server.js';
import { delegatedDir, spoolDir } from './shim-dirs.js';
import type { ShimRequest } from './shim-protocol.js';
import { FileStore } from './store/file-store.js';
import type { ClusterListing } from './store/kube-listing.js';
import type { IpamStore } from './store/types.js';
import {
  NO_ANNOUNCER,
  NO_GUARD,
  podKey,
  type AddressGuard,
  type AddressProvider,
  type Allocation,
  type Announcer,
  type PodRef,
  type ProviderContext,
} from './types.js';

/** The leak reclaim's pass interval: half the grace, between 1 s and 5 min. */
const reclaimIntervalMs = (graceMs: number) => Math.min(300_000, Math.max(1000, graceMs / 2));

export interface IpamServiceOptions {
  config: IpamConfig;
  log: Logger;
  /** This node's own address on the LAN link (the default gateway, and never a pod's). */
  nodeAddress: () => Promise<IPv4Address | undefined>;
  nodeName?: string;
  guard?: AddressGuard;
  announcer?: Announcer;
  /** The node's /32 routes to bridged pods (default: through iproute2; the LAN side: netlink). */
  hostRoutes?: HostRoutes;
  /** The pod watch's view of annotations; undefined without Kubernetes. */
  pods?: PodAnnotationLookup;
  /** A store other than the file store (issue 11 passes the Kubernetes store). */
  store?: IpamStore;
  /** A provider other than the pool (issue 12 passes the DHCP client). */
  provider?: (store: IpamStore, context: ProviderContext) => AddressProvider;
  metrics?: IpamMetrics;
  /** How often the spool is looked at again (a DEL spooled while this agent was starting). */
  spoolRescanMs?: number;
  /**
   * The file store's leak reclaim (reclaim.ts) runs when the LAN link is given: routes through any
   * other link are the pods' (default: `ip route`), and with Kubernetes the pod watch says which
   * pods run here.
   */
  reclaim?: {
    lanLink: InterfaceName;
    routes: () => Promise<Route[]>;
    pod?: (ref: PodRef, since: string) => Promise<PodPresence>;
  };
}

export interface IpamListing {
  allocations: Allocation[];
  delegated: Array<{ containerId: string; ifname: string }>;
  free: number;
  size: number;
  held: Array<{ address: IPv4Address; by: string; until: string }>;
  /** With the Kubernetes store (issue 11): every block and allocation of the cluster. */
  cluster?: ClusterListing;
}

export class IpamService {
  store!: IpamStore;
  provider!: AddressProvider;
  readonly metrics: IpamMetrics;
  private server?: IpamServer;
  private gateway?: IPv4Address;
  private nodeAddress?: IPv4Address;
  private readonly delegations: FileDelegations;
  private readonly spool: FileReleaseSpool;
  private spoolTimer?: NodeJS.Timeout;
  private reclaimer?: Reclaimer;
  private socketIno?: number;
  private readonly log: Logger;
  /** Pods served with podDefaults when there is no Kubernetes: one per allocation. */
  readonly podSource: AllocationPodSource;

  constructor(
    private readonly o: IpamServiceOptions,
    podDefaults: PodOptions,
  ) {
    this.log = o.log.child({ component: 'ipam' });
    this.metrics = o.metrics ?? new IpamMetrics();
    this.delegations = new FileDelegations(delegatedDir(o.config.socket));
    this.spool = new FileReleaseSpool(spoolDir(o.config.socket));
    this.podSource = new AllocationPodSource(podDefaults);
  }

  async start(): Promise<void> {
    const cfg = this.o.config;
    this.nodeAddress = await this.o.nodeAddress();
    this.gateway = cfg.gateway === 'node' ? this.nodeAddress : cfg.gateway;
    if (cfg.gateway === 'node' && !this.gateway)
      this.log.warn('the LAN link has no IPv4 address yet: results carry no gateway (ptp needs one)');
    if (cfg.store.kind === 'file') {
      const fs = await FileStore.open({ directory: cfg.store.directory, node: this.o.nodeName });
      for (const w of fs.warnings) this.log.warn(w.message, { otherNode: w.other });
      this.store = this.o.store ?? fs;
    } else if (this.o.store) this.store = this.o.store;
    else throw new Error(`ipam.store ${cfg.store.kind} is not available in this build`);
    const reserved = [this.gateway, this.nodeAddress].filter((a): a is string => !!a);
    const announcer = this.o.announcer ?? NO_ANNOUNCER;
    this.provider =
      this.o.provider?.(this.store, {
        guard: this.o.guard ?? NO_GUARD,
        announcer,
        reserved,
        nodeAddress: this.nodeAddress,
      }) ??
      new PoolProvider({
        config: cfg,
        store: this.store,
        guard: this.o.guard ?? NO_GUARD,
        announcer,
        reserved,
        events: {
          conflict: (address, by) => {
            this.metrics.conflicts.inc();
            this.log.warn('address answered before assignment; skipped and held back', { address, by });
          },
        },
      });
    // A store that cannot list yet (the Kubernetes store before its first sync) must not make the
    // announcer drop live proxy entries: reconcile only on a real list, retried until one comes.
    const live = await this.reconcileWhenListed(announcer);
    await this.provider.start?.();
    this.server = new IpamServer(
      cfg.socket,
      (req) => this.call(req),
      (message, err) => this.log.error(message, { error: String((err as Error)?.message ?? err) }),
    );
    await this.server.listen();
    this.socketIno = (await stat(cfg.socket)).ino;
    await this.replaySpool();
    this.spoolTimer = setInterval(() => void this.replaySpool(), this.o.spoolRescanMs ?? 10_000);
    this.spoolTimer.unref();
    this.startReclaim();
    await this.updateGauges();
    this.log.info('ipam listening', {
      socket: cfg.socket,
      subnet: cfg.subnet.text,
      ranges: cfg.ranges.map((r) => r.text),
      gateway: this.gateway,
      allocations: live?.length,
      store: cfg.store.kind === 'file' ? cfg.store.directory : cfg.store.kind,
    });
  }

  /** Only for the file store: the Kubernetes store has its own collector (store/kube-gc.ts). */
  private startReclaim(): void {
    const r = this.o.reclaim;
    if (!r || this.o.config.store.kind !== 'file' || this.o.store) return;
    const graceMs = this.o.config.reclaimAfterMs ?? 600_000;
    this.reclaimer = new Reclaimer({
      graceMs,
      intervalMs: reclaimIntervalMs(graceMs),
      lanLink: r.lanLink,
      list: () => this.store.list(),
      routes: r.routes,
      pod: r.pod,
      release: async (owner) => {
        const gone = await this.provider.release(owner);
        this.scheduleSync();
        return gone;
      },
      log: this.log,
      onReclaimed: () => this.metrics.reclaimed.inc(),
    });
    this.reclaimer.start();
  }

  private async reconcileWhenListed(announcer: Announcer, delayMs = 1000): Promise<Allocation[] | undefined> {
    let live: Allocation[];
    try {
      live = await this.store.list();
    } catch (err) {
      this.log.warn('the IPAM store cannot list allocations yet; reconciling later', {
        error: String((err as Error).message),
      });
      const t = setTimeout(
        () => void this.reconcileWhenListed(announcer, Math.min(delayMs * 2, 30_000)),
        delayMs,
      );
      t.unref();
      return undefined;
    }
    await announcer
      .reconcile(live)
      .catch((err) => this.log.error('reconcile failed', { error: String(err) }));
    for (const a of live) this.podSource.assigned(a);
    return live;
  }

  /** Carries out the DELs the shim recorded while the agent was down. */
  private async replaySpool(): Promise<void> {
    for (const p of await this.spool.pending()) {
      const reply = await this.call(p.request, true);
      if (reply.kind === 'reply' && reply.code === 0) {
        await this.spool.done(p);
        this.log.info('release recorded while the agent was down carried out', {
          owner: `${p.owner.containerId}/${p.owner.ifname}`,
        });
      } else
        this.log.warn('recorded release failed; keeping it', {
          owner: p.owner,
          reply: reply.kind === 'reply' ? reply.stdout : reply.plugin,
        });
    }
  }

  /** One CNI call from the shim (or a replayed DEL). */
  async call(req: ShimRequest, replay = false): Promise<Reply> {
    const started = performance.now();
    const command = req.env.CNI_COMMAND ?? '';
    const reply = await handle(req.env, req.stdin, {
      config: this.o.config,
      provider: this.provider,
      store: this.store,
      delegations: this.delegations,
      pods: this.o.pods,
      gateway: () => this.gateway,
      hostRoutes: this.o.hostRoutes ?? ipRoutes,
      unavailable: () => this.unavailable(),
      log: (level, message, fields) => this.log[level](message, { ...fields, replay: replay || undefined }),
    });
    const code = reply.kind === 'reply' ? reply.code : 0;
    if (command === 'ADD')
      this.metrics.addSeconds.observe(
        { result: reply.kind === 'delegate' ? 'delegated' : code === 0 ? 'ok' : 'error' },
        (performance.now() - started) / 1000,
      );
    this.metrics.calls.inc({
      command,
      result: reply.kind === 'delegate' ? 'delegated' : code === 0 ? 'ok' : 'error',
    });
    if (command === 'ADD' || command === 'DEL' || command === 'GC') this.scheduleSync();
    return reply;
  }

  private syncTimer?: NodeJS.Timeout;
  private syncing = Promise.resolve();

  /**
   * Brings the pod source and the gauges up to date with the store, off the ADD's path: once per
   * burst (a 200-ADD burst lists the store a few times, not 400).
   */
  private scheduleSync(): void {
    if (this.syncTimer) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      this.syncing = this.syncing.then(() => this.sync()).catch(() => {});
    }, 50);
    this.syncTimer.unref();
  }

  private async sync(): Promise<void> {
    const now = await this.store.list();
    this.podSource.syncTo(now);
    await this.updateGauges();
  }

  /** STATUS: ADD cannot be served when the store is unreachable or the pool is exhausted with no delegate. */
  async unavailable(): Promise<string | undefined> {
    try {
      const listing = await this.listing();
      // ipam.mode dhcp has no ranges: only the server knows its pool, and ADD says why it failed.
      if (this.o.config.mode !== 'dhcp' && listing.free === 0 && !this.o.config.delegate && !this.store.grow)
        return `no free address in ipam.ranges (${listing.size} in use or excluded)`;
      return undefined;
    } catch (err) {
      return `the IPAM store cannot be read: ${(err as Error).message}`;
    }
  }

  private async updateGauges(): Promise<void> {
    const l = await this.listing().catch(() => undefined);
    if (!l) return; // the store cannot list right now; the next call tries again
    this.metrics.allocations.set(l.allocations.length);
    this.metrics.free.set(l.free);
  }

  async listing(): Promise<IpamListing> {
    const cfg = this.o.config;
    const allocations = await this.store.list();
    const held = await this.store.heldBack(new Date());
    const taken = new Set([...allocations.map((a) => a.address), ...held.map((h) => h.address)]);
    const excluded = exclusion(
      cfg,
      [this.gateway, this.nodeAddress].filter((a): a is string => !!a),
    );
    const ranges = this.store.scope ? await this.store.scope() : cfg.ranges;
    const size = freeCount(ranges, () => false);
    const free = freeCount(ranges, (a) => excluded(a) || taken.has(a));
    return {
      allocations: allocations.sort((a, b) => a.since.localeCompare(b.since)),
      delegated: await this.delegations.list(),
      free,
      size,
      held: held.map((h) => ({ address: h.address, by: h.by, until: h.until })),
    };
  }

  /** `ipam list`: the node's listing, and the cluster's when the store spans one (not on every ADD). */
  async cliListing(): Promise<IpamListing> {
    const l = await this.listing();
    const store = this.store as IpamStore & { clusterListing?: () => Promise<ClusterListing> };
    return store.clusterListing ? { ...l, cluster: await store.clusterListing() } : l;
  }

  async stop(): Promise<void> {
    if (this.spoolTimer) clearInterval(this.spoolTimer);
    this.reclaimer?.stop();
    if (this.syncTimer) clearTimeout(this.syncTimer);
    // Closing a unix server unlinks its path: never unlink the socket a newer agent already made.
    const ino = await stat(this.o.config.socket).then(
      (s) => s.ino,
      () => undefined,
    );
    if (ino === this.socketIno) await this.server?.close();
    await this.provider?.stop?.();
    await this.store?.close();
  }
}

/**
 * Without Kubernetes, the reflector serves every pod the IPAM gave an address to, with podDefaults
 * (issue 10): a pod source fed by the allocations.
 */
export class AllocationPodSource implements PodSource {
  readonly name = 'ipam';
  synced = false;
  private sink?: PodSink;
  private readonly pending = new Map<string, PodSpec>();

  constructor(private readonly defaults: PodOptions) {}

  private spec(a: Allocation): PodSpec {
    return {
      key: `ipam:${a.address}`,
      name: a.pod ? podKey(a.pod) : `${a.owner.containerId.slice(0, 12)}/${a.owner.ifname}`,
      addresses: [a.address],
      options: this.defaults,
    };
  }

  /** Makes the served pods exactly `live` (one per allocation). */
  syncTo(live: Allocation[]): void {
    const want = new Map(live.map((a) => [`ipam:${a.address}`, a]));
    for (const key of [...this.pending.keys()]) {
      if (!want.has(key)) {
        this.pending.delete(key);
        this.sink?.remove(key);
      }
    }
    for (const [key, a] of want) if (!this.pending.has(key)) this.assigned(a);
  }

  assigned(a: Allocation): void {
    const s = this.spec(a);
    this.pending.set(s.key, s);
    this.sink?.upsert(s);
  }

  released(a: Allocation): void {
    const key = `ipam:${a.address}`;
    this.pending.delete(key);
    this.sink?.remove(key);
  }

  async start(sink: PodSink): Promise<void> {
    this.sink = sink;
    for (const s of this.pending.values()) sink.upsert(s);
    this.synced = true;
  }

  async stop(): Promise<void> {}
}
