// Issue 13: a 12-byte header claiming 65,535 records per section cost 1.8 ms to reject, random
// bytes 0.9 ms, a valid packet 12 µs. A malformed packet must now cost within a small factor of a
// valid one: each kind is measured against valid traffic in the same interleaved rounds, so a busy
// machine slows both alike.
import assert from 'node:assert/strict';
import { engineCost } from '../../../bench/malformed.js';

describe('the cost of malformed mDNS traffic', function () {
  this.timeout(30_000);

  it('rejects each junk kind for at most 3x what relaying a valid packet costs', () => {
    const c = engineCost(20_000);
    for (const [kind, ns] of Object.entries(c))
      assert.ok(
        ns <= 3 * c.valid,
        `${kind}: ${(ns / 1000).toFixed(1)} µs against ${(c.valid / 1000).toFixed(1)} µs valid`,
      );
  });
});
