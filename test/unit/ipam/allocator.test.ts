// The allocator as a story (MetalLB's TestAssignment is the model): pods take addresses, give them
// back, collide on pins, meet devices that answer the probe, with the store's state after each step.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIpamConfig } from '../../../src/config/ipam.js';
import type { IpamConfig } from '../../../src/config/types.js';
import { exclusion, freeCount, routeFor, walk } from '../../../src/ipam/allocator.js';
import { PoolProvider } from '../../../src/ipam/pool-provider.js';
import { FileStore } from '../../../src/ipam/store/file-store.js';
import { IpamError, NO_ANNOUNCER, type AddressGuard, type Owner } from '../../../src/ipam/types.js';

const cfg = (extra: Record<string, unknown> = {}): IpamConfig =>
  loadIpamConfig({ subnet: '192.168.2.0/23', ranges: ['192.168.3.10-192.168.3.14'], ...extra })!;
const owner = (c: string): Owner => ({ containerId: c, ifname: 'eth0' });
const range = (start: string, end: string) => ({ start, end, text: `${start}-${end}` });

describe('allocator: routeFor', () => {
  const c = cfg({
    delegate: { type: 'host-local' },
    pinned: [{ pod: 'home/hass', address: '192.168.3.17' }],
    exclude: ['192.168.3.200'],
  });
  const pod = { namespace: 'home', name: 'x' };
  it('sends a pod that did not ask to the delegate', () =>
    assert.equal(routeFor(c, pod, undefined).kind, 'delegate'));
  it('gives a pod with the annotation "true" a LAN address from the pool', () =>
    assert.deepEqual(routeFor(c, pod, 'true').kind, 'lan'));
  it('pins the address the annotation names', () =>
    assert.equal((routeFor(c, pod, '192.168.3.50') as { want: string }).want, '192.168.3.50'));
  it('pins what ipam.pinned names, annotation or not', () =>
    assert.equal(
      (routeFor(c, { namespace: 'home', name: 'hass' }, undefined) as { want: string }).want,
      '192.168.3.17',
    ));
  it('refuses an annotation that is no address, outside the subnet, or excluded', () => {
    assert.equal(routeFor(c, pod, 'yes').kind, 'refuse');
    assert.equal(routeFor(c, pod, '10.0.0.1').kind, 'refuse');
    assert.equal(routeFor(c, pod, '192.168.3.200').kind, 'refuse');
  });
  it('treats "false" as not asking', () => assert.equal(routeFor(c, pod, 'false').kind, 'delegate'));
  it('without a delegate gives every pod a LAN address', () =>
    assert.equal(routeFor(cfg(), pod, undefined).kind, 'lan'));
});

describe('allocator: walk and exclusion', () => {
  it('walks from after the last address handed out and wraps round, over every range once', () => {
    const r = [range('10.0.0.1', '10.0.0.3'), range('10.0.1.1', '10.0.1.2')];
    assert.deepEqual([...walk(r)], ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.1.1', '10.0.1.2']);
    assert.deepEqual([...walk(r, '10.0.0.3')], ['10.0.1.1', '10.0.1.2', '10.0.0.1', '10.0.0.2', '10.0.0.3']);
    assert.deepEqual([...walk(r, '10.0.1.2')], ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.1.1', '10.0.1.2']);
  });
  it('never offers the network, the broadcast, pins, the extra addresses or exclude', () => {
    const c = loadIpamConfig({
      subnet: '192.168.2.0/23',
      ranges: ['192.168.2.0/23'],
      exclude: ['192.168.2.2-192.168.2.3'],
      pinned: [{ pod: 'a/b', address: '192.168.2.9' }],
    })!;
    const ex = exclusion(c, ['192.168.2.1']);
    for (const a of [
      '192.168.2.0',
      '192.168.3.255',
      '192.168.2.1',
      '192.168.2.2',
      '192.168.2.3',
      '192.168.2.9',
    ])
      assert.ok(ex(a), a);
    assert.ok(!ex('192.168.2.4'));
    assert.equal(freeCount(c.ranges, ex), 512 - 6);
  });
});

describe('allocator: a story over the file store', () => {
  let dir: string;
  let store: FileStore;
  const answering = new Set<string>();
  const guard: AddressGuard = {
    inUse: async (a) => (answering.has(a) ? { by: 'aa:bb:cc:dd:ee:ff' } : 'free'),
  };
  let pool: PoolProvider;
  const assign = (c: string, want?: string) => pool.assign({ owner: owner(c), network: 'lan', want });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lr-alloc-'));
    store = await FileStore.open({ directory: dir, node: 'n1' });
    pool = new PoolProvider({
      config: cfg(),
      store,
      guard,
      announcer: NO_ANNOUNCER,
      reserved: ['192.168.3.11'],
    });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('p1 gets the first address (the node address .11 is skipped later)', async () => {
    assert.equal((await assign('p1')).address, '192.168.3.10');
  });
  it('p1 again: the same address (idempotent ADD)', async () => {
    assert.equal((await assign('p1')).address, '192.168.3.10');
    assert.equal((await store.list()).length, 1);
  });
  it('p2 skips the node address and gets .12', async () => {
    assert.equal((await assign('p2')).address, '192.168.3.12');
  });
  it('p3 meets a device answering for .13: skipped and held back, p3 gets .14', async () => {
    answering.add('192.168.3.13');
    assert.equal((await assign('p3')).address, '192.168.3.14');
    assert.deepEqual(
      (await store.heldBack(new Date())).map((h) => h.address),
      ['192.168.3.13'],
    );
    assert.ok(!store.has('192.168.3.13'), 'the probed address is released again');
  });
  it('p4 finds the pool exhausted (code 100)', async () => {
    await assert.rejects(assign('p4'), (e: unknown) => e instanceof IpamError && e.code === 100);
  });
  it('p1 frees its address; DEL again frees nothing and is no error', async () => {
    assert.deepEqual(
      (await pool.release(owner('p1'))).map((a) => a.address),
      ['192.168.3.10'],
    );
    assert.deepEqual(await pool.release(owner('p1')), []);
  });
  it("p5 cannot pin p2's address (code 11, held), but can pin a free one", async () => {
    await assert.rejects(
      assign('p5', '192.168.3.12'),
      (e: unknown) => e instanceof IpamError && e.code === 11,
    );
    assert.equal((await assign('p5', '192.168.3.10')).address, '192.168.3.10');
  });
  it('a pinned address a device answers for is refused (code 102) and not kept', async () => {
    answering.add('192.168.3.100');
    await assert.rejects(
      assign('p6', '192.168.3.100'),
      (e: unknown) => e instanceof IpamError && e.code === 102,
    );
    assert.ok(!store.has('192.168.3.100'));
  });
  it('concurrent ADDs for one container take one address; for many, distinct ones', async () => {
    await pool.release(owner('p5'));
    await pool.release(owner('p2'));
    const same = await Promise.all([assign('q'), assign('q'), assign('q')]);
    assert.equal(new Set(same.map((a) => a.address)).size, 1);
    await pool.release(owner('q'));
    const many = await Promise.all(['r1', 'r2'].map((c) => assign(c))); // .10 and .12: all that is free
    assert.deepEqual(many.map((a) => a.address).sort(), ['192.168.3.10', '192.168.3.12']);
  });
  it('a reopened store (after kill -9) knows every allocation', async () => {
    const again = await FileStore.open({ directory: dir, node: 'n1' });
    assert.deepEqual(
      (await again.list()).map((a) => a.address).sort(),
      (await store.list()).map((a) => a.address).sort(),
    );
    assert.equal(again.warnings.length, 0);
  });
  it('a store directory used by another node warns at open', async () => {
    const other = await FileStore.open({ directory: dir, node: 'n2' });
    assert.match(other.warnings[0]?.message ?? '', /also used by node n1/);
  });
});
