// The engine's cost per packet for valid and malformed mDNS traffic, measured in-process (no sockets):
// shared by the experiment, the bench's malformed-traffic section and the unit test that bounds it.
import { EventBus } from '../src/events/bus.js';
import { protocolTable } from '../src/protocols/registry.js';
import { Counters } from '../src/reflect/counters.js';
import { DedupeWindow } from '../src/reflect/dedupe.js';
import { Reflector } from '../src/reflect/engine.js';
import { TokenBuckets } from '../src/reflect/token-buckets.js';
import { buildTopology } from '../src/reflect/types.js';
import { buildIPv4, buildUdp } from '../src/wire/ipv4.js';
import { junk, JUNK_KINDS, type JunkKind } from './junk.js';

export function engineReflector(): Reflector {
  return new Reflector(
    {
      protocols: protocolTable({ protocols: ['mdns'], broadcastPorts: [], multicastGroups: [] }),
      emitter: { send: () => true, mtu: () => 1500 },
      dedupe: new DedupeWindow(30),
      perSource: new TokenBuckets(0, 1),
      perPod: new TokenBuckets(0, 1),
      bus: new EventBus(),
      counters: new Counters(),
    },
    buildTopology('lan0', [
      {
        pod: {
          key: 'p',
          name: 'p',
          addresses: ['198.18.4.101'],
          options: { protocols: ['mdns'], direction: 'both', services: [], broadcastPorts: [] },
        },
        link: 'cali0',
        port: 'cali0',
        reach: 'lan-subnet',
      },
    ]),
  );
}

/** Nanoseconds per Reflector.handle() call for each kind: the best of five interleaved rounds, so
 *  a busy machine slows every kind alike. */
export function engineCost(packets = 20_000): Record<JunkKind, number> {
  const r = engineReflector();
  const kinds: JunkKind[] = ['valid', ...JUNK_KINDS];
  const sets = new Map(
    kinds.map((k) => [
      k,
      Array.from({ length: 512 }, (_, i) =>
        buildIPv4('198.18.4.11', '224.0.0.251', 255, buildUdp(5353, 5353, junk(k, i))),
      ),
    ]),
  );
  const best = Object.fromEntries(kinds.map((k) => [k, Infinity])) as Record<JunkKind, number>;
  const per = Math.max(1, Math.floor(packets / 5));
  for (let round = 0; round < 6; round++) {
    for (const k of kinds) {
      const set = sets.get(k)!;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < per; i++) {
        const p = set[i & 511];
        p[p.length - 1] ^= 1; // a new packet each time: the dedupe window must not hide the cost
        r.handle(p, 'lan0');
      }
      const ns = Number(process.hrtime.bigint() - t0) / per;
      if (round > 0) best[k] = Math.min(best[k], ns); // round 0 warms the JIT up
    }
  }
  return best;
}
