// From step results to the numbers the issue asks for, the targets, and the Markdown tables.
import { ipamMarkdown, ipamTargets, type IpamBenchResult } from './ipam.js';
import type { MachineInfo } from './proc-stats.js';
import type { ProfileSummary } from './profile.js';
import type { StepResult } from './measure.js';
import { SYSTEM_TITLES, type SystemName } from './systems.js';

export const LOSS_OK = 0.01;

export interface SweepStep {
  rate: number;
  offeredPps: number;
  sent: number;
  /** Unique records of this step that reached pod 1's socket. */
  delivered: number;
  loss: number;
  deliveredPps: number;
  /** Records that reached pod 1's link (kernel counter), whether or not the socket kept up. */
  atLink: number;
  latencyUs: { p50: number | null; p99: number | null; max: number | null };
  cpuS: number | null;
  cpuPer100k: number | null;
  /** CPU of the system under test as a share of one core over the step. */
  cpuCorePct: number | null;
  machineBusyPct: number;
  /** Largest resident set of the system during the step, MB. */
  rssMb: number | null;
  receiverDrops: number;
  /** Dropped in the node's kernel before the system read them (its socket buffers were full). */
  systemDrops: number;
  checksumErrors: number;
  duplicates: number;
  decodeErrors: number;
  raw: StepResult;
}

export interface SweepResult {
  system: SystemName;
  /** The no-reflector path measured at 1k pps just before this system started (paired baseline). */
  baseline1k: { p50: number | null; p99: number | null } | null;
  steps: SweepStep[];
  skipped: number[];
  rssPeakMb: number | null;
  notes: string[];
}

export interface FanoutStep {
  pods: number;
  rate: number;
  offeredPps: number;
  sent: number;
  worstPod: number;
  worstRecords: number;
  worstDeliveredPct: number;
  worstDeliveredPps: number;
  bestDeliveredPct: number;
  /** Latency at the last pod's socket (the last copy to leave). */
  lastPodLatencyUs: { p50: number | null; p99: number | null };
  lastPodSocketDeliveredPct: number | null;
  cpuS: number | null;
  cpuCorePct: number | null;
  machineBusyPct: number;
  systemDrops: number;
  rssMb: number | null;
  raw: StepResult;
}

export interface FanoutResult {
  system: SystemName;
  steps: FanoutStep[];
  rssPeakMb: Record<number, number | null>;
  notes: string[];
}

export interface IdleResult {
  pods: number;
  /** cpuS from the scheduler's per-thread run time (ns); ticksS from utime+stime (10 ms steps). */
  windows: Array<{ seconds: number; cpuS: number; ticksS: number; corePct: number }>;
  rssMb: number | null;
}

/** Foreign UDP (not discovery) crossing the LAN link: what it costs a system that relays nothing. */
export interface ForeignResult {
  system: SystemName;
  port: number;
  rate: number;
  offeredPps: number;
  sent: number;
  cpuS: number | null;
  windowS: number;
  /** CPU of the system as a share of one core over the window. */
  corePct: number | null;
  /** Packets the system's sockets read (agent: the addon's receive counter on the LAN link). */
  readBySystem: number | null;
  /** Foreign packets that reached the pod (must be 0: nothing relays them). */
  atPod: number;
  rssMb: number | null;
}

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
  /** How far off, when missed. */
  by: string;
}

/** Malformed mDNS from one LAN host at a fixed rate, one kind at a time, against valid traffic at the
 *  same rate (issue 13), and the agent's RSS after a burst of junk. */
export interface MalformedResult {
  rows: Array<{ kind: string; pps: number; sent: number; corePct: number | null }>;
  burst: { packets: number; idleMb: number; peakMb: number; afterMb: number; afterS: number } | null;
}

/** The agent, LAN -> one pod, IPv4 and IPv6 steps alternating in one agent run. */
export interface Ipv6Result {
  rows: Array<{ family: 4 | 6; step: SweepStep }>;
  rssPeakMb: number | null;
}

export interface BenchResults {
  machine: MachineInfo;
  settings: Record<string, unknown>;
  notes: string[];
  sweep: SweepResult[];
  fanout: FanoutResult[];
  idle: IdleResult | null;
  /** Absent in runs saved before the foreign-UDP row existed. */
  foreign?: ForeignResult[];
  /** Absent in runs saved before the malformed-traffic section existed. */
  malformed?: MalformedResult | null;
  profiles: Array<{ label: string } & ProfileSummary>;
  /** The `ipv6` section; absent when it did not run. */
  ipv6?: Ipv6Result | null;
  /** The `ipam` section (issue 10); absent when it did not run. */
  ipam?: IpamBenchResult;
  targets: TargetCheck[];
  elapsedS: number;
}

export function sweepStep(r: StepResult): SweepStep {
  const rx = r.receivers[0];
  const sent = r.sender.sent;
  const delivered = rx?.unique ?? 0;
  const seconds = r.sender.durationS;
  return {
    rate: r.rate,
    offeredPps: Math.round(r.sender.offeredPps),
    sent,
    delivered,
    loss: 1 - delivered / sent,
    deliveredPps: Math.round(delivered / seconds),
    atLink: r.podCounts[0]?.records ?? 0,
    latencyUs: {
      p50: rx?.latencyUs.p50 ?? null,
      p99: rx?.latencyUs.p99 ?? null,
      max: rx?.latencyUs.max ?? null,
    },
    cpuS: r.cpuS,
    cpuPer100k: r.cpuS === null || delivered === 0 ? null : r.cpuS / (delivered / 1e5),
    cpuCorePct: r.cpuS === null ? null : (100 * r.cpuS) / r.windowS,
    machineBusyPct: Math.round(r.machineBusy * 1000) / 10,
    rssMb: r.rssMaxMb,
    receiverDrops: rx?.kernel.rcvbufErrors ?? 0,
    systemDrops: r.nodeDrops.udpRcvbufErrors + r.nodeDrops.rawDrops,
    checksumErrors: rx?.kernel.inCsumErrors ?? 0,
    duplicates: rx?.duplicates ?? 0,
    decodeErrors: rx?.decodeErrors ?? 0,
    raw: r,
  };
}

export function fanoutStep(pods: number, r: StepResult): FanoutStep {
  const sent = r.sender.sent;
  let worst = 0;
  r.podCounts.forEach((c, i) => {
    if (c.records < r.podCounts[worst].records) worst = i;
  });
  const best = Math.max(...r.podCounts.map((c) => c.records));
  const last = r.receivers[r.receivers.length - 1];
  const worstRecords = r.podCounts[worst]?.records ?? 0;
  return {
    pods,
    rate: r.rate,
    offeredPps: Math.round(r.sender.offeredPps),
    sent,
    worstPod: worst + 1,
    worstRecords,
    worstDeliveredPct: (100 * worstRecords) / sent,
    worstDeliveredPps: Math.round(worstRecords / r.sender.durationS),
    bestDeliveredPct: (100 * best) / sent,
    lastPodLatencyUs: { p50: last?.latencyUs.p50 ?? null, p99: last?.latencyUs.p99 ?? null },
    lastPodSocketDeliveredPct: last ? (100 * last.unique) / sent : null,
    cpuS: r.cpuS,
    cpuCorePct: r.cpuS === null ? null : (100 * r.cpuS) / r.windowS,
    machineBusyPct: Math.round(r.machineBusy * 1000) / 10,
    systemDrops: r.nodeDrops.udpRcvbufErrors + r.nodeDrops.rawDrops,
    rssMb: r.rssMaxMb,
    raw: r,
  };
}

// ---------------------------------------------------------------------------------------------------
// Derived numbers
// ---------------------------------------------------------------------------------------------------

export const maxRateUnderLoss = (s: SweepResult): number | null => {
  const ok = s.steps.filter((x) => x.loss < LOSS_OK).map((x) => x.rate);
  return ok.length ? Math.max(...ok) : null;
};
export const peakDelivered = (s: SweepResult): number => Math.max(0, ...s.steps.map((x) => x.deliveredPps));
export const atRate = (s: SweepResult | undefined, rate: number): SweepStep | undefined =>
  s?.steps.find((x) => x.rate === rate);

/** The system's latency percentile at `rate` minus the no-reflector path's: its paired baseline
 *  (measured right before it) when there is one, else the kernel row. */
export function addedLatency(
  sweep: SweepResult[],
  system: SystemName,
  p: 'p50' | 'p99',
  rate = 1000,
): number | null {
  const mine = sweep.find((s) => s.system === system);
  const base =
    mine?.baseline1k?.[p] ??
    atRate(
      sweep.find((s) => s.system === 'kernel'),
      rate,
    )?.latencyUs[p];
  const v = atRate(mine, rate)?.latencyUs[p];
  if (base == null || v == null) return null;
  return v - base;
}

const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a == null || b == null || b <= 0 ? null : a / b;

/** Issue 9's allowances against the bare Node dgram forwarder in the same run. */
export const LATENCY_ALLOWANCE = 1.1;
export const CPU_ALLOWANCE = 1.0;
export const RSS_LIMIT_MB = 80;
export const FOREIGN_CPU_LIMIT_PCT = 1;

export function checkTargets(r: Omit<BenchResults, 'targets'>): TargetCheck[] {
  const out: TargetCheck[] = [];
  const agent = r.sweep.find((s) => s.system === 'agent');
  const fwd = r.sweep.find((s) => s.system === 'forwarder');
  const push = (target: string, measured: string, met: boolean | null, by = '') =>
    out.push({ target, measured, met, by: met === false ? by : '' });
  if (r.ipam) for (const t of ipamTargets(r.ipam)) push(t.name, t.detail, t.met, t.detail);
  if (agent) {
    const max = maxRateUnderLoss(agent);
    const top = Math.max(...agent.steps.map((s) => s.rate));
    push(
      'agent >= 20k pps LAN -> one pod at < 1% loss',
      max === null ? 'none under 1% loss' : `${fmtInt(max)} pps`,
      max !== null && max >= 20000,
      max === null
        ? 'every rate lost >= 1%'
        : `${fmtInt(20000 - max)} pps short (next rate up lost ${pct(nextLoss(agent, max))})`,
    );
    const peak = peakDelivered(agent);
    push(
      'agent peak delivered > 50k pps',
      `${fmtInt(peak)} pps (offered up to ${fmtInt(top)})`,
      // Offering no more than 50k (--quick, --rates) cannot show a peak above it unless it lost nothing.
      peak > 50000
        ? true
        : top <= 50000 && (agent.steps.find((x) => x.rate === top)?.loss ?? 1) < LOSS_OK
          ? null
          : false,
      `${fmtInt(50000 - peak)} pps short (${Math.round((100 * peak) / 50000)}% of the target)`,
    );
    const a50 = addedLatency(r.sweep, 'agent', 'p50');
    const f50 = addedLatency(r.sweep, 'forwarder', 'p50');
    const e2e = (s: SweepResult | undefined) => atRate(s, 1000)?.latencyUs.p50 ?? null;
    const lr = f50 !== null && f50 > 0 ? ratio(a50, f50) : null;
    push(
      `added latency p50 at 1k pps within ${LATENCY_ALLOWANCE}x the forwarder`,
      a50 === null
        ? 'n/a'
        : `${fmtUs(a50)} vs ${fmtUs(f50)}${lr === null ? '' : ` (${lr.toFixed(2)}x)`}; end to end ` +
            `${fmtUs(e2e(agent))} vs ${fmtUs(e2e(fwd))}`,
      lr === null ? null : lr <= LATENCY_ALLOWANCE,
      lr === null
        ? ''
        : `${overBy(lr, LATENCY_ALLOWANCE)} over the allowance (+${fmtUs((a50 ?? 0) - LATENCY_ALLOWANCE * (f50 ?? 0))})`,
    );
    const a99 = addedLatency(r.sweep, 'agent', 'p99');
    const abs99 = atRate(agent, 1000)?.latencyUs.p99 ?? null;
    push(
      'added latency p99 at 1k pps < 3 ms',
      a99 === null ? 'n/a' : `${fmtUs(a99)} (end to end ${fmtUs(abs99)})`,
      a99 === null ? null : a99 < 3000,
      `${fmtUs((a99 ?? 0) - 3000)} over`,
    );
    for (const rate of [1000, 20000]) {
      const a = atRate(agent, rate)?.cpuPer100k;
      const f = atRate(fwd, rate)?.cpuPer100k;
      const cr = ratio(a, f);
      push(
        `CPU per 100k packets at ${rate / 1000}k pps at or below the forwarder's`,
        a == null
          ? 'n/a'
          : `${a.toFixed(2)} s vs ${f == null ? 'n/a' : f.toFixed(2) + ' s'} (${cr === null ? 'n/a' : cr.toFixed(2) + 'x'})`,
        cr === null ? null : cr <= CPU_ALLOWANCE,
        cr === null ? '' : `${overBy(cr, CPU_ALLOWANCE)} over`,
      );
    }
  }
  const fan = r.fanout.find((f) => f.system === 'agent');
  if (fan) {
    const f50 = fan.steps.find((s) => s.pods === 50 && s.rate === 5000);
    push(
      'fan-out: 50 pod links at 5k pps, >= 99% to the worst pod',
      f50 ? `${f50.worstDeliveredPct.toFixed(1)}% (${fmtInt(f50.worstDeliveredPps)} pps)` : 'not run',
      f50 ? f50.worstDeliveredPct >= 99 : null,
      f50 ? `${(99 - f50.worstDeliveredPct).toFixed(1)} points short` : '',
    );
    const f110 = fan.steps.find((s) => s.pods === 110 && s.rate === 1000);
    push(
      'fan-out: 110 pod links at 1k pps, no loss',
      f110 ? `${f110.worstDeliveredPct.toFixed(2)}% to the worst pod` : 'not run',
      f110 ? f110.worstRecords >= f110.sent : null,
      f110 ? `${fmtInt(f110.sent - f110.worstRecords)} of ${fmtInt(f110.sent)} lost at the worst pod` : '',
    );
  }
  if (r.idle) {
    const worst = Math.max(...r.idle.windows.map((w) => w.corePct));
    push(
      `idle, ${r.idle.pods} opted-in pods: < 1% of a core`,
      `${worst.toFixed(2)}% (worst ${r.idle.windows[0]?.seconds ?? 10} s window)`,
      worst < 1,
      `${(worst - 1).toFixed(2)} points over`,
    );
  }
  const rss = agentRss(r);
  const at20k = atRate(agent, 20000)?.rssMb;
  if (at20k != null) {
    push(
      `agent RSS < ${RSS_LIMIT_MB} MB at 20k pps`,
      `${at20k.toFixed(0)} MB at 20k pps` +
        (rss.working !== null ? `; ${rss.working.toFixed(0)} MB max at loads it keeps up with` : '') +
        (rss.overall !== null ? `; VmHWM ${rss.overall.toFixed(0)} MB (overload included)` : ''),
      at20k < RSS_LIMIT_MB,
      `${(at20k - RSS_LIMIT_MB).toFixed(0)} MB over`,
    );
  }
  const foreign = r.foreign?.find((f) => f.system === 'agent');
  if (foreign) {
    push(
      `foreign UDP, ${fmtInt(foreign.rate)} pps to port ${foreign.port} across the LAN link: agent < ${FOREIGN_CPU_LIMIT_PCT}% of a core`,
      foreign.corePct === null
        ? 'n/a'
        : `${foreign.corePct.toFixed(2)}% of a core; ${fmtInt(foreign.readBySystem)} of ${fmtInt(foreign.sent)} packets reached the agent`,
      foreign.corePct === null ? null : foreign.corePct < FOREIGN_CPU_LIMIT_PCT,
      `${((foreign.corePct ?? 0) - FOREIGN_CPU_LIMIT_PCT).toFixed(2)} points over`,
    );
  }
  return out;
}

/** How far a ratio is past its allowance, as a percentage of it. */
const overBy = (r: number, allowance: number): string => `${(100 * (r / allowance - 1)).toFixed(1)}%`;

function nextLoss(s: SweepResult, rate: number): number {
  const next = s.steps.filter((x) => x.rate > rate).sort((a, b) => a.rate - b.rate)[0];
  return next ? next.loss : 0;
}

/** The agent's largest RSS while it kept up (sweep steps under 1% loss, fan-out steps with >= 99%
 *  to the worst pod, idle), and its VmHWM over every run, overload included. */
export function agentRss(r: Omit<BenchResults, 'targets'>): {
  working: number | null;
  overall: number | null;
} {
  const working: number[] = [];
  const overall: number[] = [];
  const sw = r.sweep.find((s) => s.system === 'agent');
  for (const st of sw?.steps ?? []) if (st.rssMb != null && st.loss < LOSS_OK) working.push(st.rssMb);
  if (sw?.rssPeakMb != null) overall.push(sw.rssPeakMb);
  const fan = r.fanout.find((f) => f.system === 'agent');
  for (const st of fan?.steps ?? [])
    if (st.rssMb != null && st.worstDeliveredPct >= 99) working.push(st.rssMb);
  for (const v of Object.values(fan?.rssPeakMb ?? {})) if (v != null) overall.push(v);
  if (r.idle?.rssMb != null) {
    working.push(r.idle.rssMb);
    overall.push(r.idle.rssMb);
  }
  const max = (v: number[]) => (v.length ? Math.max(...v) : null);
  return { working: max(working), overall: max(overall) };
}

// ---------------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------------

export const fmtInt = (n: number | null | undefined): string =>
  n == null ? 'n/a' : Math.round(n).toLocaleString('en-US');
export function fmtUs(us: number | null | undefined): string {
  if (us == null) return 'n/a';
  const a = Math.abs(us);
  if (a < 1000) return `${Math.round(us)} µs`;
  if (a < 10_000) return `${(us / 1000).toFixed(2)} ms`;
  if (a < 1_000_000) return `${Math.round(us / 1000)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export function markdown(r: BenchResults): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, Linux ${m.kernel}, Node ${m.node}, ${m.avahi}. ` +
      `Load average at start ${m.loadAverage.join(' / ')}.`,
  );
  if (r.sweep.length) sweepTables(r, out);
  fanoutAndRest(r, out);
  if (r.ipv6) ipv6Markdown(r.ipv6, out);
  if (r.ipam) ipamMarkdown(r.ipam, out);
  return out.join('\n') + '\n';
}

function sweepTables(r: BenchResults, out: string[]): void {
  out.push('');
  out.push(
    "**LAN → one pod** (mDNS responses, one unique TXT record each; loss and latency at the pod's socket)",
  );
  out.push('');
  const rows = r.sweep.map((s) => {
    const k = s.system === 'kernel';
    const one = atRate(s, 1000);
    const lat = (p: 'p50' | 'p99') => {
      const e2e = one?.latencyUs[p];
      if (k) return `(${fmtUs(e2e)})`;
      return `${fmtUs(addedLatency(r.sweep, s.system, p))} (${fmtUs(e2e)})`;
    };
    const maxRate = maxRateUnderLoss(s);
    const top = Math.max(...s.steps.map((x) => x.rate));
    const working = s.steps.filter((x) => x.loss < LOSS_OK && x.rssMb != null).map((x) => x.rssMb!);
    return [
      SYSTEM_TITLES[s.system],
      maxRate === null ? 'none' : `${maxRate === top ? '≥ ' : ''}${fmtInt(maxRate)}`,
      fmtInt(peakDelivered(s)),
      lat('p50'),
      lat('p99'),
      k ? '—' : cpuCell(atRate(s, 1000)),
      k ? '—' : cpuCell(atRate(s, 20000)),
      s.rssPeakMb == null
        ? '—'
        : `${working.length ? Math.max(...working).toFixed(0) : '—'} / ${s.rssPeakMb.toFixed(0)} MB`,
    ];
  });
  out.push(
    table(
      [
        'system',
        'max pps, < 1% loss',
        'peak delivered pps',
        'added p50 @ 1k pps (end to end)',
        'added p99 @ 1k pps (end to end)',
        'CPU s / 100k @ 1k',
        'CPU s / 100k @ 20k',
        'RSS: peak under 1% loss / VmHWM',
      ],
      rows,
    ),
  );
  out.push('');
  out.push('Delivered at each offered rate (% of records sent; `—` not run, the system had saturated):');
  out.push('');
  const rates = [...new Set(r.sweep.flatMap((s) => [...s.steps.map((x) => x.rate), ...s.skipped]))].sort(
    (a, b) => a - b,
  );
  out.push(
    table(
      ['system', ...rates.map((x) => `${x >= 1000 ? x / 1000 + 'k' : x}`)],
      r.sweep.map((s) => [
        SYSTEM_TITLES[s.system],
        ...rates.map((rate) => {
          const st = atRate(s, rate);
          return st
            ? `${((100 * st.delivered) / st.sent).toFixed(st.loss < LOSS_OK && st.loss > 0 ? 2 : 1)}`
            : '—';
        }),
      ]),
    ),
  );
}

function fanoutAndRest(r: BenchResults, out: string[]): void {
  if (r.fanout.length) {
    out.push('');
    out.push(
      '**Fan-out: one LAN stream into N pod links** (records/s to the pod that got least, % of sent; ' +
        'p50 latency at pod N, the last copy to leave)',
    );
    out.push('');
    const cols = [...new Set(r.fanout.flatMap((f) => f.steps.map((s) => `${s.pods}@${s.rate}`)))];
    const sorted = cols
      .map((c) => c.split('@').map(Number) as [number, number])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    out.push(
      table(
        ['system', ...sorted.map(([n, rate]) => `${n} pods @ ${rate / 1000}k`), 'peak RSS'],
        r.fanout.map((f) => [
          SYSTEM_TITLES[f.system],
          ...sorted.map(([n, rate]) => {
            const st = f.steps.find((s) => s.pods === n && s.rate === rate);
            if (!st) return '—';
            const p50 = st.lastPodLatencyUs.p50;
            return (
              `${fmtInt(st.worstDeliveredPps)} (${st.worstDeliveredPct.toFixed(1)}%)` +
              (p50 == null ? '' : ` · ${fmtUs(p50)}`)
            );
          }),
          (() => {
            const v = Object.values(f.rssPeakMb).filter((x): x is number => x != null);
            return v.length ? `${Math.max(...v).toFixed(0)} MB` : '—';
          })(),
        ]),
      ),
    );
  }
  if (r.idle) {
    out.push('');
    const w = r.idle.windows.map((x) => `${x.corePct.toFixed(2)}%`).join(', ');
    out.push(
      `**Idle**: agent with ${r.idle.pods} opted-in pods, no traffic: ${w} of one core ` +
        `(${r.idle.windows.length} × ${r.idle.windows[0]?.seconds ?? 0} s), VmHWM ${r.idle.rssMb?.toFixed(0) ?? 'n/a'} MB ` +
        '(its start included a 1 s warm-up at 1k pps).',
    );
  }
  if (r.foreign?.length) {
    out.push('');
    const f0 = r.foreign[0];
    out.push(
      `**Foreign UDP**: ${fmtInt(f0.rate)} pps to port ${f0.port} (VXLAN's) across the LAN link to the node, no discovery ` +
        'traffic: what the overlay costs a reflector that relays none of it',
    );
    out.push('');
    out.push(
      table(
        ['system', 'CPU, % of a core', 'packets its sockets read', 'reached the pod', 'RSS'],
        r.foreign.map((f) => [
          SYSTEM_TITLES[f.system],
          f.corePct === null ? 'n/a' : `${f.corePct.toFixed(2)}%`,
          f.readBySystem === null ? 'n/a' : `${fmtInt(f.readBySystem)} of ${fmtInt(f.sent)}`,
          fmtInt(f.atPod),
          f.rssMb == null ? '—' : `${f.rssMb.toFixed(0)} MB`,
        ]),
      ),
    );
  }
  if (r.malformed) {
    const m = r.malformed;
    const valid = m.rows.find((x) => x.kind === 'valid')?.corePct ?? null;
    out.push('');
    out.push(
      `**Malformed traffic**: one LAN host sends mDNS at ${fmtInt(m.rows[0]?.pps ?? 0)} pps, one kind at a time; the agent's CPU against valid traffic at the same rate`,
    );
    out.push('');
    out.push(
      table(
        ['kind', 'agent CPU, % of a core', 'against valid'],
        m.rows.map((x) => [
          x.kind,
          x.corePct === null ? 'n/a' : `${x.corePct.toFixed(2)}%`,
          x.corePct === null || !valid ? '—' : `${(x.corePct / valid).toFixed(2)}x`,
        ]),
      ),
    );
    if (m.burst)
      out.push(
        '',
        `**RSS after a burst**: ${fmtInt(m.burst.packets)} junk packets as fast as one host sends them: RSS ${m.burst.idleMb.toFixed(0)} MB before, ` +
          `${m.burst.peakMb.toFixed(0)} MB peak (VmHWM), ${m.burst.afterMb.toFixed(0)} MB ${m.burst.afterS} s after.`,
      );
  }
  if (r.targets.length) {
    out.push('');
    out.push('**Targets** (2-core machine)');
    out.push('');
    out.push(
      table(
        ['target', 'measured', 'met', 'missed by'],
        r.targets.map((t) => [t.target, t.measured, t.met === null ? 'n/a' : t.met ? 'yes' : '**no**', t.by]),
      ),
    );
  }
  if (r.notes.length) {
    out.push('');
    out.push('Notes:');
    for (const n of r.notes) out.push(`- ${n}`);
  }
  for (const s of [...r.sweep, ...r.fanout]) {
    // Fan-out notes repeat per pod count: "10 pods: X", "50 pods: X" -> "10, 50 pods: X".
    const grouped = new Map<string, string[]>();
    for (const n of s.notes) {
      const m = /^(\d+) pods: (.*)$/.exec(n);
      const [key, count] = m ? [m[2], m[1]] : [n, ''];
      grouped.set(key, [...(grouped.get(key) ?? []), count]);
    }
    for (const [text, counts] of grouped) {
      const where = counts.filter(Boolean);
      out.push(`- ${SYSTEM_TITLES[s.system]}: ${where.length ? `${where.join(', ')} pods: ` : ''}${text}`);
    }
  }
  for (const p of r.profiles) {
    out.push('');
    out.push(
      `Profile (${p.label}; ${p.sampledMs} ms sampled, ${p.busyPct}% busy; ${p.file}), top self time:`,
    );
    out.push('');
    out.push(
      table(
        ['self % of busy', 'total % of busy', 'frame'],
        p.topSelf.slice(0, 12).map((f) => [f.selfPct.toFixed(1), f.totalPct.toFixed(1), `\`${f.frame}\``]),
      ),
    );
  }
}

function cpuCell(s: SweepStep | undefined): string {
  if (!s || s.cpuPer100k === null) return 'n/a';
  return `${s.cpuPer100k.toFixed(2)}${s.loss >= LOSS_OK ? ` (${pct(s.loss)} lost)` : ''}`;
}

function ipv6Markdown(r: Ipv6Result, out: string[]): void {
  const us = (v: number | null) => (v === null ? '—' : `${v.toFixed(0)} µs`);
  out.push(
    '',
    '**IPv4 and IPv6 side by side** (the agent, LAN → one pod; mDNS to 224.0.0.251 and to ff02::fb from the sender’s link-local address; steps alternate in one agent run)',
    '',
    '| rate | family | delivered | p50 (end to end) | p99 (end to end) | CPU s / 100k | receiver checksum errors |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const { family, step: s } of r.rows)
    out.push(
      `| ${s.rate.toLocaleString('en')} | IPv${family} | ${((100 * s.delivered) / s.sent).toFixed(2)}% | ` +
        `${us(s.latencyUs.p50)} | ${us(s.latencyUs.p99)} | ${s.cpuPer100k?.toFixed(2) ?? '—'} | ${s.checksumErrors} |`,
    );
  if (r.rssPeakMb !== null) out.push('', `Agent RSS peak over the section: ${r.rssPeakMb.toFixed(0)} MB.`);
}
