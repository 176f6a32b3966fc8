// Sessions of the `node` source mode: a pod's packet re-sent from a port of the node's LAN address,
// and the unicast replies to that port (SSDP M-SEARCH responses, WiZ/Kasa replies, mDNS legacy
// unicast answers) handed back to the pod that asked. A session lives `ttlMs` after its last use.
import { createSocket, type Socket } from 'node:dgram';
import type { IPv4Address } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { ProtocolHandler } from '../protocols/types.js';
import type { NodeRelay, Reflector } from '../reflect/engine.js';
import type { PodAttachment } from '../reflect/types.js';
import type { UdpDatagram } from '../wire/ipv4.js';

/** Where a session's unicast replies go: the engine's `injectReply`. */
export type ReplySink = Reflector['injectReply'];

interface Session {
  socket: Socket;
  ready: Promise<void>;
  to: PodAttachment;
  podPort: number;
  protocol: ProtocolHandler;
  expires: number;
  port?: number;
}

export class NodeSessions implements NodeRelay {
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    readonly address: IPv4Address | undefined,
    private readonly onReply: ReplySink,
    private readonly log: Logger,
    private readonly ttlMs = 10_000,
    private readonly maxSessions = 1024,
  ) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), 1000);
    this.sweeper.unref();
  }

  private readonly ports = new Set<number>();

  get size(): number {
    return this.sessions.size;
  }

  owns(port: number): boolean {
    return this.ports.has(port);
  }

  send(from: PodAttachment, h: ProtocolHandler, d: UdpDatagram, ttl: number): boolean {
    if (!this.address) return false;
    const key = `${from.pod.key}|${d.srcPort}|${h.name}`;
    let s = this.sessions.get(key);
    if (!s) {
      if (this.sessions.size >= this.maxSessions) return false;
      s = this.open(from, h, d.srcPort);
      this.sessions.set(key, s);
    }
    s.to = from; // the pod may have moved to a new link since the session opened
    s.expires = Date.now() + this.ttlMs;
    const session = s;
    const payload = Buffer.from(d.payload);
    void session.ready.then(() => {
      session.socket.setMulticastTTL(ttl);
      session.socket.setTTL(ttl);
      session.socket.send(payload, d.dstPort, d.dst, (err) => {
        if (err) this.log.debug('node-mode send failed', { error: err.message });
      });
    });
    return true;
  }

  private open(to: PodAttachment, protocol: ProtocolHandler, podPort: number): Session {
    const socket = createSocket({ type: 'udp4' });
    const s: Session = { socket, to, podPort, protocol, expires: 0, ready: Promise.resolve() };
    s.ready = new Promise((resolve) => {
      socket.bind({ address: this.address, port: 0 }, () => {
        socket.setBroadcast(true);
        socket.setMulticastLoopback(false);
        socket.setMulticastInterface(this.address!);
        s.port = socket.address().port;
        this.ports.add(s.port);
        resolve();
      });
    });
    socket.on('message', (msg, rinfo) =>
      this.onReply(s.to, s.protocol, rinfo.address, rinfo.port, s.podPort, msg),
    );
    socket.on('error', (err) => this.log.warn('node-mode session error', { error: err.message }));
    return s;
  }

  private sweep(now: number): void {
    for (const [k, s] of this.sessions) {
      if (s.expires <= now) {
        this.sessions.delete(k);
        if (s.port) this.ports.delete(s.port);
        s.socket.close();
      }
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const s of this.sessions.values()) s.socket.close();
    this.sessions.clear();
    this.ports.clear();
  }
}
