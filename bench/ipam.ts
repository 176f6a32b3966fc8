// The bench's `ipam` section: CNI ADD latency as a runtime sees it (exec of lan-reflector-ipam, the
// agent's answer, exit), one ADD at a time with the RFC 5227 probe off and on, and a burst of 200
// concurrent ADDs. Its own small bed (one node, one device), torn down at the end.
import { netConf, ourIpam, runPlugin, type CniOutcome } from '../test/support/cni.js';
import { startIpamAgent, type IpamAgent } from '../test/support/ipam-agent.js';
import { calicoBed } from '../test/support/netns.js';

export interface LatencyRow {
  label: string;
  calls: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The agent's own time per ADD (its `address assigned` log line), without the exec and socket. */
  agentP50Ms?: number;
  agentP99Ms?: number;
  /** Burst rows: first call started to last answer. */
  wallMs?: number;
  distinct?: number;
}

export interface IpamBenchResult {
  rows: LatencyRow[];
  notes: string[];
}

const pct = (sorted: number[], p: number): number =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN;

function agentSide(agent: IpamAgent, prefix: string): { agentP50Ms: number; agentP99Ms: number } {
  const ms = agent
    .log()
    .filter((l) => l.message === 'address assigned' && String(l.owner).startsWith(prefix))
    .map((l) => Number(l.ms))
    .sort((a, b) => a - b);
  return { agentP50Ms: pct(ms, 50), agentP99Ms: pct(ms, 99) };
}

function row(label: string, outs: CniOutcome[], wallMs?: number): LatencyRow {
  const ms = outs.map((o) => o.ms).sort((a, b) => a - b);
  const ok = outs.filter((o) => o.code === 0);
  const addresses = ok.map((o) => JSON.stringify((o.json?.ips as unknown[] | undefined)?.[0]));
  return {
    label,
    calls: outs.length,
    failed: outs.length - ok.length,
    p50Ms: pct(ms, 50),
    p99Ms: pct(ms, 99),
    maxMs: ms.at(-1) ?? NaN,
    wallMs,
    distinct: wallMs === undefined ? undefined : new Set(addresses).size,
  };
}

export async function ipamBench(opts: {
  quick: boolean;
  say: (m: string) => void;
}): Promise<IpamBenchResult> {
  const sequential = opts.quick ? 60 : 200;
  const probed = opts.quick ? 20 : 60;
  const bed = await calicoBed({ devices: 1, podsPerNode: 0, podAddressing: 'lan' });
  const rows: LatencyRow[] = [];
  let agent: IpamAgent | undefined;
  let n = 0;
  try {
    const run = async (probe: boolean) => {
      agent = await startIpamAgent(bed, 'node1', {
        ipam: {
          subnet: '198.18.0.0/20',
          ranges: ['198.18.8.0/22'],
          probe: probe ? { timeoutMs: 200 } : false,
        },
      });
      const a = agent;
      const add = (id: string) =>
        runPlugin({
          plugin: 'lan-reflector-ipam',
          command: 'ADD',
          config: netConf('ptp', ourIpam(a.socket)),
          containerId: id,
          netns: '/x',
          ifname: 'eth0',
          timeoutMs: 60_000,
        });
      const del = (id: string) =>
        runPlugin({
          plugin: 'lan-reflector-ipam',
          command: 'DEL',
          config: netConf('ptp', ourIpam(a.socket)),
          containerId: id,
          netns: '/x',
          ifname: 'eth0',
        });
      const count = probe ? probed : sequential;
      opts.say(`ipam: ${count} sequential ADDs, probe ${probe ? 'on' : 'off'}`);
      const tag = `b${probe ? 'p' : 'n'}`;
      const ids = Array.from({ length: count }, () => `${tag}${++n}`);
      await add(`warm${n}`); // the agent's first call pays for JIT and the first store write
      const outs: CniOutcome[] = [];
      for (const id of ids) outs.push(await add(id));
      rows.push({
        ...row(`ADD, one at a time, probe ${probe ? 'on (200 ms wait)' : 'off'}`, outs),
        ...agentSide(a, tag),
      });
      for (const id of ids) await del(id);
      if (!probe) {
        opts.say('ipam: 200 concurrent ADDs, probe off');
        const burst = Array.from({ length: 200 }, () => `burst${++n}`);
        const t0 = performance.now();
        const outs2 = await Promise.all(burst.map(add));
        rows.push({
          ...row('200 concurrent ADDs, probe off', outs2, performance.now() - t0),
          ...agentSide(a, 'burst'),
        });
        for (const id of burst) await del(id);
      }
      await a.stop();
      a.remove();
      agent = undefined;
    };
    await run(false);
    await run(true);
  } finally {
    await agent?.stop().catch(() => {});
    agent?.remove();
    await bed.teardown();
  }
  return {
    rows,
    notes: [
      'IPAM: latency as the runtime sees it — exec of the static shim, the unix-socket round trip, the allocation ' +
        '(file store: temp file + fsync, link(), fsync of the directory) and exit; measured around each exec.',
      'With the probe on, the agent sends RFC 5227 probes from 0.0.0.0 and waits ipam.probe.timeoutMs (200 ms) for an answer ' +
        'before handing the address out; nothing answers on this bed, so every ADD waits the full time.',
    ],
  };
}

export function ipamMarkdown(r: IpamBenchResult, out: string[]): void {
  out.push('', '**IPAM: CNI ADD latency** (exec of lan-reflector-ipam to its exit; file store)', '');
  out.push(
    '| run | calls | failed | p50 | p99 | max | agent p50 / p99 | burst wall time | distinct addresses |',
  );
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const f = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '–' : `${x.toFixed(1)} ms`);
  for (const x of r.rows)
    out.push(
      `| ${x.label} | ${x.calls} | ${x.failed} | ${f(x.p50Ms)} | ${f(x.p99Ms)} | ${f(x.maxMs)} | ${f(x.agentP50Ms)} / ${f(x.agentP99Ms)} | ${f(x.wallMs)} | ${x.distinct ?? '–'} |`,
    );
  for (const n of r.notes) out.push('', n);
}

/** Issue 10's target: p99 < 20 ms without the probe. */
export function ipamTargets(r: IpamBenchResult): Array<{ name: string; met: boolean; detail: string }> {
  const off = r.rows.find((x) => x.label.startsWith('ADD, one at a time, probe off'));
  const burst = r.rows.find((x) => x.label.startsWith('200 concurrent'));
  const out = [];
  if (off)
    out.push({
      name: 'IPAM ADD p99 < 20 ms without the probe',
      met: off.p99Ms < 20 && off.failed === 0,
      detail: `p99 ${off.p99Ms.toFixed(1)} ms`,
    });
  if (burst)
    out.push({
      name: '200 concurrent ADDs give 200 distinct addresses',
      met: burst.distinct === 200 && burst.failed === 0,
      detail: `${burst.distinct} distinct, ${burst.failed} failed`,
    });
  return out;
}
