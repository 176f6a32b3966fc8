// Wires the IPAM's LAN side onto the node: one rtnetlink socket (proxy entries, proxy_delay, the
// neighbour table) and one AF_PACKET socket for ARP on the LAN link, both in-process through the
// native layer; the guard, announcer and conflict reports over them. No decision lives here.
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError } from '../../config/errors.js';
import type { InterfaceName, IpamConfig, IPv4Address } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import { ETH_P_ARP, isMac, type MacAddress } from '../../links/arp.js';
import { ArpPort } from '../../links/arp-port.js';
import { NetlinkClient, type OpenNetlink } from '../../links/netlink-client.js';
import { assertLittleEndian } from '../../links/netlink.js';
import { Neighbours, isOurs } from '../../links/neighbours.js';
import { NativeSocket } from '../../wire/native.js';
import type { HostRoutes } from '../host-routes.js';
import type { AddressGuard, PodRef } from '../types.js';
import { addHostRouteMessage, deleteHostRouteMessage } from '../../links/netlink-route.js';
import { LanAddressGuard } from './address-guard.js';
import { LanAnnouncer } from './announcer.js';
import { ConflictReporter, type ConflictListener } from './conflicts.js';
import { SeenAddresses } from './seen-addresses.js';

export interface LanSideOptions {
  config: Pick<IpamConfig, 'probe'>;
  lanLink: InterfaceName;
  log: Logger;
  /** Posts a Warning Event on a pod (Kubernetes); absent with static config. */
  warnPod?: (pod: PodRef, reason: string, message: string) => Promise<void>;
  /** For tests: the netlink socket (default: the native layer's). */
  openNetlink?: OpenNetlink;
}

export interface LanSideStatus {
  link: InterfaceName;
  mac: MacAddress;
  proxyDelayMs?: number;
  localAddresses: number;
  probe: {
    enabled: boolean;
    waitMs: number;
    probes: number;
    answered: number;
    lastMs?: number;
    maxMs?: number;
  };
  arp: ArpPort['counters'];
  conflicts: number;
  seenAddresses: number;
}

export interface LanSide {
  readonly mac: MacAddress;
  readonly guard: AddressGuard;
  readonly announcer: LanAnnouncer;
  /** The node's /32 routes to bridged pods, over the same netlink socket (no `ip` per ADD). */
  readonly hostRoutes: HostRoutes;
  /** Calls `listener` for every ARP frame from another MAC claiming a local pod's address. */
  onConflict(listener: ConflictListener): void;
  /** The reflector's hook: a discovery datagram arrived on the LAN link. */
  observe(src: IPv4Address, dstPort: number, payload: Buffer): void;
  status(): Promise<LanSideStatus>;
  close(): void;
}

function sysfs(link: InterfaceName, file: string): string {
  return readFileSync(`/sys/class/net/${link}/${file}`, 'utf8').trim();
}

function procSys(path: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${path}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const nativeNetlink: OpenNetlink = (onDatagram, onError) => {
  const s = NativeSocket.open(
    { kind: 'netlink', link: '' },
    (msgs) => {
      for (const m of msgs) onDatagram(m.data);
    },
    onError,
  );
  return {
    send: (data) => {
      const dropped = s.send(data, {});
      if (dropped) throw new Error(`netlink send: ${dropped}`);
    },
    close: () => s.close(),
  };
};

export async function openLanSide(o: LanSideOptions): Promise<LanSide> {
  assertLittleEndian();
  const { lanLink, log } = o;
  if (!existsSync(`/sys/class/net/${lanLink}`))
    throw new ConfigError('lanInterface', `interface "${lanLink}" not found on this node`);
  const ifindex = Number(sysfs(lanLink, 'ifindex'));
  const mac = sysfs(lanLink, 'address').toLowerCase();
  if (!isMac(mac)) throw new Error(`${lanLink} has no Ethernet address (${mac}): it cannot answer ARP`);

  const netlink = new NetlinkClient(o.openNetlink ?? nativeNetlink);
  const neighbours = new Neighbours(netlink);
  // The kernel's proxy answers to broadcast requests wait a random 0..proxy_delay (800 ms by
  // default); 0 answers at once. /proc/sys is read-only in a container: RTM_SETNEIGHTBL is not.
  try {
    await neighbours.setProxyDelay(ifindex, 0);
  } catch (err) {
    log.warn(`cannot set proxy_delay 0 on ${lanLink}: ARP answers for pods may wait up to 0.8 s`, {
      error: String(err),
    });
  }
  // Proxy entries answer only with forwarding on; link-wide proxy_arp would answer for every
  // address routed elsewhere (the write-up's warning), which this design exists to avoid.
  if (procSys(`net/ipv4/conf/${lanLink}/forwarding`) === '0')
    log.warn(`IPv4 forwarding is off on ${lanLink}: the kernel will not answer ARP for pod addresses`);
  if (procSys(`net/ipv4/conf/${lanLink}/proxy_arp`) === '1')
    log.warn(`proxy_arp is on for all of ${lanLink}: the node answers ARP for more than its pods`);

  let announcer!: LanAnnouncer;
  let conflicts!: ConflictReporter;
  const port = new ArpPort({
    ownMac: mac,
    send: (frame) => {
      const dropped = packet.send(frame, {});
      if (dropped) throw new Error(`ARP send: ${dropped}`);
    },
    isLocalPod: (a) => announcer.isLocal(a),
    onConflict: (c) => conflicts.report(c.address, c.by, mac),
  });
  const packet = NativeSocket.open(
    { kind: 'packet', link: lanLink, ethertype: ETH_P_ARP },
    (msgs) => {
      for (const m of msgs) port.receive(m.data);
    },
    (err) => log.warn(`ARP socket on ${lanLink} failed`, { error: String(err) }),
  );

  announcer = new LanAnnouncer({
    proxies: {
      add: (a) => neighbours.addProxy(ifindex, a),
      remove: (a) => neighbours.deleteProxy(ifindex, a),
      list: async () => (await neighbours.proxies(ifindex)).filter((n) => n.proxy),
    },
    announce: (a, spacing) => port.announce(a, spacing),
    log,
  });
  conflicts = new ConflictReporter({ log, podAt: (a) => announcer.podAt(a), warnPod: o.warnPod });
  const seen = new SeenAddresses();
  const probe = o.config.probe;
  const guard = new LanAddressGuard({
    seen,
    neighbours: () => neighbours.neighbours(ifindex),
    probe: probe.enabled ? (a, ms) => port.probe(a, ms) : undefined,
    ownMac: mac,
    waitMs: probe.timeoutMs,
  });
  log.info('LAN side ready', { link: lanLink, mac, probe: probe.enabled ? `${probe.timeoutMs} ms` : 'off' });

  const linkIndex = (link: InterfaceName): number => Number(sysfs(link, 'ifindex'));
  const hostRoutes: HostRoutes = {
    async add(address, link) {
      const r = { address, ifindex: linkIndex(link) };
      await netlink.request(`add route ${address}/32 dev ${link}`, (seq) => addHostRouteMessage(r, seq));
    },
    async remove(address, link) {
      let ifindex: number;
      try {
        ifindex = linkIndex(link);
      } catch {
        return; // the bridge is gone, and its routes with it
      }
      const r = { address, ifindex };
      await netlink
        .request(`delete route ${address}/32 dev ${link}`, (seq) => deleteHostRouteMessage(r, seq))
        .catch(() => undefined); // already gone (ESRCH): DEL is idempotent
    },
  };

  return {
    mac,
    guard,
    announcer,
    hostRoutes,
    onConflict: (listener) => void conflicts.listeners.push(listener),
    observe: (src, dstPort, payload) => seen.observe(src, dstPort, payload),
    async status() {
      const ms = guard.counters.probeMs;
      const ours = await neighbours.proxies(ifindex).catch(() => []);
      return {
        link: lanLink,
        mac,
        proxyDelayMs: await neighbours.proxyDelay(ifindex).catch(() => undefined),
        localAddresses: ours.filter(isOurs).length,
        probe: {
          enabled: probe.enabled,
          waitMs: probe.timeoutMs,
          probes: ms.length,
          answered: guard.counters.probeAnswered,
          lastMs: ms.at(-1),
          maxMs: ms.length ? Math.max(...ms) : undefined,
        },
        arp: { ...port.counters },
        conflicts: conflicts.total,
        seenAddresses: seen.size,
      };
    },
    close() {
      port.close();
      packet.close();
      netlink.close();
    },
  };
}
