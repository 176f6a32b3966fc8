// Pure: the UDP destination ports the configured protocols relay. The receive sockets' kernel
// filter (src/wire/bpf.ts) passes exactly these; everything else on a link (the overlay, DNS,
// QUIC) is dropped before it is queued. IPv4 and IPv6 discovery share the ports.
import type { ProtocolSettings } from './registry.js';
import { MDNS_PORT } from './mdns.js';
import { SSDP_PORT } from './ssdp.js';

export function discoveryPorts(s: ProtocolSettings): number[] {
  const ports = new Set<number>();
  if (s.protocols.includes('mdns')) ports.add(MDNS_PORT);
  if (s.protocols.includes('ssdp')) ports.add(SSDP_PORT);
  if (s.protocols.includes('broadcast')) for (const p of s.broadcastPorts) ports.add(p);
  if (s.protocols.includes('multicast')) for (const g of s.multicastGroups) ports.add(g.port);
  return [...ports].sort((a, b) => a - b);
}
