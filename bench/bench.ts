/**
 * `npm run bench` (as root): lan-reflector side by side with avahi's reflector and a bare Node dgram
 * forwarder, on a network-namespace bed (LAN -> node -> Calico-style pods) built and torn down here.
 *
 *   --quick                 fewer rates, shorter steps (a smoke run, ~2.5 min; the full run takes ~8)
 *   --systems a,b           agent, forwarder, avahi, avahi-nolimit, or `none`; the sweep always runs the
 *                           no-reflector baseline too
 *   --phases a,b            sweep, fanout, idle, profile, foreign-udp, ipam, ipam-stores, malformed (default: all)
 *   --only a,b              the same as --phases: run only these sections, e.g.
 *                           `npm run bench -- --only foreign-udp,sweep --quick`
 *   --json                  print the results as one JSON object instead of Markdown
 *   --json-out FILE         also write the JSON there
 *   --profile-dir DIR       keep the agent's .cpuprofile files there (default: a temp dir, deleted)
 *   --spin-us N             the sender's busy-wait threshold (default 0: timer pacing, 1 ms bursts)
 *   --rates 1000,20000      the sweep's offered rates (pps) instead of the default list
 *   --render FILE           print a saved --json-out run again (targets re-checked); no root needed
 *   --wait-quiet S          wait up to S seconds for the machine to go quiet first (default 60, quick 0)
 *   --agent-import FILE     preload FILE into the agent (node --import): for experiments, e.g.
 *                           a file of bench/experiments/ that patches a module at load time
 *   --agent-node-flags=F    extra node flags for the agent, space-separated (experiments), e.g.
 *                           "--agent-node-flags=--max-semi-space-size=2 --max-old-space-size=48"
 *
 * Rule kept throughout: no packet leaves the namespaces this run creates (prefix `lb` + 4 hex), and
 * teardown runs on success, on errors and on SIGINT/SIGTERM.
 */
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ipamBench } from './ipam.js';
import { BenchBed, LAN_IF, MAX_PODS, NODE_ADDRESS, SENDER, SENDER_ADDRESS, type BenchPod } from './bed.js';
import { quiesce, runStep, type StepSpec } from './measure.js';
import type { StatusReply } from '../src/control/types.js';
import { cpuSeconds, cpuSecondsPrecise, machineCpu, machineInfo, memoryMb } from './proc-stats.js';
import { summarizeProfile } from './profile.js';
import {
  ipamStoresBench,
  ipamStoresMarkdown,
  ipamStoresTargets,
  type IpamStoresResult,
} from './ipam-stores.js';
import {
  checkTargets,
  fanoutStep,
  markdown,
  sweepStep,
  LOSS_OK,
  type BenchResults,
  type FanoutResult,
  type ForeignResult,
  type MalformedResult,
  type IdleResult,
  type Ipv6Result,
  type SweepResult,
} from './report.js';
import {
  NODE_BIN,
  REPO,
  agentDefaults,
  SYSTEM_NAMES,
  needsHostAddresses,
  startSystem,
  target,
  type Running,
  type StartContext,
  type SystemName,
} from './systems.js';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'json-out': { type: 'string' },
    systems: { type: 'string', default: 'agent,forwarder,avahi,avahi-nolimit' },
    phases: { type: 'string' },
    only: { type: 'string' },
    'profile-dir': { type: 'string' },
    'spin-us': { type: 'string', default: '0' },
    rates: { type: 'string' },
    'wait-quiet': { type: 'string' },
    'agent-import': { type: 'string' },
    'agent-node-flags': { type: 'string' },
    render: { type: 'string' },
  },
});

const quick = opts.quick;
const PLAN = {
  rates: opts.rates
    ? opts.rates.split(',').map(Number)
    : quick
      ? [1000, 5000, 20000]
      : [1000, 2000, 5000, 10000, 20000, 30000, 50000, 75000, 100000],
  stepSeconds: (rate: number) => (quick ? (rate === 1000 ? 2 : 1.5) : rate === 1000 ? 5 : 3),
  fanoutPods: quick ? [10, 110] : [10, 50, 110],
  fanoutRates: quick ? [1000] : [1000, 5000],
  fanoutSeconds: quick ? 1.5 : 3,
  idleWindows: quick ? 1 : 3,
  idleSeconds: 10,
  profileSeconds: quick ? 2 : 5,
  profileRate: quick ? 20000 : 50000,
  /** The `ipv6` section: the agent, LAN -> one pod, IPv4 and IPv6 steps alternating at these rates. */
  ipv6Rates: quick ? [1000, 10000] : [1000, 20000],
  foreignRate: 10000,
  foreignPort: 8472,
  foreignSeconds: quick ? 3 : 10,
  malformedRate: 1000,
  malformedSeconds: quick ? 3 : 8,
  malformedBurst: 100_000,
  drainMs: 800,
  warmUpSeconds: quick ? 0.5 : 1,
  spinUs: Number(opts['spin-us']),
  waitQuietS: Number(opts['wait-quiet'] ?? (quick ? 0 : 60)),
};

if (PLAN.rates.some((r) => !(r > 0 && r <= 1_000_000)))
  die(`--rates: "${opts.rates}" is not a list of rates in packets/s (1..1000000)`);

const systems = (opts.systems === 'none' ? '' : opts.systems)
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean) as SystemName[];
for (const s of systems)
  if (!SYSTEM_NAMES.includes(s) || s === 'kernel')
    die(`--systems: "${s}" is not one of agent, forwarder, avahi, avahi-nolimit`);
const PHASES = [
  'sweep',
  'fanout',
  'idle',
  'profile',
  'foreign-udp',
  'ipam',
  'ipam-stores',
  'malformed',
  'ipv6',
];
if (opts.phases && opts.only) die('--only and --phases are the same option: give one');
const phases = new Set(
  (opts.only ?? opts.phases ?? PHASES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
for (const p of phases) if (!PHASES.includes(p)) die(`--only: "${p}" is not one of ${PHASES.join(', ')}`);

function die(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

/** Progress goes to stderr, so stdout is only the table (or the JSON). */
const say = (msg: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

if (opts.render) {
  const saved = JSON.parse(readFileSync(opts.render, 'utf8')) as BenchResults;
  const again: BenchResults = { ...saved, targets: checkTargets(saved) };
  process.stdout.write(opts.json ? JSON.stringify(stripRaw(again), null, 1) + '\n' : markdown(again));
  process.exit(0);
}
if (process.getuid?.() !== 0) die('needs root: it creates network namespaces (sudo npm run bench)');
if (systems.some((s) => s.startsWith('avahi')) && spawnSync('avahi-daemon', ['--version']).status !== 0)
  die(
    'avahi-daemon is not installed (apt-get install avahi-daemon), or leave it out: --systems agent,forwarder',
  );

if (opts['agent-import'])
  agentDefaults.nodeFlags.push('--import', pathToFileURL(resolve(opts['agent-import'])).href);
if (opts['agent-node-flags'])
  agentDefaults.nodeFlags.push(...opts['agent-node-flags'].split(/\s+/).filter(Boolean));

const tmp = mkdtempSync(join(os.tmpdir(), 'lrbench-'));
const profileDir = opts['profile-dir'];
let bed: BenchBed | undefined;
let stepId = 0;
const nextStep = () => (stepId = (stepId % 999) + 1);

// Teardown on SIGINT/SIGTERM: the Bed's own hook kills our processes and deletes the namespaces
// (synchronously) before this listener runs; this one removes the temp dir and ends the process.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(sig, () => {
    say(`${sig}: tearing down`);
    bed?.teardownSync();
    rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  });

async function withSystem<T>(
  system: SystemName,
  pods: BenchPod[],
  ctx: StartContext,
  body: (sys: Running) => Promise<T>,
): Promise<{ value: T; rssPeakMb: number | null; notes: string[] }> {
  const sys = await startSystem(system, ctx, pods);
  try {
    // Unmeasured warm-up: ARP and neighbour entries on the path, the JIT of a Node system.
    const counted = pods.length > 1 ? [pods[0], pods[pods.length - 1]] : pods;
    const rssStartMb = sys.pid ? memoryMb(sys.pid).current : null;
    await runStep(ctx.bed, sys, stepSpec(ctx.bed, system, 1000, PLAN.warmUpSeconds, counted, []));
    const value = await body(sys);
    const rssPeakMb = sys.pid ? memoryMb(sys.pid).peak : null;
    const notes = [...sys.notes];
    if (rssStartMb !== null)
      notes.push(`RSS ${rssStartMb.toFixed(0)} MB when ready, peak ${rssPeakMb?.toFixed(0)} MB`);
    return { value, rssPeakMb, notes };
  } finally {
    await sys.stop();
  }
}

function stepSpec(
  b: BenchBed,
  system: SystemName,
  rate: number,
  seconds: number,
  counted: BenchPod[],
  receivers: BenchPod[],
): StepSpec {
  return {
    step: nextStep(),
    rate,
    seconds,
    ...target(system, b),
    counted,
    receivers,
    drainMs: system.startsWith('avahi') ? PLAN.drainMs + 700 : PLAN.drainMs,
    spinUs: PLAN.spinUs,
  };
}

/** One system's failure (a daemon that will not start...) is reported, and the run goes on. */
async function tolerant<T>(what: string, fallback: T, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    say(`${what} failed: ${(err as Error).message.split('\n').slice(0, 3).join(' | ')}`);
    failures.push(`${what} failed: ${(err as Error).message.split('\n')[0]}`);
    return fallback;
  }
}
const failures: string[] = [];

async function sweep(b: BenchBed, system: SystemName): Promise<SweepResult> {
  const empty: SweepResult = { system, baseline1k: null, steps: [], skipped: [], rssPeakMb: null, notes: [] };
  return tolerant(`${system} sweep`, empty, () => sweepOnce(b, system));
}

async function sweepOnce(b: BenchBed, system: SystemName): Promise<SweepResult> {
  const pod1 = b.pod(1);
  const skipped: number[] = [];
  // Paired baseline: the no-reflector path at 1k pps right before this system starts, so its added
  // latency is taken against the machine as it is now (a VM's wake-up latency drifts by tens of µs).
  let baseline1k: SweepResult['baseline1k'] = null;
  if (system !== 'kernel' && PLAN.rates.includes(1000)) {
    const idle: Running = { snapshot: async () => null, stop: async () => {}, notes: [] };
    // Unmeasured first: the LAN answers for the pod by proxy ARP, which waits up to proxy_delay (0.8 s
    // by default) before it replies; packets queued meanwhile would read as 200 ms of latency.
    await runStep(b, idle, stepSpec(b, 'kernel', 1000, PLAN.warmUpSeconds, [pod1], []));
    const r = await runStep(b, idle, stepSpec(b, 'kernel', 1000, PLAN.stepSeconds(1000), [pod1], [pod1]));
    const lat = r.receivers[0]?.latencyUs;
    baseline1k = { p50: lat?.p50 ?? null, p99: lat?.p99 ?? null };
    say(`paired baseline before ${system}: p50 ${lat?.p50?.toFixed(0)} µs, p99 ${lat?.p99?.toFixed(0)} µs`);
  }
  const {
    value: steps,
    rssPeakMb,
    notes,
  } = await withSystem(system, [pod1], { bed: b, tmp }, async (sys) => {
    const out = [];
    let saturated = 0;
    for (const rate of PLAN.rates) {
      // Two rates in a row below half delivered: the system is saturated, higher rates say nothing new.
      if (saturated >= 2) {
        skipped.push(rate);
        continue;
      }
      if (system.startsWith('avahi')) await quiesce(b, pod1);
      const r = await runStep(b, sys, stepSpec(b, system, rate, PLAN.stepSeconds(rate), [pod1], [pod1]));
      const s = sweepStep(r);
      say(
        `${system} ${rate} pps: delivered ${((100 * s.delivered) / s.sent).toFixed(2)}% ` +
          `(${s.deliveredPps} pps), p50 ${s.latencyUs.p50?.toFixed(0)} µs, p99 ${s.latencyUs.p99?.toFixed(0)} µs, ` +
          `cpu ${s.cpuCorePct?.toFixed(0) ?? '-'}% of a core, machine ${s.machineBusyPct}% busy` +
          (s.receiverDrops ? `, receiver buffer drops ${s.receiverDrops}` : '') +
          (s.systemDrops ? `, dropped before the system read them ${s.systemDrops}` : ''),
      );
      out.push(s);
      saturated = s.delivered < 0.5 * s.sent ? saturated + 1 : 0;
    }
    return out;
  });
  return { system, baseline1k, steps, skipped, rssPeakMb, notes };
}

async function fanout(b: BenchBed, system: SystemName, n: number, into: FanoutResult): Promise<void> {
  await tolerant(`${system} fan-out to ${n} pods`, undefined, () => fanoutOnce(b, system, n, into));
}

async function fanoutOnce(b: BenchBed, system: SystemName, n: number, into: FanoutResult): Promise<void> {
  const pods = b.pods.slice(0, n);
  const receivers = n > 1 ? [b.pod(1), b.pod(n)] : [b.pod(1)];
  const { rssPeakMb, notes } = await withSystem(system, pods, { bed: b, tmp }, async (sys) => {
    for (const rate of PLAN.fanoutRates) {
      if (system.startsWith('avahi')) await quiesce(b, b.pod(n));
      const r = await runStep(b, sys, stepSpec(b, system, rate, PLAN.fanoutSeconds, pods, receivers));
      const s = fanoutStep(n, r);
      say(
        `${system} fan-out ${n} pods @ ${rate} pps: worst pod ${s.worstPod} got ${s.worstDeliveredPct.toFixed(2)}% ` +
          `(${s.worstDeliveredPps} pps), best ${s.bestDeliveredPct.toFixed(2)}%, cpu ${s.cpuCorePct?.toFixed(0) ?? '-'}% of a core` +
          (s.systemDrops ? `, dropped before the system read them ${s.systemDrops}` : ''),
      );
      into.steps.push(s);
    }
  });
  into.rssPeakMb[n] = rssPeakMb;
  for (const note of notes) into.notes.push(`${n} pods: ${note}`);
}

async function idle(b: BenchBed): Promise<IdleResult> {
  const pods = b.pods.slice(0, MAX_PODS);
  const { value } = await withSystem('agent', pods, { bed: b, tmp }, async (sys) => {
    await sleep(2000); // let start-up settle (JIT, first scan)
    const windows = [];
    for (let i = 0; i < PLAN.idleWindows; i++) {
      const c0 = cpuSecondsPrecise(sys.pid!);
      const s0 = cpuSeconds(sys.pid!);
      const t0 = Date.now();
      await sleep(PLAN.idleSeconds * 1000);
      const cpuS = cpuSecondsPrecise(sys.pid!) - c0;
      const ticksS = cpuSeconds(sys.pid!) - s0;
      const seconds = (Date.now() - t0) / 1000;
      windows.push({ seconds: Math.round(seconds), cpuS, ticksS, corePct: (100 * cpuS) / seconds });
      say(
        `idle agent, ${pods.length} pods: ${((100 * cpuS) / seconds).toFixed(2)}% of a core over ${seconds.toFixed(1)} s`,
      );
    }
    return { pods: pods.length, windows, rssMb: memoryMb(sys.pid!).peak };
  });
  return value;
}

/** Runs the agent under --cpu-prof for one step and summarizes the profile. */
async function profile(b: BenchBed, label: string, n: number, rate: number) {
  const dir = join(tmp, `prof-${nextStep()}`);
  mkdirSync(dir);
  const pods = b.pods.slice(0, n);
  const ctx: StartContext = {
    bed: b,
    tmp,
    nodeFlags: ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '500'],
  };
  await withSystem('agent', pods, ctx, async (sys) => {
    const r = await runStep(
      b,
      sys,
      stepSpec(b, 'agent', rate, PLAN.profileSeconds, [pods[n - 1]], [pods[n - 1]]),
    );
    say(
      `profiled ${label}: last pod got ${((100 * (r.receivers[0]?.unique ?? 0)) / r.sender.sent).toFixed(1)}%`,
    );
  });
  await sleep(500);
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`the agent wrote no profile into ${dir}`);
  let path = join(dir, file);
  if (profileDir) {
    mkdirSync(profileDir, { recursive: true });
    const kept = join(profileDir, `agent-${label.replace(/\W+/g, '-')}.cpuprofile`);
    copyFileSync(path, kept);
    path = kept;
  }
  return { label, ...summarizeProfile(path) };
}

/** Foreign UDP (PLAN.foreignRate pps to the overlay's port, unicast to the node across the LAN link)
 *  with no discovery traffic: the system's CPU, and how many of the packets its sockets read. */
async function foreign(b: BenchBed, system: SystemName): Promise<ForeignResult | null> {
  return tolerant(`${system} foreign UDP`, null, async () => {
    const pod1 = b.pod(1);
    const { value, rssPeakMb } = await withSystem(system, [pod1], { bed: b, tmp }, async (sys) => {
      const readBy = async (): Promise<number | null> => {
        const s = (await sys.snapshot().catch(() => null)) as StatusReply | null;
        return s?.interfaces?.find((i) => i.name === LAN_IF)?.socket?.received ?? null;
      };
      const before = await readBy();
      const spec: StepSpec = {
        ...stepSpec(b, system, PLAN.foreignRate, PLAN.foreignSeconds, [pod1], []),
        dst: NODE_ADDRESS,
        iface: undefined,
        port: PLAN.foreignPort,
        bindPort: 0,
      };
      const r = await runStep(b, sys, spec);
      const after = await readBy();
      const corePct = r.cpuS === null ? null : (100 * r.cpuS) / r.windowS;
      const f: ForeignResult = {
        system,
        port: PLAN.foreignPort,
        rate: PLAN.foreignRate,
        offeredPps: Math.round(r.sender.offeredPps),
        sent: r.sender.sent,
        cpuS: r.cpuS,
        windowS: r.windowS,
        corePct,
        readBySystem: before === null || after === null ? null : after - before,
        atPod: r.podCounts[0]?.packets ?? 0,
        rssMb: r.rssMaxMb,
      };
      say(
        `${system} foreign UDP ${PLAN.foreignRate} pps to :${PLAN.foreignPort}: cpu ${corePct?.toFixed(2) ?? '-'}% of a core` +
          (f.readBySystem === null ? '' : `, ${f.readBySystem} of ${f.sent} packets read by its sockets`),
      );
      return f;
    });
    value.rssMb = value.rssMb ?? rssPeakMb;
    return value;
  });
}

/** LAN -> one pod through the agent, over IPv4 (224.0.0.251) and IPv6 (ff02::fb from the sender's
 *  link-local address, as IPv6 mDNS leaves a host) in the same agent run, step by step. */
async function ipv6Section(b: BenchBed): Promise<Ipv6Result | null> {
  return tolerant('ipv6', null, async () => {
    await b.enableIpv6(1);
    const pod1 = b.pod(1);
    const { value, rssPeakMb } = await withSystem('agent', [pod1], { bed: b, tmp }, async (sys) => {
      const rows: Ipv6Result['rows'] = [];
      for (const rate of PLAN.ipv6Rates) {
        for (const family of [4, 6] as const) {
          const base = stepSpec(b, 'agent', rate, PLAN.stepSeconds(rate), [pod1], [pod1]);
          const spec: StepSpec = family === 6 ? { ...base, dst: 'ff02::fb', iface: 'eth0', family: 6 } : base;
          const s = sweepStep(await runStep(b, sys, spec));
          say(
            `agent IPv${family} ${rate} pps: delivered ${((100 * s.delivered) / s.sent).toFixed(2)}%, ` +
              `p50 ${s.latencyUs.p50?.toFixed(0)} µs, p99 ${s.latencyUs.p99?.toFixed(0)} µs, ` +
              `cpu ${s.cpuPer100k?.toFixed(2) ?? '-'} s/100k` +
              (s.checksumErrors ? `, receiver checksum errors ${s.checksumErrors}` : ''),
          );
          rows.push({ family, step: s });
        }
      }
      return rows;
    });
    return { rows: value, rssPeakMb };
  });
}

const GARBAGE = join(REPO, 'test', 'peers', 'mdns_garbage.py');
/** The kinds test/peers/mdns_garbage.py sends, by its flags. */
const MALFORMED_KINDS: Array<[string, string[]]> = [
  ['valid queries', ['--valid']],
  ['12 bytes claiming 65,535 records per section', ['--kind', '4']],
  ['random bytes', ['--kind', '0']],
  ['5 questions promised, cut mid-name', ['--kind', '1']],
  ['a compression pointer to itself', ['--kind', '2']],
  ['an answer cut short', ['--kind', '3']],
];

/** Malformed mDNS (issue 13) at PLAN.malformedRate from the LAN, one kind at a time against valid
 *  queries at the same rate: the agent's CPU; then PLAN.malformedBurst junk packets as fast as the
 *  host sends them, and the agent's RSS before, at peak and 10 s after. */
async function malformedTraffic(b: BenchBed): Promise<MalformedResult | null> {
  return tolerant('malformed traffic', null, async () => {
    const { value } = await withSystem('agent', [b.pod(1)], { bed: b, tmp }, async (sys) => {
      const pid = sys.pid!;
      const send = (args: string[], timeoutMs: number) =>
        b.exec(SENDER, ['python3', GARBAGE, '--address', SENDER_ADDRESS, ...args], { timeoutMs });
      const rows: MalformedResult['rows'] = [];
      for (const [kind, extra] of MALFORMED_KINDS) {
        const count = PLAN.malformedRate * PLAN.malformedSeconds;
        const c0 = cpuSeconds(pid);
        const t0 = Date.now();
        await send(['--pps', String(PLAN.malformedRate), '--count', String(count), ...extra], 60_000);
        const corePct = (100 * (cpuSeconds(pid) - c0)) / ((Date.now() - t0) / 1000);
        rows.push({
          kind: kind === 'valid queries' ? 'valid' : kind,
          pps: PLAN.malformedRate,
          sent: count,
          corePct,
        });
        say(
          `malformed traffic: ${kind} at ${PLAN.malformedRate} pps: agent ${corePct.toFixed(2)}% of a core`,
        );
      }
      await sleep(2000);
      const idleMb = memoryMb(pid).current;
      await send(['--count', String(PLAN.malformedBurst)], 120_000);
      const peakMb = memoryMb(pid).peak;
      await sleep(10_000);
      const afterMb = memoryMb(pid).current;
      say(
        `malformed burst of ${PLAN.malformedBurst}: RSS ${idleMb.toFixed(0)} -> peak ${peakMb.toFixed(0)} -> ${afterMb.toFixed(0)} MB 10 s later`,
      );
      return { rows, burst: { packets: PLAN.malformedBurst, idleMb, peakMb, afterMb, afterS: 10 } };
    });
    return value;
  });
}

/** Waits (at most `maxS`) for a 2 s window with the machine under 15% busy; returns the last reading. */
async function waitQuiet(maxS: number): Promise<number> {
  const deadline = Date.now() + maxS * 1000;
  for (;;) {
    const a = machineCpu();
    await sleep(2000);
    const b = machineCpu();
    const busy = (100 * (b.busy - a.busy)) / Math.max(1, b.total - a.total);
    if (busy < 15 || Date.now() >= deadline) {
      if (busy >= 15) say(`the machine is still ${busy.toFixed(0)}% busy: running anyway (see the notes)`);
      return busy;
    }
    say(`machine ${busy.toFixed(0)}% busy: waiting for it to go quiet`);
  }
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const machine = machineInfo(spawnSync(NODE_BIN, ['--version'], { encoding: 'utf8' }).stdout.trim());
  const notes: string[] = [
    'Sender in a LAN device namespace, receivers in the pod namespaces, system under test in the node namespace; ' +
      'all on this one machine, sharing its cores.',
    'Load: valid mDNS responses (~190 bytes), one unique TXT record per packet naming its sequence number and ' +
      'send time, from port 5353 with TTL 255. Latency = receive time − send time, CLOCK_MONOTONIC in both.',
    "Added latency = the system's percentile minus the no-reflector path's: the same sender and receiver, a " +
      "unicast stream to the pod's address forwarded by the node's kernel over the same veths, measured at " +
      '1k pps right before each system starts (paired: wake-up latency on this VM drifts by tens of µs).',
    'Each system gets an unmeasured 1k pps warm-up after it starts (ARP, the JIT); a system that delivers under ' +
      'half of two rates in a row is not offered higher ones.',
    'RSS "peak under 1% loss" is the largest VmRSS sampled every 100 ms during steps the system kept up with; ' +
      'VmHWM covers its whole run, overload included.',
    'agent: rate limits off (rateLimit all 0), dedupe on (30 ms), log level warn. Pod links are Calico-style ' +
      '(no IPv4 address).',
    'avahi and the forwarder need an IPv4 address on each pod link: their runs give the host ends 198.19.250.i/32. ' +
      'Both re-send from that address (the source is not kept). avahi: enable-reflector=yes, use-ipv6=no, no D-Bus, ' +
      'publishing off; "default rate limit" is the Debian config\'s ratelimit-interval-usec=1000000 / ratelimit-burst=1000.',
    "Fan-out is counted in each pod's kernel (an nftables counter per answer count, so records are counted even " +
      'when avahi packs several into one packet); pods 1 and N also run a receiver socket.',
    "CPU = run time of the system's threads (/proc/PID/task/*/schedstat, ns; utime+stime from /proc/PID/stat " +
      "agrees to its 10 ms ticks and is in the JSON) from the sender's start to the end of the drain; " +
      'CPU per 100k = that / records delivered × 100k.',
  ];
  if (agentDefaults.nodeFlags.length)
    notes.push(`EXPERIMENT: every agent run has the node flags ${agentDefaults.nodeFlags.join(' ')}.`);
  const background = await waitQuiet(PLAN.waitQuietS);
  notes.push(
    `Sender pacing: a 1 ms timer sending whatever is due (bursts of rate/1000 packets); a busy-wait sender would ` +
      `take one of the cores from the system under test. Background load before the run: ${background.toFixed(1)}% ` +
      `of the machine busy.`,
  );
  if (machine.loadAverage[0] > 0.5)
    notes.push(
      `The machine was not idle at start (load average ${machine.loadAverage.join(' / ')}): other work shares the cores.`,
    );
  say(`machine: ${machine.cpus} × ${machine.cpuModel}, Linux ${machine.kernel}, Node ${machine.node}`);

  // The IPAM section builds a bed of its own (a node, a device, CNI calls): run it first, alone.
  const ipamResult = phases.has('ipam')
    ? await tolerant('ipam', null, () => ipamBench({ quick, say }))
    : null;
  const needPods = phases.has('fanout') || phases.has('idle') ? MAX_PODS : phases.has('profile') ? 50 : 1;
  const tb = Date.now();
  bed = await BenchBed.create(quick && !phases.has('fanout') && !phases.has('idle') ? 1 : needPods);
  say(`bed ${bed.prefix}* up: ${bed.pods.length} pods in ${((Date.now() - tb) / 1000).toFixed(1)} s`);
  const b = bed;

  const results: Omit<BenchResults, 'targets'> = {
    machine,
    settings: { quick, ...PLAN, stepSeconds: PLAN.rates.map(PLAN.stepSeconds), systems, phases: [...phases] },
    notes,
    sweep: [],
    fanout: [],
    idle: null,
    foreign: [],
    malformed: null,
    profiles: [],
    ipam: ipamResult ?? undefined,
    elapsedS: 0,
  };

  // Calico-style runs first (no addresses on the pod links), then the ones that need addresses.
  const plain = systems.filter((s) => !needsHostAddresses(s));
  const addressed = systems.filter(needsHostAddresses);

  if (phases.has('sweep')) {
    results.sweep.push(await sweep(b, 'kernel'));
    for (const s of plain) results.sweep.push(await sweep(b, s));
  }
  if (phases.has('profile') && systems.includes('agent')) {
    const runs: Array<[string, number, number]> = [
      [`1 pod @ ${PLAN.profileRate / 1000}k pps`, 1, PLAN.profileRate],
    ];
    if (b.pods.length >= 50) runs.push(['50 pods @ 5k pps', 50, 5000]);
    for (const [label, n, rate] of runs) {
      const p = await tolerant(`profile ${label}`, null, () => profile(b, label, n, rate));
      if (p) results.profiles.push(p);
    }
  }
  const fan = new Map<SystemName, FanoutResult>();
  const fanFor = (s: SystemName) => {
    if (!fan.has(s)) fan.set(s, { system: s, steps: [], rssPeakMb: {}, notes: [] });
    return fan.get(s)!;
  };
  if (phases.has('fanout'))
    for (const s of plain) for (const n of PLAN.fanoutPods) await fanout(b, s, n, fanFor(s));
  if (phases.has('idle') && systems.includes('agent'))
    results.idle = await tolerant('idle', null, () => idle(b));

  if (phases.has('malformed') && systems.includes('agent')) results.malformed = await malformedTraffic(b);
  if (phases.has('ipv6') && systems.includes('agent')) results.ipv6 = await ipv6Section(b);

  if (phases.has('foreign-udp'))
    for (const s of plain) {
      const f = await foreign(b, s);
      if (f) results.foreign!.push(f);
    }

  if (addressed.length) {
    if (phases.has('foreign-udp')) {
      await b.addressHostLinks(1);
      for (const s of addressed) {
        const f = await foreign(b, s);
        if (f) results.foreign!.push(f);
      }
    }
    if (phases.has('sweep')) {
      await b.addressHostLinks(1);
      for (const s of addressed) results.sweep.push(await sweep(b, s));
    }
    if (phases.has('fanout'))
      for (const n of PLAN.fanoutPods) {
        await b.addressHostLinks(n);
        for (const s of addressed) await fanout(b, s, n, fanFor(s));
      }
    await b.unaddressHostLinks();
  }
  results.fanout = [...fan.values()];
  // issue 11: ADD latency, file store and Kubernetes store side by side (a bed of its own).
  const stores = phases.has('ipam-stores')
    ? await tolerant('ipam stores', null, () => ipamStoresBench({ quick, say }))
    : null;
  notes.push(...failures);
  const short = results.sweep.flatMap((sw) =>
    sw.steps
      .filter((x) => x.offeredPps < 0.97 * x.rate)
      .map((x) => `${sw.system} @ ${x.rate}: ${x.offeredPps}`),
  );
  if (short.length)
    notes.push(`The sender fell short of the nominal rate (offered pps): ${short.join('; ')}.`);
  results.elapsedS = Math.round((Date.now() - t0) / 1000);
  const full: BenchResults & { ipamStores?: IpamStoresResult } = {
    ...results,
    targets: [...checkTargets(results), ...(stores ? ipamStoresTargets(stores) : [])],
    ...(stores && { ipamStores: stores }),
  };
  if (opts['json-out']) writeFileSync(opts['json-out'], JSON.stringify(full, null, 1) + '\n');
  process.stdout.write(
    opts.json
      ? JSON.stringify(stripRaw(full), null, 1) + '\n'
      : markdown(full) + (stores ? ipamStoresMarkdown(stores) : ''),
  );
  const missed = full.targets.filter((t) => t.met === false).length;
  say(`done in ${full.elapsedS} s; ${missed} target(s) missed; loss threshold ${LOSS_OK * 100}%`);
}

/** The machine-readable output keeps every number but not the raw per-step dumps (agent status...). */
function stripRaw(r: BenchResults): BenchResults {
  return JSON.parse(JSON.stringify(r, (k, v: unknown) => (k === 'raw' ? undefined : v))) as BenchResults;
}

try {
  await main();
} catch (err) {
  process.exitCode = 1;
  say(`failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  if (bed) {
    say(`tearing down ${bed.prefix}*`);
    await bed.teardown().catch((err: unknown) => say(`teardown: ${String(err)}`));
  }
  rmSync(tmp, { recursive: true, force: true });
}
