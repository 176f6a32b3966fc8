// The LAN link's own IPv4 address and subnet: the `node` source address, the `auto` mode's subnet
// test, and the subnet-directed broadcast address.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { InterfaceName, IPv4Address } from '../config/types.js';
import { intToIp, ipToInt } from '../wire/ipv4.js';

const run = promisify(execFile);

export interface LanAddress {
  address: IPv4Address;
  prefixLength: number;
  cidr: string;
  broadcast: IPv4Address;
}

/** Pure: the first global IPv4 address in `ip -j -4 addr show dev X` output. */
export function parseLanAddress(json: string): LanAddress | undefined {
  const links = JSON.parse(json || '[]') as Array<{
    addr_info?: Array<{ local?: string; prefixlen?: number; scope?: string }>;
  }>;
  const a = links[0]?.addr_info?.find((i) => i.local && i.scope !== 'host');
  if (!a?.local || a.prefixlen === undefined) return undefined;
  const mask = a.prefixlen === 0 ? 0 : (~0 << (32 - a.prefixlen)) >>> 0;
  const net = (ipToInt(a.local) & mask) >>> 0;
  return {
    address: a.local,
    prefixLength: a.prefixlen,
    cidr: `${intToIp(net)}/${a.prefixlen}`,
    broadcast: intToIp((net | ~mask) >>> 0),
  };
}

export async function readLanAddress(link: InterfaceName): Promise<LanAddress | undefined> {
  const { stdout } = await run('ip', ['-j', '-4', 'addr', 'show', 'dev', link], { timeout: 5000 });
  return parseLanAddress(stdout);
}
