/**
 * Runs the IPAM's LAN side (src/ipam/lan/lan-side.ts) alone inside a node namespace, driven by one
 * JSON command per stdin line, answering one JSON line each on stdout:
 *   {"op":"assign","address":A,"pod":"ns/name"}  {"op":"release","address":A}
 *   {"op":"inUse","address":A}  {"op":"reconcile","live":[A,...]}  {"op":"status"}
 * The tests use it to exercise proxy entries, announcements and probes against real kernels and
 * real devices, with no CNI plugin and no allocator in between. Logs go to stderr as JSON.
 */
import { createInterface } from 'node:readline';
import { openLanSide } from '../../src/ipam/lan/lan-side.js';
import type { Allocation } from '../../src/ipam/types.js';
import { createLogger } from '../../src/log/logger.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};

const log = createLogger('debug', 'json');
const side = await openLanSide({
  lanLink: arg('lan', 'lan0'),
  log,
  config: {
    probe: {
      enabled: arg('probe', 'on') === 'on',
      timeoutMs: Number(arg('probe-ms', '200')),
      holdBackMs: 60_000,
    },
  },
});
const podRef = (s?: string) => (s ? { namespace: s.split('/')[0], name: s.split('/')[1] } : undefined);
const alloc = (address: string): Allocation => ({
  address,
  owner: { containerId: address, ifname: 'eth0' },
  network: 'lan',
  since: new Date().toISOString(),
  source: 'pool',
});

const print = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
print({ event: 'ready', mac: side.mac });
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line) as { op: string; address?: string; pod?: string; live?: string[] };
  const started = performance.now();
  try {
    let result: unknown;
    if (cmd.op === 'assign') result = await side.announcer.assigned(cmd.address!, podRef(cmd.pod));
    else if (cmd.op === 'release') result = await side.announcer.released(cmd.address!);
    else if (cmd.op === 'inUse') result = await side.guard.inUse(cmd.address!);
    else if (cmd.op === 'reconcile') result = await side.announcer.reconcile((cmd.live ?? []).map(alloc));
    else if (cmd.op === 'status') result = await side.status();
    else throw new Error(`unknown op ${cmd.op}`);
    print({ op: cmd.op, ok: true, result: result ?? null, ms: performance.now() - started });
  } catch (err) {
    print({ op: cmd.op, ok: false, error: String(err), ms: performance.now() - started });
  }
}
side.close();
