/**
 * `lan-reflector ipam migrate` (issue 11): a node whose agent ran the file store moves its
 * allocations into the Kubernetes store without changing any address. The real agent gives the
 * addresses on the file store; the real CLI migrates (twice: it is idempotent); the agent then runs
 * with `ipam.store: kubernetes`, and both it and a second node's agent must treat every migrated
 * address as taken.
 */
import assert from 'node:assert/strict';
import { CLI } from '../support/agent.js';
import { FakeApiProcess } from '../support/fake-api-client.js';
import { ALLOCATIONS_RESOURCE, ipamCrds } from '../support/ipam-crds.js';
import { ipamDir, startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { cniOverSocket } from '../support/ipam-socket.js';
import { writeKubeconfig, type KubeconfigFile } from '../support/kubeconfig.js';
import { calicoBed, nodeAddress, run, type CalicoBed } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';
import { netConf, ourIpam } from '../support/cni.js';

const POOL = { subnet: '198.18.4.0/23', ranges: ['198.18.5.0/24'], probe: false, blockSize: 27 };
const KUBE_STORE = { kind: 'kubernetes', gcGraceSeconds: 600, gcIntervalSeconds: 60 };
const PODS = 20;

describeAsRoot(
  'ipam migrate: from the file store into the Kubernetes store, every address kept',
  function () {
    this.timeout(180_000);
    let bed: CalicoBed;
    let fake: FakeApiProcess;
    let kubeconfig: KubeconfigFile;
    const dirs: string[] = [];
    const agents: IpamAgent[] = [];
    const env = (node: string): NodeJS.ProcessEnv => {
      const e: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig.path, NODE_NAME: node };
      delete e.KUBERNETES_SERVICE_HOST;
      return e;
    };

    before(async () => {
      bed = await calicoBed({ nodes: 2, devices: 1, podsPerNode: 0, podAddressing: 'lan' });
      fake = await FakeApiProcess.start(bed, 'node1', nodeAddress(1));
      for (const crd of ipamCrds()) await fake.api.registerCrd(crd);
      kubeconfig = writeKubeconfig(fake.url);
      for (const node of ['node1', 'node2'])
        await fake.api.createPod({
          metadata: { namespace: 'lan-reflector', name: `lan-reflector-${node}` },
          spec: { nodeName: node, containers: [{ name: 'agent', image: 'i' }] },
        });
    });
    after(async () => {
      for (const a of agents) await a.stop().catch(() => {});
      await fake?.stop();
      kubeconfig?.remove();
      for (const a of agents) a.remove();
      await bed?.teardown();
    });

    it('keeps every address, twice over, and the cluster never hands one out again', async () => {
      const dir = ipamDir();
      dirs.push(dir);
      const pods = [];
      for (let i = 0; i < PODS; i++) {
        const p = await fake.api.createPod({
          metadata: {
            namespace: 'home',
            name: `app-${i}`,
            annotations: { 'lan-reflector.io/lan-address': 'true' },
          },
          spec: { nodeName: 'node1', containers: [{ name: 'c', image: 'i' }] },
        });
        pods.push({ K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: `app-${i}`, K8S_POD_UID: p.metadata!.uid! });
      }
      // 1. The node on the file store.
      const onFile = await startIpamAgent(bed, 'node1', { ipam: POOL }, dir);
      const conf = netConf('ptp', ourIpam(onFile.socket));
      const given = new Map<string, string>(); // containerId → address
      for (let i = 0; i < PODS; i++) {
        const r = await cniOverSocket(onFile.socket, {
          command: 'ADD',
          containerId: `mig-${i}`,
          args: pods[i],
          config: conf,
        });
        assert.equal(r.code, 0, r.stdout);
        given.set(`mig-${i}`, String(r.json.ips[0].address).split('/')[0]);
      }
      await onFile.stop();

      // 2. migrate, twice.
      const migrate = () =>
        run(
          [
            'ip',
            'netns',
            'exec',
            bed.ns('node1'),
            ...CLI(['ipam', 'migrate', '--config', onFile.configPath, '--from', onFile.store]),
          ],
          { env: env('node1'), check: false },
        );
      const first = await migrate();
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, new RegExp(`migrated ${PODS}, already in the cluster store 0`));
      const again = await migrate();
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, new RegExp(`migrated 0, already in the cluster store ${PODS}`));
      const inApi = (await fake.api.list(ALLOCATIONS_RESOURCE)) as Array<{
        spec: { address: string; containerId: string; node: string };
      }>;
      assert.deepEqual(
        inApi.map((a) => `${a.spec.containerId} ${a.spec.address} ${a.spec.node}`).sort(),
        [...given].map(([c, a]) => `${c} ${a} node1`).sort(),
      );

      // 3. The same node on the Kubernetes store: the same addresses for the same attachments.
      const onKube = await startIpamAgent(
        bed,
        'node1',
        { ipam: { ...POOL, store: KUBE_STORE }, args: ['--kubernetes'], env: env('node1') },
        dir,
      );
      agents.push(onKube);
      const listed = JSON.parse(
        (await run(CLI(['ipam', 'list', '--json', '--control-socket', onKube.controlSocket]))).stdout,
      ) as { allocations: Array<{ address: string; owner: { containerId: string } }> };
      assert.deepEqual(
        listed.allocations.map((a) => `${a.owner.containerId} ${a.address}`).sort(),
        [...given].map(([c, a]) => `${c} ${a}`).sort(),
      );
      for (let i = 0; i < PODS; i += 5) {
        const r = await cniOverSocket(onKube.socket, {
          command: 'ADD',
          containerId: `mig-${i}`,
          args: pods[i],
          config: conf,
        });
        assert.equal(
          String(r.json.ips[0].address).split('/')[0],
          given.get(`mig-${i}`),
          'a retried ADD keeps its address',
        );
      }

      // 4. New pods, on this node and on another: never a migrated address.
      const dir2 = ipamDir();
      dirs.push(dir2);
      const node2 = await startIpamAgent(
        bed,
        'node2',
        { ipam: { ...POOL, store: KUBE_STORE }, args: ['--kubernetes'], env: env('node2') },
        dir2,
      );
      agents.push(node2);
      const migrated = new Set(given.values());
      const fresh = new Set<string>();
      for (let i = 0; i < 30; i++) {
        const [agent, node] = i % 2 ? [node2, 'node2'] : [onKube, 'node1'];
        const p = await fake.api.createPod({
          metadata: {
            namespace: 'home',
            name: `new-${i}`,
            annotations: { 'lan-reflector.io/lan-address': 'true' },
          },
          spec: { nodeName: node, containers: [{ name: 'c', image: 'i' }] },
        });
        const args = { K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: `new-${i}`, K8S_POD_UID: p.metadata!.uid! };
        const r = await cniOverSocket(agent.socket, {
          command: 'ADD',
          containerId: `new-${i}`,
          args,
          config: netConf('ptp', ourIpam(agent.socket)),
        });
        assert.equal(r.code, 0, r.stdout);
        const address = String(r.json.ips[0].address).split('/')[0];
        assert.ok(!migrated.has(address), `${address} was migrated, and handed out again`);
        assert.ok(!fresh.has(address), `${address} twice`);
        fresh.add(address);
      }
    });
  },
);
