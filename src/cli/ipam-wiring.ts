// Builds the agent's IPAM from the `ipam:` section; loaded only when the config has one.
import type { AgentConfig } from '../config/types.js';
import { IpamService, type IpamServiceOptions } from '../ipam/service.js';
import { readLanAddress } from '../links/lan-address.js';
import type { Logger } from '../log/logger.js';
import type { PodSource } from '../pods/types.js';

/** The LAN side (issue 10 part 2) plugs its AddressGuard, Announcer and pod lookup in here. */
export type IpamExtras = Partial<
  Pick<IpamServiceOptions, 'guard' | 'announcer' | 'pods' | 'store' | 'provider'>
>;

export function ipamFor(
  config: AgentConfig,
  log: Logger,
  sources: PodSource[],
  extras: IpamExtras = {},
): IpamService {
  const ipam = config.ipam!;
  const service = new IpamService(
    {
      config: ipam,
      log,
      nodeName: config.kubernetes.nodeName || undefined,
      nodeAddress: async () => (await readLanAddress(config.lanInterface).catch(() => undefined))?.address,
      ...extras,
    },
    config.podDefaults,
  );
  // Without Kubernetes the reflector serves every pod the IPAM gave an address to (podDefaults).
  if (!config.kubernetes.enabled) sources.push(service.podSource);
  return service;
}
