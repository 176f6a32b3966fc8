// The open IPv6 sockets, one per relayed link, reconciled against the wanted set beside the IPv4
// ones. A link whose IPv6 is off (disable_ipv6 = 1, or a kernel without IPv6) gets no socket and
// one clear log line per change, never an error loop: IPv4 on it is unaffected, and the next link
// scan opens the socket once IPv6 is back (src/links/ipv6-state.ts).
import { existsSync } from 'node:fs';
import type { InterfaceName } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { diffLinks } from '../links/attach.js';
import { readIpv6State, type Ipv6LinkState } from '../links/ipv6-state.js';
import { Ipv6Link } from '../wire/ipv6-link.js';
import { PrivilegeError, type Received } from '../wire/native.js';

export interface Link6Use {
  groups: string[];
  receive: boolean;
}

/** What `status` shows for one link's IPv6. */
export interface Link6Status extends Ipv6LinkState {
  open: boolean;
  groups: string[];
  error?: string;
  /** The IPv6 socket's counters (what passed its kernel filter, what it sent). */
  received?: number;
  sent?: number;
}

export class Link6Set {
  readonly links = new Map<InterfaceName, Ipv6Link>();
  private readonly states = new Map<InterfaceName, Link6Status>();

  constructor(
    private readonly onBatch: (msgs: Received[], link: InterfaceName) => void,
    private readonly log: Logger,
    private readonly onLinkGone: () => void,
    private readonly filter: () => Buffer | undefined = () => undefined,
    private readonly readState: (link: InterfaceName) => Ipv6LinkState = readIpv6State,
  ) {}

  /** Queues one UDP segment out of `link`; false when the link has no open IPv6 socket. */
  send(link: InterfaceName, segment: Buffer, dst: string, src: string, hopLimit: number): boolean {
    return this.links.get(link)?.send(segment, dst, src, hopLimit) ?? false;
  }

  /** Sends a framePacket() IPv6 packet out of `link`. */
  sendFrame(link: InterfaceName, packet: Buffer): boolean {
    return this.links.get(link)?.sendFrame(packet) ?? false;
  }

  /** Undefined when the link has no open IPv6 socket (its IPv6 is off, or it is gone). */
  mtu(link: InterfaceName): number | undefined {
    return this.links.get(link)?.mtu;
  }

  has(link: InterfaceName): boolean {
    return this.links.has(link);
  }

  status(): Map<InterfaceName, Link6Status> {
    const out = new Map<InterfaceName, Link6Status>();
    for (const [name, st] of this.states) {
      const l = this.links.get(name);
      out.set(name, l ? { ...st, received: l.stats.received, sent: l.stats.sent } : st);
    }
    return out;
  }

  /** Opens what is wanted, can carry IPv6 and is missing; closes what is no longer wanted or lost
   *  its IPv6. Throws only PrivilegeError. */
  reconcile(wanted: Map<InterfaceName, Link6Use>): void {
    const { remove } = diffLinks(this.links.keys(), wanted.keys());
    for (const name of remove) this.close(name);
    for (const name of [...this.states.keys()]) if (!wanted.has(name)) this.states.delete(name);
    for (const [name, use] of wanted) {
      const st = this.readState(name);
      const before = this.states.get(name);
      if (st.state !== 'on') {
        if (this.links.has(name)) this.close(name);
        if (before?.state !== st.state)
          this.log.warn(`link ${name}: IPv6 is ${st.state}, IPv6 discovery is not relayed on it`, {
            link: name,
            ipv6: st.state,
            detail: st.detail,
          });
        this.states.set(name, { ...st, open: false, groups: [] });
        continue;
      }
      if (before && before.state !== 'on') this.log.info(`link ${name}: IPv6 is on again`, { link: name });
      if (this.links.has(name)) {
        this.states.set(name, { state: 'on', open: true, groups: [...this.links.get(name)!.groups] });
        continue;
      }
      try {
        const link = new Ipv6Link(
          name,
          { groups: use.groups, receive: use.receive, filter: use.receive ? this.filter() : undefined },
          use.receive ? (msgs) => this.onBatch(msgs, name) : () => undefined,
          (err, failed) => this.onError(err, failed),
        );
        this.links.set(name, link);
        this.states.set(name, { state: 'on', open: true, groups: [...link.groups] });
        this.log.info('link opened', { link: name, family: 6 });
      } catch (err) {
        if (err instanceof PrivilegeError) throw err;
        const gone = !existsSync(`/sys/class/net/${name}`);
        // Logged once per distinct error, so a link that keeps failing does not flood the log.
        const error = String((err as Error).message ?? err);
        if (before?.error !== error)
          this.log[gone ? 'debug' : 'warn']('cannot open IPv6 on link', { link: name, error });
        this.states.set(name, { state: 'on', open: false, groups: [], error });
      }
    }
  }

  close(name: InterfaceName): void {
    const link = this.links.get(name);
    if (!link) return;
    this.links.delete(name);
    link.close();
    this.log.info('link closed', { link: name, family: 6 });
  }

  closeAll(): void {
    for (const name of [...this.links.keys()]) this.close(name);
  }

  private onError(err: Error, failed: Ipv6Link): void {
    this.log.warn('link socket error', { link: failed.name, family: 6, error: err.message });
    failed.close();
    if (this.links.get(failed.name) === failed) this.links.delete(failed.name);
    this.onLinkGone();
  }
}
