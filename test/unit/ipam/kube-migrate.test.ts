// ipam migrate's decisions against the fake API server: what is copied, what is already there,
// what belongs to someone else (reported, never overwritten), and blocks another node holds.
import assert from 'node:assert/strict';
import type { FakeApiServer } from '../../support/fake-apiserver.js';
import { ALLOCATIONS_RESOURCE, BLOCKS_RESOURCE } from '../../support/ipam-crds.js';
import { clientIpamApi } from '../../../src/ipam/store/kube-api.js';
import { migrateToKube } from '../../../src/ipam/store/kube-migrate.js';
import { allocation, makeStore, startFake } from './kube-store-helpers.js';

describe('ipam migrate into the Kubernetes store', function () {
  this.timeout(20_000);
  let fake: FakeApiServer;
  beforeEach(async () => (fake = await startFake()));
  afterEach(() => fake.close());
  const opts = () => ({
    api: clientIpamApi(fake.kubeConfig(), 2000),
    node: 'node-a',
    blockSize: 26,
    subnet: '198.18.4.0/23',
  });

  it('copies every allocation at its address, claims its blocks, and is idempotent', async () => {
    const file = [
      allocation('198.18.5.3', 'c1'),
      allocation('198.18.5.70', 'c2'),
      allocation('198.18.5.4', 'c3'),
    ];
    const first = await migrateToKube(file, opts());
    assert.deepEqual(first.migrated.sort(), ['198.18.5.3', '198.18.5.4', '198.18.5.70']);
    assert.deepEqual(first.claimed.sort(), ['198.18.5.0/26', '198.18.5.64/26']);
    const again = await migrateToKube(file, opts());
    assert.deepEqual(again.migrated, []);
    assert.deepEqual(again.alreadyThere.sort(), ['198.18.5.3', '198.18.5.4', '198.18.5.70']);
    for (const a of file)
      assert.equal(fake.get(ALLOCATIONS_RESOURCE, '', a.address)!.spec.containerId, a.owner.containerId);
    // The node's store, started afterwards, has them as its own.
    const store = makeStore(fake, 'node-a');
    await store.start();
    assert.deepEqual((await store.list()).map((a) => a.address).sort(), [
      '198.18.5.3',
      '198.18.5.4',
      '198.18.5.70',
    ]);
    assert.equal(await store.reserve(allocation('198.18.5.3', 'other')), false);
    await store.close();
  });

  it('reports an address the cluster gives to someone else and leaves it alone', async () => {
    const b = makeStore(fake, 'node-b');
    await b.start();
    await b.grow();
    const [theirs] = await b.scope();
    assert.equal(await b.reserve(allocation(theirs.start, 'b1')), true);
    const r = await migrateToKube([allocation(theirs.start, 'a1'), allocation('198.18.5.200', 'a2')], opts());
    assert.deepEqual(r.conflicts, [{ address: theirs.start, holder: 'node-b/b1' }]);
    assert.equal(fake.get(ALLOCATIONS_RESOURCE, '', theirs.start)!.spec.containerId, 'b1', 'not overwritten');
    assert.deepEqual(r.migrated, ['198.18.5.200'], 'the rest is migrated');
    await b.close();
  });

  it('records an address inside another node’s block without taking the block', async () => {
    const b = makeStore(fake, 'node-b');
    await b.start();
    await b.grow();
    const [range] = await b.scope();
    const address = range.end;
    const r = await migrateToKube([allocation(address, 'a1')], opts());
    assert.deepEqual(r.migrated, [address]);
    assert.deepEqual(r.inForeignBlocks, [{ address, node: 'node-b' }]);
    assert.equal(fake.list(BLOCKS_RESOURCE).filter((x) => x.spec.node === 'node-a').length, 0);
    assert.equal(await b.reserve(allocation(address, 'b2')), false, 'node-b can never hand it out');
    await b.close();
  });
});
