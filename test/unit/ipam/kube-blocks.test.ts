// The pool cut into per-node blocks: plain values in, plain values out.
import assert from 'node:assert/strict';
import {
  blockAt,
  freeInBlock,
  nextBlockToClaim,
  parseBlock,
  poolBlocks,
  usableCount,
  usableSpans,
  type PoolShape,
} from '../../../src/ipam/store/kube-blocks.js';

// The write-up's plan, in test space: LAN 198.18.4.0/23, devices in .4.x, pods in 198.18.5.x.
const pool: PoolShape = {
  subnet: { network: '198.18.4.0', prefix: 23 },
  ranges: [{ start: '198.18.5.0', end: '198.18.5.255' }],
  exclude: [{ start: '198.18.5.64', end: '198.18.5.69' }],
};

describe('IPAM blocks (kube store)', () => {
  it('cuts the ranges into aligned blocks named without a slash', () => {
    const blocks = poolBlocks(pool, 26);
    assert.deepEqual(
      blocks.map((b) => [b.cidr, b.name]),
      [
        ['198.18.5.0/26', '198.18.5.0-26'],
        ['198.18.5.64/26', '198.18.5.64-26'],
        ['198.18.5.128/26', '198.18.5.128-26'],
        ['198.18.5.192/26', '198.18.5.192-26'],
      ],
    );
  });

  it('a range that starts and ends inside blocks still yields those blocks, once each', () => {
    const p = {
      ...pool,
      ranges: [
        { start: '198.18.5.10', end: '198.18.5.70' },
        { start: '198.18.5.60', end: '198.18.5.62' },
      ],
    };
    assert.deepEqual(
      poolBlocks(p, 26).map((b) => b.cidr),
      ['198.18.5.0/26', '198.18.5.64/26'],
    );
    assert.deepEqual(usableSpans(poolBlocks(p, 26)[0], p), [{ start: '198.18.5.10', end: '198.18.5.63' }]);
  });

  it('counts only addresses in a range, outside exclusions, never the subnet broadcast', () => {
    const [b0, b1, , b3] = poolBlocks(pool, 26);
    assert.equal(usableCount(b0, pool), 64, '198.18.5.0 is no network address in a /23');
    assert.equal(usableCount(b1, pool), 64 - 6, 'six excluded');
    assert.equal(usableCount(b3, pool), 63, '198.18.5.255 is the /23 broadcast');
    assert.deepEqual(usableSpans(b1, pool), [{ start: '198.18.5.70', end: '198.18.5.127' }]);
  });

  it('finds the block of an address and refuses an unaligned CIDR', () => {
    assert.equal(blockAt('198.18.5.77', 26).cidr, '198.18.5.64/26');
    assert.equal(blockAt('198.18.5.77', 28).cidr, '198.18.5.64/28');
    assert.equal(parseBlock('198.18.5.64/26')?.name, '198.18.5.64-26');
    assert.equal(parseBlock('198.18.5.65/26'), undefined);
  });

  it('offers a node only blocks nobody holds, and nothing when all are held', () => {
    const all = poolBlocks(pool, 26).map((b) => b.name);
    const left = nextBlockToClaim(pool, 26, new Set(all.slice(0, 3)), 'node-a');
    assert.equal(left?.cidr, '198.18.5.192/26');
    assert.equal(nextBlockToClaim(pool, 26, new Set(all), 'node-a'), undefined);
  });

  it('never offers a block with no usable address', () => {
    const p = { ...pool, exclude: [{ start: '198.18.5.0', end: '198.18.5.191' }] };
    for (const node of ['a', 'b', 'c', 'd', 'e'])
      assert.equal(nextBlockToClaim(p, 26, new Set(), node)?.cidr, '198.18.5.192/26');
  });

  it('spreads nodes that start together over different blocks', () => {
    const picks = new Set(
      ['node-1', 'node-2', 'node-3', 'node-4', 'node-5', 'node-6'].map(
        (n) => nextBlockToClaim(pool, 26, new Set(), n)?.cidr,
      ),
    );
    assert.ok(picks.size >= 2, `six nodes picked ${[...picks].join(', ')}`);
  });

  it('lists free addresses in order, skipping the taken', () => {
    const b1 = poolBlocks(pool, 26)[1];
    assert.deepEqual(freeInBlock(b1, pool, new Set(['198.18.5.70', '198.18.5.72']), 3), [
      '198.18.5.71',
      '198.18.5.73',
      '198.18.5.74',
    ]);
  });
});
