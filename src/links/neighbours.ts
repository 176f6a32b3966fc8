// The node's neighbour tables, through rtnetlink in-process: proxy entries for pod addresses on the
// LAN link, the link's proxy_delay, and what the LAN link's ARP cache knows. A burst of 200 ADDs is
// 200 netlink messages on one socket, not 200 forked `ip` processes.
import type { IPv4Address } from '../config/types.js';
import { NetlinkError, type NetlinkClient } from './netlink-client.js';
import {
  ARP_TABLE,
  LAN_REFLECTOR_PROTOCOL,
  addProxyMessage,
  decodeNeighbour,
  decodeNeighbourTable,
  deleteProxyMessage,
  dumpNeighbourTablesMessage,
  dumpNeighboursMessage,
  setProxyDelayMessage,
  type Neighbour,
} from './netlink-neigh.js';

export class Neighbours {
  constructor(private readonly netlink: NetlinkClient) {}

  /** Makes the kernel answer ARP for `address` on the link (forwarding and a route to the address
   *  out of another link are the kernel's conditions). Idempotent. */
  async addProxy(ifindex: number, address: IPv4Address): Promise<void> {
    await this.netlink.request(`add proxy entry ${address}`, (seq) =>
      addProxyMessage({ ifindex, address, protocol: LAN_REFLECTOR_PROTOCOL }, seq),
    );
  }

  /** Removes the proxy entry; true if there was one. */
  async deleteProxy(ifindex: number, address: IPv4Address): Promise<boolean> {
    try {
      await this.netlink.request(`delete proxy entry ${address}`, (seq) =>
        deleteProxyMessage({ ifindex, address }, seq),
      );
      return true;
    } catch (err) {
      if (err instanceof NetlinkError && err.code === 'ENOENT') return false;
      throw err;
    }
  }

  /** Proxy entries on the link; `ours` are those carrying our protocol mark. */
  async proxies(ifindex: number): Promise<Neighbour[]> {
    const msgs = await this.netlink.dump('dump proxy entries', (seq) =>
      dumpNeighboursMessage(seq, { proxy: true }),
    );
    return msgs.map(decodeNeighbour).filter((n): n is Neighbour => !!n && n.ifindex === ifindex);
  }

  /** ARP cache entries (not proxy entries) on the link. */
  async neighbours(ifindex: number): Promise<Neighbour[]> {
    const msgs = await this.netlink.dump('dump neighbours', (seq) =>
      dumpNeighboursMessage(seq, { proxy: false }),
    );
    return msgs.map(decodeNeighbour).filter((n): n is Neighbour => !!n && n.ifindex === ifindex && !n.proxy);
  }

  /** The kernel waits a random 0..proxy_delay before a proxy answer to a broadcast request (default
   *  800 ms); 0 makes it answer at once. */
  async setProxyDelay(ifindex: number, delayMs: number): Promise<void> {
    await this.netlink.request('set proxy_delay', (seq) => setProxyDelayMessage(ifindex, delayMs, seq));
  }

  async proxyDelay(ifindex: number): Promise<number | undefined> {
    const msgs = await this.netlink.dump('dump neighbour tables', dumpNeighbourTablesMessage);
    for (const m of msgs) {
      const t = decodeNeighbourTable(m);
      if (t?.table === ARP_TABLE && t.ifindex === ifindex) return t.proxyDelayMs;
    }
    return undefined;
  }
}

export const isOurs = (n: Neighbour): boolean => n.protocol === LAN_REFLECTOR_PROTOCOL;
