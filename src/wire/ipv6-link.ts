// One raw IPv6/UDP socket per link (the addon's `ipv6-udp` kind): it receives UDP with the source,
// destination and hop limit from ancillary data (a raw IPv6 socket gets no IP header, RFC 3542),
// and sends a UDP segment out of exactly this link with any source address (IPV6_PKTINFO with
// freebind) and a hop limit per message; the kernel fills the mandatory checksum (IPV6_CHECKSUM).
// The IPv6 counterpart of the IPv4 raw link (DESIGN.md decisions 1-5).
import type { InterfaceName } from '../config/types.js';
import { NativeSocket, type Received } from './native.js';
import { ipv6ToBytes, readIPv6Frame } from './ipv6.js';
import { linkMtu } from './raw-link.js';

// Linux <netinet/in.h> / <linux/in6.h>
export const IPPROTO_IPV6 = 41;
export const IPV6_MULTICAST_HOPS = 18;
export const IPV6_MULTICAST_LOOP = 19;
export const IPV6_ADD_MEMBERSHIP = 20;
export const IPV6_DROP_MEMBERSHIP = 21;
export const IPV6_MULTICAST_ALL = 29;

/** struct ipv6_mreq: the group, then the interface index (host byte order). Joining by index
 *  works on links without any address of ours, like Calico's host ends (DESIGN.md decision 2). */
export function ipv6Mreq(group: string, ifindex: number): Buffer {
  const b = Buffer.alloc(20);
  ipv6ToBytes(group, b, 0);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) b.writeUInt32LE(ifindex, 16);
  else b.writeUInt32BE(ifindex, 16);
  return b;
}

export interface Ipv6LinkOptions {
  /** Groups to join (ff02::fb, ff02::c); none for a send-only bridge port. */
  groups: readonly string[];
  receive: boolean;
  /** Classic BPF for the receive side (src/wire/bpf.ts); only discovery ports reach us. */
  filter?: Buffer;
}

export interface Ipv6LinkStats {
  received: number;
  sent: number;
  sendErrors: number;
}

export class Ipv6Link {
  readonly name: InterfaceName;
  readonly index: number;
  readonly mtu: number;
  readonly groups = new Set<string>();
  private readonly socket: NativeSocket;
  private closed = false;

  constructor(
    name: InterfaceName,
    o: Ipv6LinkOptions,
    onBatch: (msgs: Received[], link: Ipv6Link) => void,
    onError: (err: Error, link: Ipv6Link) => void,
  ) {
    this.name = name;
    this.mtu = linkMtu(name);
    this.socket = NativeSocket.open(
      { kind: 'ipv6-udp', link: name, receive: o.receive, filter: o.filter },
      (msgs) => onBatch(msgs, this),
      (err) => {
        if (!this.closed) onError(err, this);
      },
    );
    this.index = this.socket.ifindex;
    try {
      // DESIGN.md decision 3: the agent must never hear its own emissions, which carry a device's
      // or a pod's source address.
      this.socket.setOption(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
      // Only the groups this socket joined on its own link, not those of other sockets.
      this.socket.setOption(IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0);
      for (const g of o.groups) this.join(g);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  join(group: string): void {
    if (this.groups.has(group)) return;
    this.socket.setOption(IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, ipv6Mreq(group, this.index));
    this.groups.add(group);
  }

  leave(group: string): void {
    if (!this.groups.delete(group)) return;
    try {
      this.socket.setOption(IPPROTO_IPV6, IPV6_DROP_MEMBERSHIP, ipv6Mreq(group, this.index));
    } catch {
      // the link may already be gone; the membership went with it
    }
  }

  /** Queues one UDP segment (header + payload) to `dst` from `src` with hop limit `hopLimit`.
   *  Returns false when it was not queued (counted by the addon). */
  send(segment: Buffer, dst: string, src: string, hopLimit: number): boolean {
    if (this.closed) return false;
    return (
      this.socket.send(segment, { address: dst, source: src, hopLimit, scope: this.index }) === undefined
    );
  }

  /** Sends a framePacket() IPv6 packet: its header names source, destination and hop limit. */
  sendFrame(packet: Buffer): boolean {
    const f = readIPv6Frame(packet);
    return f ? this.send(f.segment, f.dst, f.src, f.hopLimit) : false;
  }

  setFilter(prog: Buffer): void {
    this.socket.setFilter(prog);
  }

  get stats(): Ipv6LinkStats {
    const s = this.socket.stats;
    return { received: s.received, sent: s.sent, sendErrors: s.sendErrors + s.sendDropped };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const g of [...this.groups]) this.leave(g);
    this.socket.close();
  }
}
