// The protocol table: which handler a datagram belongs to, by destination.
import type { IPv4Address, ProtocolName } from '../config/types.js';
import { mdns } from './mdns.js';
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

export function protocolTable(enabled: ProtocolName[]): ProtocolTable {
  const all: ProtocolHandler[] = [mdns as ProtocolHandler];
  return new ProtocolTable(all.filter((h) => enabled.includes(h.name)));
}
