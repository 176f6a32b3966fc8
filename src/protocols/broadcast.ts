// UDP broadcast discovery (WiZ, Kasa, LIFX, Tuya...): limited (255.255.255.255) and LAN
// subnet-directed broadcasts to configured ports. The payloads are vendor formats: only the size
// is checked.
import type { ProtocolHandler } from './types.js';

export const LIMITED_BROADCAST = '255.255.255.255';

export interface BroadcastPayload {
  size: number;
}

/** Limited broadcasts and the LAN subnet's broadcast (from its current address) to `ports`. */
export function broadcastHandler(ports: number[]): ProtocolHandler<BroadcastPayload> {
  const portSet = new Set(ports);
  return {
    name: 'broadcast',
    groups: [],
    matches: (dst, dstPort, lan) =>
      portSet.has(dstPort) && (dst === LIMITED_BROADCAST || dst === lan?.broadcast),
    check: (payload) => (payload.length === 0 ? 'Cannot decode broadcast payload (empty)' : undefined),
    // A pod's own broadcast ports (annotation lan-reflector.io/broadcast-ports) limit what it takes.
    admits: (options, d) => options.broadcastPorts.length === 0 || options.broadcastPorts.includes(d.dstPort),
    // A pod with a /32 does not know the LAN's subnet broadcast: give it the limited one.
    podDestination: () => LIMITED_BROADCAST,
    // Broadcasts never cross a router; keep what the sender chose.
    emitTtl: (ttl) => ttl,
    replyTtl: 64,
    decode(payload) {
      if (payload.length === 0) throw new Error('Cannot decode broadcast payload (empty)');
      return { size: payload.length };
    },
    names: () => [],
    summarize: (p) => `${p.size} bytes`,
  };
}
