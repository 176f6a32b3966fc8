// The Kubernetes store against the fake API server, through the real client-node, as a story: nodes
// claim blocks, hand out inside them, race for names, lose answers, lose the API and catch up.
import assert from 'node:assert/strict';
import type { FakeApiServer } from '../../support/fake-apiserver.js';
import { ALLOCATIONS_RESOURCE, BLOCKS_RESOURCE } from '../../support/ipam-crds.js';
import { IpamError } from '../../../src/ipam/types.js';
import type { KubeStore } from '../../../src/ipam/store/kube-store.js';
import { allocation, assign, makeStore, POOL, startFake, waitFor } from './kube-store-helpers.js';

describe('the Kubernetes IPAM store', function () {
  this.timeout(20_000);
  let fake: FakeApiServer;
  const stores: KubeStore[] = [];
  const store = async (node: string, over = {}) => {
    const s = makeStore(fake, node, over);
    stores.push(s);
    await s.start();
    return s;
  };
  beforeEach(async () => (fake = await startFake()));
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await fake.close();
  });

  const blocksOf = (node: string) =>
    fake
      .list(BLOCKS_RESOURCE)
      .filter((b) => b.spec.node === node)
      .map((b) => b.spec.cidr)
      .sort();

  it('claims a first block on the first grow, and hands out only inside its own blocks', async () => {
    const a = await store('node-a');
    assert.deepEqual(await a.scope(), [], 'no block before the first claim');
    assert.equal(await a.grow(), true);
    const [block] = blocksOf('node-a');
    assert.ok(block, 'one IPBlock object for node-a');
    const scope = await a.scope();
    assert.equal(scope.length, 1);
    assert.equal(`${scope[0].start}/26`, block);
    const outside = block === '198.18.5.0/26' ? '198.18.5.70' : '198.18.5.1';
    assert.equal(await a.reserve(allocation(outside, 'c1')), false, 'an address of an unclaimed block');
    assert.equal(fake.list(ALLOCATIONS_RESOURCE).length, 0, 'and nothing was written for it');
    assert.equal(await a.reserve(allocation(scope[0].start, 'c1')), true);
    const obj = fake.get(ALLOCATIONS_RESOURCE, '', scope[0].start)!;
    assert.equal(obj.spec.node, 'node-a');
    assert.equal(obj.spec.containerId, 'c1');
    assert.equal(obj.spec.pod.uid, 'uid-c1');
    assert.equal(obj.metadata!.labels['ipam.lan-reflector.io/block'], block.replace('/', '-'));
  });

  it('lets exactly one of two nodes win one address, every time', async () => {
    const a = await store('node-a');
    const b = await store('node-b');
    for (let i = 1; i <= 20; i++) {
      const address = `198.18.5.${i}`;
      const pinned = { source: 'pinned' as const };
      const wins = await Promise.all([
        a.reserve(allocation(address, `a${i}`, pinned)),
        b.reserve(allocation(address, `b${i}`, pinned)),
      ]);
      assert.equal(wins.filter(Boolean).length, 1, `${address}: ${wins}`);
      const holder = fake.get(ALLOCATIONS_RESOURCE, '', address)!;
      assert.equal(holder.spec.node, wins[0] ? 'node-a' : 'node-b');
    }
  });

  it('gives nodes that start together different blocks, and one block for a burst of grows', async () => {
    const nodes = await Promise.all(['n1', 'n2', 'n3'].map((n) => store(n)));
    await Promise.all(nodes.flatMap((s) => [s.grow(), s.grow(), s.grow(), s.grow()]));
    const all = fake.list(BLOCKS_RESOURCE);
    assert.equal(all.length, 3, all.map((b) => `${b.spec.node}:${b.spec.cidr}`).join(' '));
    assert.equal(new Set(all.map((b) => b.spec.node)).size, 3);
  });

  it('claims another block when its blocks are full, and says so when the pool is exhausted', async () => {
    const a = await store('node-a');
    const b = await store('node-b');
    const got = new Set<string>();
    for (let i = 0; i < 64 * 3 + 1; i++) got.add(await assign(a, `c${i}`));
    assert.equal(got.size, 64 * 3 + 1, 'all distinct');
    assert.equal(blocksOf('node-a').length, 4, 'a fourth block for the 193rd address');
    await assert.rejects(assign(b, 'late'), /pool exhausted/);
    assert.equal(await b.grow(), false);
  });

  it('finds a create whose answer was lost instead of assuming either outcome', async () => {
    const a = await store('node-a');
    await a.grow();
    const [first] = await a.scope();
    fake.inject({ match: '^POST /apis/ipam.lan-reflector.io/v1alpha1/ipallocations', drop: 'after' });
    assert.equal(await a.reserve(allocation(first.start, 'c1')), true, 'it was written: it is ours');
    assert.deepEqual(
      (await a.getByOwner({ containerId: 'c1', ifname: 'eth0' })).map((x) => x.address),
      [first.start],
    );
    fake.inject({ match: '^POST /apis/ipam.lan-reflector.io/v1alpha1/ipallocations', drop: 'before' });
    const next = `${first.start.split('.').slice(0, 3).join('.')}.${Number(first.start.split('.')[3]) + 1}`;
    assert.equal(await a.reserve(allocation(next, 'c2')), false, 'not written: not ours, and no guess');
    assert.equal(fake.get(ALLOCATIONS_RESOURCE, '', next), undefined);
    assert.equal(await a.reserve(allocation(next, 'c2')), true, 'the next try writes it');
  });

  it('fails an ADD fast with error 11 while the API is down, keeps a DEL for later, and catches up from a relist', async () => {
    const a = await store('node-a');
    const address = await assign(a, 'c1');
    const keep = await assign(a, 'c2');
    await fake.pause();
    const t0 = Date.now();
    await assert.rejects(assign(a, 'c3'), (e: unknown) => e instanceof IpamError && e.code === 11);
    assert.ok(Date.now() - t0 < 2000, `failed after ${Date.now() - t0} ms`);
    const released = await a.releaseByOwner({ containerId: 'c1', ifname: 'eth0' });
    assert.deepEqual(
      released.map((x) => x.address),
      [address],
      'DEL succeeds while the API is down',
    );
    assert.ok(fake.get(ALLOCATIONS_RESOURCE, '', address), 'not carried out yet');
    // Meanwhile another writer changes the node's state: the store must learn it from the relist.
    fake.remove(ALLOCATIONS_RESOURCE, '', keep);
    await fake.resume();
    await waitFor('the kept release', () => fake.get(ALLOCATIONS_RESOURCE, '', address) === undefined);
    await waitFor('the relist', async () => (await a.list()).length === 0);
    assert.equal(fake.list(ALLOCATIONS_RESOURCE).length, 0, 'nothing half-written');
    await assign(a, 'c3');
  });

  it('fails an ADD within its deadline when the API answers too late, and settles the create at the next sync', async () => {
    const a = await store('node-a');
    await a.grow();
    const [r] = await a.scope();
    fake.inject({ match: '^POST /apis/ipam.lan-reflector.io/v1alpha1/ipallocations', delayMs: 3000 });
    const t0 = Date.now();
    await assert.rejects(
      a.reserve(allocation(r.start, 'slow')),
      (e: unknown) => e instanceof IpamError && e.code === 11,
    );
    assert.ok(Date.now() - t0 < 1500, `failed after ${Date.now() - t0} ms (deadline 800 ms)`);
    assert.ok(fake.get(ALLOCATIONS_RESOURCE, '', r.start), 'the server did take it');
    assert.equal(await a.reserve(allocation(r.start, 'other')), false, 'never handed out while unsettled');
    // The next call caught up from a relist and learnt the create; the runtime's DEL after the
    // failed ADD removes it.
    const released = await a.releaseByOwner({ containerId: 'slow', ifname: 'eth0' });
    assert.deepEqual(
      released.map((x) => x.address),
      [r.start],
    );
    assert.equal(fake.get(ALLOCATIONS_RESOURCE, '', r.start), undefined);
  });

  it('keeps its connections to the API server alive instead of opening one per request', async () => {
    const a = await store('node-a');
    const before = fake.connections;
    const requests = fake.requests.length;
    for (let i = 0; i < 20; i++) await assign(a, `k${i}`);
    const made = fake.requests.length - requests;
    assert.ok(made >= 20, `${made} requests`);
    assert.ok(
      fake.connections - before <= 3,
      `${fake.connections - before} connections for ${made} requests`,
    );
  });

  it('retries an update that lost a race (409 Conflict) after reading the object again', async () => {
    const a = await store('node-a');
    const address = await assign(a, 'c1');
    const obj = fake.get(ALLOCATIONS_RESOURCE, '', address)!;
    fake.replace(ALLOCATIONS_RESOURCE, { ...obj, spec: { ...obj.spec, since: '2026-12-01T08:00:00.000Z' } });
    const before = fake.requests.length;
    const renewed = allocation(address, 'c1', { source: 'dhcp', lease: lease() });
    assert.equal(await a.update(renewed), true);
    const puts = fake.requests.slice(before).filter((r) => r.startsWith('PUT'));
    assert.equal(puts.length, 2, 'one refused with 409, one after reading again');
    assert.equal(fake.get(ALLOCATIONS_RESOURCE, '', address)!.spec.lease.server, '198.18.4.1');
    assert.equal(await a.update(allocation(address, 'someone-else')), false, 'never for another owner');
  });

  it('writes a held-back address into its block, keeping what another writer added meanwhile', async () => {
    const a = await store('node-a');
    await a.grow();
    const [r] = await a.scope();
    const block = fake.list(BLOCKS_RESOURCE)[0];
    const until = new Date(Date.now() + 60_000).toISOString();
    const since = new Date().toISOString();
    fake.replace(BLOCKS_RESOURCE, {
      ...block,
      spec: { ...block.spec, held: [{ address: r.end, by: 'kubectl', since, until }] },
    });
    await a.holdBack({ address: r.start, by: 'aa:bb:cc:dd:ee:ff', since, until });
    const held = fake
      .list(BLOCKS_RESOURCE)[0]
      .spec.held.map((h: { address: string }) => h.address)
      .sort();
    assert.deepEqual(held, [r.start, r.end].sort());
    assert.deepEqual((await a.heldBack(new Date())).map((h) => h.address).sort(), [r.start, r.end].sort());
    assert.deepEqual(await a.heldBack(new Date(Date.now() + 120_000)), [], 'expired');
  });

  it('reports an allocation removed elsewhere at the next relist, once', async () => {
    const lost: string[] = [];
    const a = await store('node-a', { onLost: (x: { address: string }) => lost.push(x.address) });
    const address = await assign(a, 'c1');
    fake.remove(ALLOCATIONS_RESOURCE, '', address);
    await a.sync();
    await a.sync();
    assert.deepEqual(lost, [address]);
  });

  it('after a restart, has the node’s blocks and allocations from the API', async () => {
    const a = await store('node-a');
    const got = [await assign(a, 'c1'), await assign(a, 'c2')];
    await a.close();
    const again = await store('node-a');
    assert.deepEqual((await again.list()).map((x) => x.address).sort(), got.sort());
    assert.deepEqual(again.status().blocks, blocksOf('node-a'));
    assert.equal(await again.reserve(allocation(got[0], 'c9')), false);
  });
});

function lease() {
  const t = new Date().toISOString();
  return { server: '198.18.4.1', clientId: '01aa', obtainedAt: t, renewAt: t, rebindAt: t, expiresAt: t };
}
