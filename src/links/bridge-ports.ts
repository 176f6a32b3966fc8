// Finds each bridged pod's own bridge port (the host end of its veth) from the kernel's tables:
// address -> MAC from the bridge's neighbour table, MAC -> port from its forwarding database.
// Emitting on that port reaches that pod alone (DESIGN.md "Bridge CNIs").
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { InterfaceName, IPv4Address } from '../config/types.js';

const run = promisify(execFile);

export function isBridge(link: InterfaceName): boolean {
  return existsSync(`/sys/class/net/${link}/bridge`);
}

interface Neigh {
  dst: string;
  lladdr?: string;
  state?: string[];
}
interface Fdb {
  mac: string;
  ifname?: string;
  flags?: string[];
  state?: string;
}

/** Pure: joins neighbour and FDB entries into address -> port. */
export function portsFromTables(
  neigh: Neigh[],
  fdb: Fdb[],
  bridge: InterfaceName,
): Map<IPv4Address, InterfaceName> {
  const portByMac = new Map<string, InterfaceName>();
  for (const f of fdb) {
    if (f.ifname && f.ifname !== bridge && f.state !== 'permanent')
      portByMac.set(f.mac.toLowerCase(), f.ifname);
  }
  const out = new Map<IPv4Address, InterfaceName>();
  for (const n of neigh) {
    const port = n.lladdr ? portByMac.get(n.lladdr.toLowerCase()) : undefined;
    if (port && !n.state?.includes('FAILED')) {
      out.set(n.dst, port);
      // The pod's IPv6 link-local address as the kernel makes it by default (addr_gen_mode 0,
      // EUI-64 of the MAC): its IPv6 multicast comes from there, and the node seldom has a
      // neighbour entry for it. A pod with stable-privacy addresses is known once it has one.
      const ll = eui64LinkLocal(n.lladdr!);
      if (ll && !out.has(ll)) out.set(ll, port);
    }
  }
  return out;
}

/** RFC 4291 2.5.1 / RFC 4862 5.3: fe80::/64 with the modified EUI-64 of a 48-bit MAC. */
export function eui64LinkLocal(mac: string): string | undefined {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  if (b.length !== 6 || b.some((x) => !(x >= 0 && x <= 255))) return undefined;
  const w = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
  return `fe80::${w(b[0] ^ 0x02, b[1])}:${w(b[2], 0xff)}:${w(0xfe, b[3])}:${w(b[4], b[5])}`;
}

export async function readBridgePorts(bridge: InterfaceName): Promise<Map<IPv4Address, InterfaceName>> {
  const [neigh, fdb] = await Promise.all([
    // Both families: a pod's IPv6 addresses, its link-local one included (how a bridged pod's
    // IPv6 mDNS, sent from fe80::, is told apart), resolve to its MAC like its IPv4 one.
    run('ip', ['-j', 'neigh', 'show', 'dev', bridge], { timeout: 5000 }),
    run('bridge', ['-j', 'fdb', 'show', 'br', bridge], { timeout: 5000 }),
  ]);
  return portsFromTables(JSON.parse(neigh.stdout || '[]'), JSON.parse(fdb.stdout || '[]'), bridge);
}

/** Makes the kernel resolve a pod's MAC (an empty datagram to the discard port), so the next scan
 *  finds its neighbour entry. Only ever sent to an opted-in pod's own address. */
export function nudgeNeighbour(address: IPv4Address, link?: InterfaceName): void {
  const v6 = address.includes(':');
  const s = createSocket(v6 ? 'udp6' : 'udp4');
  // A link-local address needs its link as zone.
  if (v6 && link && address.startsWith('fe80')) address = `${address}%${link}`;
  s.on('error', () => s.close());
  s.send(Buffer.alloc(0), 9, address, () => s.close());
}
