import assert from 'node:assert/strict';
import { TokenBuckets } from '../../../src/reflect/token-buckets.js';

/** How many of `n` takes for `key` at instant `now` succeed. */
function takes(b: TokenBuckets, key: string, now: number, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (b.take(key, now)) ok++;
  return ok;
}

describe('TokenBuckets', () => {
  it('lets a new source send its burst at once, then refuses', () => {
    const b = new TokenBuckets(10, 5);
    assert.equal(takes(b, '192.168.1.50', 0, 8), 5);
  });

  it('refills at the rate: one more packet per 1/rate seconds', () => {
    const b = new TokenBuckets(10, 5);
    takes(b, 'a', 0, 5);
    assert.equal(b.take('a', 50), false, 'half a token after 50 ms');
    assert.equal(b.take('a', 100), true, 'one token after 100 ms');
    assert.equal(b.take('a', 100), false);
    assert.equal(takes(b, 'a', 400, 10), 3, 'three tokens after another 300 ms');
  });

  it('keeps the fractions a refused take accumulated', () => {
    const b = new TokenBuckets(10, 1);
    b.take('a', 0);
    assert.equal(b.take('a', 50), false);
    assert.equal(b.take('a', 100), true, '0.5 + 0.5 tokens');
  });

  it('never refills above the burst, however long the source was quiet', () => {
    const b = new TokenBuckets(10, 5);
    takes(b, 'a', 0, 5);
    assert.equal(takes(b, 'a', 3_600_000, 100), 5);
  });

  it('keeps each key’s bucket apart: one noisy source does not starve another', () => {
    const b = new TokenBuckets(1, 2);
    assert.equal(takes(b, 'noisy', 0, 100), 2);
    assert.equal(takes(b, 'quiet', 0, 1), 1);
  });

  it('treats a rate of 0 as no limit', () => {
    const b = new TokenBuckets(0, 0);
    assert.equal(takes(b, 'a', 0, 10_000), 10_000);
  });

  it('when full of keys, forgets idle (full) buckets first and keeps the busy ones', () => {
    const b = new TokenBuckets(1, 2, 2);
    takes(b, 'busy', 0, 2); // empty
    takes(b, 'idle', 0, 1); // refills to full by t=1000
    assert.equal(takes(b, 'third', 1000, 1), 1, 'a third key fits once the idle one is forgotten');
    assert.equal(takes(b, 'busy', 1000, 5), 1, 'busy kept its state: one token refilled, not a fresh burst');
  });

  it('when full of busy keys, starts over rather than growing', () => {
    const b = new TokenBuckets(1, 2, 2);
    takes(b, 'a', 0, 2);
    takes(b, 'b', 0, 2);
    assert.equal(takes(b, 'c', 0, 5), 2, 'the new key gets its burst');
    assert.equal(takes(b, 'a', 0, 5), 2, 'a was forgotten with the rest, so it starts with a full burst');
  });
});
