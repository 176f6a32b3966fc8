// The open raw sockets, one per relayed link, reconciled against the wanted set. One bad link is
// logged and skipped; it never stops the others (STYLE.md example 2).
import { existsSync } from 'node:fs';
import type { InterfaceName, IPv4Address } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { diffLinks } from '../links/attach.js';
import type { Emitter } from '../reflect/engine.js';
import { LINK_GONE_ERRNOS, PrivilegeError, RawLink } from '../wire/raw-link.js';
import type { SocketTotals } from '../metrics/socket-metrics.js';
import type { LinkUse } from './wanted-links.js';

export type { LinkUse } from './wanted-links.js';

export class LinkSet implements Emitter {
  readonly links = new Map<InterfaceName, RawLink>();
  /** What the sockets closed so far counted: metrics add it, so their counters never go back. */
  private readonly retired: SocketTotals = emptyTotals();

  /** Ports every receive socket's kernel filter passes (src/protocols/ports.ts); undefined: all UDP. */
  private ports?: readonly number[];

  constructor(
    private readonly onPacket: (packet: Buffer, link: InterfaceName) => void,
    private readonly log: Logger,
    private readonly onLinkGone: () => void,
    ports?: readonly number[],
  ) {
    this.ports = ports;
  }

  /** The configured ports changed: every open receive socket gets the new filter at once. */
  setPorts(ports: readonly number[]): void {
    this.ports = [...ports];
    for (const link of this.links.values()) {
      try {
        link.setPorts(ports);
      } catch (err) {
        this.log.warn('cannot replace the link filter', { link: link.name, error: String(err) });
      }
    }
  }

  /** False when the packet was not queued (no such link, or the addon dropped it). */
  send(link: InterfaceName, packet: Buffer, _dst: IPv4Address): boolean {
    // The packet carries its destination in its IPv4 header (IP_HDRINCL).
    return this.links.get(link)?.send(packet) ?? false;
  }

  /** Undefined when the link has no open socket (gone, or its socket just failed): `link-down`. */
  mtu(link: InterfaceName): number | undefined {
    return this.links.get(link)?.mtu;
  }

  /** Opens one link, joining `groups`; throws (PrivilegeError included) so the caller decides. */
  open(name: InterfaceName, use: LinkUse): RawLink {
    const link = new RawLink(
      name,
      (buf) => this.onPacket(buf, name),
      (err, failed) => this.onError(err, failed),
      // A bridge port is only sent on: what it hears is the bridge's business (and arrives on the
      // bridge device too), so its socket receives nothing at all.
      { receive: use.receive, ports: this.ports },
    );
    try {
      for (const g of use.groups) link.join(g);
    } catch (err) {
      link.close();
      throw err;
    }
    this.links.set(name, link);
    return link;
  }

  /** Opens what is wanted and missing, closes what is open and no longer wanted. */
  reconcile(wanted: Map<InterfaceName, LinkUse>): void {
    const { add, remove } = diffLinks(this.links.keys(), wanted.keys());
    for (const name of remove) this.close(name);
    for (const name of add) {
      try {
        this.open(name, wanted.get(name)!);
        this.log.info('link opened', { link: name });
      } catch (err) {
        if (err instanceof PrivilegeError) throw err;
        // A veth can vanish between the route scan and here; the next scan settles it.
        const gone = !existsSync(`/sys/class/net/${name}`);
        this.log[gone ? 'debug' : 'warn']('cannot open link', { link: name, error: String(err) });
      }
    }
  }

  /** The addon's counters over every socket this set has had (open and closed). */
  socketTotals(): SocketTotals {
    const t = emptyTotals();
    addTotals(t, this.retired);
    for (const l of this.links.values()) addTotals(t, l.stats);
    return t;
  }

  close(name: InterfaceName): void {
    const link = this.links.get(name);
    if (!link) return;
    this.links.delete(name);
    link.close();
    addTotals(this.retired, link.stats);
    this.log.info('link closed', { link: name });
  }

  closeAll(): void {
    for (const name of [...this.links.keys()]) this.close(name);
  }

  /** A socket that failed is closed and forgotten; the scan this requests opens a fresh one. */
  private onError(err: Error, failed: RawLink): void {
    const code = /\b(E[A-Z]+)\b/.exec(err.message)?.[1] ?? '';
    this.log[LINK_GONE_ERRNOS.has(code) ? 'debug' : 'warn']('link socket error', {
      link: failed.name,
      error: err.message,
    });
    failed.close();
    // Only if it is still the open one: a late error must not remove its replacement.
    if (this.links.get(failed.name) === failed) {
      this.links.delete(failed.name);
      addTotals(this.retired, failed.stats);
    }
    this.onLinkGone();
  }
}

function emptyTotals(): SocketTotals {
  return {
    received: 0,
    batches: 0,
    sent: 0,
    sendQueued: 0,
    sendErrors: 0,
    sendDropReasons: { 'send-queue-full': 0, 'too-big': 0, closed: 0, 'no-buffer-space': 0 },
  };
}

function addTotals(into: SocketTotals, s: SocketTotals): void {
  into.received += s.received;
  into.batches += s.batches;
  into.sent += s.sent;
  into.sendQueued += s.sendQueued;
  into.sendErrors += s.sendErrors;
  for (const k of Object.keys(into.sendDropReasons) as Array<keyof SocketTotals['sendDropReasons']>)
    into.sendDropReasons[k] += s.sendDropReasons[k] ?? 0;
}
