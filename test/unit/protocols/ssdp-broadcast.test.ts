// The SSDP codec and the broadcast and extra-group handlers: what they match, what they refuse, and
// the TTL each gives a re-emitted packet.
import assert from 'node:assert/strict';
import { broadcastHandler } from '../../../src/protocols/broadcast.js';
import { customGroupHandler } from '../../../src/protocols/custom-group.js';
import { protocolTable } from '../../../src/protocols/registry.js';
import { decodeSsdp, ssdp, SSDP_TTL } from '../../../src/protocols/ssdp.js';

const msg = (lines: string[]) => Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');

const SEARCH = msg([
  'M-SEARCH * HTTP/1.1',
  'HOST: 239.255.255.250:1900',
  'MAN: "ssdp:discover"',
  'MX: 2',
  'ST: urn:schemas-upnp-org:device:ZonePlayer:1',
]);
const NOTIFY = msg([
  'NOTIFY * HTTP/1.1',
  'HOST: 239.255.255.250:1900',
  'NT: upnp:rootdevice',
  'NTS: ssdp:alive',
  'LOCATION: http://192.168.1.30:1400/xml/device_description.xml',
  'USN: uuid:RINCON_000E58::upnp:rootdevice',
]);

describe('the SSDP codec', () => {
  it('decodes an M-SEARCH: method and upper-cased headers', () => {
    const m = decodeSsdp(SEARCH);
    assert.equal(m.method, 'M-SEARCH');
    assert.equal(m.headers.ST, 'urn:schemas-upnp-org:device:ZonePlayer:1');
    assert.equal(m.headers.MAN, '"ssdp:discover"');
  });

  it('decodes a NOTIFY and summarizes NTS, NT, LOCATION and USN for tail', () => {
    assert.equal(
      ssdp.summarize(decodeSsdp(NOTIFY)),
      'NOTIFY ssdp:alive NT=upnp:rootdevice LOCATION=http://192.168.1.30:1400/xml/device_description.xml ' +
        'USN=uuid:RINCON_000E58::upnp:rootdevice',
    );
  });

  it('decodes a search response by its status code', () => {
    const m = decodeSsdp(msg(['HTTP/1.1 200 OK', 'ST: upnp:rootdevice', 'LOCATION: http://x/']));
    assert.equal(m.method, '200');
  });

  const malformed: Array<{ desc: string; payload: Buffer; message: RegExp }> = [
    { desc: 'a GET request', payload: msg(['GET / HTTP/1.1', 'HOST: x']), message: /bad start line/ },
    { desc: 'random bytes', payload: Buffer.from([0, 1, 2, 3, 250, 251]), message: /bad start line/ },
    {
      desc: 'a header without a colon',
      payload: msg(['NOTIFY * HTTP/1.1', 'NTS ssdp-alive']),
      message: /bad header line/,
    },
    {
      desc: 'a NOTIFY without NTS',
      payload: msg(['NOTIFY * HTTP/1.1', 'NT: upnp:rootdevice']),
      message: /without NT\/NTS/,
    },
    {
      desc: 'an M-SEARCH without ST',
      payload: msg(['M-SEARCH * HTTP/1.1', 'MAN: "ssdp:discover"']),
      message: /without ST\/MAN/,
    },
    {
      desc: 'more than 64 headers',
      payload: msg(['NOTIFY * HTTP/1.1', ...Array.from({ length: 65 }, (_, i) => `X-${i}: y`)]),
      message: /too many headers/,
    },
  ];
  for (const c of malformed) {
    it(`refuses ${c.desc} with a stable message`, () => {
      assert.throws(
        () => decodeSsdp(c.payload),
        (e: Error) => /^Cannot decode SSDP message/.test(e.message) && c.message.test(e.message),
      );
    });
  }

  it('matches 239.255.255.250:1900 only, and re-emits with TTL 2 (UPnP 1.1)', () => {
    assert.equal(ssdp.matches('239.255.255.250', 1900), true);
    assert.equal(ssdp.matches('239.255.255.250', 1982), false);
    assert.equal(ssdp.matches('224.0.0.251', 1900), false);
    assert.equal(ssdp.emitTtl(64), SSDP_TTL);
    assert.equal(SSDP_TTL, 2);
  });
});

describe('the broadcast handler', () => {
  const h = broadcastHandler([38899, 9999]);
  const lan = {
    address: '192.168.1.2',
    prefixLength: 24,
    cidr: '192.168.1.0/24',
    broadcast: '192.168.1.255',
  };

  it('matches limited and LAN-directed broadcasts to configured ports only', () => {
    assert.equal(h.matches('255.255.255.255', 38899, lan), true);
    assert.equal(h.matches('192.168.1.255', 9999, lan), true);
    assert.equal(h.matches('255.255.255.255', 56700, lan), false);
    assert.equal(h.matches('192.168.2.255', 38899, lan), false, "another subnet's broadcast");
    assert.equal(h.matches('192.168.1.20', 38899, lan), false, 'unicast');
  });

  it("keeps the sender's TTL and refuses an empty payload", () => {
    assert.equal(h.emitTtl(64), 64);
    assert.throws(() => h.decode(Buffer.alloc(0)), /^Error: Cannot decode broadcast payload/);
    assert.equal(h.summarize(h.decode(Buffer.from('{"method":"getPilot"}'))), '21 bytes');
  });

  it('without a LAN address matches limited broadcasts only', () => {
    const bare = broadcastHandler([38899]);
    assert.equal(bare.matches('255.255.255.255', 38899), true);
    assert.equal(bare.matches('192.168.1.255', 38899), false);
  });
});

describe('extra multicast groups and the protocol table', () => {
  it('an extra group matches its group and port, and joins the group once', () => {
    const h = customGroupHandler([
      { group: '239.255.255.250', port: 1982 },
      { group: '239.255.255.250', port: 1983 },
    ]);
    assert.equal(h.name, 'multicast');
    assert.equal(h.matches('239.255.255.250', 1982), true);
    assert.equal(h.matches('239.255.255.250', 1900), false);
    assert.deepEqual(h.groups, ['239.255.255.250']);
  });

  it('the table holds only the enabled protocols and classifies by destination', () => {
    const t = protocolTable({
      protocols: ['ssdp', 'broadcast'],
      broadcastPorts: [38899],
      multicastGroups: [],
    });
    assert.deepEqual(
      t.handlers.map((h) => h.name),
      ['ssdp', 'broadcast'],
    );
    assert.equal(t.classify('224.0.0.251', 5353), undefined, 'mDNS is off');
    assert.equal(t.classify('239.255.255.250', 1900)?.name, 'ssdp');
    const lan = {
      address: '192.168.1.2',
      prefixLength: 24,
      cidr: '192.168.1.0/24',
      broadcast: '192.168.1.255',
    };
    assert.equal(t.classify('192.168.1.255', 38899, lan)?.name, 'broadcast');
    assert.equal(t.classify('192.168.1.255', 38899), undefined, 'no LAN address: no directed broadcast');
    assert.deepEqual(t.groups(), ['239.255.255.250']);
  });
});
