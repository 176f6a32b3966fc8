import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import {
  hasLinkLocalRecords,
  hasQuQuestion,
  isLegacyUnicastQuery,
  isLinkLocalAddress,
  stripLinkLocalRecords,
} from '../../../src/protocols/mdns-link-local.js';

/** What avahi-daemon announces for a host with a link-local and a global IPv6 address and an IPv4
 *  one: a PTR/SRV/TXT service plus the host's address records, cache-flush set on the unique ones. */
const ANNOUNCEMENT = dnsPacket.encode({
  type: 'response',
  id: 0,
  flags: 0x400,
  answers: [
    { name: '_demo._tcp.local', type: 'PTR', ttl: 4500, data: 'Speaker._demo._tcp.local' },
    {
      name: 'Speaker._demo._tcp.local',
      type: 'SRV',
      ttl: 120,
      flush: true,
      data: { target: 'speaker.local', port: 1400, priority: 0, weight: 0 },
    },
    { name: 'speaker.local', type: 'AAAA', ttl: 120, flush: true, data: 'fe80::2c4f:10ff:fe22:3344' },
    { name: 'speaker.local', type: 'AAAA', ttl: 120, flush: true, data: '2001:db8:4::11' },
  ],
  additionals: [
    { name: 'speaker.local', type: 'A', ttl: 120, flush: true, data: '198.18.4.11' },
    { name: 'speaker.local', type: 'A', ttl: 120, flush: true, data: '169.254.7.9' },
  ],
});

describe('mDNS across links (link-local rules)', () => {
  it('knows link-local addresses of both families', () => {
    for (const ip of ['fe80::1', 'febf:ffff::1', '169.254.0.1', '169.254.255.254'])
      assert.ok(isLinkLocalAddress(ip), ip);
    for (const ip of ['2001:db8::1', 'fec0::1', 'fd00::1', '169.253.0.1', '198.18.4.11'])
      assert.ok(!isLinkLocalAddress(ip), ip);
  });

  it('strips fe80 AAAA and 169.254 A records and keeps every other record as it was', () => {
    const p = dnsPacket.decode(ANNOUNCEMENT);
    assert.ok(hasLinkLocalRecords(p));
    const out = stripLinkLocalRecords(p);
    assert.ok(out);
    const q = dnsPacket.decode(out);
    assert.equal(q.type, 'response');
    assert.equal(q.flags, 0x400);
    assert.deepEqual(
      q.answers!.map((a) => [a.type, (a as { data: unknown }).data]),
      [
        ['PTR', 'Speaker._demo._tcp.local'],
        ['SRV', { target: 'speaker.local', port: 1400, priority: 0, weight: 0 }],
        ['AAAA', '2001:db8:4::11'],
      ],
    );
    assert.deepEqual(
      q.additionals!.map((a) => [a.type, (a as { data: unknown }).data, (a as { flush?: boolean }).flush]),
      [['A', '198.18.4.11', true]],
    );
    assert.ok(!hasLinkLocalRecords(q));
  });

  it('gives nothing to send when a response had only link-local address records', () => {
    const only = dnsPacket.encode({
      type: 'response',
      flags: 0x400,
      answers: [{ name: 'h.local', type: 'AAAA', ttl: 120, flush: true, data: 'fe80::1' }],
    });
    assert.equal(stripLinkLocalRecords(dnsPacket.decode(only)), undefined);
  });

  it('keeps a query whose known answers were all link-local (the questions still stand)', () => {
    const query = dnsPacket.encode({
      type: 'query',
      questions: [{ name: 'h.local', type: 'AAAA', class: 'IN' }],
      answers: [{ name: 'h.local', type: 'AAAA', ttl: 120, data: 'fe80::1' }],
    });
    const out = stripLinkLocalRecords(dnsPacket.decode(query));
    assert.ok(out);
    const q = dnsPacket.decode(out);
    assert.equal(q.questions!.length, 1);
    assert.equal(q.answers!.length, 0);
  });

  it('finds QU questions by the top bit of the class (RFC 6762 5.4)', () => {
    const qm = Buffer.from(
      dnsPacket.encode({ type: 'query', questions: [{ name: '_hap._tcp.local', type: 'PTR' }] }),
    );
    assert.ok(!hasQuQuestion(qm));
    const qu = Buffer.from(qm);
    qu.writeUInt16BE(0x8001, qu.length - 2);
    assert.ok(hasQuQuestion(qu));
    assert.throws(() => hasQuQuestion(qu.subarray(0, qu.length - 3)), /Cannot decode/);
  });

  it('calls a query from a port other than 5353 legacy unicast (RFC 6762 6.7), never a response', () => {
    const query = dnsPacket.decode(
      dnsPacket.encode({ type: 'query', questions: [{ name: 'h.local', type: 'A' }] }),
    );
    const response = dnsPacket.decode(ANNOUNCEMENT);
    assert.ok(isLegacyUnicastQuery(40000, query));
    assert.ok(!isLegacyUnicastQuery(5353, query));
    assert.ok(!isLegacyUnicastQuery(40000, response));
  });
});
