// One raw IPv4/UDP socket per link, used both to receive (the kernel hands raw sockets the IP header,
// so TTL and destination are visible) and to emit hand-built packets with the original source address
// (IP_HDRINCL). Binding it to the link (SO_BINDTODEVICE) tells us the ingress link of every packet
// (DESIGN.md decision 4) and picks the egress link of every emission without routing.
import raw from '@neuralegion/raw-socket';
import { readFileSync } from 'node:fs';
import type { InterfaceName } from '../config/types.js';
import {
  IPPROTO_IP,
  IP_ADD_MEMBERSHIP,
  IP_DROP_MEMBERSHIP,
  IP_HDRINCL,
  IP_MULTICAST_ALL,
  IP_MULTICAST_LOOP,
  SOL_SOCKET,
  SO_BINDTODEVICE,
  SO_BROADCAST,
  SO_RCVBUF,
  deviceName,
  ipMreqn,
} from './sockopt.js';

const SO_RCVBUFFORCE = 33;
const RECEIVE_BUFFER = 4 * 1024 * 1024;

export type PacketHandler = (packet: Buffer, link: RawLink) => void;

export class PrivilegeError extends Error {}

/** The parts of @neuralegion/raw-socket's JS wrapper the fast paths below use (pinned version 1.8).
 *  Its own send queues every packet and sends one per event-loop turn, arming and disarming the poll
 *  watcher each time; its receive reads one packet per wake-up. At 50k packets/s that dance was 88%
 *  of the agent's busy time (bench/RESULTS.md), the reflection logic 8%. */
interface RawInternals {
  wrap: {
    send(b: Buffer, off: number, len: number, addr: string, cb: (bytes: number) => void): void;
    recv(b: Buffer, cb: (b: Buffer, bytes: number, source: string) => void): void;
    removeAllListeners(event: string): void;
    on(event: string, fn: () => void): void;
  };
  buffer: Buffer;
  requests: unknown[];
}

const WOULD_BLOCK = /temporarily unavailable|EAGAIN|EWOULDBLOCK|No buffer space/i;
/** Packets read per wake-up before yielding to the event loop (timers, other links). */
const RECV_BATCH = 64;

/** Errors a link can raise once it is gone (pod deleted, veth removed). The link scan closes and
 *  reopens such sockets; they are not worth more than a debug line. */
export const LINK_GONE_ERRNOS = new Set(['ENODEV', 'ENXIO', 'ENETDOWN', 'ENETUNREACH']);

export function linkIndex(name: InterfaceName): number {
  return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
}

export function linkMtu(name: InterfaceName): number {
  return Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
}

export interface RawLinkStats {
  received: number;
  sent: number;
  sendErrors: number;
}

export class RawLink {
  readonly name: InterfaceName;
  readonly index: number;
  readonly mtu: number;
  readonly groups = new Set<string>();
  readonly stats: RawLinkStats = { received: 0, sent: 0, sendErrors: 0 };
  private readonly socket: raw.Socket;
  private readonly raw: RawInternals;
  private readonly onError: (err: Error, link: RawLink) => void;
  // The package's typings allow only numbers, but its setOption also takes (Buffer, length).
  private setOpt(level: number, option: number, value: Buffer, length: number): void {
    (this.socket.setOption as unknown as (l: number, o: number, v: Buffer, n: number) => void)(
      level,
      option,
      value,
      length,
    );
  }
  private closed = false;

  constructor(name: InterfaceName, onPacket: PacketHandler, onError: (err: Error, link: RawLink) => void) {
    this.name = name;
    this.index = linkIndex(name);
    this.mtu = linkMtu(name);
    try {
      // A packet larger than the link MTU cannot arrive whole; a truncated one is a counted malformed drop.
      this.socket = raw.createSocket({
        protocol: raw.Protocol.UDP,
        bufferSize: Math.max(this.mtu, 1500) + 64,
      });
    } catch (err) {
      if (/not permitted|EPERM|EACCES/i.test(String(err))) {
        throw new PrivilegeError(
          'cannot open a raw socket: run as root or grant CAP_NET_RAW (the DaemonSet adds NET_RAW and NET_ADMIN)',
        );
      }
      throw err;
    }
    const s = this.socket;
    this.setOpt(SOL_SOCKET, SO_BINDTODEVICE, deviceName(name), name.length + 1);
    s.setOption(IPPROTO_IP, IP_HDRINCL, 1);
    // DESIGN.md decision 3: without this the agent hears its own emissions, which carry a device's
    // source address, and would reflect them again.
    s.setOption(IPPROTO_IP, IP_MULTICAST_LOOP, 0);
    // Deliver only the groups this socket joined on its own link, not those of other sockets.
    s.setOption(IPPROTO_IP, IP_MULTICAST_ALL, 0);
    s.setOption(SOL_SOCKET, SO_BROADCAST, 1);
    try {
      s.setOption(SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER);
    } catch {
      s.setOption(SOL_SOCKET, SO_RCVBUF, RECEIVE_BUFFER); // without CAP_NET_ADMIN: capped at rmem_max
    }
    this.raw = s as unknown as RawInternals;
    // Read until the socket is empty (or a batch is done), not one packet per wake-up.
    this.raw.wrap.removeAllListeners('recvReady');
    this.raw.wrap.on('recvReady', () => this.drain(onPacket));
    s.on('error', (err: Error) => {
      if (!this.closed) onError(err, this);
    });
    this.onError = onError;
  }

  /** Joins a group on this link by index (ip_mreqn), so the kernel accepts it here. One socket per
   *  link keeps every socket far below igmp_max_memberships (DESIGN.md decision 5). */
  join(group: string): void {
    if (this.groups.has(group)) return;
    this.setOpt(IPPROTO_IP, IP_ADD_MEMBERSHIP, ipMreqn(group, this.index), 12);
    this.groups.add(group);
  }

  leave(group: string): void {
    if (!this.groups.delete(group)) return;
    try {
      this.setOpt(IPPROTO_IP, IP_DROP_MEMBERSHIP, ipMreqn(group, this.index), 12);
    } catch {
      // the link may already be gone; the membership went with it
    }
  }

  /** Packets to read at the next wake-up: the socket is level-triggered, so what is left is read
   *  on the next loop turn anyway. An empty socket answers a read with a thrown EAGAIN, which costs
   *  more than the packet: at low rates read one per wake-up; double while every read finds a
   *  packet, halve when one finds none. */
  private batch = 1;

  private drain(onPacket: PacketHandler): void {
    const deliver = (buf: Buffer, bytes: number) => {
      this.stats.received++;
      onPacket(buf.subarray(0, bytes), this);
    };
    for (let i = 0; i < this.batch && !this.closed; i++) {
      try {
        this.raw.wrap.recv(this.raw.buffer, deliver);
      } catch (err) {
        this.batch = Math.max(1, this.batch >> 1);
        if (!WOULD_BLOCK.test(String(err)) && !this.closed) this.onError(err as Error, this);
        return;
      }
    }
    this.batch = Math.min(RECV_BATCH, this.batch * 2);
  }

  /** Sends a complete IPv4 packet out of this link: at once (a raw sendto does not block), through
   *  the package's queue only when the socket buffer is full or packets already wait there. */
  send(packet: Buffer, dst: string): void {
    if (this.closed) return;
    if (this.raw.requests.length === 0) {
      try {
        this.raw.wrap.send(packet, 0, packet.length, dst, () => undefined);
        this.stats.sent++;
        return;
      } catch (err) {
        if (!WOULD_BLOCK.test(String(err))) {
          this.stats.sendErrors++;
          return;
        }
      }
    }
    this.socket.send(packet, 0, packet.length, dst, (err: Error | null) => {
      if (err) this.stats.sendErrors++;
      else this.stats.sent++;
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const g of [...this.groups]) this.leave(g);
    this.socket.close();
  }
}
