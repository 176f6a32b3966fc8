// The node's /32 route to a pod on a bridge. ptp installs its own host route; the bridge plugin
// does not (its isGateway puts the gateway address on the bridge, which must not be the node's LAN
// address twice), so a LAN-addressed pod on a bridge needs `ADDR/32 dev BRIDGE` on the node, or the
// node's answers to it leave through the LAN link's connected route.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { IPv4Address } from '../config/types.js';

const run = promisify(execFile);

export interface HostRoutes {
  add(address: IPv4Address, link: string): Promise<void>;
  remove(address: IPv4Address, link: string): Promise<void>;
}

/** The bridge a main plugin puts the pod on, when it is the bridge plugin (default cni0, as the plugin's). */
export function bridgeOf(config: Record<string, unknown>): string | undefined {
  if (config.type !== 'bridge') return undefined;
  return typeof config.bridge === 'string' && config.bridge ? config.bridge : 'cni0';
}

/** Through iproute2: one exec per bridged ADD or DEL (ptp and Calico never take this path). */
export const ipRoutes: HostRoutes = {
  async add(address, link) {
    await run('ip', ['route', 'replace', `${address}/32`, 'dev', link, 'scope', 'link', 'proto', 'static'], {
      timeout: 5000,
    });
  },
  async remove(address, link) {
    await run('ip', ['route', 'del', `${address}/32`, 'dev', link], { timeout: 5000 }).catch(() => {});
  },
};
