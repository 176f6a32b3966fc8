/**
 * Real third-party peers for integration tests: python3-zeroconf (test/peers/*.py) and tcpdump,
 * each run inside one of a Bed's namespaces.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bed, Proc } from './netns.js';

/** Debian's python3 carries python3-zeroconf; the pyenv python3 first on PATH does not. */
export const PYTHON = '/usr/bin/python3';
export const DEMO_TYPE = '_demo._tcp.local.';

/** test/peers, whether we run from dist/test/support (compiled) or test/support. */
const PEERS_DIR = ((): string => {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'peers'), join(here, '..', '..', '..', 'test', 'peers')];
  return candidates.find((d) => existsSync(join(d, 'zc_publish.py'))) ?? candidates[1];
})();

const pyEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' };
  delete env.PYTHONPATH; // nothing from the pyenv interpreter may leak into Debian's
  delete env.PYTHONHOME;
  return env;
};

const peer = (script: string, args: string[]): string[] => [PYTHON, join(PEERS_DIR, script), ...args];

// ---------------------------------------------------------------------------------------------------
// zeroconf
// ---------------------------------------------------------------------------------------------------

export interface PublishOptions {
  type?: string;
  /** Instance name; the full service name is `${name}.${type}`. */
  name: string;
  port: number;
  /** Address announced in the A (or AAAA) record, and the interface zeroconf sends and listens on;
   *  an IPv6 address makes zeroconf run IPv6 only. */
  address: string;
  /** More addresses to announce (not listened on), e.g. a link-local one. */
  extraAddresses?: string[];
  txt?: Record<string, string>;
  host?: string;
  timeoutMs?: number;
}

export interface Published {
  proc: Proc;
  /** Full service name as registered. */
  name: string;
  /** Unregisters (goodbye packets) and ends the process. Teardown does the same if you forget. */
  stop(): Promise<void>;
}

/** Starts zc_publish.py in `ns` and resolves once the service is registered (probed and announced). */
export async function publish(bed: Bed, ns: string, opts: PublishOptions): Promise<Published> {
  const args = ['--type', opts.type ?? DEMO_TYPE, '--name', opts.name, '--port', String(opts.port)];
  args.push('--address', opts.address);
  for (const a of opts.extraAddresses ?? []) args.push('--extra-address', a);
  if (opts.host) args.push('--host', opts.host);
  for (const [k, v] of Object.entries(opts.txt ?? {})) args.push('--txt', `${k}=${v}`);
  const proc = bed.spawn(ns, peer('zc_publish.py', args), { env: pyEnv() });
  const m = await proc.waitForLine(/^\{.*"event": "(registered|error)"/, {
    timeoutMs: opts.timeoutMs ?? 15_000,
  });
  const event = JSON.parse(m.input ?? m[0]) as { event: string; name?: string; message?: string };
  if (event.event === 'error') {
    await proc.stop();
    throw new Error(`zc_publish.py in ${ns} failed: ${event.message}\n${proc.stderr.trim()}`);
  }
  return {
    proc,
    name: event.name!,
    stop: async () => void (await proc.stop()),
  };
}

export interface BrowseOptions {
  type?: string;
  /** Seconds to browse (default 5). */
  timeoutS?: number;
  /** Return as soon as this many services are resolved. */
  count?: number;
  /** Interface address to browse on (default: all of the namespace's IPv4 addresses); an IPv6
   *  address browses over IPv6 only. */
  address?: string;
}

export interface Resolved {
  name: string;
  type: string;
  addresses: string[];
  port: number;
  server: string;
  txt: Record<string, string | null>;
}

/** Runs zc_browse.py in `ns`; resolves with every service it resolved (empty if none). */
export async function browse(bed: Bed, ns: string, opts: BrowseOptions = {}): Promise<Resolved[]> {
  const timeoutS = opts.timeoutS ?? 5;
  const args = ['--type', opts.type ?? DEMO_TYPE, '--timeout', String(timeoutS)];
  if (opts.count) args.push('--count', String(opts.count));
  if (opts.address) args.push('--address', opts.address);
  const proc = bed.spawn(ns, peer('zc_browse.py', args), { env: pyEnv() });
  const overrun = sleep((timeoutS + 10) * 1000, undefined, { ref: false }); // unref: never holds the process open
  const status = await Promise.race([proc.exited, overrun]);
  if (!status) {
    await proc.stop();
    throw new Error(`zc_browse.py in ${ns} did not finish within ${timeoutS + 10} s\n${proc.stderr.trim()}`);
  }
  if (status.code !== 0 && status.code !== 1) {
    throw new Error(
      `zc_browse.py in ${ns} failed (exit ${status.code ?? status.signal})\n${proc.stdout}${proc.stderr}`,
    );
  }
  return proc
    .json<Resolved & { event: string }>()
    .filter((e) => e.event === 'resolved')
    .map(({ event: _event, ...r }) => r);
}

// ---------------------------------------------------------------------------------------------------
// tcpdump
// ---------------------------------------------------------------------------------------------------

export interface Packet {
  family: 'IP' | 'IP6';
  src: string;
  srcPort?: number;
  dst: string;
  dstPort?: number;
  line: string;
}

export interface Captured {
  /** Every line tcpdump printed (ARP and other non-IP lines included). */
  lines: string[];
  /** The IP/IPv6 lines, parsed. */
  packets: Packet[];
  /** Distinct source addresses, in order of first appearance. */
  sources: string[];
}

/** `198.18.4.11.5353` → address + port; `ff02::fb.5353` likewise; a bare address has no port. */
function endpoint(s: string): { address: string; port?: number } {
  if (s.includes(':')) {
    const m = /^(.*)\.(\d+)$/.exec(s);
    return m ? { address: m[1], port: Number(m[2]) } : { address: s };
  }
  const parts = s.split('.');
  return parts.length === 5
    ? { address: parts.slice(0, 4).join('.'), port: Number(parts[4]) }
    : { address: s };
}

/** Parses one line of `tcpdump -n -t` output; undefined for anything but IP/IPv6. */
export function parseTcpdumpLine(line: string): Packet | undefined {
  const m = /\b(IP6?) (\S+) > (\S+): /.exec(line);
  if (!m) return undefined;
  const src = endpoint(m[2]);
  const dst = endpoint(m[3]);
  return {
    family: m[1] as 'IP' | 'IP6',
    src: src.address,
    srcPort: src.port,
    dst: dst.address,
    dstPort: dst.port,
    line,
  };
}

/**
 * Captures on `iface` inside `ns` for `ms` milliseconds once tcpdump is listening, running `during`
 * (the traffic to observe) as soon as it is; waits for `during` to finish too. Non-promiscuous, so
 * capturing does not change what the interface accepts.
 */
export async function capture(
  bed: Bed,
  ns: string,
  iface: string,
  bpfFilter: string,
  ms: number,
  during?: () => Promise<unknown>,
): Promise<Captured> {
  // -l + --immediate-mode: every packet is printed at once, none sits in a libpcap buffer at stop.
  const argv = ['tcpdump', '-n', '-t', '-l', '-p', '--immediate-mode', '-i', iface];
  if (bpfFilter) argv.push(bpfFilter);
  const proc = bed.spawn(ns, argv);
  try {
    await proc.waitForLine(/listening on/, { stream: 'stderr', timeoutMs: 10_000 });
    await Promise.all([sleep(ms), during?.()]);
  } finally {
    await proc.stop();
  }
  const lines = proc.lines();
  const packets = lines.map(parseTcpdumpLine).filter((p): p is Packet => p !== undefined);
  return { lines, packets, sources: [...new Set(packets.map((p) => p.src))] };
}

/** Starts any script of test/peers in `ns` with Debian's python3 (SSDP, broadcast, garbage peers). */
export function spawnPeer(bed: Bed, ns: string, script: string, args: string[]): Proc {
  return bed.spawn(ns, peer(script, args), { env: pyEnv() });
}

/** Runs a test/peers script to completion; resolves with its JSON lines. */
export async function runPeer<T = Record<string, unknown>>(
  bed: Bed,
  ns: string,
  script: string,
  args: string[],
  timeoutMs = 20_000,
): Promise<T[]> {
  const proc = spawnPeer(bed, ns, script, args);
  const status = await Promise.race([proc.exited, sleep(timeoutMs, undefined, { ref: false })]);
  if (!status) {
    await proc.stop();
    throw new Error(`${script} in ${ns} did not finish within ${timeoutMs} ms\n${proc.stderr.trim()}`);
  }
  return proc.json<T>();
}
