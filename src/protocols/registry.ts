// The protocol table: which handler a datagram belongs to, by destination.
import type { IPAddress, MulticastGroup, ProtocolName } from '../config/types.js';
import type { LanAddress } from '../reflect/types.js';
import { broadcastHandler } from './broadcast.js';
import { customGroupHandler } from './custom-group.js';
import { mdnsHandler, type AddressRecords } from './mdns.js';
import { ssdp } from './ssdp.js';
import type { ProtocolHandler } from './types.js';

export class ProtocolTable {
  readonly handlers: ProtocolHandler[];
  constructor(handlers: ProtocolHandler[]) {
    this.handlers = handlers;
  }
  classify(dst: IPAddress, dstPort: number, lan?: LanAddress): ProtocolHandler | undefined {
    for (const h of this.handlers) if (h.matches(dst, dstPort, lan)) return h;
    return undefined;
  }
  groups(): IPAddress[] {
    return [...new Set(this.handlers.flatMap((h) => h.groups))];
  }
  /** The IPv6 groups, joined by the IPv6 sockets (src/agent/link6-set.ts). */
  groups6(): IPAddress[] {
    return [...new Set(this.handlers.flatMap((h) => h.groups6 ?? []))];
  }
  get(name: ProtocolName): ProtocolHandler | undefined {
    return this.handlers.find((h) => h.name === name);
  }
}

export interface ProtocolSettings {
  protocols: ProtocolName[];
  broadcastPorts: number[];
  multicastGroups: MulticastGroup[];
  /** Node source mode's edit of a pod's mDNS A records; default `rewrite`. */
  mdnsAddressRecords?: AddressRecords;
}

export function protocolTable(s: ProtocolSettings): ProtocolTable {
  const all: ProtocolHandler[] = [
    mdnsHandler(s.mdnsAddressRecords) as ProtocolHandler,
    ssdp as ProtocolHandler,
    broadcastHandler(s.broadcastPorts) as ProtocolHandler,
    customGroupHandler(s.multicastGroups) as ProtocolHandler,
  ];
  return new ProtocolTable(all.filter((h) => s.protocols.includes(h.name)));
}
