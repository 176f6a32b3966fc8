// What the DHCP client needs from the world, as small interfaces: a clock and a way to send a
// message and hear the replies to one transaction. The packet-socket adapter (socket-transport.ts)
// implements DhcpTransport; tests implement both with plain values.
import type { IPv4Address } from '../../config/types.js';
import type { ReceivedReply } from './frame.js';
import type { DhcpMessage, MacAddress } from './message.js';

export type Timer = { unref?: () => void } | number | object;

export interface Clock {
  /** Milliseconds since the epoch (leases are persisted as absolute times). */
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(t: Timer): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, Math.min(ms, 2 ** 31 - 1));
    t.unref();
    return t;
  },
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

export type Destination = { kind: 'broadcast' } | { kind: 'unicast'; ip: IPv4Address; mac: MacAddress };

export interface DhcpTransport {
  /** Sends `message` from IP `source` (0.0.0.0 before a lease is bound). */
  send(message: DhcpMessage, source: IPv4Address, to: Destination): void;
  /** Calls `handler` for every server reply carrying `xid` until the returned function is called. */
  listen(xid: number, handler: (reply: ReceivedReply) => void): () => void;
}
