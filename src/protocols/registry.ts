// The protocol table: which handler a datagram belongs to, by destination.
import type { IPv4Address, MulticastGroup, ProtocolName } from '../config/types.js';
import { broadcastHandler } from './broadcast.js';
import { customGroupHandler } from './custom-group.js';
import { mdns } from './mdns.js';
import { ssdp } from './ssdp.js';
import type { ProtocolHandler } from './types.js';

export class ProtocolTable {
  readonly handlers: ProtocolHandler[];
  constructor(handlers: ProtocolHandler[]) {
    this.handlers = handlers;
  }
  classify(dst: IPv4Address, dstPort: number): ProtocolHandler | undefined {
    for (const h of this.handlers) if (h.matches(dst, dstPort)) return h;
    return undefined;
  }
  groups(): IPv4Address[] {
    return [...new Set(this.handlers.flatMap((h) => h.groups))];
  }
  get(name: ProtocolName): ProtocolHandler | undefined {
    return this.handlers.find((h) => h.name === name);
  }
}

export interface ProtocolSettings {
  protocols: ProtocolName[];
  broadcastPorts: number[];
  multicastGroups: MulticastGroup[];
}

/** `directedBroadcast` is the LAN subnet's broadcast address, when the LAN link has an address. */
export function protocolTable(s: ProtocolSettings, directedBroadcast?: IPv4Address): ProtocolTable {
  const all: ProtocolHandler[] = [
    mdns as ProtocolHandler,
    ssdp as ProtocolHandler,
    broadcastHandler(s.broadcastPorts, directedBroadcast) as ProtocolHandler,
    customGroupHandler(s.multicastGroups) as ProtocolHandler,
  ];
  return new ProtocolTable(all.filter((h) => s.protocols.includes(h.name)));
}
