// Starts the IPAM's LAN side alone (test/support/lan-side-driver.ts) in a node namespace and sends it
// commands: proxy entries, announcements and probes against real kernels, without the allocator.
import { fileURLToPath } from 'node:url';
import type { Bed, Proc } from './netns.js';

const DRIVER = fileURLToPath(new URL('./lan-side-driver.js', import.meta.url));

export interface LanSideDriver {
  proc: Proc;
  mac: string;
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<{ result: T; ms: number }>;
  /** The driver's JSON log lines. */
  log(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export async function startLanSide(
  bed: Bed,
  node: string,
  opts: { probeMs?: number; probe?: boolean } = {},
): Promise<LanSideDriver> {
  const argv = [process.execPath, DRIVER, '--lan', 'lan0', '--probe-ms', String(opts.probeMs ?? 200)];
  if (opts.probe === false) argv.push('--probe', 'off');
  const proc = bed.spawn(node, argv, { stdin: true });
  const ready = await proc.waitForLine(/"event":"ready"/, { timeoutMs: 15_000 });
  const mac = (JSON.parse(ready.input!) as { mac: string }).mac;
  let answered = 0;
  let busy = Promise.resolve();
  const call = <T>(op: string, args: Record<string, unknown> = {}) => {
    const run = busy.then(async () => {
      proc.child.stdin!.write(JSON.stringify({ op, ...args }) + '\n');
      const want = ++answered;
      const deadline = Date.now() + 15_000;
      for (;;) {
        const replies = proc
          .json<{ op?: string; ok: boolean; result: T; error?: string; ms: number }>()
          .filter((r) => r.op);
        if (replies.length >= want) {
          const r = replies[want - 1];
          if (!r.ok) throw new Error(`lan-side ${op} failed: ${r.error}`);
          return { result: r.result, ms: r.ms };
        }
        if (proc.status) throw new Error(`lan-side driver exited: ${proc.stderr}`);
        if (Date.now() > deadline) throw new Error(`lan-side ${op}: no answer\n${proc.stderr}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    busy = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  };
  return {
    proc,
    mac,
    call,
    log: () =>
      proc
        .lines('stderr')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    stop: async () => {
      proc.child.stdin!.end();
      await proc.stop();
    },
    kill: async () => {
      proc.signal('SIGKILL');
      await proc.exited;
    },
  };
}
