/**
 * Experiment: what one malformed mDNS packet costs the engine against a valid one (issue 13: a
 * 12-byte header claiming 65,535 records cost 1.8 ms, a valid packet 12 µs). Feeds Reflector.handle
 * the IPv4 packets a LAN link's socket would deliver; one pod, rate limits off, dedupe on.
 *
 *   node dist/bench/experiments/malformed-cost.js [--packets 20000]
 */
import { parseArgs } from 'node:util';
import { engineCost } from '../malformed.js';

const { values } = parseArgs({ options: { packets: { type: 'string', default: '20000' } } });
const costs = engineCost(Number(values.packets));
process.stdout.write(`engine cost per LAN mDNS packet, one pod, Node ${process.version}\n`);
for (const [kind, ns] of Object.entries(costs))
  process.stdout.write(
    `${kind.padEnd(14)} ${(ns / 1000).toFixed(2).padStart(8)} µs   ${(ns / costs.valid).toFixed(2)}x valid\n`,
  );

// For comparison: the full dns-packet decode every mDNS packet got before the structural check.
import dnsPacket from 'dns-packet';
import { junk, JUNK_KINDS } from '../junk.js';
process.stdout.write('dns-packet decode alone (what each packet cost before):\n');
for (const kind of ['valid', ...JUNK_KINDS] as const) {
  const set = Array.from({ length: 64 }, (_, i) => junk(kind, i));
  const n = kind === 'huge-counts' ? 200 : 5000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    try {
      dnsPacket.decode(set[i & 63]);
    } catch {
      // malformed: what the old engine counted as a drop, after paying for it
    }
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  process.stdout.write(`${kind.padEnd(14)} ${(ns / 1000).toFixed(2).padStart(8)} µs\n`);
}
