import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { matchesServices, mdns, MDNS_GROUP, MDNS_PORT } from '../../../src/protocols/mdns.js';

/** A HomeKit accessory's answer, as a real responder sends it (mixed-case names included). */
const ANSWER = dnsPacket.encode({
  type: 'response',
  id: 0,
  flags: dnsPacket.AUTHORITATIVE_ANSWER,
  answers: [{ type: 'PTR', name: '_hap._tcp.local', ttl: 4500, data: 'Living Room Lamp._hap._tcp.local' }],
  additionals: [
    {
      type: 'SRV',
      name: 'Living Room Lamp._hap._tcp.local',
      ttl: 120,
      data: { target: 'Lamp-1.local', port: 51826, priority: 0, weight: 0 },
    },
    { type: 'TXT', name: 'Living Room Lamp._hap._tcp.local', ttl: 4500, data: ['c#=2', 'id=AA:BB'] },
    { type: 'A', name: 'Lamp-1.local', ttl: 120, data: '192.168.1.50' },
  ],
});

const QUERY = dnsPacket.encode({
  type: 'query',
  id: 0,
  questions: [
    { type: 'PTR', name: '_hap._tcp.local' },
    { type: 'PTR', name: '_Googlecast._tcp.local' },
  ],
});

const ENUMERATION = dnsPacket.encode({
  type: 'query',
  id: 0,
  questions: [{ type: 'PTR', name: '_services._dns-sd._udp.local' }],
});

describe('mdns protocol handler', () => {
  it('claims 224.0.0.251:5353 and nothing else', () => {
    assert.equal(mdns.matches(MDNS_GROUP, MDNS_PORT), true);
    assert.equal(mdns.matches(MDNS_GROUP, 5354), false);
    assert.equal(mdns.matches('239.255.255.250', MDNS_PORT), false);
    assert.equal(mdns.matches('192.168.1.50', MDNS_PORT), false, 'unicast to 5353 is not multicast DNS');
    assert.deepEqual(mdns.groups, ['224.0.0.251']);
  });

  it('re-emits with TTL 255 whatever TTL the packet arrived with (RFC 6762 11)', () => {
    for (const ttl of [1, 64, 255]) assert.equal(mdns.emitTtl(ttl), 255);
  });

  describe('decode', () => {
    it('decodes a real response: its records and their data', () => {
      const p = mdns.decode(ANSWER);
      assert.equal(p.type, 'response');
      assert.equal(p.answers?.length, 1);
      assert.equal(p.additionals?.length, 3);
      const srv = p.additionals?.find((a) => a.type === 'SRV');
      assert.deepEqual((srv as { data: unknown }).data, {
        target: 'Lamp-1.local',
        port: 51826,
        priority: 0,
        weight: 0,
      });
    });

    it('passes its structural check for every packet it decodes, and names the same services', () => {
      for (const bytes of [ANSWER, QUERY, ENUMERATION]) {
        assert.equal(mdns.check(bytes), undefined);
        assert.deepEqual(mdns.facts!(bytes), mdns.names(mdns.decode(bytes)));
      }
    });

    it('refuses a packet cut inside its last record, which dns-packet would decode silently short', () => {
      const cut = ANSWER.subarray(0, ANSWER.length - 3);
      assert.doesNotThrow(() => mdns.decode(cut));
      assert.equal(mdns.check(cut), 'Cannot decode mDNS packet (truncated record)');
    });

    const malformed: Array<{ desc: string; input: Buffer; want: RegExp }> = [
      {
        desc: 'an empty payload',
        input: Buffer.alloc(0),
        want: /^Cannot decode mDNS packet \(shorter than a DNS header\)$/,
      },
      {
        desc: 'an 11-byte payload',
        input: Buffer.alloc(11),
        want: /^Cannot decode mDNS packet \(shorter than a DNS header\)$/,
      },
      {
        desc: 'a header that promises a question it does not carry',
        input: Buffer.from([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
        want: /^Cannot decode mDNS packet \(.+\)$/,
      },
      {
        desc: 'a name compression pointer past the end',
        input: Buffer.from([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0, 12, 0, 1]),
        want: /^Cannot decode mDNS packet \(.*bad pointer.*\)$/,
      },
      {
        desc: 'a response cut in the middle of a record',
        input: ANSWER.subarray(0, 40),
        want: /^Cannot decode mDNS packet \(.+\)$/,
      },
    ];
    for (const c of malformed) {
      it(`refuses ${c.desc} with a stable message`, () => {
        assert.throws(
          () => mdns.decode(c.input),
          (err: unknown) => err instanceof Error && c.want.test(err.message),
        );
      });
    }

    it('either decodes or throws its own message on every truncation of a real response', () => {
      for (let n = 0; n < ANSWER.length; n++) {
        try {
          mdns.decode(ANSWER.subarray(0, n));
        } catch (err) {
          assert.match((err as Error).message, /^Cannot decode mDNS packet \(/, `cut at ${n}`);
        }
      }
    });
  });

  describe('names', () => {
    it('lists question names in lower case', () => {
      assert.deepEqual(mdns.names(mdns.decode(QUERY)), ['_hap._tcp.local', '_googlecast._tcp.local']);
    });

    it('lists every record owner, and the instance a PTR points to, in lower case', () => {
      assert.deepEqual(mdns.names(mdns.decode(ANSWER)), [
        '_hap._tcp.local',
        'living room lamp._hap._tcp.local',
        'living room lamp._hap._tcp.local',
        'living room lamp._hap._tcp.local',
        'lamp-1.local',
      ]);
    });
  });

  describe('summarize', () => {
    it('writes a query as its questions', () => {
      assert.equal(
        mdns.summarize(mdns.decode(QUERY)),
        'query | Q: PTR _hap._tcp.local, PTR _Googlecast._tcp.local',
      );
    });

    it('writes a response as its records with their data: PTR target, SRV host:port, TXT count, address', () => {
      assert.equal(
        mdns.summarize(mdns.decode(ANSWER)),
        'response | A: PTR _hap._tcp.local = Living Room Lamp._hap._tcp.local, ' +
          'SRV Living Room Lamp._hap._tcp.local = Lamp-1.local:51826, ' +
          'TXT Living Room Lamp._hap._tcp.local = [2 strings], ' +
          'A Lamp-1.local = 192.168.1.50',
      );
    });

    it('writes an empty packet as its kind alone', () => {
      assert.equal(mdns.summarize(mdns.decode(Buffer.alloc(12))), 'query');
    });
  });
});

describe('matchesServices', () => {
  const cases: Array<{ desc: string; names: string[]; services: string[]; want: boolean }> = [
    { desc: 'no filter lets everything through', names: ['_airplay._tcp.local'], services: [], want: true },
    { desc: 'no filter lets even a nameless packet through', names: [], services: [], want: true },
    {
      desc: 'a query for the service type matches',
      names: ['_hap._tcp.local'],
      services: ['_hap._tcp.local'],
      want: true,
    },
    {
      desc: 'an instance of the service type matches',
      names: ['living room lamp._hap._tcp.local'],
      services: ['_hap._tcp.local'],
      want: true,
    },
    {
      desc: 'a subtype of the service type matches',
      names: ['_bulb._sub._hap._tcp.local'],
      services: ['_hap._tcp.local'],
      want: true,
    },
    {
      desc: 'another service type does not match',
      names: ['_googlecast._tcp.local'],
      services: ['_hap._tcp.local'],
      want: false,
    },
    {
      desc: 'a name that only ends with the same letters does not match',
      names: ['x_hap._tcp.local'],
      services: ['_hap._tcp.local'],
      want: false,
    },
    {
      desc: 'a bare host name does not match',
      names: ['lamp-1.local'],
      services: ['_hap._tcp.local'],
      want: false,
    },
    {
      desc: 'one matching name among others is enough',
      names: ['lamp-1.local', '_hap._tcp.local'],
      services: ['_hap._tcp.local'],
      want: true,
    },
    {
      desc: 'any of several service types matches',
      names: ['_googlecast._tcp.local'],
      services: ['_hap._tcp.local', '_googlecast._tcp.local'],
      want: true,
    },
    {
      desc: 'the service enumeration meta-query goes through any filter (RFC 6763 9)',
      names: ['_services._dns-sd._udp.local'],
      services: ['_hap._tcp.local'],
      want: true,
    },
    {
      desc: 'a packet with no names does not pass a filter',
      names: [],
      services: ['_hap._tcp.local'],
      want: false,
    },
  ];
  for (const c of cases) {
    it(c.desc, () => assert.equal(matchesServices(c.names, c.services), c.want));
  }

  it('matches a decoded meta-query against a service filter', () => {
    assert.equal(matchesServices(mdns.names(mdns.decode(ENUMERATION)), ['_hap._tcp.local']), true);
  });

  it('matches a decoded mixed-case query by its lower-cased names', () => {
    assert.equal(matchesServices(mdns.names(mdns.decode(QUERY)), ['_googlecast._tcp.local']), true);
  });
});
