/**
 * A pod that moves between nodes with `ipam.store: kubernetes` (issue 11), judged from the LAN: a
 * device pings the pod's address and asks who has it (arping) before and after. Two real agents, one
 * per node namespace, share the pool through the fake API server; Debian's ptp calls
 * lan-reflector-ipam as its `ipam`, as a runtime would; the pod pins its address with the annotation
 * (the same address on whichever node it lands), so the old node must stop answering for it and the
 * new one start.
 *
 * Twice: once with the runtime's DEL on the old node (the normal path), once without (the old node's
 * runtime never said: the garbage collector frees the address after its grace period, and the
 * proxy entry goes with it; until then the new node's ADD fails with error 11 and is retried).
 */
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { cniOk, netConf, ourIpam, podAddress, runCni } from '../support/cni.js';
import { FakeApiProcess } from '../support/fake-api-client.js';
import { ipamCrds } from '../support/ipam-crds.js';
import { startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { writeKubeconfig, type KubeconfigFile } from '../support/kubeconfig.js';
import { arpingMacs, cniBed, macOf, neighbourMac, nodeAddress, type CniBed } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const PINNED = '198.18.4.140';
const ANNOTATION = 'lan-reflector.io/lan-address';

describeAsRoot(
  'a pod moving between nodes with the Kubernetes store: reachable, answered by its new node only',
  function () {
    this.timeout(240_000);
    let bed: CniBed;
    let fake: FakeApiProcess;
    let kubeconfig: KubeconfigFile;
    const agents: IpamAgent[] = [];
    const macs: string[] = [];
    let n = 0;

    const ptp = (k: number) => netConf('ptp', ourIpam(agents[k - 1].socket), { extra: { ipMasq: false } });

    /** Schedules the pod on node k: the API object, a namespace, ptp ADD (retried while it says 11). */
    async function schedule(
      k: number,
    ): Promise<{ ns: string; containerId: string; uid: string; attempts: number }> {
      const pod = await fake.api.createPod({
        metadata: { namespace: 'home', name: 'home-assistant-0', annotations: { [ANNOTATION]: PINNED } },
        spec: { nodeName: `node${k}`, containers: [{ name: 'ha', image: 'i' }] },
      });
      const uid = pod.metadata!.uid!;
      const ns = await bed.podNs(k);
      const containerId = `${bed.prefix}ha${++n}`;
      const call = {
        plugin: 'ptp',
        command: 'ADD' as const,
        config: ptp(k),
        containerId,
        netns: ns,
        ifname: 'eth0',
        args: { K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: 'home-assistant-0', K8S_POD_UID: uid },
      };
      const deadline = Date.now() + 30_000;
      let attempts = 0;
      for (;;) {
        attempts++;
        const r = await runCni(bed, `node${k}`, call);
        if (r.code === 0) break;
        // The address is still held by the pod's previous life: a transient error, retried by kubelet.
        assert.equal(r.json?.code, 11, `ADD on node${k}: ${r.stdout}`);
        if (Date.now() > deadline) throw new Error(`ADD on node${k} kept failing: ${r.stdout}`);
        // ptp may have left the veth behind after the failed ADD: the runtime's DEL cleans up.
        await runCni(bed, `node${k}`, { ...call, command: 'DEL' });
        await sleep(500);
      }
      const a = await podAddress(bed, ns);
      assert.equal(a?.local, PINNED);
      return { ns, containerId, uid, attempts };
    }

    async function answeredBy(k: number): Promise<void> {
      // A device's ping reaches it; the device's neighbour entry, and every ARP answer, is node k's.
      assert.ok(
        await bed.ping('dev1', PINNED, { count: 2, timeoutS: 3 }),
        `dev1 cannot ping ${PINNED} on node${k}`,
      );
      assert.equal(await neighbourMac(bed, 'dev1', PINNED), macs[k - 1]);
      assert.deepEqual([...new Set(await arpingMacs(bed, 'dev2', PINNED, { count: 3 }))], [macs[k - 1]]);
    }

    before(async () => {
      bed = await cniBed({ devices: 2, nodes: 2 });
      fake = await FakeApiProcess.start(bed, 'node1', nodeAddress(1));
      for (const crd of ipamCrds()) await fake.api.registerCrd(crd);
      kubeconfig = writeKubeconfig(fake.url);
      for (let k = 1; k <= 2; k++) {
        macs.push(await macOf(bed, `node${k}`, 'lan0'));
        await fake.api.createPod({
          metadata: { namespace: 'lan-reflector', name: `lan-reflector-node${k}` },
          spec: { nodeName: `node${k}`, containers: [{ name: 'agent', image: 'i' }] },
        });
        const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig.path, NODE_NAME: `node${k}` };
        delete env.KUBERNETES_SERVICE_HOST;
        agents.push(
          await startIpamAgent(bed, `node${k}`, {
            ipam: {
              subnet: '198.18.4.0/24',
              ranges: ['198.18.4.128-198.18.4.191'],
              blockSize: 27,
              probe: { enabled: true, timeoutMs: 200 },
              store: { kind: 'kubernetes', gcGraceSeconds: 2, gcIntervalSeconds: 1 },
            },
            args: ['--kubernetes'],
            env,
          }),
        );
      }
    });
    after(async () => {
      for (const a of agents) await a.stop().catch(() => {});
      await fake?.stop();
      kubeconfig?.remove();
      for (const a of agents) a.remove();
      await bed?.teardown();
    });

    it('deleted on node1 (with its DEL) and recreated on node2: reachable, and only node2 answers ARP', async () => {
      const first = await schedule(1);
      await answeredBy(1);
      await cniOk(bed, 'node1', {
        plugin: 'ptp',
        command: 'DEL',
        config: ptp(1),
        containerId: first.containerId,
        netns: first.ns,
        ifname: 'eth0',
        args: { K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: 'home-assistant-0', K8S_POD_UID: first.uid },
      });
      await fake.api.deletePod('home', 'home-assistant-0');
      await schedule(2);
      await answeredBy(2);
    });

    it('moved back without a DEL on node2: GC frees it there, node2 stops answering, node1 serves it', async () => {
      const onNode2 = (await fake.api.list('ipallocations.ipam.lan-reflector.io')).find(
        (a) => a.spec.address === PINNED,
      );
      assert.equal(onNode2?.spec.node, 'node2');
      // node2's runtime never reports the pod's end: its veth simply goes (the node lost it), the
      // allocation and the proxy entry stay until the garbage collector sees the pod gone.
      const ns2 = `n2p1`;
      await bed.ip(ns2, ['link', 'del', 'eth0']);
      await fake.api.deletePod('home', 'home-assistant-0');
      const back = await schedule(1);
      assert.ok(back.attempts > 1, 'the first ADD found the address still held by the lost pod');
      await answeredBy(1);
      const proxy = await bed.ip('node2', ['-j', 'neigh', 'show', 'proxy']);
      assert.ok(!proxy.stdout.includes(PINNED), `node2 still has a proxy entry: ${proxy.stdout}`);
    });

    it('with the API down: a new ADD fails within 2 s with error 11, the pod stays reachable, and ADDs work again once it is back', async () => {
      await fake.api.pause();
      try {
        const ns = await bed.podNs(2);
        const call = {
          plugin: 'ptp',
          command: 'ADD' as const,
          config: ptp(2),
          containerId: `${bed.prefix}outage`,
          netns: ns,
          ifname: 'eth0',
          args: { K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: 'new-during-outage' },
        };
        const r = await runCni(bed, 'node2', call);
        assert.equal(r.json?.code, 11, r.stdout);
        assert.ok(r.ms < 2000, `failed after ${r.ms.toFixed(0)} ms`);
        await runCni(bed, 'node2', { ...call, command: 'DEL' }); // the runtime's clean-up succeeds too
        await answeredBy(1); // kernel state: the proxy entry and the route keep answering
      } finally {
        await fake.api.resume();
      }
      await fake.api.createPod({
        metadata: { namespace: 'home', name: 'after-outage', annotations: { [ANNOTATION]: 'true' } },
        spec: { nodeName: 'node2', containers: [{ name: 'c', image: 'i' }] },
      });
      const ns = await bed.podNs(2);
      const deadline = Date.now() + 20_000;
      for (;;) {
        const r = await runCni(bed, 'node2', {
          plugin: 'ptp',
          command: 'ADD',
          config: ptp(2),
          containerId: `${bed.prefix}after`,
          netns: ns,
          ifname: 'eth0',
          args: { K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: 'after-outage' },
        });
        if (r.code === 0) break;
        assert.equal(r.json?.code, 11, r.stdout);
        assert.ok(Date.now() < deadline, 'ADDs still fail after the API came back');
        await sleep(500);
      }
      const a = await podAddress(bed, ns);
      assert.ok(a && a.local !== PINNED, `a new address: ${a?.local}`);
    });
  },
);
