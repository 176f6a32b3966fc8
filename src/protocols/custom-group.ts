// Extra multicast groups by GROUP:PORT (e.g. Yeelight 239.255.255.250:1982), the `multicast`
// protocol. Their payloads are vendor formats: only the size is checked.
import type { MulticastGroup } from '../config/types.js';
import type { ProtocolHandler } from './types.js';

export function customGroupHandler(groups: MulticastGroup[]): ProtocolHandler<{ size: number }> {
  const keys = new Set(groups.map((g) => `${g.group}:${g.port}`));
  return {
    name: 'multicast',
    groups: [...new Set(groups.map((g) => g.group))],
    matches: (dst, dstPort) => keys.has(`${dst}:${dstPort}`),
    check: (payload) => (payload.length === 0 ? 'Cannot decode multicast payload (empty)' : undefined),
    emitTtl: (ttl) => ttl,
    replyTtl: 64,
    decode(payload) {
      if (payload.length === 0) throw new Error('Cannot decode multicast payload (empty)');
      return { size: payload.length };
    },
    names: () => [],
    summarize: (p) => `${p.size} bytes`,
  };
}
