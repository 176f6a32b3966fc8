// A fake clock and a scripted DHCP server at message level, for the client's unit tests.
import type { Clock, Destination, DhcpTransport, Timer } from '../../../../src/ipam/dhcp/transport.js';
import type { ReceivedReply } from '../../../../src/ipam/dhcp/frame.js';
import type { DhcpMessage } from '../../../../src/ipam/dhcp/message.js';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers: Pending[] = [];

  constructor(start = Date.UTC(2026, 11, 1, 10, 0, 0)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const p: Pending = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(p);
    return p;
  }

  clearTimeout(t: Timer): void {
    (t as Pending).cancelled = true;
  }

  /** Moves time forward by `ms`, running due timers in order and letting promises settle between. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await flush();
    for (;;) {
      const due = this.timers
        .filter((p) => !p.cancelled && p.at <= end)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      due.cancelled = true;
      this.t = due.at;
      due.fn();
      await flush();
      await flush();
    }
    this.t = end;
    await flush();
  }

  /** Advances in steps until `p` settles (or `limitMs` passes); returns the elapsed fake time. */
  async run<T>(
    p: Promise<T>,
    limitMs = 3_600_000,
    stepMs = 100,
  ): Promise<{ value?: T; error?: unknown; ms: number }> {
    const start = this.t;
    let settled = false;
    let value: T | undefined;
    let error: unknown;
    p.then(
      (v) => ((settled = true), (value = v)),
      (e) => ((settled = true), (error = e)),
    );
    while (!settled && this.t - start < limitMs) await this.advance(stepMs);
    if (!settled) throw new Error(`did not settle within ${limitMs} ms of fake time`);
    return { value, error, ms: this.t - start };
  }
}

export interface Sent {
  message: DhcpMessage;
  source: string;
  to: Destination;
  at: number;
}

/** A transport whose `server` function sees every message and may answer with replies. */
export class ScriptedLink implements DhcpTransport {
  readonly sent: Sent[] = [];
  private readonly listeners = new Map<number, Set<(r: ReceivedReply) => void>>();
  server: (m: DhcpMessage, s: Sent) => ReceivedReply[] | void = () => [];
  /** Delay of each answer (fake ms). */
  latencyMs = 10;

  constructor(private readonly clock: FakeClock) {}

  send(message: DhcpMessage, source: string, to: Destination): void {
    const s: Sent = { message, source, to, at: this.clock.now() };
    this.sent.push(s);
    const replies = this.server(message, s) ?? [];
    for (const r of replies) this.clock.setTimeout(() => this.deliver(r), this.latencyMs);
  }

  deliver(r: ReceivedReply): void {
    for (const h of [...(this.listeners.get(r.message.xid) ?? [])]) h(r);
  }

  listen(xid: number, handler: (r: ReceivedReply) => void): () => void {
    let set = this.listeners.get(xid);
    if (!set) this.listeners.set(xid, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  listening(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  ofType(type: number): Sent[] {
    return this.sent.filter((s) => s.message.type === type);
  }
}

export const SERVER_IP = '198.18.4.1';
export const SERVER_MAC = '02:00:00:00:00:01';
export const NODE_MAC = '02:00:00:00:00:02';

/** Builds a server reply to `req` (BOOTREPLY, same xid and chaddr, echoing option 61 per RFC 6842). */
export function reply(
  req: DhcpMessage,
  type: number,
  yiaddr: string,
  options: [number, Buffer][] = [],
  o: { echoClientId?: boolean; chaddr?: string; serverId?: string } = {},
): ReceivedReply {
  const opts = new Map<number, Buffer>();
  opts.set(54, Buffer.from((o.serverId ?? SERVER_IP).split('.').map(Number)));
  for (const [c, v] of options) opts.set(c, v);
  const cid = req.options.get(61);
  if (cid && o.echoClientId !== false) opts.set(61, cid);
  return {
    message: {
      op: 2,
      xid: req.xid,
      secs: 0,
      flags: req.flags,
      ciaddr: req.ciaddr,
      yiaddr,
      siaddr: '0.0.0.0',
      giaddr: '0.0.0.0',
      chaddr: o.chaddr ?? req.chaddr,
      type: type as DhcpMessage['type'],
      options: opts,
    },
    srcMac: SERVER_MAC,
    srcIp: o.serverId ?? SERVER_IP,
    dstIp: '255.255.255.255',
  };
}

export const be32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
export const ip4 = (s: string): Buffer => Buffer.from(s.split('.').map(Number));

// --- an in-memory IpamStore with the interface's semantics (exclusive reserve) -------------------
import type { HeldBack, IpamStore } from '../../../../src/ipam/store/types.js';
import { sameOwner, type Allocation, type Owner } from '../../../../src/ipam/types.js';

export class MemoryStore implements IpamStore {
  readonly byAddress = new Map<string, Allocation>();
  private readonly held = new Map<string, HeldBack>();
  async reserve(a: Allocation): Promise<boolean> {
    if (this.byAddress.has(a.address)) return false;
    this.byAddress.set(a.address, structuredClone(a));
    return true;
  }
  async update(a: Allocation): Promise<boolean> {
    const have = this.byAddress.get(a.address);
    if (!have || !sameOwner(have.owner, a.owner)) return false;
    this.byAddress.set(a.address, structuredClone(a));
    return true;
  }
  async releaseByOwner(owner: Owner): Promise<Allocation[]> {
    const gone = [...this.byAddress.values()].filter((a) => sameOwner(a.owner, owner));
    for (const a of gone) this.byAddress.delete(a.address);
    return gone;
  }
  async releaseAddress(address: string): Promise<Allocation | undefined> {
    const a = this.byAddress.get(address);
    this.byAddress.delete(address);
    return a;
  }
  async getByOwner(owner: Owner): Promise<Allocation[]> {
    return [...this.byAddress.values()].filter((a) => sameOwner(a.owner, owner));
  }
  async list(): Promise<Allocation[]> {
    return [...this.byAddress.values()].map((a) => structuredClone(a));
  }
  async holdBack(h: HeldBack): Promise<void> {
    this.held.set(h.address, h);
  }
  async heldBack(): Promise<HeldBack[]> {
    return [...this.held.values()];
  }
  async close(): Promise<void> {}
}
