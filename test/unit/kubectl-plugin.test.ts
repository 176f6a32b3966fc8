// The kubectl plugin (bin/kubectl-lan_reflector), run by real kubectl against the fake API server:
// kubectl finds the plugin on PATH, and the plugin's lookups (the pod's node, the agent pod on that
// node by the DaemonSet's labels) are real kubectl requests. The last step, `kubectl exec`, needs
// the API server's streaming protocol (SPDY/WebSocket upgrade), which the fake does not speak, so it
// is checked two ways: `--dry-run` prints the exact command, and with KUBECTL pointing at a wrapper
// that records `exec` argv (and passes every other call to the real kubectl) the command the plugin
// really runs is compared word by word.
import { strict as assert } from 'node:assert';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { writeKubeconfig, type KubeconfigFile } from '../support/kubeconfig.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PLUGIN_DIR = join(ROOT, 'bin');

/** What the DaemonSet says about its pods: namespace, labels, the agent container's name. */
function daemonSet(): { namespace: string; labels: Record<string, string>; container: string } {
  const text = execFileSync('kubectl', ['kustomize', join(ROOT, 'manifests')], { encoding: 'utf8' });
  const ds = parseAllDocuments(text)
    .map((d) => d.toJS() as V1DaemonSet)
    .find((o) => o.kind === 'DaemonSet')!;
  return {
    namespace: ds.metadata!.namespace!,
    labels: ds.spec!.selector.matchLabels!,
    container: ds.spec!.template.spec!.containers[0].name,
  };
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe('kubectl lan-reflector (bin/kubectl-lan_reflector) against the fake API server', function () {
  this.timeout(60_000);
  let fake: FakeApiServer;
  let kubeconfig: KubeconfigFile;
  let home: string;
  let ds: ReturnType<typeof daemonSet>;
  let execLog: string;

  const pod = (
    namespace: string,
    name: string,
    node: string | undefined,
    extra: Partial<V1Pod> = {},
  ): V1Pod => ({
    metadata: { name, namespace, ...extra.metadata },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'i' }] },
    status: { phase: 'Running' },
  });

  /** `kubectl lan-reflector ARGS` with the plugin dir on PATH; env overrides for the plugin. */
  const plugin = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> =>
    new Promise((resolve) => {
      execFile(
        'kubectl',
        ['lan-reflector', ...args],
        {
          env: {
            ...process.env,
            PATH: `${PLUGIN_DIR}:${process.env.PATH}`,
            KUBECONFIG: kubeconfig.path,
            HOME: home, // kubectl's discovery cache goes to $HOME/.kube/cache: keep it per run
            ...env,
          },
          encoding: 'utf8',
        },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  /** KUBECTL for the plugin: records `exec` argv as one JSON line and prints a canned status; else real kubectl. */
  const recorder = (): string => {
    const path = join(home, 'kubectl-recorder');
    writeFileSync(
      path,
      [
        '#!/bin/sh',
        'for a in "$@"; do [ "$a" = exec ] && is_exec=1; done',
        'if [ -n "${is_exec:-}" ]; then',
        `  ${JSON.stringify(process.execPath)} -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- "$@" >>${JSON.stringify(execLog)}`,
        '  printf \'{\\n  "pid": 1,\\n  "pods": []\\n}\\n\'',
        '  exit 0',
        'fi',
        'exec kubectl "$@"',
        '',
      ].join('\n'),
    );
    chmodSync(path, 0o755);
    return path;
  };
  const recorded = (): string[][] =>
    readFileSync(execLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as string[]);

  before(async function () {
    ds = daemonSet();
    fake = await FakeApiServer.start();
    kubeconfig = writeKubeconfig(fake.url);
    home = mkdtempSync(join(tmpdir(), 'lr-plugin-'));
    execLog = join(home, 'exec.log');
    writeFileSync(execLog, '');
    // Two nodes with an agent each, a third without one; an agent-looking pod without the labels.
    for (const node of ['node-a', 'node-b']) {
      fake.createPod(pod(ds.namespace, `lan-reflector-${node}`, node, { metadata: { labels: ds.labels } }));
    }
    fake.createPod(pod(ds.namespace, 'impostor', 'node-a', { metadata: { labels: { app: 'other' } } }));
    fake.createPod(pod('home', 'home-assistant', 'node-b'));
    fake.createPod(pod('home', 'esphome', 'node-c'));
    fake.createPod(pod('home', 'pending', undefined));
  });

  after(async function () {
    await fake?.close();
    kubeconfig?.remove();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('is found by `kubectl plugin list` when the one file is on PATH', async function () {
    const r = await new Promise<string>((resolve) =>
      execFile(
        'kubectl',
        ['plugin', 'list'],
        { env: { ...process.env, PATH: `${PLUGIN_DIR}:${process.env.PATH}`, HOME: home } },
        (_e, out) => resolve(String(out)),
      ),
    );
    assert.match(r, new RegExp(`${PLUGIN_DIR}/kubectl-lan_reflector`));
  });

  it('tail --pod NS/NAME execs `lan-reflector tail` in the agent on that pod’s node, found by the DaemonSet’s labels', async function () {
    const before = fake.requests.length;
    const r = await plugin(['tail', '--pod', 'home/home-assistant', '--drops', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout.trim(),
      `kubectl exec -n ${ds.namespace} -c ${ds.container} lan-reflector-node-b -- lan-reflector tail --drops --pod home/home-assistant`,
    );
    const asked = fake.requests.slice(before);
    assert.ok(
      asked.some((q) => q.startsWith('GET /api/v1/namespaces/home/pods/home-assistant')),
      asked.join('\n'),
    );
    const list = asked.find((q) => q.startsWith(`GET /api/v1/namespaces/${ds.namespace}/pods?`));
    assert.ok(list, asked.join('\n'));
    const params = new URL(list.split(' ')[1], 'http://x').searchParams;
    assert.equal(params.get('fieldSelector'), 'spec.nodeName=node-b');
    assert.deepEqual(
      params.get('labelSelector')!.split(',').sort(),
      Object.entries(ds.labels)
        .map(([k, v]) => `${k}=${v}`)
        .sort(),
    );
  });

  it('runs exactly that command (words kept whole), through KUBECTL', async function () {
    const r = await plugin(['tail', '--pod', 'home/home-assistant', '--service', "it's a _hap._tcp"], {
      KUBECTL: recorder(),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(recorded().pop(), [
      'exec',
      '-n',
      ds.namespace,
      '-c',
      ds.container,
      'lan-reflector-node-b',
      '--',
      'lan-reflector',
      'tail',
      '--service',
      "it's a _hap._tcp",
      '--pod',
      'home/home-assistant',
    ]);
  });

  it('status --all-nodes asks every node’s agent, and with --json prints one object per node', async function () {
    const dry = await plugin(['status', '--all-nodes', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(dry.stdout.trim().split('\n'), [
      `kubectl exec -n ${ds.namespace} -c ${ds.container} lan-reflector-node-a -- lan-reflector status`,
      `kubectl exec -n ${ds.namespace} -c ${ds.container} lan-reflector-node-b -- lan-reflector status`,
    ]);
    const r = await plugin(['status', '--all-nodes', '--json'], { KUBECTL: recorder() });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { node: string; agent: string; status: { pid: number } });
    assert.deepEqual(
      lines.map((l) => [l.node, l.agent, l.status.pid]),
      [
        ['node-a', 'lan-reflector-node-a', 1],
        ['node-b', 'lan-reflector-node-b', 1],
      ],
    );
    const text = await plugin(['status', '--all-nodes'], { KUBECTL: recorder() });
    assert.match(text.stdout, /^== node node-a \(agent lan-reflector-node-a\) ==$/m);
    assert.match(text.stdout, /^== node node-b \(agent lan-reflector-node-b\) ==$/m);
  });

  it('status --node NODE and --pod NS/NAME pick that node’s agent; `agents` lists them all', async function () {
    const byNode = await plugin(['status', '--node', 'node-a', '--json', '--dry-run']);
    assert.match(byNode.stdout, /lan-reflector-node-a -- lan-reflector status --json$/m);
    const byPod = await plugin(['status', '--pod', 'home/home-assistant', '--dry-run']);
    assert.match(byPod.stdout, /lan-reflector-node-b -- lan-reflector status$/m);
    const agents = await plugin(['agents']);
    assert.deepEqual(agents.stdout.trim().split('\n'), [
      'NODE\tAGENT',
      'node-a\tlan-reflector-node-a',
      'node-b\tlan-reflector-node-b',
    ]);
  });

  it('refuses to guess: status without a node on a cluster of several, tail without a pod', async function () {
    const status = await plugin(['status', '--dry-run']);
    assert.notEqual(status.code, 0);
    assert.match(status.stderr, /2 agents.*--all-nodes/);
    const tail = await plugin(['tail', '--dry-run']);
    assert.notEqual(tail.code, 0);
    assert.match(tail.stderr, /tail wants --pod NAMESPACE\/NAME/);
  });

  it('says why when the pod is missing, not scheduled, or on a node without an agent', async function () {
    const missing = await plugin(['tail', '--pod', 'home/nope', '--dry-run']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /pod home\/nope: not found/);
    const pending = await plugin(['tail', '--pod', 'home/pending', '--dry-run']);
    assert.notEqual(pending.code, 0);
    assert.match(pending.stderr, /not scheduled on a node yet/);
    const orphan = await plugin(['tail', '--pod', 'home/esphome', '--dry-run']);
    assert.notEqual(orphan.code, 0);
    assert.match(orphan.stderr, /no lan-reflector agent on node node-c/);
    assert.equal(orphan.stdout, '', 'no exec command after a failed lookup');
  });
});
