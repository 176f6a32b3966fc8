// Reads a V8 .cpuprofile (node --cpu-prof) into the frames that cost the most: self time (where the
// CPU was) and total time (self + callees, each function counted once per stack).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Percentages are of the busy (non-idle) samples. */
export interface Frame {
  frame: string;
  selfPct: number;
  totalPct: number;
}

export interface ProfileSummary {
  file: string;
  sampledMs: number;
  /** Share of samples the process was busy (not idle). */
  busyPct: number;
  topSelf: Frame[];
  topTotal: Frame[];
}

function label(cf: CallFrame): string {
  const name = cf.functionName || '(anonymous)';
  if (!cf.url) return name;
  const file = cf.url.replace(/^file:\/\//, '');
  const short = file.includes('/node_modules/')
    ? file.slice(file.lastIndexOf('/node_modules/') + 14)
    : file.includes('/dist/')
      ? file.slice(file.lastIndexOf('/dist/') + 6)
      : file.startsWith('node:')
        ? file
        : basename(file);
  return `${name} ${short}:${cf.lineNumber + 1}`;
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    total += dt;
  });
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const key = label(node.callFrame);
    if (key === '(idle)') idle += us;
    self.set(key, (self.get(key) ?? 0) + us);
    const onStack = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = label(byId.get(at)!.callFrame);
      if (onStack.has(k) || k === '(root)') continue;
      onStack.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  // Shares of the time the process was busy (samples that were not idle).
  const pct = (us: number) => Math.round((1000 * us) / Math.max(1, total - idle)) / 10;
  const rank = (m: Map<string, number>, other: Map<string, number>, selfFirst: boolean): Frame[] =>
    [...m.entries()]
      .filter(([k]) => k !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({
        frame: k,
        selfPct: pct(selfFirst ? us : (other.get(k) ?? 0)),
        totalPct: pct(selfFirst ? (other.get(k) ?? 0) : us),
      }));
  return {
    file,
    sampledMs: Math.round(total / 1000),
    busyPct: Math.round((1000 * (total - idle)) / Math.max(1, total)) / 10,
    topSelf: rank(self, inclusive, true),
    topTotal: rank(inclusive, self, false),
  };
}
