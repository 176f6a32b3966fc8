/**
 * The systems under test, each started in the node namespace and stopped again:
 *   kernel         no reflector: the same sender -> a unicast stream to pod 1's address, forwarded by
 *                  the node's kernel over the same links (LAN veth -> node -> pod veth). The latency floor.
 *   agent          lan-reflector agent, rate limits off, dedupe on (30 ms), log level warn.
 *   forwarder      bench/forwarder.ts: a bare Node dgram forwarder, the floor a Node program can reach.
 *   avahi          avahi-daemon --reflector with the rate limit its Debian package ships (1000 pkt/s burst).
 *   avahi-nolimit  the same with ratelimit-interval-usec=0 (rate limit off).
 * avahi and the forwarder need IPv4 addresses on the pod links: the bench adds them for their runs.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { requestStatus } from '../src/control/client.js';
import type { StatusReply } from '../src/control/types.js';
import type { Proc } from '../test/support/netns.js';
import {
  LAN_IF,
  NODE,
  NODE_ADDRESS,
  SENDER_ADDRESS,
  hostLinkAddress,
  type BenchBed,
  type BenchPod,
} from './bed.js';

export const SYSTEM_NAMES = ['kernel', 'agent', 'forwarder', 'avahi', 'avahi-nolimit'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

export const SYSTEM_TITLES: Record<SystemName, string> = {
  kernel: 'no reflector (kernel forwarding, unicast)',
  agent: 'lan-reflector agent',
  forwarder: 'bare Node dgram forwarder',
  avahi: 'avahi reflector, default rate limit',
  'avahi-nolimit': 'avahi reflector, rate limit off',
};

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
export const REPO = join(HERE, '..', '..');
/** Node 22 from the project's dev dependency (the system's may be older); children all use it. */
export const NODE_BIN = ((): string => {
  const pinned = join(REPO, 'node_modules', '.bin', 'node');
  return existsSync(pinned) ? pinned : process.execPath;
})();
export const benchScript = (name: string): string => join(HERE, `${name}.js`);

export interface Running {
  /** The process whose CPU and memory are measured; absent for `kernel`. */
  pid?: number;
  proc?: Proc;
  /** What a step reads after it ran (agent: its status; avahi: its warnings). */
  snapshot(): Promise<unknown>;
  stop(): Promise<void>;
  /** Facts worth printing: interfaces avahi took up, joins that failed... */
  notes: string[];
}

export interface StartContext {
  bed: BenchBed;
  tmp: string;
  /** Extra flags for the agent's node (e.g. --cpu-prof). */
  nodeFlags?: string[];
}

/** Where the sender aims for this system. */
export function target(system: SystemName, bed: BenchBed): { dst: string; iface?: string } {
  if (system === 'kernel') return { dst: bed.pod(1).address };
  return { dst: '224.0.0.251', iface: SENDER_ADDRESS };
}

export const needsHostAddresses = (s: SystemName): boolean =>
  s === 'forwarder' || s === 'avahi' || s === 'avahi-nolimit';

/** Node flags for every agent run (bench.ts sets them from --agent-import). */
export const agentDefaults = { nodeFlags: [] as string[] };

let runs = 0;

export async function startSystem(system: SystemName, ctx: StartContext, pods: BenchPod[]): Promise<Running> {
  switch (system) {
    case 'kernel':
      return { snapshot: async () => null, stop: async () => {}, notes: [] };
    case 'agent':
      return startAgent(ctx, pods);
    case 'forwarder':
      return startForwarder(ctx, pods);
    case 'avahi':
    case 'avahi-nolimit':
      return startAvahi(ctx, pods, system === 'avahi');
  }
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(150);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

async function startAgent(ctx: StartContext, pods: BenchPod[]): Promise<Running> {
  const id = ++runs;
  const config = {
    lanInterface: LAN_IF,
    protocols: ['mdns'],
    // The bench measures the relay path, so storm protection is off; the dedupe window stays on
    // (it is part of the policy: every packet is hashed and looked up).
    rateLimit: { perSourcePps: 0, perSourceBurst: 1, perPodPps: 0, perPodBurst: 1 },
    dedupeWindowMs: 30,
    controlSocket: join(ctx.tmp, `agent-${id}.sock`),
    log: { level: 'warn', format: 'json' },
    pods: pods.map((p) => ({
      address: p.address6 ? `${p.address},${p.address6}` : p.address,
      name: p.short,
    })),
  };
  const file = join(ctx.tmp, `agent-${id}.yaml`);
  writeFileSync(file, JSON.stringify(config, null, 1)); // JSON is YAML
  const bin = join(REPO, 'bin', 'lan-reflector.js');
  const proc = ctx.bed.spawn(NODE, [
    NODE_BIN,
    ...agentDefaults.nodeFlags,
    ...(ctx.nodeFlags ?? []),
    bin,
    'agent',
    '--config',
    file,
  ]);
  const status = (): Promise<StatusReply> => requestStatus(config.controlSocket, 2000);
  try {
    await waitFor(`the agent to attach ${pods.length} pods`, 30_000, async () => {
      if (proc.status) throw new Error(`agent exited: ${proc.stderr.trim() || proc.stdout.trim()}`);
      const s = await status();
      const attached = s.pods.filter((p) => p.link && p.port && !p.problem).length;
      return s.ready && attached === pods.length ? s : undefined;
    });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return {
    pid: proc.child.pid,
    proc,
    snapshot: status,
    stop: async () => void (await proc.stop()),
    notes: [],
  };
}

async function startForwarder(ctx: StartContext, pods: BenchPod[]): Promise<Running> {
  const outs = pods.flatMap((p) => ['--out', hostLinkAddress(p.index)]);
  const proc = ctx.bed.spawn(NODE, [NODE_BIN, benchScript('forwarder'), '--lan', NODE_ADDRESS, ...outs]);
  await proc.waitForLine(/^ready$/, { timeoutMs: 20_000 });
  return {
    pid: proc.child.pid,
    proc,
    snapshot: async () => null,
    stop: async () => void (await proc.stop()),
    notes: [],
  };
}

/** avahi-daemon.conf(5). avahi 0.8's ini parser reads a line into 256 bytes (later versions: 1024),
 *  room for about 14 Calico link names: past that allow-interfaces is left out, and the links avahi
 *  uses are exactly the ones with an IPv4 address (use-ipv6=no), which the bench controls. */
function avahiConfig(pods: BenchPod[], defaultRateLimit: boolean): { text: string; allowList: boolean } {
  const allow = [LAN_IF, ...pods.map((p) => p.hostIf)].join(',');
  const allowList = `allow-interfaces=${allow}`.length < 250;
  const lines = [
    '[server]',
    'host-name=lrbench-node1',
    'use-ipv4=yes',
    'use-ipv6=no',
    ...(allowList ? [`allow-interfaces=${allow}`] : []),
    'enable-dbus=no',
    // Debian's shipped avahi-daemon.conf sets these two; 0 turns the limit off (iface.c).
    ...(defaultRateLimit
      ? ['ratelimit-interval-usec=1000000', 'ratelimit-burst=1000']
      : ['ratelimit-interval-usec=0', 'ratelimit-burst=0']),
    '[wide-area]',
    'enable-wide-area=no',
    '[publish]',
    'disable-publishing=yes',
    'publish-hinfo=no',
    'publish-workstation=no',
    '[reflector]',
    'enable-reflector=yes',
    'reflect-ipv=no',
  ];
  return { text: lines.join('\n') + '\n', allowList };
}

async function startAvahi(ctx: StartContext, pods: BenchPod[], defaultRateLimit: boolean): Promise<Running> {
  const id = ++runs;
  const { text, allowList } = avahiConfig(pods, defaultRateLimit);
  const file = join(ctx.tmp, `avahi-${id}.conf`);
  writeFileSync(file, text);
  // `ip netns exec` gives the daemon its own mount namespace: a private tmpfs on /run holds its pid
  // file and socket, so it never meets a host avahi-daemon. No D-Bus, no chroot, no privilege drop.
  const argv = [
    'avahi-daemon',
    '--no-drop-root',
    '--no-chroot',
    '--no-rlimits',
    '--no-proc-title',
    '-f',
    file,
  ];
  const script = 'mount -t tmpfs -o size=1m,mode=0755 lrbench /run && mkdir /run/avahi-daemon && exec "$@"';
  const proc = ctx.bed.spawn(NODE, ['sh', '-c', script, 'sh', ...argv]);
  try {
    await proc.waitForLine(/Server startup complete/, { stream: 'stderr', timeoutMs: 20_000 });
    // Interfaces come up one by one after startup: wait until every pod link is relevant.
    const wanted = new Set([LAN_IF, ...pods.map((p) => p.hostIf)]);
    const relevant = () =>
      new Set(
        [...proc.stderr.matchAll(/New relevant interface (\S+)\.IPv4 for mDNS/g)]
          .map((m) => m[1])
          .filter((n) => wanted.has(n)),
      );
    await waitFor(`avahi to take up ${wanted.size} interfaces`, 15_000, async () =>
      relevant().size >= wanted.size ? true : undefined,
    ).catch(() => undefined);
    await sleep(300);
    const notes: string[] = [];
    const got = relevant();
    if (got.size < wanted.size)
      notes.push(
        `avahi took up ${got.size} of ${wanted.size} interfaces` +
          (got.has(LAN_IF) ? '' : `, not the LAN link ${LAN_IF}: it relays nothing`),
      );
    const joinFailures = (proc.stderr.match(/IP_ADD_MEMBERSHIP failed/g) ?? []).length;
    if (joinFailures)
      notes.push(`avahi: ${joinFailures} group joins failed (igmp_max_memberships is 20 per socket)`);
    if (!allowList)
      notes.push('avahi: allow-interfaces left out (line too long); links chosen by their IPv4 address');
    return {
      pid: proc.child.pid,
      proc,
      snapshot: async () => ({ warnings: warningsOf(proc.stderr) }),
      stop: async () => void (await proc.stop()),
      notes,
    };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** avahi's stderr lines that are not its start-up chatter, counted by text. */
function warningsOf(stderr: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of stderr.split('\n')) {
    if (
      !line ||
      /^(Joining|New relevant|Registering|Server startup|Network interface|Found user|avahi-daemon|Successfully|No service file|Loading|WARNING: No NSS)/.test(
        line,
      )
    )
      continue;
    const key = line.replace(/\d+/g, 'N').slice(0, 120);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}
