// The per-packet decision for IPv6: attribution of link-local sources, the link-local rules of
// crossing links (RFC 6762 5.4, 6.2, 6.7; UPnP M-SEARCH), no node mode, and a link whose IPv6 is off.
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { protocolTable } from '../../../src/protocols/registry.js';
import { decide, type DecideEnv } from '../../../src/reflect/decide.js';
import type { Datagram, Decision, Family, PodAttachment, Topology } from '../../../src/reflect/types.js';
import { attached, LAN, topologyWith } from './helpers.js';

const table = protocolTable({ protocols: ['mdns', 'ssdp'], broadcastPorts: [], multicastGroups: [] });
const MDNS = table.get('mdns')!;
const SSDP = table.get('ssdp')!;

const DEVICE_LL = 'fe80::2c4f:10ff:fe22:3344';
const DEVICE6 = '2001:db8:4::11';
const POD_LL = 'fe80::a8bb:ccff:fedd:eeff';

const dual = (name: string, v4: string, v6: string, link: string, port = link): PodAttachment => {
  const a = attached(name, v4, link, {}, port, 'unroutable');
  return { ...a, pod: { ...a.pod, addresses: [v4, v6] } };
};
const ha = dual('ha', '10.1.0.1', '2001:db8:19:1::11', 'cali-ha');
const tv = dual('tv', '10.1.0.2', '2001:db8:19:1::12', 'cali-tv');
const b1 = dual('b1', '10.244.0.2', '2001:db8:244::2', 'cni0', 'veth-b1');
const b2 = dual('b2', '10.244.0.3', '2001:db8:244::3', 'cni0', 'veth-b2');
const B1_LL = 'fe80::1:2';

// `node` source mode for every pod: IPv6 must still keep its source.
const calico = topologyWith({ sourceMode: 'node' }, ha, tv);
const bridged = topologyWith({ sourceMode: 'auto', linkLocals: new Map([[`cni0%${B1_LL}`, b1]]) }, b1, b2);

function env(topo: Topology, mtu6: Record<string, number | undefined> = {}): DecideEnv {
  return {
    topology: topo,
    duplicate: () => false,
    takeSource: () => true,
    takePod: () => true,
    mtu: (link, family: Family) => (family === 6 && link in mtu6 ? mtu6[link] : 1500),
    ownsNodePort: () => false,
    sessionRoom: () => true,
  };
}

function dgram6(src: string, dst: string, port: number, payload: Buffer, srcPort = port): Datagram {
  const segment = Buffer.concat([Buffer.alloc(8), payload]);
  segment.writeUInt16BE(srcPort, 0);
  segment.writeUInt16BE(port, 2);
  segment.writeUInt16BE(segment.length, 4);
  return { family: 6, src, dst, ttl: 255, srcPort, dstPort: port, segment, payload };
}

const query = (qu = false) => {
  const q = Buffer.from(
    dnsPacket.encode({ type: 'query', questions: [{ type: 'PTR', name: '_hap._tcp.local' }] }),
  );
  if (qu) q.writeUInt16BE(0x8001, q.length - 2);
  return q;
};
const answer = (...addresses: string[]) =>
  Buffer.from(
    dnsPacket.encode({
      type: 'response',
      flags: 0x400,
      answers: [
        { name: '_hap._tcp.local', type: 'PTR', ttl: 4500, data: 'Lamp._hap._tcp.local' },
        ...addresses.map((a) => ({
          name: 'lamp.local',
          type: 'AAAA' as const,
          ttl: 120,
          flush: true,
          data: a,
        })),
      ],
    }),
  );
const mdns6 = (src: string, payload: Buffer, srcPort = 5353) => ({
  handler: MDNS,
  d: dgram6(src, 'ff02::fb', 5353, payload, srcPort),
});

type Relay = Extract<Decision, { relay: true }>;
function relayed(dec: Decision): Relay {
  assert.ok(dec.relay, `dropped: ${dec.relay ? '' : `${dec.reason} ${dec.detail ?? ''}`}`);
  return dec;
}
const links = (dec: Relay) => dec.targets.map((t) => `${t.link} ${t.via} -> ${t.dst}`).sort();

describe('decide for IPv6', () => {
  it('relays a LAN device’s ff02::fb packet from its fe80 source into every pod, as is', () => {
    const dec = relayed(decide({ ingress: LAN, ...mdns6(DEVICE_LL, answer(DEVICE6)) }, env(calico)));
    assert.deepEqual(links(dec), ['cali-ha as-is -> ff02::fb', 'cali-tv as-is -> ff02::fb']);
    assert.equal(dec.payload, undefined, 'nothing to edit: the packet goes as received');
  });

  it('takes an fe80 source on a pod’s own veth as that pod, and keeps its source in node mode (no IPv6 node mode)', () => {
    const dec = relayed(
      decide({ ingress: 'cali-ha', ...mdns6(POD_LL, answer('2001:db8:19:1::11')) }, env(calico)),
    );
    assert.equal(dec.from, ha);
    assert.deepEqual(links(dec), ['cali-tv as-is -> ff02::fb', `${LAN} as-is -> ff02::fb`]);
  });

  it('attributes a bridged pod’s fe80 source by the learned neighbour entry, and refuses an unknown one', () => {
    const known = relayed(
      decide({ ingress: 'cni0', ...mdns6(B1_LL, answer('2001:db8:244::2')) }, env(bridged)),
    );
    assert.equal(known.from, b1);
    // The bridge has already flooded it to b2: only the LAN gets a copy.
    assert.deepEqual(links(known), [`${LAN} as-is -> ff02::fb`]);
    const unknown = decide(
      { ingress: 'cni0', ...mdns6('fe80::9:9', answer('2001:db8:244::9')) },
      env(bridged),
    );
    assert.equal(unknown.relay, false);
    assert.equal(!unknown.relay && unknown.reason, 'not-opted-in');
  });

  it('strips fe80 AAAA records from every copy (RFC 6762 6.2), keeping the global one', () => {
    const dec = relayed(
      decide({ ingress: LAN, ...mdns6(DEVICE_LL, answer('fe80::1', DEVICE6)) }, env(calico)),
    );
    assert.ok(dec.payload, 'the copies carry an edited payload');
    const p = dnsPacket.decode(dec.payload);
    assert.deepEqual(
      p.answers!.filter((a) => a.type === 'AAAA').map((a) => (a as { data: string }).data),
      [DEVICE6],
    );
  });

  it('drops a response whose only address records are link-local (filtered, saying why)', () => {
    const dec = decide(
      {
        ingress: LAN,
        ...mdns6(
          DEVICE_LL,
          Buffer.from(
            dnsPacket.encode({
              type: 'response',
              answers: [{ name: 'l.local', type: 'AAAA', ttl: 120, data: 'fe80::1' }],
            }),
          ),
        ),
      },
      env(calico),
    );
    assert.ok(!dec.relay);
    assert.equal(dec.reason, 'filtered');
    assert.match(dec.detail!, /only link-local address records/);
  });

  it('clears the QU bit of a question from a link-local source (RFC 6762 5.4), and only then', () => {
    const fromLl = relayed(decide({ ingress: LAN, ...mdns6(DEVICE_LL, query(true)) }, env(calico)));
    assert.ok(fromLl.payload);
    assert.equal(fromLl.payload.readUInt16BE(fromLl.payload.length - 2), 0x0001);
    const fromGlobal = relayed(decide({ ingress: LAN, ...mdns6(DEVICE6, query(true)) }, env(calico)));
    assert.equal(fromGlobal.payload, undefined, 'a global source can take its unicast answer');
  });

  it('drops a legacy unicast query (RFC 6762 6.7) from a link-local source, but not from a global one', () => {
    const dec = decide({ ingress: 'cali-ha', ...mdns6(POD_LL, query(), 40000) }, env(calico));
    assert.ok(!dec.relay);
    assert.equal(dec.reason, 'filtered');
    assert.match(dec.detail!, /legacy unicast query from a link-local source/);
    relayed(decide({ ingress: 'cali-ha', ...mdns6('2001:db8:19:1::11', query(), 40000) }, env(calico)));
  });

  it('drops an SSDP M-SEARCH from a link-local source; relays its NOTIFY and a global source’s M-SEARCH', () => {
    const search = Buffer.from(
      'M-SEARCH * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nST: ssdp:all\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n\r\n',
    );
    const notify = Buffer.from(
      'NOTIFY * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\nLOCATION: http://[2001:db8:4::11]:8200/d.xml\r\nUSN: uuid:1::upnp:rootdevice\r\n\r\n',
    );
    const m = decide(
      { ingress: 'cali-ha', handler: SSDP, d: dgram6(POD_LL, 'ff02::c', 1900, search, 50000) },
      env(calico),
    );
    assert.ok(!m.relay);
    assert.equal(m.reason, 'filtered');
    assert.match(m.detail!, /M-SEARCH from a link-local source/);
    relayed(
      decide({ ingress: LAN, handler: SSDP, d: dgram6(DEVICE_LL, 'ff02::c', 1900, notify) }, env(calico)),
    );
    relayed(
      decide(
        { ingress: LAN, handler: SSDP, d: dgram6(DEVICE6, 'ff02::c', 1900, search, 50000) },
        env(calico),
      ),
    );
  });

  it('skips a pod link whose IPv6 is off as link-down, relaying to the others', () => {
    const dec = relayed(
      decide({ ingress: LAN, ...mdns6(DEVICE_LL, answer(DEVICE6)) }, env(calico, { 'cali-tv': undefined })),
    );
    assert.deepEqual(links(dec), ['cali-ha as-is -> ff02::fb']);
    const none = decide(
      { ingress: LAN, ...mdns6(DEVICE_LL, answer(DEVICE6)) },
      env(calico, { 'cali-tv': undefined, 'cali-ha': undefined }),
    );
    assert.ok(!none.relay);
    assert.equal(none.reason, 'link-down');
  });

  it('calls a pod’s IPv6 packet seen again on the LAN its own echo', () => {
    const dec = decide(
      { ingress: LAN, ...mdns6('2001:db8:19:1::12', answer('2001:db8:19:1::12')) },
      env(calico),
    );
    assert.ok(!dec.relay);
    assert.equal(dec.reason, 'own-echo');
  });
});
