/**
 * Runs a real CNI plugin the way a container runtime does (CNI spec 1.1, "Protocol parameters"):
 * the parameters in the environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS,
 * CNI_PATH), the network configuration on stdin, the result or the spec's error JSON on stdout and
 * the exit code. The runtime runs in the node namespace of a test bed; the pod's namespace is named
 * by its path (/run/netns/NAME, where `ip netns add` puts it).
 *
 * Plugins come from Debian's containernetworking-plugins (/usr/lib/cni: ptp, bridge, host-local)
 * and from our build (dist/lan-reflector-ipam). ptp or bridge find our plugin, as their `ipam`,
 * through CNI_PATH, exactly as on a node.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { run, type Bed } from './netns.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
/** The directory `npm run build` puts the shim in. */
export const SHIM_DIR = `${root}/dist`;
export const SHIM = `${SHIM_DIR}/lan-reflector-ipam`;
export const DEBIAN_CNI_DIR = '/usr/lib/cni';
/** Our plugin first, then Debian's, as a node with both installed in its CNI bin directory. */
export const DEFAULT_CNI_PATH = [SHIM_DIR, DEBIAN_CNI_DIR];

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';

export interface CniCall {
  /** 'ptp', 'bridge', 'host-local', 'lan-reflector-ipam', or an absolute path. */
  plugin: string;
  command: CniCommand;
  /** The network configuration (stdin); a string is sent as is (for malformed-input tests). */
  config: Record<string, unknown> | string;
  containerId?: string;
  /** The pod's namespace: a bed short name (`n1p1`), a full name, or a path. Omitted for STATUS/GC/VERSION. */
  netns?: string;
  ifname?: string;
  /** CNI_ARGS as key/value pairs (K8S_POD_NAMESPACE, K8S_POD_NAME, ...), sent as `K=V;K=V`. */
  args?: Record<string, string>;
  /** CNI_PATH directories (default: our dist/ then /usr/lib/cni). */
  path?: string[];
  /** Extra environment (the runtime's own, e.g. PATH); CNI_* always win. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export interface CniOutcome {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON when it is JSON (a result, VERSION's answer or a CNI error). */
  json?: Record<string, unknown>;
  /** Wall time of the call. */
  ms: number;
}

/** A CNI error object as the spec defines it ("Error" section). */
export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** The runtime finds the plugin by its type in CNI_PATH, first directory first. */
function pluginPath(plugin: string, path: string[]): string {
  if (plugin.startsWith('/')) return plugin;
  const found = path.map((d) => `${d}/${plugin}`).find((p) => existsSync(p));
  if (!found) throw new Error(`no CNI plugin ${plugin} in ${path.join(':')} (npm run build makes ours)`);
  return found;
}

function environment(bed: Bed | undefined, call: CniCall): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...call.env, CNI_COMMAND: call.command };
  const path = call.path ?? DEFAULT_CNI_PATH;
  env.CNI_PATH = path.join(':');
  if (call.containerId !== undefined) env.CNI_CONTAINERID = call.containerId;
  if (call.netns !== undefined)
    env.CNI_NETNS = call.netns.startsWith('/')
      ? call.netns
      : `/run/netns/${bed ? bed.ns(call.netns) : call.netns}`;
  if (call.ifname !== undefined) env.CNI_IFNAME = call.ifname;
  if (call.args !== undefined)
    env.CNI_ARGS = Object.entries(call.args)
      .map(([k, v]) => `${k}=${v}`)
      .join(';');
  return env;
}

/**
 * Runs the plugin as a runtime in namespace `node` of `bed` would (or in the current namespace when
 * `bed` is undefined, for plugins that touch no network: our shim, host-local). Never rejects on a
 * non-zero exit: the code and the error JSON are what tests look at.
 */
export async function runCni(
  bed: Bed | undefined,
  node: string | undefined,
  call: CniCall,
): Promise<CniOutcome> {
  const path = call.path ?? DEFAULT_CNI_PATH;
  const plugin = pluginPath(call.plugin, path);
  const argv = bed && node ? ['ip', 'netns', 'exec', bed.ns(node), plugin] : [plugin];
  const input = typeof call.config === 'string' ? call.config : JSON.stringify(call.config);
  const started = performance.now();
  const r = await run(argv, {
    env: environment(bed, call),
    input,
    check: false,
    timeoutMs: call.timeoutMs ?? 20_000,
  });
  const ms = performance.now() - started;
  let json: Record<string, unknown> | undefined;
  const text = r.stdout.trim();
  if (text.startsWith('{')) {
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = undefined; // not JSON after all: tests look at stdout
    }
  }
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, json, ms };
}

/** Like runCni, but a failure throws with the plugin's error, for steps that must succeed. */
export async function cniOk(
  bed: Bed | undefined,
  node: string | undefined,
  call: CniCall,
): Promise<CniOutcome> {
  const r = await runCni(bed, node, call);
  if (r.code !== 0)
    throw new Error(
      `CNI ${call.command} via ${call.plugin} failed (exit ${r.code}): ${r.stdout.trim()} ${r.stderr.trim()}`,
    );
  return r;
}

/** A network configuration list member for `type` (ptp, bridge) with `ipam` as its IPAM section. */
export function netConf(
  type: string,
  ipam: Record<string, unknown>,
  opts: { cniVersion?: string; name?: string; extra?: Record<string, unknown> } = {},
): Record<string, unknown> {
  return { cniVersion: opts.cniVersion ?? '1.0.0', name: opts.name ?? 'lan', type, ...opts.extra, ipam };
}

/** Our IPAM section, pointing the shim at a test agent's socket. */
export const ourIpam = (socket: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'lan-reflector-ipam',
  socket,
  ...extra,
});

/** Looks inside a pod namespace: its eth0 IPv4 address with prefix and broadcast (`ip -j addr`). */
export async function podAddress(
  bed: Bed,
  pod: string,
  ifname = 'eth0',
): Promise<{ local: string; prefixlen: number; broadcast?: string } | undefined> {
  const r = await bed.ip(pod, ['-j', 'addr', 'show', 'dev', ifname]);
  const links = JSON.parse(r.stdout) as Array<{
    addr_info: Array<{ family: string; local: string; prefixlen: number; broadcast?: string }>;
  }>;
  return links[0]?.addr_info.find((a) => a.family === 'inet');
}

/** For plugins run outside any bed (e.g. our shim with no netns work): the plain root namespace. */
export const runPlugin = (call: CniCall): Promise<CniOutcome> => runCni(undefined, undefined, call);
export { run };
