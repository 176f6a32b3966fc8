// Fans packet events out to `tail` clients. On the packet path it only runs each client's cheap
// filter and queues the event; decoding, the service filter, JSON and socket writes happen on the
// next turn of the event loop, once per event however many clients want it.
import type { IPv4Address } from '../config/types.js';
import type { PacketEvent } from '../events/bus.js';
import type { PodAttachment } from '../reflect/types.js';
import { matchesCheap, namesMatchService, probeMatches } from './filter.js';
import type { LossyWriter } from './lossy-writer.js';
import { DecodedEvent } from './packet-view.js';
import type { ControlSource, TailFilter } from './types.js';

/** Events waiting for the next flush; past this the newest are dropped and counted per client. */
export const DEFAULT_MAX_BACKLOG = 10_000;

interface TailClient {
  filter: TailFilter;
  writer: LossyWriter;
}

interface Pending {
  event: PacketEvent;
  clients: TailClient[];
}

export class TailHub {
  private readonly clients = new Set<TailClient>();
  private unsubscribe?: () => void;
  private backlog: Pending[] = [];
  private flushScheduled = false;
  private addressIndexFor?: readonly PodAttachment[];
  private addressIndex = new Map<string, readonly IPv4Address[]>();

  constructor(
    private readonly source: ControlSource,
    private readonly maxBacklog = DEFAULT_MAX_BACKLOG,
  ) {}

  get size(): number {
    return this.clients.size;
  }

  /** Adds a client; returns the function that removes it. The bus is listened to only while needed. */
  add(filter: TailFilter, writer: LossyWriter): () => void {
    const client: TailClient = { filter, writer };
    this.clients.add(client);
    this.unsubscribe ??= this.source.bus.subscribe(
      (e) => this.onEvent(e),
      (p) => this.wants(p),
    );
    return () => {
      this.clients.delete(client);
      if (this.clients.size === 0 && this.unsubscribe) {
        this.unsubscribe();
        this.unsubscribe = undefined;
      }
    };
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.clients.clear();
    this.backlog = [];
  }

  /** On the packet path, before the event exists: does any client's cheap filter take it? */
  private wants(p: Parameters<typeof probeMatches>[1]): boolean {
    for (const c of this.clients) if (probeMatches(c.filter, p)) return true;
    return false;
  }

  /** On the packet path: cheap filters and a queue push, nothing more. */
  private onEvent(event: PacketEvent): void {
    let wanted: TailClient[] | undefined;
    for (const c of this.clients)
      if (matchesCheap(c.filter, event, this.addressesOf)) (wanted ??= []).push(c);
    if (!wanted) return;
    if (this.backlog.length >= this.maxBacklog) {
      for (const c of wanted) c.writer.lose();
      return;
    }
    this.backlog.push({ event, clients: wanted });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    const batch = this.backlog;
    this.backlog = [];
    this.flushScheduled = false;
    const lookup = (name: Parameters<ControlSource['protocols']['get']>[0]) =>
      this.source.protocols.get(name);
    for (const { event, clients } of batch) {
      const d = new DecodedEvent(event, lookup);
      try {
        for (const c of clients) {
          if (!this.clients.has(c)) continue;
          if (c.filter.service !== undefined && !namesMatchService(d.names(), c.filter.service)) continue;
          // A stalled client costs a count, not a decode and an encode per packet it would lose.
          if (c.writer.hasRoom()) c.writer.send(d.line());
          else c.writer.lose();
        }
      } catch {
        // a packet that cannot be shown is skipped; it never stops the stream or the agent
      }
    }
    for (const c of this.clients) c.writer.flushLost();
  }

  /** Pod name -> addresses, rebuilt when the agent replaces its attachment list. */
  private readonly addressesOf = (podName: string): readonly IPv4Address[] | undefined => {
    const current = this.source.attachments;
    if (current !== this.addressIndexFor) {
      this.addressIndexFor = current;
      this.addressIndex = new Map(current.map((a) => [a.pod.name, a.pod.addresses]));
    }
    return this.addressIndex.get(podName);
  };
}
