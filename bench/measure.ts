// One measured step: receivers up, counters zeroed, the sender runs, the system drains, then every
// number is read back. Nothing here starts or stops the system under test.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Proc } from '../test/support/netns.js';
import { NODE, SENDER, type BenchBed, type BenchPod, type PodCount } from './bed.js';
import { cpuSeconds, cpuSecondsPrecise, machineCpu, memoryMb } from './proc-stats.js';
import { NODE_BIN, benchScript, type Running } from './systems.js';

export interface SenderReport {
  sent: number;
  sendErrors: number;
  durationS: number;
  offeredPps: number;
  maxLagMs: number;
  payloadBytes: number;
}

export interface ReceiverReport {
  step: number;
  datagrams: number;
  records: number;
  unique: number;
  duplicates: number;
  otherStep: number;
  notOurs: number;
  decodeChecked: number;
  decodeErrors: number;
  latencyUs: { n: number; p50: number | null; p90: number | null; p99: number | null; max: number | null };
  kernel: { rcvbufErrors: number; inErrors: number; inCsumErrors: number };
}

export interface StepSpec {
  step: number;
  rate: number;
  seconds: number;
  dst: string;
  iface?: string;
  /** Pods whose kernel counters are read (the fan-out set). */
  counted: BenchPod[];
  /** Pods that also run a real receiver socket. */
  receivers: BenchPod[];
  drainMs: number;
  spinUs: number;
  /** Destination and source port of the load (default 5353 both; foreign UDP: 8472 from any). */
  port?: number;
  bindPort?: number;
  /** 6: IPv6 receivers (joined to ff02::fb), for the `ipv6` section. */
  family?: 4 | 6;
}

export interface StepResult {
  step: number;
  rate: number;
  sender: SenderReport;
  receivers: Array<{ pod: number } & ReceiverReport>;
  /** Per counted pod: datagrams and records that reached it. */
  podCounts: PodCount[];
  /** CPU seconds the system under test used from the sender's start to the end of the drain: the
   *  scheduler's run time of its threads (/proc/PID/task/N/schedstat, ns resolution). */
  cpuS: number | null;
  /** The same from utime+stime in /proc/PID/stat (1/CLK_TCK resolution), as a cross-check. */
  cpuTicksS: number | null;
  /** Share of the whole machine (all cores) busy during the step, 0..1. */
  machineBusy: number;
  windowS: number;
  /** Largest resident set of the system under test during the step (sampled every 100 ms), MB. */
  rssMaxMb: number | null;
  /** Drops in the node namespace's kernel during the step (the system's own receive buffers). */
  nodeDrops: NodeNetStats;
  snapshot: unknown;
}

function lastJson<T>(proc: Proc, what: string): T {
  const lines = proc.json<T>();
  const last = lines[lines.length - 1];
  if (!last) throw new Error(`${what} printed no result\nstdout: ${proc.stdout}\nstderr: ${proc.stderr}`);
  return last;
}

export async function runStep(bed: BenchBed, sys: Running, spec: StepSpec): Promise<StepResult> {
  const receivers = spec.receivers.map((p) => ({
    pod: p,
    proc: bed.spawn(p.short, [
      NODE_BIN,
      benchScript('receiver'),
      '--step',
      String(spec.step),
      ...(spec.family === 6 ? ['--family', '6'] : []),
    ]),
  }));
  let rssTimer: NodeJS.Timeout | undefined;
  try {
    await Promise.all(receivers.map((r) => r.proc.waitForLine(/^ready$/, { timeoutMs: 15_000 })));
    await bed.takeCounters(spec.counted); // zero
    const net0 = await nodeNetStats(bed);
    const m0 = machineCpu();
    const t0 = Date.now();
    // Resident memory, sampled every 100 ms over the step (VmHWM only knows the whole life).
    let rssMaxMb: number | null = null;
    const sampleRss = () => {
      if (!sys.pid) return;
      try {
        rssMaxMb = Math.max(rssMaxMb ?? 0, memoryMb(sys.pid).current);
      } catch {
        // the process is gone; the step will say so
      }
    };
    sampleRss();
    rssTimer = setInterval(sampleRss, 100);
    const cpu0 = sys.pid ? cpuSecondsPrecise(sys.pid) : null;
    const ticks0 = sys.pid ? cpuSeconds(sys.pid) : null;
    const args = [
      '--rate',
      String(spec.rate),
      '--seconds',
      String(spec.seconds),
      '--step',
      String(spec.step),
    ];
    args.push('--dst', spec.dst, '--spin-us', String(spec.spinUs));
    if (spec.port !== undefined) args.push('--port', String(spec.port));
    if (spec.bindPort !== undefined) args.push('--bind-port', String(spec.bindPort));
    if (spec.iface) args.push('--iface', spec.iface);
    const sender = bed.spawn(SENDER, [NODE_BIN, benchScript('sender'), ...args]);
    const done = await Promise.race([
      sender.exited,
      sleep((spec.seconds + 20) * 1000, 'timeout' as const, { ref: false }),
    ]);
    if (done === 'timeout') {
      await sender.stop();
      throw new Error(`sender did not finish a ${spec.seconds} s step`);
    }
    const sent = lastJson<SenderReport>(sender, 'sender');
    await sleep(spec.drainMs);
    const cpu1 = sys.pid ? cpuSecondsPrecise(sys.pid) : null;
    const ticks1 = sys.pid ? cpuSeconds(sys.pid) : null;
    const m1 = machineCpu();
    const windowS = (Date.now() - t0) / 1000;
    clearInterval(rssTimer);
    sampleRss();
    const reports = await Promise.all(
      receivers.map(async (r) => {
        await r.proc.stop();
        return { pod: r.pod.index, ...lastJson<ReceiverReport>(r.proc, `receiver in ${r.pod.short}`) };
      }),
    );
    const podCounts = await bed.takeCounters(spec.counted);
    const net1 = await nodeNetStats(bed);
    const snapshot = await sys.snapshot().catch((err: unknown) => ({ error: String(err) }));
    return {
      step: spec.step,
      rate: spec.rate,
      sender: sent,
      receivers: reports,
      podCounts,
      cpuS: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0,
      cpuTicksS: ticks0 === null || ticks1 === null ? null : ticks1 - ticks0,
      machineBusy: (m1.busy - m0.busy) / Math.max(1, m1.total - m0.total),
      windowS,
      rssMaxMb,
      nodeDrops: {
        udpRcvbufErrors: net1.udpRcvbufErrors - net0.udpRcvbufErrors,
        rawDrops: net1.rawDrops - net0.rawDrops,
      },
      snapshot,
    };
  } finally {
    clearInterval(rssTimer);
    await Promise.allSettled(receivers.map((r) => r.proc.stop()));
  }
}

export interface NodeNetStats {
  /** UDP datagrams dropped on full receive buffers in the node namespace (avahi, the forwarder). */
  udpRcvbufErrors: number;
  /** Packets dropped by raw sockets in the node namespace (the agent's per-link sockets). */
  rawDrops: number;
}

/** Kernel drop counters of the node namespace: where a system loses packets before it reads them. */
export async function nodeNetStats(bed: BenchBed): Promise<NodeNetStats> {
  const r = await bed.exec(NODE, ['cat', '/proc/net/snmp', '/proc/net/raw']);
  const udp = r.stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const names = udp[0]?.split(/\s+/) ?? [];
  const nums = udp[1]?.split(/\s+/) ?? [];
  const rcvbuf = Number(nums[names.indexOf('RcvbufErrors')] ?? 0);
  let rawDrops = 0;
  for (const line of r.stdout.split('\n')) {
    // /proc/net/raw: sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ref pointer drops
    const f = line.trim().split(/\s+/);
    if (f.length >= 13 && /^\d+:$/.test(f[0])) rawDrops += Number(f[12]) || 0;
  }
  return { udpRcvbufErrors: rcvbuf, rawDrops };
}

/** Waits (bounded) until nothing more reaches pod `p`: a system with a backlog must not leak it
 *  into the next step. Returns how long that took. */
export async function quiesce(bed: BenchBed, p: BenchPod, maxMs = 8000): Promise<number> {
  const t0 = Date.now();
  await bed.takeCounters([p]);
  while (Date.now() - t0 < maxMs) {
    await sleep(250);
    const [c] = await bed.takeCounters([p]);
    if (c.packets === 0) break;
  }
  return Date.now() - t0;
}
