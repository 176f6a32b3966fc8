// Wires `ipam.mode: dhcp` into the agent: the packet socket on the LAN link (native layer, ethertype
// IPv4, a BPF filter for UDP port 68), the transport, the client, the address book beside the file
// store, the provider, its metrics, and Warning Events on pods. Holds no decisions of its own.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfig } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import { udpPortFilter } from '../../wire/bpf.js';
import { NativeSocket } from '../../wire/native.js';
import { inCidr } from '../address-math.js';
import type { IpamStore } from '../store/types.js';
import type { PodRef, ProviderContext } from '../types.js';
import { FileAddressBook, MemoryAddressBook } from './address-book.js';
import { DhcpClient } from './client.js';
import { CLIENT_PORT } from './constants.js';
import { ETHERTYPE_IPV4 } from './frame.js';
import type { DhcpMetrics } from './metrics.js';
import { PacketTransport } from './packet-transport.js';
import { DhcpProvider, PROBLEM_REASONS } from './provider.js';

/** sll_pkttype PACKET_OUTGOING: the socket also sees the frames the agent sends. */
const PACKET_OUTGOING = 4;

export interface DhcpWiringOptions {
  config: AgentConfig;
  log: Logger;
  /** Read when the provider is built (the service's metrics exist by then). */
  metrics: () => DhcpMetrics;
  /** Posts a Warning Event on the pod (Kubernetes only). */
  warnPod?: (pod: PodRef, reason: string, message: string) => Promise<void>;
}

export async function linkMac(link: string): Promise<string> {
  const mac = (await readFile(`/sys/class/net/${link}/address`, 'utf8')).trim();
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac))
    throw new Error(`${link} has no Ethernet address (${mac})`);
  return mac;
}

/** Warning Events through the API server, as the pod watch posts its own. */
export async function kubeWarnPod(
  nodeName: string,
): Promise<(pod: PodRef, reason: string, message: string) => Promise<void>> {
  const { kubeConfigFrom } = await import('../../pods/kube/kube-config.js');
  const { apiEventRecorder } = await import('../../pods/kube/event-recorder.js');
  const recorder = apiEventRecorder(kubeConfigFrom(), nodeName);
  return (pod, reason, message) =>
    recorder.warning(
      { metadata: { namespace: pod.namespace, name: pod.name, uid: pod.uid } },
      reason,
      message,
    );
}

/**
 * Resolves what needs I/O up front (the LAN link's MAC), then returns the factory IpamService calls
 * with its store and LAN-side hooks. The packet socket opens when the provider is built and closes
 * when the service stops it.
 */
export async function dhcpProvider(
  o: DhcpWiringOptions,
): Promise<(store: IpamStore, ctx: ProviderContext) => DhcpProvider> {
  const ipam = o.config.ipam!;
  const link = o.config.lanInterface;
  const mac = await linkMac(link);
  const log = o.log.child({ component: 'dhcp' });
  return (store, ctx) => {
    const m = o.metrics();
    let socket: NativeSocket | undefined = undefined;
    const transport = new PacketTransport({
      mac,
      send: (frame) => {
        const dropped = socket?.send(frame);
        if (dropped) throw new Error(`DHCP frame not sent on ${link}: ${dropped}`);
      },
      onSendError: (e) => log.debug('DHCP send failed', { error: String(e) }),
    });
    // The node's own DHCP client keeps UDP 68: the agent binds no port, it reads frames off the link.
    socket = NativeSocket.open(
      {
        kind: 'packet',
        link,
        ethertype: ETHERTYPE_IPV4,
        // In the kernel: only UDP to port 68 wakes the agent, not every IPv4 frame on the LAN.
        filter: udpPortFilter({ family: 4, ports: [CLIENT_PORT], frame: 'ethernet' }),
      },
      (msgs) => {
        for (const msg of msgs) if (msg.pktType !== PACKET_OUTGOING) transport.receive(msg.data);
      },
      (err) => log.error('DHCP packet socket failed', { link, error: err.message }),
    );
    const client = new DhcpClient({ transport, mac, link, nodeAddress: ctx.nodeAddress });
    const addresses =
      ipam.store.kind === 'file'
        ? new FileAddressBook(join(ipam.store.directory, 'dhcp', 'last-addresses.json'))
        : new MemoryAddressBook();
    const count = async () => {
      m.leases.set((await store.list()).filter((a) => a.source === 'dhcp').length);
    };
    log.info('DHCP client on the LAN link', { link, mac, nodeAddress: ctx.nodeAddress });
    return new DhcpProvider({
      store,
      client,
      guard: ctx.guard,
      announcer: ctx.announcer,
      inSubnet: (a) => inCidr(ipam.subnet, a),
      subnetText: ipam.subnet.text,
      reserved: ctx.reserved,
      addresses,
      probe: ipam.probe.enabled,
      onStop: () => socket?.close(),
      events: {
        leased: (lease, pod, ms) => {
          void count();
          log.info('DHCP lease bound', {
            address: lease.address,
            pod: pod ? `${pod.namespace}/${pod.name}` : undefined,
            server: lease.serverId,
            leaseSeconds: lease.leaseSeconds,
            ms,
          });
        },
        released: (lease) => {
          m.releases.inc();
          void count();
          log.info('DHCP lease released', { address: lease.address, server: lease.serverId });
        },
        renewed: (lease, how) => {
          m.renewals.inc({ how });
          void count();
          log.info('DHCP lease renewed', { address: lease.address, how, leaseSeconds: lease.leaseSeconds });
        },
        renewAttemptFailed: (how) => m.renewalsUnanswered.inc({ how }),
        failed: (reason) => m.failures.inc({ reason }),
        declined: () => m.declines.inc(),
        problem: (pod, lease, problem, message) => {
          m.problems.inc({ problem });
          const name = pod ? `${pod.namespace}/${pod.name}` : undefined;
          log.warn(message, { address: lease.address, pod: name, problem });
          if (pod && o.warnPod)
            o.warnPod(pod, PROBLEM_REASONS[problem], message).catch((err: unknown) =>
              log.debug('cannot post the DHCP lease event', { pod: name, error: String(err) }),
            );
        },
        log: (level, message, fields) => log[level](message, fields),
      },
    });
  };
}
