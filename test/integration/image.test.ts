/**
 * The container image, built and run: docker/Dockerfile is built with buildah (on a local bookworm
 * + Node 22 base, see test/support/image.ts), and the agent runs FROM THAT IMAGE under podman with
 * the DaemonSet's own pod spec translated to podman flags: the node's network namespace, all
 * capabilities dropped but NET_RAW and NET_ADMIN, no privilege escalation, a read-only root, the
 * ConfigMap, hostPath and emptyDir volumes, and the container's command and args with
 * `--kubernetes` (the fake API server, in the node namespace, plays the cluster). A pod that opted in
 * then discovers a LAN device (python3-zeroconf) through it.
 *
 * Slow on purpose (about a minute on a warm machine, a few on a fresh one): it builds the image.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import type { V1ConfigMap, V1Container, V1DaemonSet, V1PodSpec } from '@kubernetes/client-node';
import { CLI } from '../support/agent.js';
import { FakeApiProcess } from '../support/fake-api-client.js';
import {
  buildImage,
  measureImage,
  runContainer,
  ROOT,
  TEST_IMAGE,
  type Container,
  type ImageSize,
} from '../support/image.js';
import { writeKubeconfig, type KubeconfigFile } from '../support/kubeconfig.js';
import { calicoBed, run, type CalicoBed } from '../support/netns.js';
import { browse, publish, type Published } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';

const NODE = 'node1';
const NAMESPACE = 'home';
const NET_ADMIN = 12; // capability numbers, linux/capability.h
const NET_RAW = 13;

/** The rendered base: the DaemonSet's pod spec, its agent container, and the ConfigMap's config.yaml. */
function renderedDaemonSet(): { pod: V1PodSpec; agent: V1Container; config: string; grace: number } {
  const text = execFileSync('kubectl', ['kustomize', join(ROOT, 'manifests')], { encoding: 'utf8' });
  const objects = parseAllDocuments(text).map((d) => d.toJS() as { kind: string });
  const ds = objects.find((o) => o.kind === 'DaemonSet') as V1DaemonSet;
  const cm = objects.find((o) => o.kind === 'ConfigMap') as V1ConfigMap;
  const pod = ds.spec!.template.spec!;
  const agent = pod.containers.find((c) => c.name === 'agent')!;
  return { pod, agent, config: cm.data!['config.yaml'], grace: pod.terminationGracePeriodSeconds ?? 30 };
}

/** The `Cap*:` masks and a few other fields of /proc/PID/status. */
function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(\w+):\s*(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** The published figures in docker/README.md: "measured: N MB on disk, M MB compressed". */
function publishedSize(): { mb: number; compressedMb: number } {
  const text = readFileSync(join(ROOT, 'docker', 'README.md'), 'utf8');
  const m = /measured: \*\*([\d.]+) MB\*\* on disk, \*\*([\d.]+) MB\*\* compressed/.exec(text);
  assert.ok(m, 'docker/README.md publishes "measured: **N MB** on disk, **M MB** compressed"');
  return { mb: Number(m[1]), compressedMb: Number(m[2]) };
}

describeAsRoot(
  'the container image, built from docker/Dockerfile and run as the DaemonSet runs it',
  function () {
    this.timeout(120_000);
    let bed: CalicoBed;
    let fake: FakeApiProcess;
    let kubeconfig: KubeconfigFile;
    let device: Published;
    let container: Container;
    let scratch: string;
    let size: ImageSize;
    let grace: number;

    before(async function () {
      this.timeout(20 * 60_000); // a fresh machine downloads Debian, Node and node_modules
      const image = await buildImage();
      console.log(
        `      built ${image.name} (base ${image.took.base.toFixed(0)} s, image ${image.took.build.toFixed(0)} s)`,
      );
      scratch = mkdtempSync(join(tmpdir(), 'lr-image-'));
      size = await measureImage(image.name, join(scratch, 'oci'));
      rmSync(join(scratch, 'oci'), { recursive: true, force: true });
      console.log(
        `      image: ${(size.bytes / 1e6).toFixed(1)} MB on disk, ${(size.compressedBytes / 1e6).toFixed(1)} MB compressed, ${size.layers} layers`,
      );

      bed = await calicoBed({ devices: 1, podsPerNode: 2, podAddressing: 'lan' });
      fake = await FakeApiProcess.start(bed, NODE);
      kubeconfig = writeKubeconfig(fake.url);
      const [p1, p2] = bed.nodes[0].pods;
      for (const [name, p, annotations] of [
        ['home-assistant', p1, { 'lan-reflector.io/enabled': 'true' }],
        ['other', p2, undefined],
      ] as const) {
        await fake.api.createPod({
          metadata: { name, namespace: NAMESPACE, annotations },
          spec: { nodeName: NODE, containers: [{ name: 'app', image: 'example' }] },
          status: { phase: 'Running', podIP: p.address, podIPs: [{ ip: p.address }] },
        });
      }
      device = await publish(bed, bed.devices[0].ns, {
        name: 'Speaker',
        port: 1400,
        address: bed.devices[0].address,
      });

      const rendered = renderedDaemonSet();
      grace = rendered.grace;
      // The ConfigMap as an operator would edit it: lanInterface is this bed's LAN link.
      const config = parse(rendered.config) as Record<string, unknown>;
      config.lanInterface = 'lan0';
      mkdirSync(join(scratch, 'config'));
      mkdirSync(join(scratch, 'run'), { mode: 0o755 });
      writeFileSync(join(scratch, 'config', 'config.yaml'), stringify(config));
      const volumeFor = (pred: (v: NonNullable<V1PodSpec['volumes']>[number]) => boolean): string =>
        rendered.pod.volumes!.find(pred)!.name;
      container = await runContainer(image.name, rendered.pod, rendered.agent, {
        netns: bed.ns(NODE),
        volumes: {
          [volumeFor((v) => v.configMap !== undefined)]: join(scratch, 'config'),
          [volumeFor((v) => v.hostPath?.path === '/run/lan-reflector')]: join(scratch, 'run'),
        },
        // The downward API's NODE_NAME; outside a cluster the agent finds its API server by KUBECONFIG.
        env: { NODE_NAME: NODE, KUBECONFIG: '/etc/lan-reflector-test/kubeconfig' },
        extraFiles: [{ host: kubeconfig.path, container: '/etc/lan-reflector-test/kubeconfig' }],
      });
      await container.proc.waitForLine(/"message":"agent started"/, { stream: 'stderr', timeoutMs: 30_000 });
      await container.proc.waitForLine(/"message":"link opened".*cali|cali.*"message":"link opened"/, {
        stream: 'stderr',
        timeoutMs: 30_000,
      });
    });

    after(async function () {
      await container?.remove();
      await device?.stop().catch(() => undefined);
      await fake?.stop().catch(() => undefined);
      kubeconfig?.remove();
      await bed?.teardown();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    });

    it('runs the agent as uid 0 holding only NET_RAW and NET_ADMIN, with no_new_privs and seccomp', function () {
      const s = procStatus(container.pid);
      assert.match(s.Name, /^node/, `the container's process is the agent's node (${s.Name})`);
      const want = ((1n << BigInt(NET_RAW)) | (1n << BigInt(NET_ADMIN))).toString(16).padStart(16, '0');
      for (const set of ['CapEff', 'CapPrm', 'CapBnd']) assert.equal(s[set], want, set);
      assert.equal(s.CapAmb, '0000000000000000');
      assert.equal(s.CapInh, '0000000000000000');
      assert.equal(s.NoNewPrivs, '1');
      assert.equal(s.Seccomp, '2', 'a seccomp filter (the runtime default profile)');
      assert.equal(s.Uid.split(/\s+/)[0], '0');
    });

    it('has a read-only root filesystem, and writes only to its volumes', async function () {
      const root = readFileSync(`/proc/${container.pid}/mountinfo`, 'utf8')
        .split('\n')
        .find((l) => l.split(' ')[4] === '/');
      assert.ok(root, 'the container has a root mount');
      assert.match(root.split(' ')[5], /(^|,)ro(,|$)/, `root is mounted ro: ${root}`);
      const write = await container.exec(['sh', '-c', 'echo x > /app/probe'], { check: false });
      assert.notEqual(write.code, 0);
      assert.match(write.stderr, /Read-only file system/);
      const tmp = await container.exec(['sh', '-c', 'echo x > /tmp/probe && cat /tmp/probe'], {
        check: false,
      });
      assert.equal(tmp.stdout.trim(), 'x', `the emptyDir /tmp is writable: ${tmp.stderr}`);
    });

    it('lets a pod that opted in discover a LAN device through it, with the device’s address', async function () {
      const [p1] = bed.nodes[0].pods;
      const found = await browse(bed, p1.ns, { address: p1.address, count: 1, timeoutS: 10 });
      const speaker = found.find((r) => r.name === device.name);
      assert.ok(speaker, `the pod resolved nothing: ${JSON.stringify(found)}\n${container.proc.stderr}`);
      assert.deepEqual(speaker.addresses, [bed.devices[0].address]);
    });

    it('relays nothing to a pod of the same node that did not opt in', async function () {
      const [, p2] = bed.nodes[0].pods;
      const found = await browse(bed, p2.ns, { address: p2.address, timeoutS: 3 });
      assert.deepEqual(
        found.map((r) => r.name),
        [],
      );
    });

    it('serves /readyz and /metrics on the DaemonSet’s port, and the debug CLI answers in the image and on the node', async function () {
      const port = rendered().port;
      const get = async (path: string) => {
        const argv = ['curl', '-s', '-m', '2', '-w', '\n%{http_code}', `http://127.0.0.1:${port}${path}`];
        const { stdout } = await bed.exec(NODE, argv, { check: false });
        const lines = stdout.split('\n');
        return { code: Number(lines.pop()), body: lines.join('\n') };
      };
      assert.equal((await get('/readyz')).code, 200);
      const metrics = await get('/metrics');
      assert.match(metrics.body, /^lan_reflector_opted_in_pods 1$/m);
      assert.match(metrics.body, /^lan_reflector_relayed_pods 1$/m);

      // `kubectl exec ... -- lan-reflector status` runs this inside the container.
      const inImage = await container.exec(['lan-reflector', 'status', '--json']);
      const status = JSON.parse(inImage.stdout) as {
        pid: number;
        pods: Array<{ name: string; addresses: string[] }>;
      };
      assert.deepEqual(
        status.pods.map((p) => p.addresses),
        [[bed.nodes[0].pods[0].address]],
      );
      assert.match(status.pods[0].name, /home-assistant/);
      // On the node, through the hostPath the control socket lives on.
      const onNode = await run(
        CLI(['status', '--json', '--control-socket', join(scratch, 'run', 'control.sock')]),
      );
      assert.equal((JSON.parse(onNode.stdout) as { pid: number }).pid, status.pid, 'the same agent');
    });

    it('carries the static CNI IPAM shim, which `lan-reflector install-cni` copies onto the host and which runs there', async function () {
      const binDir = join(scratch, 'cni-bin');
      mkdirSync(binDir);
      // As an init container would run it: the same image and restrictions, the host's CNI bin dir mounted.
      const { pod, agent } = renderedDaemonSet();
      const init = await runContainer(
        TEST_IMAGE,
        pod,
        {
          ...agent,
          name: 'install-cni',
          args: ['install-cni', '--bin-dir', '/host/opt/cni/bin'],
          volumeMounts: [],
          env: [],
        },
        {
          netns: bed.ns(NODE),
          volumes: {},
          env: {},
          extraFiles: [],
          binds: [{ host: binDir, container: '/host/opt/cni/bin' }],
        },
        { wait: false },
      );
      const status = await init.proc.exited;
      assert.equal(status.code, 0, `install-cni failed:\n${init.proc.stdout}${init.proc.stderr}`);
      const shim = join(binDir, 'lan-reflector-ipam');
      const elf = readFileSync(shim);
      assert.equal(elf.subarray(1, 4).toString(), 'ELF');
      const interp = await run(['readelf', '--program-headers', shim]);
      assert.doesNotMatch(interp.stdout, /INTERP/, 'statically linked: no program interpreter');
      const version = await run([shim], { env: { CNI_COMMAND: 'VERSION' }, check: false });
      assert.deepEqual(
        JSON.parse(version.stdout).supportedVersions.includes('1.0.0'),
        true,
        version.stdout + version.stderr,
      );
    });

    it('is the size docker/README.md publishes (within 5%)', function () {
      const published = publishedSize();
      const mb = size.bytes / 1e6;
      const compressedMb = size.compressedBytes / 1e6;
      assert.ok(
        Math.abs(mb - published.mb) / published.mb < 0.05,
        `measured ${mb.toFixed(1)} MB, published ${published.mb} MB`,
      );
      assert.ok(
        Math.abs(compressedMb - published.compressedMb) / published.compressedMb < 0.05,
        `measured ${compressedMb.toFixed(1)} MB compressed, published ${published.compressedMb} MB`,
      );
    });

    it('stops with exit 0 on SIGTERM, well within terminationGracePeriodSeconds', async function () {
      const t0 = Date.now();
      await container.stop(grace);
      const status = await container.proc.exited;
      const took = Date.now() - t0;
      assert.equal(
        status.code,
        0,
        `podman run exited ${status.code ?? status.signal}:\n${container.proc.stderr}`,
      );
      assert.ok(took < grace * 1000, `took ${took} ms (grace ${grace} s)`);
    });
  },
);

/** The metrics port the DaemonSet's args name. */
function rendered(): { port: number } {
  const { agent } = renderedDaemonSet();
  const args = agent.args ?? [];
  return { port: Number(args[args.indexOf('--metrics-address') + 1].split(':').pop()) };
}
