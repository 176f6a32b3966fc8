// The container image, for the tests that run it: built from docker/Dockerfile with buildah on a
// local bookworm + Node 22 base (docker/local-base.sh: Debian's mirror and the npm registry are all
// this machine reaches), and started with podman exactly as the DaemonSet's pod spec says.
//
// Two things about the machines this runs on (found here, and true of many CI sandboxes):
// - The process lacks CAP_SYS_RESOURCE, so an OCI runtime cannot raise an rlimit. podman asks for
//   RLIMIT_NOFILE 1048576 and RLIMIT_NPROC above what podman itself holds (it lowers its own
//   RLIMIT_NPROC to 32768 at start), and crun/runc then fail with "setrlimit: Operation not
//   permitted". Passing --ulimit values at or below the current ones avoids that.
// - The cgroup layout is hybrid (v1 controllers plus a v2 hierarchy holding one): crun refuses it
//   ("cgroups in hybrid mode not supported"); runc (Debian's runc package) accepts it.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';
import { Proc, run, type ExecResult } from './netns.js';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** The Node version package-lock.json pins (the `node` dev dependency), which the base carries. */
const NODE_VERSION = (
  JSON.parse(readFileSync(`${ROOT}/package-lock.json`, 'utf8')) as {
    packages: Record<string, { version?: string }>;
  }
).packages['node_modules/node']!.version!;
/** Tagged with the Node version, so a new pin makes a new base instead of reusing a stale one. */
export const BASE_IMAGE = `localhost/lan-reflector-base:${NODE_VERSION}-bookworm-slim`;
export const TEST_IMAGE = 'localhost/lan-reflector:test';
const RUNTIME = 'runc';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** rlimits no higher than this process holds now (see above). */
function ulimitFlags(): string[] {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const hard = (name: string): number => {
    const m = new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(limits);
    return m && m[2] !== 'unlimited' ? Number(m[2]) : Number.MAX_SAFE_INTEGER;
  };
  const nofile = Math.min(hard('Max open files'), 1_048_576);
  const nproc = Math.min(hard('Max processes'), 32_768);
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
}

const long = (timeoutMs: number) => ({ timeoutMs });

async function imageExists(name: string): Promise<boolean> {
  return (await run(['podman', 'image', 'exists', name], { check: false })).code === 0;
}

export interface BuiltImage {
  name: string;
  base: string;
  /** Seconds each step took (base is 0 when it was already there). */
  took: { base: number; build: number };
}

/**
 * Makes the base (once per machine: it is Debian + Node, nothing of this repository) and builds the
 * image from the working tree. `buildah bud --layers` reuses unchanged steps on a second run.
 */
export async function buildImage(): Promise<BuiltImage> {
  let t = Date.now();
  if (!(await imageExists(BASE_IMAGE)))
    await run([`${ROOT}/docker/local-base.sh`, BASE_IMAGE], long(600_000));
  const base = (Date.now() - t) / 1000;
  t = Date.now();
  const argv = ['buildah', 'bud', '--runtime', RUNTIME, ...ulimitFlags(), '--network', 'host', '--layers'];
  // A TLS-intercepting egress proxy's CA (this machine has one) reaches npm as a build secret: it
  // is used by the build's npm steps and never stored in a layer.
  if (existsSync(CA_BUNDLE)) argv.push('--secret', `id=npm-ca,src=${CA_BUNDLE}`);
  argv.push(
    '--build-arg',
    `NODE_IMAGE=${BASE_IMAGE}`,
    '-f',
    `${ROOT}/docker/Dockerfile`,
    '-t',
    TEST_IMAGE,
    ROOT,
  );
  await run(argv, long(900_000));
  return { name: TEST_IMAGE, base: BASE_IMAGE, took: { base, build: (Date.now() - t) / 1000 } };
}

export interface ImageSize {
  /** Sum of the uncompressed layers (what `docker images` calls SIZE). */
  bytes: number;
  /** Sum of the gzip-compressed layers, as a registry stores them: what a node pulls. */
  compressedBytes: number;
  layers: number;
}

/** Saves the image as a directory with gzip layers (podman's docker-dir) and adds up the layer blobs. */
export async function measureImage(name: string, dir: string): Promise<ImageSize> {
  await run(['podman', 'save', '--format', 'docker-dir', '--compress', '-o', dir, name], long(300_000));
  const manifest = JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8')) as {
    layers: Array<{ size: number }>;
  };
  const inspect = JSON.parse((await run(['podman', 'image', 'inspect', name])).stdout) as Array<{
    Size: number;
  }>;
  return {
    bytes: inspect[0].Size,
    compressedBytes: manifest.layers.reduce((sum, l) => sum + l.size, 0),
    layers: manifest.layers.length,
  };
}

// ---------------------------------------------------------------------------------------------------
// The DaemonSet's pod, as podman flags
// ---------------------------------------------------------------------------------------------------

export interface PodRun {
  /** The node's network namespace (hostNetwork: true), a full `ip netns` name. */
  netns: string;
  /** Host directory for each hostPath / configMap / emptyDir volume by name (emptyDir: tmpfs if absent). */
  volumes: Record<string, string>;
  env: Record<string, string>;
  /** Files mounted read-only at the same path inside (a kubeconfig outside a cluster). */
  extraFiles?: Array<{ host: string; container: string }>;
  /** Flags appended to the container's args. */
  extraArgs?: string[];
  /** Host directories bind-mounted read-write (an init container's hostPath). */
  binds?: Array<{ host: string; container: string }>;
}

/**
 * podman run flags that give the container what the pod spec gives it, refusing what this
 * translation does not know (so a new field in the DaemonSet cannot silently go untested).
 */
export function podmanFlags(pod: V1PodSpec, container: V1Container, runAs: PodRun): string[] {
  const flags: string[] = [];
  if (pod.hostNetwork !== true)
    throw new Error('the test runs the agent in a node namespace: hostNetwork only');
  flags.push('--network', `ns:/run/netns/${runAs.netns}`);
  const sc = container.securityContext ?? {};
  const known = new Set([
    'privileged',
    'allowPrivilegeEscalation',
    'readOnlyRootFilesystem',
    'runAsUser',
    'runAsNonRoot',
    'capabilities',
  ]);
  for (const key of Object.keys(sc))
    if (!known.has(key)) throw new Error(`securityContext.${key} has no podman translation here`);
  if (sc.privileged) flags.push('--privileged');
  for (const cap of sc.capabilities?.drop ?? []) flags.push('--cap-drop', cap);
  for (const cap of sc.capabilities?.add ?? []) flags.push('--cap-add', cap);
  if (sc.allowPrivilegeEscalation === false) flags.push('--security-opt', 'no-new-privileges');
  // podman's --read-only also mounts tmpfs on /run, /tmp and /var/tmp unless told not to: the pod
  // gets writable paths only from its volumes.
  if (sc.readOnlyRootFilesystem) flags.push('--read-only', '--read-only-tmpfs=false');
  if (sc.runAsUser !== undefined) flags.push('--user', String(sc.runAsUser));
  const seccomp = pod.securityContext?.seccompProfile?.type;
  if (seccomp !== undefined && seccomp !== 'RuntimeDefault')
    throw new Error(`seccomp ${seccomp}: not translated`);
  // RuntimeDefault is podman's default seccomp profile: no flag.

  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  for (const m of container.volumeMounts ?? []) {
    const v = volumes.get(m.name);
    if (!v) throw new Error(`volumeMount ${m.name} names no volume`);
    const host = runAs.volumes[m.name];
    if (v.emptyDir && host === undefined) {
      const size = v.emptyDir.sizeLimit
        ? `,size=${v.emptyDir.sizeLimit.replace(/i$/, '').toLowerCase()}`
        : '';
      flags.push('--tmpfs', `${m.mountPath}:rw${size}`);
      continue;
    }
    if (!v.emptyDir && !v.hostPath && !v.configMap) throw new Error(`volume ${m.name}: not translated`);
    if (host === undefined) throw new Error(`volume ${m.name} needs a host directory`);
    const ro = m.readOnly || v.configMap ? 'ro' : 'rw';
    flags.push('--volume', `${host}:${m.mountPath}:${ro}`);
  }
  for (const f of runAs.extraFiles ?? []) flags.push('--volume', `${f.host}:${f.container}:ro`);
  for (const b of runAs.binds ?? []) flags.push('--volume', `${b.host}:${b.container}:rw`);
  for (const e of container.env ?? []) {
    const value = e.value ?? runAs.env[e.name];
    if (value === undefined) throw new Error(`env ${e.name} needs a value for the test`);
    flags.push('--env', `${e.name}=${value}`);
  }
  for (const [name, value] of Object.entries(runAs.env))
    if (!(container.env ?? []).some((e) => e.name === name)) flags.push('--env', `${name}=${value}`);
  return flags;
}

export interface Container {
  name: string;
  proc: Proc;
  /** The container's main process, as the host sees it. */
  pid: number;
  exec(argv: string[], opts?: { check?: boolean }): Promise<ExecResult>;
  stop(timeoutS: number): Promise<ExecResult>;
  remove(): Promise<void>;
}

/** `podman run` in the foreground (its stdout/stderr are the container's), resolved once it runs. */
export async function runContainer(
  image: string,
  pod: V1PodSpec,
  container: V1Container,
  runAs: PodRun,
  opts: { wait?: boolean } = {},
): Promise<Container> {
  const name = `lr-test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const command = container.command ?? [];
  const argv = [
    'podman',
    '--runtime',
    RUNTIME,
    'run',
    '--rm',
    '--name',
    name,
    ...ulimitFlags(),
    ...podmanFlags(pod, container, runAs),
    ...(command.length ? ['--entrypoint', JSON.stringify(command)] : []),
    image,
    ...(container.args ?? []),
    ...(runAs.extraArgs ?? []),
  ];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const proc = new Proc(child, argv.join(' '));
  const handle = (pid: number): Container => ({
    name,
    proc,
    pid,
    exec: (cmd, o) =>
      run(['podman', '--runtime', RUNTIME, 'exec', name, ...cmd], { check: o?.check, timeoutMs: 20_000 }),
    stop: (timeoutS) =>
      run(['podman', 'stop', '--time', String(timeoutS), name], { timeoutMs: (timeoutS + 10) * 1000 }),
    remove: async () => {
      await run(['podman', 'rm', '--force', '--time', '0', name], { check: false });
      await proc.stop().catch(() => undefined);
    },
  });
  // A run-to-completion container (an init container): the caller awaits proc.exited.
  if (opts.wait === false) return handle(0);
  const deadline = Date.now() + 30_000;
  let pid = 0;
  while (!pid) {
    if (proc.status) throw new Error(`podman run exited (${proc.status.code}):\n${proc.stderr}`);
    if (Date.now() > deadline) throw new Error(`the container did not start:\n${proc.stderr}`);
    const r = await run(['podman', 'inspect', '--format', '{{.State.Pid}}', name], { check: false });
    pid = r.code === 0 ? Number(r.stdout.trim()) : 0;
    if (!pid) await new Promise((ok) => setTimeout(ok, 100));
  }
  return handle(pid);
}
