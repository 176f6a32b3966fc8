import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { Packet } from 'dns-packet';
import { checkDns, DNS_ERRORS, dnsNames } from '../../../src/protocols/dns-wire.js';
import { mdns } from '../../../src/protocols/mdns.js';

// What real responders send: a HomeKit accessory's full answer (PTR, SRV, TXT, A, AAAA, NSEC), a
// Chromecast query with a known answer, an empty query, a probe with an authority section.
const REAL: Packet[] = [
  {
    type: 'response',
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    answers: [
      { name: '_hap._tcp.local', type: 'PTR', ttl: 4500, data: 'Lamp._hap._tcp.local' },
      { name: 'Lamp._hap._tcp.local', type: 'SRV', ttl: 120, data: { port: 51827, target: 'lamp.local' } },
      {
        name: 'Lamp._hap._tcp.local',
        type: 'TXT',
        ttl: 4500,
        data: ['c#=2', 'id=AA:BB:CC:DD:EE:FF', 'sf=0'],
      },
    ],
    additionals: [
      { name: 'lamp.local', type: 'A', ttl: 120, data: '192.168.1.50' },
      { name: 'lamp.local', type: 'AAAA', ttl: 120, data: 'fe80::1' },
      {
        name: 'lamp.local',
        type: 'NSEC',
        ttl: 120,
        data: { nextDomain: 'lamp.local', rrtypes: ['A', 'AAAA'] },
      },
    ],
  },
  {
    type: 'query',
    questions: [{ name: '_googlecast._tcp.local', type: 'PTR' }],
    answers: [
      { name: '_googlecast._tcp.local', type: 'PTR', ttl: 120, data: 'Kitchen._googlecast._tcp.local' },
    ],
  },
  { type: 'query', questions: [] },
  {
    type: 'query',
    questions: [{ name: 'Lamp._hap._tcp.local', type: 'ANY' as never }],
    authorities: [
      { name: 'Lamp._hap._tcp.local', type: 'SRV', ttl: 120, data: { port: 1, target: 'lamp.local' } },
    ],
  },
];

/** dns-packet compresses nothing; real stacks do. A query whose PTR target points back at its name. */
function compressed(): Buffer {
  const name = Buffer.from([
    4,
    ...Buffer.from('_hap'),
    4,
    ...Buffer.from('_tcp'),
    5,
    ...Buffer.from('local'),
    0,
  ]);
  const header = Buffer.from([0, 0, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
  const question = Buffer.concat([name, Buffer.from([0, 12, 0, 1])]);
  const ptrData = Buffer.concat([Buffer.from([4, ...Buffer.from('Lamp')]), Buffer.from([0xc0, 12])]);
  const rr = Buffer.concat([Buffer.from([0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 120, 0, ptrData.length]), ptrData]);
  return Buffer.concat([header, question, rr]);
}

const header = (qd: number, an: number, ns = 0, ar = 0) =>
  Buffer.from([0, 0, 0, 0, qd >> 8, qd & 255, an >> 8, an & 255, ns >> 8, ns & 255, ar >> 8, ar & 255]);

describe('checkDns and dnsNames', () => {
  it('accepts what real responders send, and reads the same names dns-packet does', () => {
    for (const p of [...REAL.map((x) => dnsPacket.encode(x)), compressed()]) {
      assert.equal(checkDns(p), undefined);
      assert.deepEqual(dnsNames(p), mdns.names(dnsPacket.decode(p)));
    }
  });

  it('reads compressed names through their pointers', () => {
    assert.deepEqual(dnsNames(compressed()), ['_hap._tcp.local', '_hap._tcp.local', 'lamp._hap._tcp.local']);
  });

  const bad: Array<[string, Buffer, string]> = [
    ['a payload shorter than a header', Buffer.alloc(11), DNS_ERRORS.header],
    ['12 bytes claiming 65,535 records per section', header(65535, 65535, 65535, 65535), DNS_ERRORS.counts],
    [
      'a question count the bytes cannot hold',
      Buffer.concat([header(3, 0), Buffer.alloc(10)]),
      DNS_ERRORS.counts,
    ],
    [
      'a label running past the end',
      Buffer.concat([header(1, 0), Buffer.from([40, 1, 2, 3, 0])]),
      DNS_ERRORS.name,
    ],
    [
      'a pointer to itself',
      Buffer.concat([header(1, 0), Buffer.from([0xc0, 12, 0, 1, 0, 1])]),
      DNS_ERRORS.pointer,
    ],
    [
      'a pointer forwards',
      Buffer.concat([header(1, 0), Buffer.from([0xc0, 30, 0, 1, 0, 1])]),
      DNS_ERRORS.pointer,
    ],
    [
      'an extended label type',
      Buffer.concat([header(1, 0), Buffer.from([0x41, 0, 0, 1, 0, 1])]),
      DNS_ERRORS.name,
    ],
    [
      'a question without its type and class',
      Buffer.concat([header(1, 0), Buffer.from([1, 97, 0, 0, 1])]),
      DNS_ERRORS.question,
    ],
    [
      'a record whose RDLENGTH runs past the end',
      Buffer.concat([header(0, 1), Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 200, 1, 2, 3])]),
      DNS_ERRORS.record,
    ],
    [
      'a name longer than 255 bytes',
      Buffer.concat([
        header(1, 0),
        ...Array.from({ length: 5 }, () => Buffer.from([63, ...Buffer.alloc(63, 97)])),
        Buffer.from([0, 0, 1, 0, 1]),
      ]),
      DNS_ERRORS.longName,
    ],
  ];
  for (const [desc, payload, reason] of bad)
    it(`refuses ${desc}: ${reason}`, () => assert.equal(checkDns(payload), reason));

  it('reads the names of whatever it accepts, as dns-packet does, over random and bit-flipped packets', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const base = REAL.map((x) => dnsPacket.encode(x));
    for (let i = 0; i < 3000; i++) {
      let p: Buffer;
      if (i % 2)
        p = Buffer.from(
          Array.from({ length: 12 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)),
        );
      else {
        p = Buffer.from(base[i % base.length]);
        for (let k = 0; k < 3; k++) p[Math.floor(rand() * p.length)] = Math.floor(rand() * 256);
      }
      if (checkDns(p) !== undefined) continue;
      // The check vouches for the framing (sections, records, names), not every record's RDATA:
      // a TXT string running past its record still reaches `tail` as "not decodable".
      let decoded: Packet | undefined;
      try {
        decoded = dnsPacket.decode(p);
      } catch {
        decoded = undefined;
      }
      const names = dnsNames(p);
      if (decoded) assert.deepEqual(names, mdns.names(decoded), p.toString('hex'));
    }
  });
});
