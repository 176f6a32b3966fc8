// Keeps bound leases alive (RFC 2131 §4.4.5): RENEWING from T1 (unicast to the server that granted
// the lease), REBINDING from T2 (broadcast, any server), and after expiry INIT-REBOOT attempts for
// the same address. Pure: the client, the clock and the hooks are injected.
//
// A lease that is not renewed by T2 is reported then — with the RFC's default times that is when
// 1/8 of the lease is left (3 h of a day's lease), well before the pod's address stops being its
// own. A NAK is reported at once: the server has taken the address back.
import type { DhcpClient, ExchangeKind, ExchangeResult } from './client.js';
import { expiresAt, t1At, t2At, type DhcpLease } from './lease.js';
import type { Clock, Timer } from './transport.js';

export type LeaseProblem =
  /** T2 passed without a renewal: the server that granted the lease is not answering. */
  | 'not-renewed'
  /** The lease ran out; the agent keeps asking for the address back. */
  | 'expired'
  /** A server refused the lease (DHCPNAK) or gave another address: the pod must be recreated. */
  | 'lost';

export interface KeeperHooks {
  /** A renewal was ACKed: persist the new times before the next one is scheduled. */
  renewed(key: string, lease: DhcpLease, how: ExchangeKind): Promise<void>;
  /** Reported once per problem per lease; again only after a renewal succeeded in between. */
  problem(key: string, lease: DhcpLease, problem: LeaseProblem, message: string): void;
  /** A renewal failed (one unanswered attempt), for the metrics. */
  attemptFailed?(key: string, lease: DhcpLease, how: ExchangeKind): void;
}

export interface KeeperOptions {
  /** RFC 2131 §4.4.5: retransmit after half the remaining time, "down to a minimum of 60 seconds". */
  minRetransmitMs?: number;
}

interface Entry {
  lease: DhcpLease;
  stopped: boolean;
  timer?: Timer;
  wake?: () => void;
  reported: Set<LeaseProblem>;
}

export class LeaseKeeper {
  private readonly entries = new Map<string, Entry>();
  private readonly minRetransmitMs: number;

  constructor(
    private readonly client: Pick<DhcpClient, 'exchange'>,
    private readonly clock: Clock,
    private readonly hooks: KeeperHooks,
    o: KeeperOptions = {},
  ) {
    this.minRetransmitMs = o.minRetransmitMs ?? 60_000;
  }

  /** Starts (or restarts, with a newer lease) keeping `lease` under `key`. */
  keep(key: string, lease: DhcpLease): void {
    this.drop(key);
    const entry: Entry = { lease, stopped: false, reported: new Set() };
    this.entries.set(key, entry);
    void this.run(key, entry);
  }

  /** Stops keeping `key` (DEL); returns the lease it held. */
  drop(key: string): DhcpLease | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    e.stopped = true;
    if (e.timer !== undefined) this.clock.clearTimeout(e.timer);
    e.wake?.();
    this.entries.delete(key);
    return e.lease;
  }

  lease(key: string): DhcpLease | undefined {
    return this.entries.get(key)?.lease;
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  stopAll(): void {
    for (const k of [...this.entries.keys()]) this.drop(k);
  }

  private sleep(e: Entry, ms: number): Promise<void> {
    return new Promise((resolve) => {
      e.wake = resolve;
      e.timer = this.clock.setTimeout(resolve, Math.max(0, ms));
    });
  }

  private report(key: string, e: Entry, p: LeaseProblem, message: string): void {
    if (e.reported.has(p)) return;
    e.reported.add(p);
    this.hooks.problem(key, e.lease, p, message);
  }

  private async run(key: string, e: Entry): Promise<void> {
    while (!e.stopped) {
      const now = this.clock.now();
      const l = e.lease;
      const t1 = t1At(l);
      const t2 = t2At(l);
      const end = expiresAt(l);
      if (now < t1) {
        await this.sleep(e, t1 - now);
        continue;
      }
      let how: ExchangeKind;
      let wait: number;
      if (now < t2) {
        how = 'renewing';
        wait = Math.min(t2 - now, Math.max(this.minRetransmitMs, (t2 - now) / 2));
      } else if (now < end) {
        how = 'rebinding';
        const left = Math.round((end - now) / 1000);
        this.report(
          key,
          e,
          'not-renewed',
          `the DHCP lease of ${l.address} was not renewed by T2: the server ${l.serverId} has not answered ` +
            `since T1; rebinding with any server, ${left} s left before it expires at ${new Date(end).toISOString()}`,
        );
        wait = Math.min(end - now, Math.max(this.minRetransmitMs, (end - now) / 2));
      } else {
        how = 'rebooting';
        this.report(
          key,
          e,
          'expired',
          `the DHCP lease of ${l.address} expired at ${new Date(end).toISOString()} without a renewal; ` +
            `the pod keeps the address while the agent asks any server for it back (another device may get it)`,
        );
        wait = this.minRetransmitMs;
      }
      const started = this.clock.now();
      let r: ExchangeResult;
      try {
        r = await this.client.exchange(how, l, wait);
      } catch {
        r = { kind: 'timeout' }; // a send error is a lost message: retry on schedule
      }
      if (e.stopped) return;
      if (r.kind === 'ack') {
        if (r.lease.address !== l.address) {
          this.report(
            key,
            e,
            'lost',
            `the DHCP server ${r.lease.serverId} gave ${r.lease.address} instead of ${l.address}`,
          );
          return;
        }
        e.lease = r.lease;
        e.reported.clear();
        await this.hooks.renewed(key, r.lease, how);
        continue;
      }
      if (r.kind === 'nak') {
        // RFC 2131 §4.4.5: on DHCPNAK the client must stop using the address. The agent cannot take
        // it from a running pod; it says so loudly and stops keeping the lease.
        this.report(
          key,
          e,
          'lost',
          `the DHCP server ${r.server} refused to extend the lease of ${l.address} (DHCPNAK${r.message ? `: ${r.message}` : ''}); ` +
            `the address is no longer the pod's: recreate the pod to lease a new one`,
        );
        this.entries.delete(key);
        e.stopped = true;
        return;
      }
      this.hooks.attemptFailed?.(key, l, how);
      const spent = this.clock.now() - started;
      if (spent < wait) await this.sleep(e, wait - spent);
    }
  }
}
