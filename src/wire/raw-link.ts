// One raw IPv4/UDP socket per link, used both to receive (the kernel hands raw sockets the IP header,
// so TTL and destination are visible) and to emit hand-built packets with the original source address
// (IP_HDRINCL). Binding it to the link (SO_BINDTODEVICE) tells us the ingress link of every packet
// (DESIGN.md decision 4) and picks the egress link of every emission without routing.
import { readFileSync } from 'node:fs';
import type { InterfaceName } from '../config/types.js';
import { udpPortFilter } from './bpf.js';
import { NativeSocket, PrivilegeError, type Received, type SocketKind, type SocketStats } from './native.js';
import {
  IPPROTO_IP,
  IP_ADD_MEMBERSHIP,
  IP_DROP_MEMBERSHIP,
  IP_HDRINCL,
  IP_MULTICAST_ALL,
  IP_MULTICAST_LOOP,
  SOL_SOCKET,
  SO_BROADCAST,
  SO_RCVBUF,
  ipMreqn,
} from './sockopt.js';

export { PrivilegeError };

const SO_RCVBUFFORCE = 33;
const RECEIVE_BUFFER = 4 * 1024 * 1024;

export type PacketHandler = (packet: Buffer, link: RawLink) => void;

/** Errors a link can raise once it is gone (pod deleted, veth removed). The link scan closes and
 *  reopens such sockets; they are not worth more than a debug line. */
export const LINK_GONE_ERRNOS = new Set(['ENODEV', 'ENXIO', 'ENETDOWN', 'ENETUNREACH']);

export function linkIndex(name: InterfaceName): number {
  return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
}

export function linkMtu(name: InterfaceName): number {
  return Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
}

export type RawLinkStats = SocketStats;

export interface RawLinkOptions {
  /** false: a send-only socket (a bridge port): the kernel queues nothing for it. */
  receive?: boolean;
  /** The UDP destination ports the kernel filter passes (src/wire/bpf.ts); absent: every UDP packet. */
  ports?: readonly number[];
}

export class RawLink {
  readonly name: InterfaceName;
  readonly index: number;
  readonly mtu: number;
  readonly groups = new Set<string>();
  readonly receive: boolean;
  readonly kind: SocketKind = 'ipv4-udp';
  /** Ports the kernel filter passes; [] for a send-only socket (it drops all); null: no filter. */
  filterPorts: readonly number[] | null;
  private readonly socket: NativeSocket;
  private closed = false;

  constructor(
    name: InterfaceName,
    onPacket: PacketHandler,
    onError: (err: Error, link: RawLink) => void,
    opts: RawLinkOptions = {},
  ) {
    this.name = name;
    this.mtu = linkMtu(name);
    this.receive = opts.receive ?? true;
    this.filterPorts = !this.receive ? [] : opts.ports ? [...opts.ports].sort((a, b) => a - b) : null;
    const deliver = (msgs: Received[]) => {
      for (let i = 0; i < msgs.length && !this.closed; i++) onPacket(msgs[i].data, this);
    };
    // Bound to the link (SO_BINDTODEVICE) by open; a packet larger than the link MTU cannot arrive
    // whole, and a truncated one is a counted malformed drop.
    this.socket = NativeSocket.open(
      {
        kind: 'ipv4-udp',
        link: name,
        receive: this.receive,
        // Attached before the socket can queue anything (the addon drains what came first).
        filter: this.receive && opts.ports ? udpPortFilter({ family: 4, ports: opts.ports }) : undefined,
        bufferSize: Math.max(this.mtu, 1500) + 64,
      },
      deliver,
      (err) => {
        if (!this.closed) onError(err, this);
      },
    );
    this.index = this.socket.ifindex;
    const s = this.socket;
    s.setOption(IPPROTO_IP, IP_HDRINCL, 1);
    // DESIGN.md decision 3: without this the agent hears its own emissions, which carry a device's
    // source address, and would reflect them again.
    s.setOption(IPPROTO_IP, IP_MULTICAST_LOOP, 0);
    // Deliver only the groups this socket joined on its own link, not those of other sockets.
    s.setOption(IPPROTO_IP, IP_MULTICAST_ALL, 0);
    s.setOption(SOL_SOCKET, SO_BROADCAST, 1);
    if (this.receive) {
      try {
        s.setOption(SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER);
      } catch {
        s.setOption(SOL_SOCKET, SO_RCVBUF, RECEIVE_BUFFER); // without CAP_NET_ADMIN: capped at rmem_max
      }
    }
  }

  get stats(): RawLinkStats {
    return this.socket.stats;
  }

  /** Replaces the kernel filter with one for `ports` (the configured ports changed); atomic. */
  setPorts(ports: readonly number[]): void {
    if (!this.receive) return;
    this.socket.setFilter(udpPortFilter({ family: 4, ports }));
    this.filterPorts = [...ports].sort((a, b) => a - b);
  }

  /** Joins a group on this link by index (ip_mreqn), so the kernel accepts it here. One socket per
   *  link keeps every socket far below igmp_max_memberships (DESIGN.md decision 5). */
  join(group: string): void {
    if (this.groups.has(group)) return;
    this.socket.setOption(IPPROTO_IP, IP_ADD_MEMBERSHIP, ipMreqn(group, this.index));
    this.groups.add(group);
  }

  leave(group: string): void {
    if (!this.groups.delete(group)) return;
    try {
      this.socket.setOption(IPPROTO_IP, IP_DROP_MEMBERSHIP, ipMreqn(group, this.index));
    } catch {
      // the link may already be gone; the membership went with it
    }
  }

  /** Queues a complete IPv4 packet (IP_HDRINCL) for this link; it leaves with the batch's
   *  sendmmsg. The kernel routes by the packet's own destination, out of this link only. False when
   *  it was dropped instead (counted in stats.sendDropReasons). */
  send(packet: Buffer): boolean {
    if (this.closed) return false;
    return this.socket.send(packet) === undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const g of [...this.groups]) this.leave(g);
    this.socket.close();
  }
}
