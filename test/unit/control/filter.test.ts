import assert from 'node:assert/strict';
import {
  FilterError,
  matchesCheap,
  namesMatchService,
  normalizeService,
  parseFilter,
} from '../../../src/control/filter.js';
import { castQuery, hapResponse } from './helpers.js';

describe('tail filters', function () {
  describe('parseFilter', function () {
    it('accepts every field and drops empty ones', () => {
      assert.deepEqual(
        parseFilter({ protocols: ['mdns'], pod: 'ha', direction: 'lan-to-pod', service: '', drops: false }),
        { protocols: ['mdns'], pod: 'ha', direction: 'lan-to-pod' },
      );
      assert.deepEqual(parseFilter(undefined), {});
    });

    for (const [raw, message] of [
      [[], /filter must be an object/],
      [{ protocols: ['dns'] }, /filter\.protocols must be a list of: mdns, ssdp/],
      [{ pod: 3 }, /filter\.pod must be a string/],
      [{ drops: 'yes' }, /filter\.drops must be true or false/],
      [{ src: '1.2.3.4' }, /filter\.src is not known/],
    ] as const) {
      it(`refuses ${JSON.stringify(raw)}, naming the field`, () => {
        assert.throws(
          () => parseFilter(raw),
          (err: Error) => err instanceof FilterError && message.test(err.message),
        );
      });
    }
  });

  describe('service types', function () {
    it('are matched fully qualified, whatever the user typed', () => {
      assert.equal(normalizeService('_HAP._tcp'), '_hap._tcp.local');
      assert.equal(normalizeService('_hap._tcp.local.'), '_hap._tcp.local');
      assert.ok(namesMatchService(['bridge._hap._tcp.local'], '_hap._tcp'));
      assert.ok(namesMatchService(['_hap._tcp.local'], '_hap._tcp.local'));
      assert.ok(!namesMatchService(['_hap._udp.local', 'x_hap._tcp.local'], '_hap._tcp'));
    });
  });

  describe('matchesCheap', function () {
    const none = () => undefined;
    it('matches a pod by the addresses of its target pods, which the event names only', () => {
      const addrs = (name: string) => (name === 'home/home-assistant' ? ['10.42.0.17'] : undefined);
      assert.ok(matchesCheap({ pod: '10.42.0.17' }, hapResponse(), addrs));
      assert.ok(!matchesCheap({ pod: '10.42.0.99' }, hapResponse(), addrs));
    });
    it('matches the pod a packet came from by name or name part, never the word lan', () => {
      assert.ok(matchesCheap({ pod: 'home-assistant' }, castQuery(), none));
      assert.ok(!matchesCheap({ pod: 'lan' }, castQuery(), none));
      assert.ok(!matchesCheap({ pod: 'assistant' }, castQuery(), none));
    });
  });
});
