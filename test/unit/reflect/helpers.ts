// Plain values for the reflector's tests: pods, their attachments, a topology.
import type { InterfaceName, IPv4Address, PodOptions } from '../../../src/config/types.js';
import type { PodAttachment, Reach, Topology, TopologyOptions } from '../../../src/reflect/types.js';
import { buildTopology } from '../../../src/reflect/types.js';

export const LAN = 'eth0';

export const OPTIONS: PodOptions = {
  protocols: ['mdns', 'ssdp'],
  direction: 'both',
  services: [],
  broadcastPorts: [],
};

/** An opted-in pod named `name` at `address`, reached through `link` (its own veth unless `port` says
 *  otherwise, as for a pod behind a bridge). */
export function attached(
  name: string,
  address: IPv4Address,
  link: InterfaceName,
  options: Partial<PodOptions> = {},
  port: InterfaceName = link,
  reach: Reach = 'lan-subnet',
): PodAttachment {
  return {
    pod: {
      key: `home/${name}`,
      name: `home/${name}`,
      addresses: [address],
      options: { ...OPTIONS, ...options },
    },
    link,
    port,
    reach,
  };
}

export function topology(...attachments: PodAttachment[]): Topology {
  return buildTopology(LAN, attachments);
}

export function topologyWith(o: TopologyOptions, ...attachments: PodAttachment[]): Topology {
  return buildTopology(LAN, attachments, o);
}
