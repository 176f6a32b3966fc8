/**
 * Experiment helper: builds the bench bed, starts `--system` (default the agent; extra node flags for
 * the agent from LR_AGENT_FLAGS, e.g. --perf-basic-prof) with `--pods N` pods, prints `agent pid N`, and offers `--rate` pps for
 * `--seconds`, so an external profiler (perf record -p PID) can watch. Tears everything down after.
 */
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchBed } from '../bed.js';
import { runStep } from '../measure.js';
import { needsHostAddresses, startSystem, target, type SystemName } from '../systems.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '50000' },
    seconds: { type: 'string', default: '10' },
    pods: { type: 'string', default: '1' },
    system: { type: 'string', default: 'agent' },
  },
});
const n = Number(values.pods);
const tmp = mkdtempSync(join(os.tmpdir(), 'lrbench-hold-'));
const bed = await BenchBed.create(n);
try {
  const flags = (process.env.LR_AGENT_FLAGS ?? '').split(' ').filter(Boolean);
  const pods = bed.pods.slice(0, n);
  const system = values.system as SystemName;
  if (needsHostAddresses(system)) await bed.addressHostLinks(n);
  const sys = await startSystem(system, { bed, tmp, nodeFlags: flags }, pods);
  process.stdout.write(`agent pid ${sys.pid}\n`);
  const r = await runStep(bed, sys, {
    step: 1,
    rate: Number(values.rate),
    seconds: Number(values.seconds),
    ...target(system, bed),
    counted: [pods[n - 1]],
    receivers: [pods[n - 1]],
    drainMs: 800,
    spinUs: 0,
  });
  process.stdout.write(
    JSON.stringify({ sent: r.sender.sent, got: r.receivers[0]?.unique, cpuS: r.cpuS, drops: r.nodeDrops }) +
      '\n',
  );
  if (process.env.LR_SHOW_STDERR) process.stdout.write(sys.proc?.stderr ?? '');
  await sys.stop();
} finally {
  await bed.teardown();
  rmSync(tmp, { recursive: true, force: true });
}
