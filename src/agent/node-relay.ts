// Sessions of the `node` source mode: a pod's packet re-sent from a port of the node's LAN address,
// and the unicast replies to that port (SSDP M-SEARCH responses, WiZ/Kasa replies, mDNS legacy
// unicast answers) handed back to the pod that asked. A session lives `ttlMs` after its last use.
//
// The table is shared fairly: each pod holds at most `perPod` sessions, and when the table is full a
// pod below its fair share takes the least recently used session of the pod holding the most. A pod
// sending from random source ports at full speed exhausts only its own share.
import { createSocket, type Socket } from 'node:dgram';
import type { IPAddress } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { ProtocolHandler } from '../protocols/types.js';
import type { NodeRelay, Reflector } from '../reflect/engine.js';
import type { Datagram, PodAttachment } from '../reflect/types.js';

/** Where a session's unicast replies go: the engine's `injectReply`. */
export type ReplySink = Reflector['injectReply'];

/** Packets a session holds while its socket binds; more are refused rather than chained. */
const MAX_PENDING = 16;

interface Session {
  key: string;
  podKey: string;
  socket: Socket;
  source: IPAddress;
  to: PodAttachment;
  podPort: number;
  protocol: ProtocolHandler;
  expires: number;
  port?: number;
  /** Sends waiting for the bind; undefined once bound. */
  pending?: Array<{ payload: Buffer; port: number; address: IPAddress; ttl: number }>;
}

export interface NodeSessionOptions {
  ttlMs?: number;
  maxSessions?: number;
  perPod?: number;
  /** Told about packets that were queued for a session whose socket then failed to bind. */
  onLost?: (protocol: ProtocolHandler, count: number) => void;
  now?: () => number;
}

export class NodeSessions implements NodeRelay {
  private readonly sessions = new Map<string, Session>();
  /** Per pod, its sessions in least-recently-used order (a Map keeps insertion order). */
  private readonly byPod = new Map<string, Map<string, Session>>();
  private readonly ports = new Set<number>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly ttlMs: number;
  private readonly maxSessions: number;
  private readonly perPod: number;
  private readonly now: () => number;

  constructor(
    private readonly onReply: ReplySink,
    private readonly log: Logger,
    private readonly o: NodeSessionOptions = {},
  ) {
    this.ttlMs = o.ttlMs ?? 10_000;
    this.maxSessions = o.maxSessions ?? 1024;
    this.perPod = Math.min(o.perPod ?? 64, this.maxSessions);
    this.now = o.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(this.now()), 1000);
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Sessions per pod key, for status and tests. */
  sizeOf(podKey: string): number {
    return this.byPod.get(podKey)?.size ?? 0;
  }

  owns(port: number): boolean {
    return this.ports.has(port);
  }

  room(from: PodAttachment, h: ProtocolHandler, srcPort: number): boolean {
    if (this.sessions.has(sessionKey(from, h, srcPort))) return true;
    return this.canOpen(from.pod.key);
  }

  send(from: PodAttachment, h: ProtocolHandler, d: Datagram, ttl: number, source: IPAddress): boolean {
    const key = sessionKey(from, h, d.srcPort);
    let s = this.sessions.get(key);
    if (s && s.source !== source) {
      // The node's address changed (DHCP renewal): a socket bound to the old one is useless.
      this.remove(s);
      s = undefined;
    }
    if (!s) {
      if (!this.canOpen(from.pod.key)) return false;
      this.makeRoom(from.pod.key);
      s = this.open(key, from, h, d.srcPort, source);
    } else {
      // Most recently used last: move it to the end of its pod's list.
      const mine = this.byPod.get(s.podKey)!;
      mine.delete(key);
      mine.set(key, s);
    }
    s.to = from; // the pod may have moved to a new link since the session opened
    s.expires = this.now() + this.ttlMs;
    // The receive buffer is reused for the next packet: the payload is copied once, here.
    const msg = { payload: Buffer.from(d.payload), port: d.dstPort, address: d.dst, ttl };
    if (s.pending) {
      if (s.pending.length >= MAX_PENDING) return false;
      s.pending.push(msg);
      return true;
    }
    return this.transmit(s, msg);
  }

  private canOpen(podKey: string): boolean {
    const mine = this.byPod.get(podKey)?.size ?? 0;
    if (mine >= this.perPod) return false;
    if (this.sessions.size < this.maxSessions) return true;
    // Full: a pod below its fair share may take a session from the pod holding the most.
    return this.largestPod()[1] > mine + 1;
  }

  private largestPod(): [string | undefined, number] {
    let best: string | undefined;
    let n = 0;
    for (const [k, m] of this.byPod) if (m.size > n) [best, n] = [k, m.size];
    return [best, n];
  }

  private makeRoom(podKey: string): void {
    if (this.sessions.size < this.maxSessions) return;
    const [victim] = this.largestPod();
    if (victim === undefined || victim === podKey) return;
    const oldest = this.byPod.get(victim)!.values().next().value;
    if (oldest) this.remove(oldest);
  }

  private transmit(
    s: Session,
    m: { payload: Buffer; port: number; address: IPAddress; ttl: number },
  ): boolean {
    try {
      s.socket.setMulticastTTL(m.ttl);
      s.socket.setTTL(m.ttl);
      s.socket.send(m.payload, m.port, m.address, (err) => {
        if (err) this.log.debug('node-mode send failed', { error: err.message });
      });
      return true;
    } catch (err) {
      this.log.debug('node-mode send failed', { error: (err as Error).message });
      return false;
    }
  }

  private open(
    key: string,
    to: PodAttachment,
    protocol: ProtocolHandler,
    podPort: number,
    source: IPAddress,
  ): Session {
    const socket = createSocket({ type: source.includes(':') ? 'udp6' : 'udp4' });
    const s: Session = {
      key,
      podKey: to.pod.key,
      socket,
      source,
      to,
      podPort,
      protocol,
      expires: 0,
      pending: [],
    };
    this.sessions.set(key, s);
    let mine = this.byPod.get(s.podKey);
    if (!mine) this.byPod.set(s.podKey, (mine = new Map()));
    mine.set(key, s);
    socket.on('message', (msg, rinfo) =>
      this.onReply(s.to, s.protocol, rinfo.address, rinfo.port, s.podPort, msg),
    );
    socket.on('error', (err) => {
      // A bind that fails (the address just went away) settles the session: it is removed, what
      // waited is counted lost, and the next packet from the pod opens a fresh one.
      const lost = s.pending?.length ?? 0;
      this.log.warn('node-mode session error', { error: err.message, pod: to.pod.name });
      this.remove(s);
      if (lost) this.o.onLost?.(s.protocol, lost);
    });
    socket.bind({ address: source, port: 0 }, () => {
      if (this.sessions.get(key) !== s) return; // removed while binding
      try {
        socket.setBroadcast(true);
        socket.setMulticastLoopback(false);
        socket.setMulticastInterface(source);
        s.port = socket.address().port;
      } catch (err) {
        socket.emit('error', err);
        return;
      }
      this.ports.add(s.port);
      const waiting = s.pending ?? [];
      s.pending = undefined;
      for (const m of waiting) this.transmit(s, m);
    });
    return s;
  }

  private remove(s: Session): void {
    if (this.sessions.get(s.key) !== s) return;
    this.sessions.delete(s.key);
    const mine = this.byPod.get(s.podKey);
    mine?.delete(s.key);
    if (mine?.size === 0) this.byPod.delete(s.podKey);
    if (s.port !== undefined) this.ports.delete(s.port);
    s.pending = undefined;
    try {
      s.socket.close();
    } catch {
      // already closed
    }
  }

  /** Drops the sessions bound to another source than `source` (the node's address changed). */
  rebind(source: IPAddress | undefined): void {
    for (const s of [...this.sessions.values()]) if (s.source !== source) this.remove(s);
  }

  private sweep(now: number): void {
    for (const s of [...this.sessions.values()]) if (s.expires <= now) this.remove(s);
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const s of [...this.sessions.values()]) this.remove(s);
  }
}

const sessionKey = (from: PodAttachment, h: ProtocolHandler, srcPort: number) =>
  `${from.pod.key}|${srcPort}|${h.name}`;
