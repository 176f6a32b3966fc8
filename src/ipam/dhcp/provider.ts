// `ipam.mode: dhcp`: the AddressProvider that leases each pod's address from the LAN's DHCP server.
// The same store, guard (probe) and announcer (proxy ARP) as the static pool; the lease lives in
// the allocation (`source: 'dhcp'`, `lease`), so a restarted agent renews what it had.
import type { IPv4Address } from '../../config/types.js';
import type { IpamStore } from '../store/types.js';
import {
  IpamError,
  ownerKey,
  type AddressGuard,
  type AddressProvider,
  type AddressRequest,
  type Allocation,
  type Announcer,
  type LeaseData,
  type Owner,
  type PodRef,
} from '../types.js';
import type { AddressBook } from './address-book.js';
import { DhcpError, type Claim, type DhcpClient, type DhcpFailure, type ExchangeKind } from './client.js';
import { clientIdFor, clientIdHex, hostNameFor, type PodName } from './client-id.js';
import { expiresAt, INFINITE, t1At, t2At, type DhcpLease } from './lease.js';
import { LeaseKeeper, type LeaseProblem } from './lease-keeper.js';
import { systemClock, type Clock } from './transport.js';

/** CNI error codes (CNI spec 1.1 "Error": 11 = try again later; 100+ plugin specific, shared with the pool). */
export const DHCP_ERROR_CODES: Record<DhcpFailure, number> = {
  'no-server': 11, // transient: the runtime retries the ADD
  'no-ack': 11,
  'pool-exhausted': 100, // the pool's CODE_POOL_EXHAUSTED
  declined: 102, // the pool's CODE_ADDRESS_IN_USE
  nak: 110,
  'bad-offer': 111,
};
export const CODE_ANNOUNCE_FAILED = 103;

/** Bound on one ADD (the shim waits 30 s for the agent; runtimes far longer). */
export const DEFAULT_ADD_TIMEOUT_MS = 20_000;

/** Kubernetes Event reasons for lease problems (`kubectl describe pod`). */
export const PROBLEM_REASONS: Record<LeaseProblem, string> = {
  'not-renewed': 'DHCPLeaseNotRenewed',
  expired: 'DHCPLeaseExpired',
  lost: 'DHCPLeaseLost',
};

export interface DhcpEvents {
  /** A lease could not be renewed in time, expired, or was refused: log, metric, Warning Event. */
  problem?(pod: PodRef | undefined, lease: DhcpLease, problem: LeaseProblem, message: string): void;
  renewed?(lease: DhcpLease, how: ExchangeKind): void;
  renewAttemptFailed?(how: ExchangeKind): void;
  /** An ADD failed with this cause. */
  failed?(reason: DhcpFailure | 'announce', message: string): void;
  leased?(lease: DhcpLease, pod: PodRef | undefined, ms: number): void;
  released?(lease: DhcpLease): void;
  declined?(address: IPv4Address, by: string): void;
  log?(level: 'info' | 'warn' | 'debug', message: string, fields: Record<string, unknown>): void;
}

export interface DhcpProviderOptions {
  store: IpamStore;
  client: DhcpClient;
  guard: AddressGuard;
  announcer: Announcer;
  /** Whether `address` is inside ipam.subnet (the prefix the pod gets). */
  inSubnet: (address: IPv4Address) => boolean;
  subnetText: string;
  /** The node's own LAN address and the gateway: never a pod's, whatever a server offers. */
  reserved: IPv4Address[];
  addresses: AddressBook;
  probe?: boolean;
  clock?: Clock;
  addTimeoutMs?: number;
  /** RFC 2131 §4.4.5's 60 s floor between renewal retransmissions (tests shorten it). */
  minRetransmitMs?: number;
  events?: DhcpEvents;
  /** Called by stop() after the keeper stopped (the wiring closes its socket). */
  onStop?: () => void;
}

const FAR_FUTURE = '9999-12-31T23:59:59.999Z';
const iso = (ms: number): string => (Number.isFinite(ms) ? new Date(ms).toISOString() : FAR_FUTURE);

export function toLeaseData(l: DhcpLease): LeaseData {
  return {
    server: l.serverId,
    clientId: l.clientId,
    obtainedAt: iso(l.boundAt),
    renewAt: iso(t1At(l)),
    rebindAt: iso(t2At(l)),
    expiresAt: iso(expiresAt(l)),
    extra: {
      serverMac: l.serverMac,
      hostname: l.hostname,
      leaseSeconds: String(l.leaseSeconds),
      t1Seconds: String(l.t1Seconds),
      t2Seconds: String(l.t2Seconds),
    },
  };
}

/** The lease back from a stored allocation (any store: only strings went in). */
export function fromAllocation(a: Allocation): DhcpLease | undefined {
  const d = a.lease;
  if (!d) return undefined;
  const boundAt = Date.parse(d.obtainedAt);
  const secs = (key: string, at: string): number => {
    const n = Number(d.extra?.[key]);
    if (Number.isFinite(n) && d.extra?.[key] !== undefined) return n;
    return at === FAR_FUTURE ? INFINITE : Math.round((Date.parse(at) - boundAt) / 1000);
  };
  return {
    address: a.address,
    clientId: d.clientId,
    hostname: d.extra?.hostname ?? (a.pod ? hostNameFor(a.pod) : 'pod'),
    serverId: d.server,
    serverMac: d.extra?.serverMac ?? 'ff:ff:ff:ff:ff:ff',
    leaseSeconds: secs('leaseSeconds', d.expiresAt),
    t1Seconds: secs('t1Seconds', d.renewAt),
    t2Seconds: secs('t2Seconds', d.rebindAt),
    boundAt,
  };
}

/** The identity a lease is taken for: the pod (and the interface, when it is not the first). */
export function identityOf(owner: Owner, pod: PodRef | undefined): PodName {
  // Without K8S_POD_* args (a runtime outside Kubernetes) the container is all there is to name.
  const base: PodName = pod ?? { namespace: 'container', name: owner.containerId };
  return owner.ifname === 'eth0' || !owner.ifname ? base : { ...base, name: `${base.name}/${owner.ifname}` };
}

export class DhcpProvider implements AddressProvider {
  readonly keeper: LeaseKeeper;
  private readonly clock: Clock;
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(private readonly o: DhcpProviderOptions) {
    this.clock = o.clock ?? systemClock;
    this.keeper = new LeaseKeeper(
      o.client,
      this.clock,
      {
        renewed: (key, lease, how) => this.renewed(key, lease, how),
        problem: (key, lease, problem, message) => void this.problem(key, lease, problem, message),
        attemptFailed: (_k, _l, how) => o.events?.renewAttemptFailed?.(how),
      },
      { minRetransmitMs: o.minRetransmitMs },
    );
  }

  /** At agent start: keep renewing every lease the store holds (a kill -9 loses none). */
  async start(): Promise<void> {
    let n = 0;
    for (const a of await this.o.store.list()) {
      const lease = a.source === 'dhcp' ? fromAllocation(a) : undefined;
      if (!lease) continue;
      this.keeper.keep(ownerKey(a.owner), lease);
      n++;
    }
    this.o.events?.log?.('info', 'keeping the stored DHCP leases', { leases: n });
  }

  async stop(): Promise<void> {
    this.keeper.stopAll();
    this.o.onStop?.();
  }

  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return next;
  }

  assign(req: AddressRequest): Promise<Allocation> {
    const identity = identityOf(req.owner, req.pod);
    const clientId = clientIdFor(identity);
    // One lease per identity at a time: a retried ADD, or a new sandbox of the same pod, waits.
    return this.serial(clientIdHex(clientId), () => this.assignNow(req, identity, clientId));
  }

  private async assignNow(req: AddressRequest, identity: PodName, clientId: Buffer): Promise<Allocation> {
    const store = this.o.store;
    // CNI spec 1.1: a second ADD for the same attachment returns what it already has.
    const have = await store.getByOwner(req.owner);
    if (have.length) return have[0];
    const hex = clientIdHex(clientId);
    // The pod's new sandbox came before the old one's DEL: the lease is the pod's, move it.
    const previous = (await store.list()).find((a) => a.source === 'dhcp' && a.lease?.clientId === hex);
    if (previous) return this.move(previous, req);

    const started = this.clock.now();
    const requested = req.want ?? (await this.o.addresses.get(hex));
    let claimed: Allocation | undefined;
    let lease: DhcpLease;
    try {
      lease = await this.o.client.acquire({
        clientId,
        hostname: hostNameFor(identity),
        requested,
        deadline: started + (this.o.addTimeoutMs ?? DEFAULT_ADD_TIMEOUT_MS),
        unusable: (address) => this.unusable(address),
        claim: async (l) => {
          const c = await this.claim(req, l);
          if (c.claim === 'claimed') claimed = c.allocation;
          return c.claim;
        },
      });
    } catch (err) {
      if (!(err instanceof DhcpError)) throw err;
      const who = `${identity.namespace}/${identity.name}`;
      this.o.events?.failed?.(err.reason, err.message);
      this.o.events?.log?.('warn', 'DHCP lease failed', { pod: who, reason: err.reason, error: err.message });
      throw new IpamError(
        DHCP_ERROR_CODES[err.reason],
        `DHCP (${err.reason}): ${err.message}`,
        `client identifier ${hex}`,
      );
    }
    const a = claimed!;
    try {
      await this.o.announcer.assigned(a.address, a.pod);
    } catch (err) {
      // STYLE.md 7: undo what this ADD took (the lease included) when a later step fails.
      await store.releaseAddress(a.address);
      await this.o.announcer.released(a.address).catch(() => {});
      this.o.client.release(lease);
      this.o.events?.failed?.('announce', (err as Error).message);
      throw new IpamError(
        CODE_ANNOUNCE_FAILED,
        `cannot announce ${a.address} on the LAN`,
        (err as Error).message,
      );
    }
    this.keeper.keep(ownerKey(req.owner), lease);
    await this.o.addresses.set(hex, lease.address);
    if (requested && requested !== lease.address)
      this.o.events?.log?.('info', 'the DHCP server gave another address than the one asked for', {
        asked: requested,
        got: lease.address,
      });
    this.o.events?.leased?.(lease, req.pod, this.clock.now() - started);
    return a;
  }

  /** Reserve first (exclusive), then the probe: the same order as the static pool. */
  private async claim(req: AddressRequest, l: DhcpLease): Promise<{ claim: Claim; allocation?: Allocation }> {
    const a: Allocation = {
      address: l.address,
      owner: req.owner,
      network: req.network,
      since: new Date(this.clock.now()).toISOString(),
      source: 'dhcp',
      lease: toLeaseData(l),
    };
    if (req.pod) a.pod = req.pod;
    if (!(await this.o.store.reserve(a))) {
      const holder = (await this.o.store.list()).find((x) => x.address === l.address);
      const who = holder?.pod
        ? `pod ${holder.pod.namespace}/${holder.pod.name}`
        : `container ${holder?.owner.containerId}`;
      // Not a DECLINE: the address is in use by us. The server gave one client identifier's address
      // to another, so it does not lease by client identifier (dnsmasq falls back to the MAC for
      // leases that were taken without one).
      return {
        claim: {
          refuse: `${l.address} is already leased to ${who} on this node: the server does not tell this node's pods apart by client identifier`,
        },
      };
    }
    const verdict = this.o.probe === false ? 'free' : await this.o.guard.inUse(l.address);
    if (verdict === 'free') return { claim: 'claimed', allocation: a };
    await this.o.store.releaseAddress(l.address);
    this.o.events?.declined?.(l.address, verdict.by);
    this.o.events?.log?.('warn', 'the leased address answered the probe; declining it', {
      address: l.address,
      by: verdict.by,
    });
    return { claim: { inUse: verdict.by } };
  }

  private unusable(address: IPv4Address): string | null {
    if (!this.o.inSubnet(address)) return `outside ipam.subnet ${this.o.subnetText}`;
    if (this.o.reserved.includes(address))
      return (
        `the node's own address or the gateway: the server leases by MAC address, and the node's own ` +
        `DHCP client sends no client identifier (configure one for it)`
      );
    return null;
  }

  private async move(previous: Allocation, req: AddressRequest): Promise<Allocation> {
    const lease = fromAllocation(previous)!;
    const a: Allocation = { ...previous, owner: req.owner, network: req.network, since: previous.since };
    if (req.pod) a.pod = req.pod;
    await this.o.store.releaseAddress(previous.address);
    if (!(await this.o.store.reserve(a)))
      throw new IpamError(11, `${previous.address} was taken while moving it to the pod's new sandbox`);
    this.keeper.drop(ownerKey(previous.owner));
    await this.o.announcer.assigned(a.address, a.pod);
    this.keeper.keep(ownerKey(req.owner), lease);
    this.o.events?.log?.('info', "moved the pod's DHCP lease to its new sandbox", {
      address: a.address,
      from: previous.owner.containerId,
      to: req.owner.containerId,
    });
    return a;
  }

  release(owner: Owner): Promise<Allocation[]> {
    return this.serial(`owner:${ownerKey(owner)}`, async () => {
      const gone = await this.o.store.releaseByOwner(owner);
      for (const a of gone) {
        this.keeper.drop(ownerKey(owner));
        await this.o.announcer.released(a.address).catch(() => {});
        const lease = a.source === 'dhcp' ? fromAllocation(a) : undefined;
        if (!lease) continue;
        // RFC 2131 §4.4.6: give the address back, so the pool never fills with abandoned leases.
        this.o.client.release(lease);
        await this.o.addresses.set(lease.clientId, lease.address);
        this.o.events?.released?.(lease);
      }
      return gone;
    });
  }

  private async renewed(key: string, lease: DhcpLease, how: ExchangeKind): Promise<void> {
    const [a] = (await this.o.store.list()).filter((x) => ownerKey(x.owner) === key);
    if (a) await this.o.store.update({ ...a, lease: toLeaseData(lease) });
    this.o.events?.renewed?.(lease, how);
  }

  private async problem(
    key: string,
    lease: DhcpLease,
    problem: LeaseProblem,
    message: string,
  ): Promise<void> {
    const a = (await this.o.store.list()).find((x) => ownerKey(x.owner) === key);
    this.o.events?.problem?.(a?.pod, lease, problem, message);
  }
}
