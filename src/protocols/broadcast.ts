// UDP broadcast discovery (WiZ, Kasa, LIFX, Tuya...): limited (255.255.255.255) and LAN
// subnet-directed broadcasts to configured ports. The payloads are vendor formats: only the size
// is checked.
import type { IPv4Address } from '../config/types.js';
import type { ProtocolHandler } from './types.js';

export const LIMITED_BROADCAST = '255.255.255.255';

export interface BroadcastPayload {
  size: number;
}

/** `directed` is the LAN subnet's broadcast address (e.g. 192.168.4.255), if known. */
export function broadcastHandler(ports: number[], directed?: IPv4Address): ProtocolHandler<BroadcastPayload> {
  const portSet = new Set(ports);
  return {
    name: 'broadcast',
    groups: [],
    matches: (dst, dstPort) => portSet.has(dstPort) && (dst === LIMITED_BROADCAST || dst === directed),
    // Broadcasts never cross a router; keep what the sender chose.
    emitTtl: (ttl) => ttl,
    decode(payload) {
      if (payload.length === 0) throw new Error('Cannot decode broadcast payload (empty)');
      return { size: payload.length };
    },
    names: () => [],
    summarize: (p) => `${p.size} bytes`,
  };
}
