// The `node` source mode on the packet path: what leaves for the LAN when a pod's address must not,
// and how replies come back. Real engine, real codecs, an in-memory Emitter and NodeRelay.
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { InterfaceName, IPv4Address } from '../../../src/config/types.js';
import { EventBus } from '../../../src/events/bus.js';
import { protocolTable } from '../../../src/protocols/registry.js';
import type { ProtocolHandler } from '../../../src/protocols/types.js';
import { Counters } from '../../../src/reflect/counters.js';
import { DedupeWindow } from '../../../src/reflect/dedupe.js';
import { Reflector, type Emitter, type NodeRelay } from '../../../src/reflect/engine.js';
import { TokenBuckets } from '../../../src/reflect/token-buckets.js';
import type { Datagram, PodAttachment } from '../../../src/reflect/types.js';
import { buildIPv4, buildUdp, parseIPv4Udp, type UdpDatagram } from '../../../src/wire/ipv4.js';
import { attached, LAN, topologyWith } from './helpers.js';

const NODE = '192.168.1.2';
const DEVICE = '192.168.1.50';
const QU = 0x8000;

/** What left: packets on links (the Emitter) and sends handed to sessions (the NodeRelay). */
class Recorder {
  readonly sent: Array<{ link: InterfaceName; d: UdpDatagram }> = [];
  readonly relayed: Array<{ from: string; protocol: string; srcPort: number; source: string }> = [];
  readonly ports = new Set<number>([40000]);
  readonly emitter: Emitter = {
    send: (link: InterfaceName, packet: Buffer, _dst: IPv4Address) => {
      const r = parseIPv4Udp(Buffer.from(packet));
      assert.ok(r.ok);
      this.sent.push({ link, d: r.datagram });
      return true;
    },
    mtu: () => 1500,
  };
  readonly relay: NodeRelay = {
    owns: (port) => this.ports.has(port),
    room: () => true,
    send: (from: PodAttachment, h: ProtocolHandler, d: Datagram, _ttl: number, source: string) => {
      this.relayed.push({ from: from.pod.name, protocol: h.name, srcPort: d.srcPort, source });
      return true;
    },
  };
}

const LAN_ADDRESS = { address: NODE, prefixLength: 24, cidr: '192.168.1.0/24', broadcast: '192.168.1.255' };

function rig(records: 'rewrite' | 'strip' | 'keep' = 'rewrite') {
  const pod = attached(
    'ha',
    '10.42.0.5',
    'cali-ha',
    { protocols: ['mdns', 'broadcast'] },
    'cali-ha',
    'unroutable',
  );
  const rec = new Recorder();
  const counters = new Counters();
  const reflector = new Reflector(
    {
      protocols: protocolTable({
        protocols: ['mdns', 'broadcast'],
        broadcastPorts: [38899],
        multicastGroups: [],
        mdnsAddressRecords: records,
      }),
      emitter: rec.emitter,
      dedupe: new DedupeWindow(0),
      perSource: new TokenBuckets(0, 1),
      perPod: new TokenBuckets(0, 1),
      bus: new EventBus(),
      counters,
      sessions: rec.relay,
    },
    topologyWith({ lanAddress: LAN_ADDRESS }, pod),
  );
  return { reflector, rec, pod, counters };
}

const packet = (src: string, dst: string, srcPort: number, dstPort: number, payload: Buffer) =>
  buildIPv4(src, dst, 255, buildUdp(srcPort, dstPort, payload));

function quQuery(): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: 0,
    questions: [{ name: '_hap._tcp.local', type: 'PTR', class: 'IN' }],
  });
}
const withQu = (b: Buffer) => {
  // the first question's class sits in the last two bytes of this one-question query
  b.writeUInt16BE(b.readUInt16BE(b.length - 2) | QU, b.length - 2);
  return b;
};
const classOfFirstQuestion = (payload: Buffer) => payload.readUInt16BE(payload.length - 2);

describe('the node source mode', () => {
  it("re-sends a pod's mDNS query from the node's address and port 5353, QU bit cleared", () => {
    const { reflector, rec } = rig();
    reflector.handle(packet('10.42.0.5', '224.0.0.251', 5353, 5353, withQu(quQuery())), 'cali-ha');
    const lan = rec.sent.filter((s) => s.link === LAN);
    assert.equal(lan.length, 1);
    assert.equal(lan[0].d.src, NODE);
    assert.equal(lan[0].d.srcPort, 5353);
    assert.equal(classOfFirstQuestion(lan[0].d.payload) & QU, 0);
  });

  for (const [mode, want] of [
    ['rewrite', [NODE]],
    ['strip', []],
    ['keep', ['10.42.0.5']],
  ] as const) {
    it(`${mode}s the pod's A records in its mDNS answers`, () => {
      const { reflector, rec } = rig(mode);
      const answer = dnsPacket.encode({
        type: 'response',
        answers: [
          { name: 'ha.local', type: 'A', ttl: 120, data: '10.42.0.5' },
          { name: 'ha._hap._tcp.local', type: 'SRV', ttl: 120, data: { port: 21063, target: 'ha.local' } },
        ],
      });
      reflector.handle(packet('10.42.0.5', '224.0.0.251', 5353, 5353, answer), 'cali-ha');
      const lan = rec.sent.find((s) => s.link === LAN);
      assert.ok(lan);
      const decoded = dnsPacket.decode(lan.d.payload);
      assert.deepEqual(
        decoded.answers?.filter((a) => a.type === 'A').map((a) => (a as { data: string }).data),
        [...want],
      );
      assert.equal(decoded.answers?.filter((a) => a.type === 'SRV').length, 1, 'other records are kept');
    });
  }

  it('hands a legacy-unicast mDNS query (source port not 5353) and a broadcast to a session', () => {
    const { reflector, rec } = rig();
    reflector.handle(packet('10.42.0.5', '224.0.0.251', 50123, 5353, quQuery()), 'cali-ha');
    reflector.handle(packet('10.42.0.5', '255.255.255.255', 50124, 38899, Buffer.from('{}')), 'cali-ha');
    assert.deepEqual(rec.relayed, [
      { from: 'home/ha', protocol: 'mdns', srcPort: 50123, source: NODE },
      { from: 'home/ha', protocol: 'broadcast', srcPort: 50124, source: NODE },
    ]);
    assert.equal(rec.sent.filter((s) => s.link === LAN).length, 0, "nothing left with the pod's address");
  });

  it("re-injects a session's reply into the pod with the device's address as source", () => {
    const { reflector, rec, pod } = rig();
    const h = reflector.protocols.get('broadcast')!;
    reflector.injectReply(pod, h, DEVICE, 38899, 50124, Buffer.from('{"result":{}}'));
    assert.equal(rec.sent.length, 1);
    const { link, d } = rec.sent[0];
    assert.equal(link, 'cali-ha');
    assert.deepEqual([d.src, d.srcPort, d.dst, d.dstPort], [DEVICE, 38899, '10.42.0.5', 50124]);
    assert.equal(d.payload.toString(), '{"result":{}}');
  });

  it("drops its own session's broadcast when the node hears it back on the LAN", () => {
    const { reflector, rec, counters } = rig();
    reflector.handle(packet(NODE, '255.255.255.255', 40000, 38899, Buffer.from('{}')), LAN);
    assert.equal(rec.sent.length, 0);
    assert.equal(counters.dropped.broadcast?.['own-echo'], 1);
  });

  it('clears the QU bit of a LAN query going into a node-mode pod, so its answer comes back by multicast', () => {
    const { reflector, rec } = rig();
    reflector.handle(packet(DEVICE, '224.0.0.251', 5353, 5353, withQu(quQuery())), LAN);
    assert.equal(rec.sent.length, 1);
    assert.equal(rec.sent[0].link, 'cali-ha');
    assert.equal(rec.sent[0].d.src, DEVICE);
    assert.equal(classOfFirstQuestion(rec.sent[0].d.payload) & QU, 0);
  });
});
