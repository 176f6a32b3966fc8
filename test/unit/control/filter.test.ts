import assert from 'node:assert/strict';
import {
  FilterError,
  matchesCheap,
  namesMatchService,
  normalizeService,
  parseFilter,
  probeMatches,
} from '../../../src/control/filter.js';
import type { TailFilter } from '../../../src/control/types.js';
import type { PacketProbe } from '../../../src/events/bus.js';
import type { PodAttachment } from '../../../src/reflect/types.js';
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

describe('probeMatches: what tail clients want, before any event is built', function () {
  const ha: PodAttachment = {
    pod: {
      key: 'home/home-assistant',
      name: 'home/home-assistant',
      addresses: ['10.42.0.17'],
      options: { protocols: ['mdns'], direction: 'both', services: [], broadcastPorts: [] },
    },
    link: 'cali1',
    port: 'cali1',
    reach: 'lan-subnet',
  };
  const toHa: PacketProbe = {
    protocol: 'mdns',
    flow: 'lan-to-pod',
    src: '192.168.4.50',
    dst: '224.0.0.251',
    targets: [{ link: 'cali1', pod: ha, dst: '224.0.0.251', via: 'as-is' }],
  };
  const cases: Array<[string, TailFilter, PacketProbe, boolean]> = [
    ['no filter takes everything', {}, toHa, true],
    ['another protocol is refused', { protocols: ['ssdp'] }, toHa, false],
    ['the other direction is refused', { direction: 'pod-to-lan' }, toHa, false],
    ['--drops refuses a relayed packet', { drops: true }, toHa, false],
    ['--drops takes a drop', { drops: true }, { ...toHa, targets: [], drop: 'session-full' }, true],
    ['a pod by its name part, as a target', { pod: 'home-assistant' }, toHa, true],
    ['a pod by its address, as a target', { pod: '10.42.0.17' }, toHa, true],
    [
      'a pod by its full name, as the sender',
      { pod: 'home/home-assistant' },
      { ...toHa, flow: 'pod-to-lan', targets: [], from: ha },
      true,
    ],
    ['a device by its source address', { pod: '192.168.4.50' }, toHa, true],
    ['another pod is refused', { pod: 'sonos' }, toHa, false],
  ];
  for (const [desc, f, p, want] of cases) it(desc, () => assert.equal(probeMatches(f, p), want));
});
