// Garbage collection of the Kubernetes store, as a story with a clock the test moves: what is freed,
// when, and above all what is never freed (a live pod's address, however late it shows up).
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import type { FakeApiServer } from '../../support/fake-apiserver.js';
import { ALLOCATIONS_RESOURCE, BLOCKS_RESOURCE } from '../../support/ipam-crds.js';
import { clientIpamApi } from '../../../src/ipam/store/kube-api.js';
import { KubeGc } from '../../../src/ipam/store/kube-gc.js';
import { judge } from '../../../src/ipam/store/kube-gc-judge.js';
import type { AllocationObject } from '../../../src/ipam/store/kube-objects.js';
import type { KubeStore } from '../../../src/ipam/store/kube-store.js';
import { recordingLogger } from '../pods/helpers.js';
import { assign, makeStore, startFake } from './kube-store-helpers.js';

const GRACE = 60_000;

describe('garbage collection of the Kubernetes store', function () {
  this.timeout(20_000);

  describe('judging one allocation by its pod', () => {
    const alloc = (pod?: { uid?: string }, created = '2026-12-01T10:00:00Z'): AllocationObject => ({
      apiVersion: 'ipam.lan-reflector.io/v1alpha1',
      kind: 'IPAllocation',
      metadata: { name: '198.18.5.1', creationTimestamp: created },
      spec: {
        address: '198.18.5.1',
        node: 'a',
        network: 'lan',
        containerId: 'c',
        ifname: 'eth0',
        since: created,
        source: 'pool',
        ...(pod && { pod: { namespace: 'home', name: 'db-0', ...pod } }),
      },
    });
    const pod = (uid: string, created = '2026-12-01T09:00:00Z'): V1Pod => ({
      metadata: { namespace: 'home', name: 'db-0', uid, creationTimestamp: created as any },
    });
    const cases: Array<[string, AllocationObject, V1Pod | undefined, 'alive' | 'gone']> = [
      ['its pod, same UID: alive', alloc({ uid: 'u1' }), pod('u1'), 'alive'],
      ['a StatefulSet pod recreated under its name (new UID): gone', alloc({ uid: 'u1' }), pod('u2'), 'gone'],
      ['no pod of that name: gone', alloc({ uid: 'u1' }), undefined, 'gone'],
      [
        'no UID recorded, a pod of that name from before the allocation: alive',
        alloc({}),
        pod('u9'),
        'alive',
      ],
      [
        'no UID recorded, a pod of that name made after the allocation: gone',
        alloc({}),
        pod('u9', '2026-12-01T11:00:00Z'),
        'gone',
      ],
      [
        'no UID recorded, pod made in the same second: alive (cannot tell)',
        alloc({}),
        pod('u9', '2026-12-01T10:00:00Z'),
        'alive',
      ],
      ['no pod named at all: never judged by a pod', alloc(undefined), undefined, 'alive'],
    ];
    for (const [desc, a, p, want] of cases) it(desc, () => assert.equal(judge(a, p), want));
  });

  describe('against the API', () => {
    let fake: FakeApiServer;
    let now = 0;
    const stores: KubeStore[] = [];
    const gcs: Array<{ gc: KubeGc; collected: string[] }> = [];
    const node = async (name: string) => {
      const store = makeStore(fake, name);
      stores.push(store);
      await store.start();
      fake.createPod({
        metadata: { namespace: 'lan-reflector', name: `agent-${name}` },
        spec: { nodeName: name, containers: [] },
      });
      const collected: string[] = [];
      const gc = new KubeGc({
        api: clientIpamApi(fake.kubeConfig(), 800),
        store,
        logger: recordingLogger().logger,
        graceMs: GRACE,
        intervalMs: 1_000_000,
        onCollected: (a) => collected.push(a.address),
        clock: () => now,
      });
      gcs.push({ gc, collected });
      return { store, gc, collected };
    };
    const podOn = (nodeName: string, name: string): V1Pod =>
      fake.createPod({ metadata: { namespace: 'home', name }, spec: { nodeName, containers: [] } });
    const withPod = (p: V1Pod) => ({
      pod: { namespace: 'home', name: p.metadata!.name!, uid: p.metadata!.uid },
    });
    const exists = (address: string) => fake.get(ALLOCATIONS_RESOURCE, '', address) !== undefined;

    beforeEach(async () => {
      fake = await startFake();
      now = 0;
    });
    afterEach(async () => {
      for (const s of stores.splice(0)) await s.close();
      gcs.splice(0);
      await fake.close();
    });

    it('frees the address of a deleted pod only after the grace period and a second look, and tells the announcer', async () => {
      const { store, gc, collected } = await node('node-a');
      const p = podOn('node-a', 'ha');
      const address = await assign(store, 'c1', withPod(p));
      const keep = await assign(store, 'c2', withPod(podOn('node-a', 'other')));
      fake.deletePod('home', 'ha');
      assert.deepEqual((await gc.pass()).allocationsFreed, [], 'first sight: a candidate only');
      now += GRACE - 1;
      assert.deepEqual((await gc.pass()).allocationsFreed, [], 'within the grace period');
      now += 2;
      assert.deepEqual((await gc.pass()).allocationsFreed, [address]);
      assert.equal(exists(address), false);
      assert.equal(exists(keep), true, 'the live pod’s address stays');
      assert.deepEqual(collected, [address]);
      assert.deepEqual(
        (await store.list()).map((a) => a.address),
        [keep],
      );
    });

    it('never frees a live pod whose watch events lag, nor when the pod list fails', async () => {
      const { store, gc } = await node('node-a');
      fake.delayWatch('pods', 600_000); // a watch-fed cache would not have these pods for ten minutes
      const addresses = [
        await assign(store, 'c1', withPod(podOn('node-a', 'new-1'))),
        await assign(store, 'c2', withPod(podOn('node-a', 'new-2'))),
      ];
      for (let i = 0; i < 4; i++) {
        now += GRACE + 1;
        assert.deepEqual((await gc.pass()).allocationsFreed, []);
      }
      // A pod list that fails is no empty list: the pass stops, nothing is judged by it.
      fake.inject({ match: '^GET /api/v1/pods', status: 503, times: 3 });
      for (let i = 0; i < 3; i++) {
        now += GRACE + 1;
        assert.deepEqual((await gc.pass()).allocationsFreed, []);
      }
      assert.ok(addresses.every(exists));
    });

    it('frees the old address of a StatefulSet pod recreated under its name, and keeps the new one', async () => {
      const a = await node('node-a');
      const b = await node('node-b');
      const old = podOn('node-a', 'db-0');
      const oldAddress = await assign(a.store, 'c-old', withPod(old));
      fake.deletePod('home', 'db-0');
      const recreated = podOn('node-b', 'db-0'); // same name, new UID, another node
      const newAddress = await assign(b.store, 'c-new', withPod(recreated));
      for (const g of [a.gc, b.gc]) await g.pass();
      now += GRACE + 1;
      const freed = [...(await a.gc.pass()).allocationsFreed, ...(await b.gc.pass()).allocationsFreed];
      assert.deepEqual(freed, [oldAddress]);
      assert.equal(exists(newAddress), true);
    });

    it('frees nothing that changed between the two looks', async () => {
      const { store, gc } = await node('node-a');
      const p = podOn('node-a', 'ha');
      const address = await assign(store, 'c1', withPod(p));
      fake.deletePod('home', 'ha');
      await gc.pass();
      const obj = fake.get(ALLOCATIONS_RESOURCE, '', address)!;
      fake.replace(ALLOCATIONS_RESOURCE, { ...obj, spec: { ...obj.spec, since: new Date().toISOString() } });
      now += GRACE + 1;
      assert.deepEqual(
        (await gc.pass()).allocationsFreed,
        [],
        'a new resourceVersion starts the clock again',
      );
      now += GRACE + 1;
      assert.deepEqual((await gc.pass()).allocationsFreed, [address]);
    });

    it('returns the blocks of a node that left once its pods are gone, and another node can claim them', async () => {
      const a = await node('node-a');
      const b = await node('node-b');
      await a.store.grow();
      const address = await assign(b.store, 'c1', withPod(podOn('node-b', 'ha')));
      const bBlocks = fake.list(BLOCKS_RESOURCE).filter((x) => x.spec.node === 'node-b');
      assert.equal(bBlocks.length, 1);
      await a.gc.pass();
      now += GRACE + 1;
      assert.deepEqual(
        await a.gc.pass(),
        { allocationsFreed: [], blocksReturned: [], candidates: 0 },
        'node-b is alive',
      );
      // node-b is deleted: the pod GC controller deletes its pods (its agent's included).
      await b.store.close();
      for (const p of fake.list('pods').filter((x) => x.spec.nodeName === 'node-b'))
        fake.deletePod(p.metadata!.namespace, p.metadata!.name);
      await a.gc.pass();
      now += GRACE + 1;
      const second = await a.gc.pass();
      assert.deepEqual(second.allocationsFreed, [address], 'its pod’s address first');
      now += GRACE + 1;
      const third = await a.gc.pass();
      assert.deepEqual(third.blocksReturned, [bBlocks[0].spec.cidr]);
      assert.equal(fake.list(BLOCKS_RESOURCE).filter((x) => x.spec.node === 'node-b').length, 0);
      // node-a can now take it (the pool here has four blocks; fill until it holds all of them).
      for (let i = 0; i < 3; i++) await a.store.grow().then(() => assign(a.store, `fill${i}`));
      while (await a.store.grow().then(() => a.store.status().blocks.length < 4))
        await assign(a.store, `x${Math.random()}`);
      assert.ok(a.store.status().blocks.includes(bBlocks[0].spec.cidr));
    });

    it('collects what an agent killed mid-claim left: an empty block and an allocation whose answer it never saw', async () => {
      const a = await node('node-a');
      const b = await node('node-b');
      await b.store.grow(); // claimed, never used
      const p = podOn('node-b', 'starting');
      fake.inject({
        match: '^POST /apis/ipam.lan-reflector.io/v1alpha1/ipallocations',
        drop: 'after',
        times: 1,
      });
      fake.inject({
        match: '^GET /apis/ipam.lan-reflector.io/v1alpha1/ipallocations/',
        drop: 'before',
        times: 1,
      });
      await assert.rejects(
        assign(b.store, 'c1', withPod(p)),
        { code: 11 },
        'the ADD failed: the agent never learnt',
      );
      await b.store.close(); // and died; then its node went away with its pods
      assert.equal(fake.list(ALLOCATIONS_RESOURCE).length, 1, 'the orphan');
      for (const x of fake.list('pods').filter((y) => y.spec.nodeName === 'node-b'))
        fake.deletePod(x.metadata!.namespace, x.metadata!.name);
      for (let i = 0; i < 4; i++) {
        await a.gc.pass();
        now += GRACE + 1;
      }
      assert.equal(fake.list(ALLOCATIONS_RESOURCE).length, 0);
      assert.deepEqual(
        fake.list(BLOCKS_RESOURCE).map((x) => x.spec.node),
        [],
      );
    });
  });
});
