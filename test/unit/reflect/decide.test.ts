// One table for the per-packet decision: every drop reason the engine counts, every way a copy is
// made, and the source-mode choice, decided from plain values.
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { PodOptions } from '../../../src/config/types.js';
import { protocolTable } from '../../../src/protocols/registry.js';
import { decide, type DecideEnv } from '../../../src/reflect/decide.js';
import type {
  Datagram,
  Decision,
  LanAddress,
  PodAttachment,
  Reach,
  Topology,
} from '../../../src/reflect/types.js';
import { attached, LAN, topology, topologyWith } from './helpers.js';

const table = protocolTable({
  protocols: ['mdns', 'ssdp', 'broadcast', 'multicast'],
  broadcastPorts: [38899, 9999],
  multicastGroups: [{ group: '239.255.255.250', port: 1982 }],
});
const MDNS = table.get('mdns')!;
const SSDP = table.get('ssdp')!;
const BCAST = table.get('broadcast')!;
const MCAST = table.get('multicast')!;

const NODE: LanAddress = {
  address: '192.168.1.2',
  prefixLength: 24,
  cidr: '192.168.1.0/24',
  broadcast: '192.168.1.255',
};
const DEVICE = '192.168.1.50';

const ha = attached('ha', '10.1.0.1', 'cali-ha'); // mdns + ssdp, both ways
const sonos = attached('sonos', '10.1.0.2', 'cali-sonos', { protocols: ['mdns'] });
const listener = attached('listener', '10.1.0.3', 'cali-listen', { direction: 'lan-to-pod' });
const announcer = attached('announcer', '10.1.0.4', 'cali-announce', { direction: 'pod-to-lan' });
const dlna = attached('dlna', '10.1.0.5', 'cali-dlna', { protocols: ['ssdp'] });
const calico = topology(ha, sonos, listener, announcer, dlna);

// A flannel-style bridge: both pods' packets surface on cni0; each is reached through its own port.
const b1 = attached('b1', '10.244.0.2', 'cni0', {}, 'veth-b1');
const b2 = attached('b2', '10.244.0.3', 'cni0', {}, 'veth-b2');
const bridged = topology(b1, b2);

const homekit = attached('homekit', '10.1.0.6', 'cali-hk', { services: ['_hap._tcp.local'] });
const wiz = attached('wiz', '10.1.0.7', 'cali-wiz', { protocols: ['broadcast'], broadcastPorts: [38899] });
const kasa = attached('kasa', '10.1.0.8', 'cali-kasa', { protocols: ['broadcast'] });
const yeelight = attached('yee', '10.1.0.9', 'cali-yee', { protocols: ['multicast'] });

const pod = (name: string, address: string, link: string, reach: Reach, o: Partial<PodOptions> = {}) =>
  attached(name, address, link, { protocols: ['mdns', 'ssdp', 'broadcast'], ...o }, link, reach);
const flannelPod = pod('k3s', '10.42.0.5', 'cali-k3s', 'unroutable');
const bgpPod = pod('bgp', '10.50.0.5', 'cali-bgp', 'routed');
const lanPod = pod('ipam', '192.168.1.77', 'cali-ipam', 'lan-subnet');
const mixed = (mode: 'auto' | 'node' | 'preserve', lan: LanAddress | null = NODE) =>
  topologyWith({ sourceMode: mode, lanAddress: lan ?? undefined }, flannelPod, bgpPod, lanPod);

interface EnvOptions {
  duplicate?: boolean;
  sourceEmpty?: boolean;
  podEmpty?: boolean;
  mtu?: Record<string, number | undefined>;
  sessionsFull?: boolean;
  ownPorts?: number[];
}

function env(topo: Topology, o: EnvOptions = {}): DecideEnv {
  return {
    topology: topo,
    duplicate: () => o.duplicate ?? false,
    takeSource: () => !o.sourceEmpty,
    takePod: () => !o.podEmpty,
    mtu: (link) => (o.mtu && link in o.mtu ? o.mtu[link] : 1500),
    ownsNodePort: (port) => (o.ownPorts ?? []).includes(port),
    sessionRoom: () => !o.sessionsFull,
  };
}

let id = 1;
const query = (name = '_hap._tcp.local') =>
  dnsPacket.encode({ type: 'query', id: id++, questions: [{ type: 'PTR', name }] });

function dgram(src: string, dst: string, dstPort: number, payload: Buffer, srcPort = dstPort): Datagram {
  const segment = Buffer.concat([Buffer.alloc(8), payload]);
  segment.writeUInt16BE(srcPort, 0);
  segment.writeUInt16BE(dstPort, 2);
  return { family: 4, src, dst, ttl: 1, srcPort, dstPort, segment, payload };
}
const mdns = (src: string, payload = query(), srcPort = 5353) => ({
  handler: MDNS,
  d: dgram(src, '224.0.0.251', 5353, payload, srcPort),
});
const ssdp = (src: string) => ({
  handler: SSDP,
  d: dgram(
    src,
    '239.255.255.250',
    1900,
    Buffer.from('M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\nMAN: "ssdp:discover"\r\n\r\n'),
    50000,
  ),
});
const bcast = (src: string, dst = '255.255.255.255', port = 38899, srcPort = 50001) => ({
  handler: BCAST,
  d: dgram(src, dst, port, Buffer.from('{"method":"getPilot"}'), srcPort),
});
const yee = (src: string) => ({
  handler: MCAST,
  d: dgram(src, '239.255.255.250', 1982, Buffer.from('M-SEARCH * HTTP/1.1\r\n')),
});

/** The decision as a reader checks it: who sent it, and each copy as `link` (sent as received),
 *  `link via` (made another way) and `-> dst` when the destination changes; sorted. */
interface View {
  relay: boolean;
  flow: string;
  from?: string;
  targets?: string[];
  reason?: string;
}

function view(d: Decision): View {
  const v: View = { relay: d.relay, flow: d.flow };
  if (d.from) v.from = d.from.pod.name;
  if (d.relay)
    v.targets = d.targets
      .map(
        (t) =>
          `${t.link}${t.via === 'as-is' ? '' : ' ' + t.via}${t.dst === '224.0.0.251' || t.dst === '239.255.255.250' ? '' : ' -> ' + t.dst}`,
      )
      .sort();
  else v.reason = d.reason;
  return v;
}

interface Case {
  desc: string;
  env: DecideEnv;
  ingress: string;
  packet: { handler: typeof MDNS; d: Datagram };
  want: View;
}

const relayed = (flow: string, targets: string[], from?: string): View => ({
  relay: true,
  flow,
  ...(from ? { from } : {}),
  targets,
});
const dropped = (flow: string, reason: string, from?: string): View => ({
  relay: false,
  flow,
  ...(from ? { from } : {}),
  reason,
});

const cases: Case[] = [
  // From the LAN: who gets it
  {
    desc: 'an mDNS packet from a LAN device goes to every pod that receives mDNS, and not back to the LAN',
    env: env(calico),
    ingress: LAN,
    packet: mdns(DEVICE),
    want: relayed('lan-to-pod', ['cali-ha', 'cali-listen', 'cali-sonos']),
  },
  {
    desc: 'an SSDP packet from the LAN goes only to the pods whose protocols include SSDP',
    env: env(calico),
    ingress: LAN,
    packet: ssdp(DEVICE),
    want: relayed('lan-to-pod', ['cali-dlna', 'cali-ha', 'cali-listen']),
  },
  {
    desc: 'a LAN packet for pods behind a bridge goes out on each pod’s own bridge port, not the bridge',
    env: env(bridged),
    ingress: LAN,
    packet: mdns(DEVICE),
    want: relayed('lan-to-pod', ['veth-b1', 'veth-b2']),
  },
  {
    desc: 'a packet to an extra multicast group reaches the pods that take the multicast protocol',
    env: env(topology(ha, yeelight)),
    ingress: LAN,
    packet: yee(DEVICE),
    want: relayed('lan-to-pod', ['cali-yee']),
  },
  {
    desc: 'a LAN subnet broadcast reaches /32 pods as a limited broadcast',
    env: env(topologyWith({ lanAddress: NODE }, wiz)),
    ingress: LAN,
    packet: bcast(DEVICE, '192.168.1.255'),
    want: relayed('lan-to-pod', ['cali-wiz -> 255.255.255.255']),
  },
  {
    desc: 'a broadcast goes only to the pods whose broadcast ports include its port (empty list: all)',
    env: env(topology(wiz, kasa)),
    ingress: LAN,
    packet: bcast(DEVICE, '255.255.255.255', 9999),
    want: relayed('lan-to-pod', ['cali-kasa -> 255.255.255.255']),
  },
  {
    desc: 'an mDNS packet goes to a pod with a services filter only when it names one of its services',
    env: env(topology(homekit, sonos)),
    ingress: LAN,
    packet: mdns(DEVICE, query('_googlecast._tcp.local')),
    want: relayed('lan-to-pod', ['cali-sonos']),
  },
  {
    desc: 'the service enumeration meta-query passes a services filter',
    env: env(topology(homekit)),
    ingress: LAN,
    packet: mdns(DEVICE, query('_services._dns-sd._udp.local')),
    want: relayed('lan-to-pod', ['cali-hk']),
  },
  {
    desc: 'a LAN mDNS query into a node-mode pod is made without its QU bits; others get it as is',
    env: env(mixed('auto')),
    ingress: LAN,
    packet: mdns(DEVICE),
    want: relayed('lan-to-pod', ['cali-bgp', 'cali-ipam', 'cali-k3s node-mode-pod']),
  },

  // From the LAN: drops
  {
    desc: 'a LAN packet carrying an opted-in pod’s source address is that pod’s packet come back: own-echo',
    env: env(calico),
    ingress: LAN,
    packet: mdns(ha.pod.addresses[0]),
    want: dropped('lan-to-pod', 'own-echo'),
  },
  {
    desc: 'a broadcast a node-mode session sent, heard back on the LAN, is own-echo',
    env: env(mixed('auto'), { ownPorts: [40000] }),
    ingress: LAN,
    packet: bcast(NODE.address, '255.255.255.255', 38899, 40000),
    want: dropped('lan-to-pod', 'own-echo'),
  },
  {
    desc: 'a packet from the node’s address on a port that is no session of ours is relayed',
    env: env(mixed('auto'), { ownPorts: [40000] }),
    ingress: LAN,
    packet: bcast(NODE.address, '255.255.255.255', 38899, 40001),
    want: relayed('lan-to-pod', [
      'cali-bgp -> 255.255.255.255',
      'cali-ipam -> 255.255.255.255',
      'cali-k3s -> 255.255.255.255',
    ]),
  },
  {
    desc: 'a LAN packet with no opted-in pods on the node has no target',
    env: env(topology()),
    ingress: LAN,
    packet: mdns(DEVICE),
    want: dropped('lan-to-pod', 'no-target'),
  },
  {
    desc: 'a LAN packet that no pod takes in (wrong protocol, send-only pods) is filtered',
    env: env(topology(announcer, dlna)),
    ingress: LAN,
    packet: mdns(DEVICE),
    want: dropped('lan-to-pod', 'filtered'),
  },
  {
    desc: 'a LAN packet naming no service of the only (filtered) pod is filtered',
    env: env(topology(homekit)),
    ingress: LAN,
    packet: mdns(DEVICE, query('_googlecast._tcp.local')),
    want: dropped('lan-to-pod', 'filtered'),
  },
  {
    desc: 'a broadcast to a port no pod takes is filtered',
    env: env(topology(wiz)),
    ingress: LAN,
    packet: bcast(DEVICE, '255.255.255.255', 9999),
    want: dropped('lan-to-pod', 'filtered'),
  },
  {
    desc: 'the same packet again within the dedupe window is a duplicate',
    env: env(calico, { duplicate: true }),
    ingress: LAN,
    packet: mdns(DEVICE),
    want: dropped('lan-to-pod', 'duplicate'),
  },
  {
    desc: 'a source over its rate is rate-limited',
    env: env(calico, { sourceEmpty: true }),
    ingress: LAN,
    packet: mdns(DEVICE),
    want: dropped('lan-to-pod', 'rate-limited'),
  },
  {
    desc: 'a header claiming 65,535 questions in 12 bytes is malformed',
    env: env(calico),
    ingress: LAN,
    packet: mdns(DEVICE, Buffer.from([0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0])),
    want: dropped('lan-to-pod', 'malformed'),
  },
  {
    desc: 'a packet too big for every target link is too-big',
    env: env(topology(ha, sonos), { mtu: { 'cali-ha': 40, 'cali-sonos': 40 } }),
    ingress: LAN,
    packet: mdns(DEVICE),
    want: dropped('lan-to-pod', 'too-big'),
  },
  {
    desc: 'a packet too big for one link still goes to the others',
    env: env(topology(ha, sonos), { mtu: { 'cali-ha': 40 } }),
    ingress: LAN,
    packet: mdns(DEVICE),
    want: relayed('lan-to-pod', ['cali-sonos']),
  },
  {
    desc: 'a packet whose only target link has no open socket (it just failed) is link-down, not too-big',
    env: env(topology(ha), { mtu: { 'cali-ha': undefined } }),
    ingress: LAN,
    packet: mdns(DEVICE),
    want: dropped('lan-to-pod', 'link-down'),
  },

  // From a pod
  {
    desc: 'a pod’s packet goes to the LAN and to the other receiving pods, never back to the sender',
    env: env(calico),
    ingress: 'cali-ha',
    packet: mdns(ha.pod.addresses[0]),
    want: relayed('pod-to-lan', ['cali-listen', 'cali-sonos', LAN], 'home/ha'),
  },
  {
    desc: 'a pod’s SSDP packet reaches only the other pods that speak SSDP',
    env: env(calico),
    ingress: 'cali-dlna',
    packet: ssdp(dlna.pod.addresses[0]),
    want: relayed('pod-to-lan', ['cali-ha', 'cali-listen', LAN], 'home/dlna'),
  },
  {
    desc: 'a pod-to-lan pod sends to the LAN and the other pods',
    env: env(calico),
    ingress: 'cali-announce',
    packet: mdns(announcer.pod.addresses[0]),
    want: relayed('pod-to-lan', ['cali-ha', 'cali-listen', 'cali-sonos', LAN], 'home/announcer'),
  },
  {
    desc: 'a pod on a bridge is told apart by source address; its bridge neighbours get no copy from us',
    env: env(bridged),
    ingress: 'cni0',
    packet: mdns(b2.pod.addresses[0]),
    want: relayed('pod-to-lan', [LAN], 'home/b2'),
  },
  {
    desc: 'a pod’s broadcast leaves on the LAN to its own destination, into other pods as limited',
    env: env(topologyWith({ lanAddress: NODE }, wiz, kasa)),
    ingress: 'cali-wiz',
    packet: bcast(wiz.pod.addresses[0], '192.168.1.255'),
    want: relayed('pod-to-lan', ['cali-kasa -> 255.255.255.255', `${LAN} -> 192.168.1.255`], 'home/wiz'),
  },

  // From a pod: the source mode, chosen per packet
  {
    desc: 'auto: a pod in the LAN subnet keeps its own address',
    env: env(mixed('auto')),
    ingress: 'cali-ipam',
    packet: ssdp(lanPod.pod.addresses[0]),
    want: relayed('pod-to-lan', ['cali-bgp', 'cali-k3s', LAN], 'home/ipam'),
  },
  {
    desc: 'auto: a pod the LAN routes to (a BGP-announced block) keeps its own address',
    env: env(mixed('auto')),
    ingress: 'cali-bgp',
    packet: ssdp(bgpPod.pod.addresses[0]),
    want: relayed('pod-to-lan', ['cali-ipam', 'cali-k3s', LAN], 'home/bgp'),
  },
  {
    desc: 'auto: an unroutable pod’s M-SEARCH leaves through a node-mode session',
    env: env(mixed('auto')),
    ingress: 'cali-k3s',
    packet: ssdp(flannelPod.pod.addresses[0]),
    want: relayed('pod-to-lan', ['cali-bgp', 'cali-ipam', `${LAN} node-session`], 'home/k3s'),
  },
  {
    desc: 'auto: an unroutable pod’s mDNS from port 5353 leaves from the node directly, no session',
    env: env(mixed('auto')),
    ingress: 'cali-k3s',
    packet: mdns(flannelPod.pod.addresses[0]),
    want: relayed('pod-to-lan', ['cali-bgp', 'cali-ipam', `${LAN} node-direct`], 'home/k3s'),
  },
  {
    desc: 'auto: a legacy-unicast mDNS query (source port not 5353) needs a session',
    env: env(mixed('auto')),
    ingress: 'cali-k3s',
    packet: mdns(flannelPod.pod.addresses[0], query(), 50123),
    want: relayed('pod-to-lan', ['cali-bgp', 'cali-ipam', `${LAN} node-session`], 'home/k3s'),
  },
  {
    desc: 'node: even a routed pod leaves from the node',
    env: env(mixed('node')),
    ingress: 'cali-bgp',
    packet: ssdp(bgpPod.pod.addresses[0]),
    want: relayed('pod-to-lan', ['cali-ipam', 'cali-k3s', `${LAN} node-session`], 'home/bgp'),
  },
  {
    desc: 'preserve: an unroutable pod keeps its own address',
    env: env(mixed('preserve')),
    ingress: 'cali-k3s',
    packet: ssdp(flannelPod.pod.addresses[0]),
    want: relayed('pod-to-lan', ['cali-bgp', 'cali-ipam', LAN], 'home/k3s'),
  },
  {
    desc: 'auto without a LAN address: every pod keeps its own address',
    env: env(mixed('auto', null)),
    ingress: 'cali-k3s',
    packet: ssdp(flannelPod.pod.addresses[0]),
    want: relayed('pod-to-lan', ['cali-bgp', 'cali-ipam', LAN], 'home/k3s'),
  },

  // From a pod: drops
  {
    desc: 'node without a LAN address: the LAN copy is no-node-address (other pods still get theirs)',
    env: env(mixed('node', null)),
    ingress: 'cali-k3s',
    packet: ssdp(flannelPod.pod.addresses[0]),
    want: relayed('pod-to-lan', ['cali-bgp', 'cali-ipam'], 'home/k3s'),
  },
  {
    desc: 'node without a LAN address and no other pod: no-node-address, not too-big',
    env: env(topologyWith({ sourceMode: 'node' }, flannelPod)),
    ingress: 'cali-k3s',
    packet: ssdp(flannelPod.pod.addresses[0]),
    want: dropped('pod-to-lan', 'no-node-address', 'home/k3s'),
  },
  {
    desc: 'a node-mode pod whose session share is full: session-full, not too-big',
    env: env(topologyWith({ lanAddress: NODE }, flannelPod), { sessionsFull: true }),
    ingress: 'cali-k3s',
    packet: ssdp(flannelPod.pod.addresses[0]),
    want: dropped('pod-to-lan', 'session-full', 'home/k3s'),
  },
  {
    desc: 'a pod’s packet when the LAN socket just failed: link-down',
    env: env(topology(ha), { mtu: { [LAN]: undefined } }),
    ingress: 'cali-ha',
    packet: mdns(ha.pod.addresses[0]),
    want: dropped('pod-to-lan', 'link-down', 'home/ha'),
  },
  {
    desc: 'a lan-to-pod pod’s own packet is filtered: it receives but does not send',
    env: env(calico),
    ingress: 'cali-listen',
    packet: mdns(listener.pod.addresses[0]),
    want: dropped('pod-to-lan', 'filtered', 'home/listener'),
  },
  {
    desc: 'a pod’s packet of a protocol outside its list is filtered',
    env: env(calico),
    ingress: 'cali-sonos',
    packet: ssdp(sonos.pod.addresses[0]),
    want: dropped('pod-to-lan', 'filtered', 'home/sonos'),
  },
  {
    desc: 'a pod with a services filter may not send outside its services',
    env: env(topology(homekit, sonos)),
    ingress: 'cali-hk',
    packet: mdns(homekit.pod.addresses[0], query('_googlecast._tcp.local')),
    want: dropped('pod-to-lan', 'filtered', 'home/homekit'),
  },
  {
    desc: 'a pod may not broadcast to a port outside its broadcast ports',
    env: env(topology(wiz, kasa)),
    ingress: 'cali-wiz',
    packet: bcast(wiz.pod.addresses[0], '255.255.255.255', 9999),
    want: dropped('pod-to-lan', 'filtered', 'home/wiz'),
  },
  {
    desc: 'a pod over its own rate is rate-limited',
    env: env(calico, { podEmpty: true }),
    ingress: 'cali-ha',
    packet: mdns(ha.pod.addresses[0]),
    want: dropped('pod-to-lan', 'rate-limited', 'home/ha'),
  },
  {
    desc: 'pod A’s address arriving on pod B’s link is spoofed',
    env: env(calico),
    ingress: 'cali-sonos',
    packet: mdns(ha.pod.addresses[0]),
    want: dropped('pod-to-lan', 'spoofed'),
  },
  {
    desc: 'an opted-in pod’s address arriving on a link the agent does not relay is spoofed',
    env: env(calico),
    ingress: 'cali-stranger',
    packet: mdns(ha.pod.addresses[0]),
    want: dropped('pod-to-lan', 'spoofed'),
  },
  {
    desc: 'an unknown address on a pod link is a pod that did not opt in',
    env: env(calico),
    ingress: 'cali-ha',
    packet: mdns('10.1.0.99'),
    want: dropped('pod-to-lan', 'not-opted-in'),
  },
  {
    desc: 'a pod on the same bridge that did not opt in is not relayed for',
    env: env(bridged),
    ingress: 'cni0',
    packet: mdns('10.244.0.9'),
    want: dropped('pod-to-lan', 'not-opted-in'),
  },
];

describe('decide', () => {
  for (const c of cases) {
    it(c.desc, () => assert.deepEqual(view(decide({ ingress: c.ingress, ...c.packet }, c.env)), c.want));
  }

  it('covers every drop reason the engine can count', () => {
    const covered = new Set(cases.map((c) => c.want.reason).filter(Boolean));
    // malformed outside a protocol (not IPv4/UDP) and send-failed are the engine's, after decide.
    for (const r of [
      'malformed',
      'too-big',
      'not-opted-in',
      'spoofed',
      'own-echo',
      'duplicate',
      'rate-limited',
      'filtered',
      'no-target',
      'link-down',
      'session-full',
      'no-node-address',
    ])
      assert.ok(covered.has(r), `no case for ${r}`);
  });

  it('takes no token and leaves no dedupe entry for a packet dropped before the guards', () => {
    const asked: string[] = [];
    const e: DecideEnv = {
      ...env(calico),
      duplicate: () => (asked.push('dedupe'), false),
      takeSource: () => (asked.push('source'), true),
      takePod: () => (asked.push('pod'), true),
    };
    decide({ ingress: 'cali-listen', ...mdns(listener.pod.addresses[0]) }, e);
    decide({ ingress: 'cali-ha', ...mdns('10.1.0.99') }, e);
    assert.deepEqual(asked, []);
    decide({ ingress: 'cali-ha', ...mdns(ha.pod.addresses[0]) }, e);
    assert.deepEqual(asked, ['dedupe', 'source', 'pod']);
  });

  it('reads the payload’s names only when some pod filters by service', () => {
    let reads = 0;
    const counting = { ...MDNS, facts: (p: Buffer) => (reads++, MDNS.facts!(p)) };
    decide({ ingress: LAN, handler: counting, d: mdns(DEVICE).d }, env(calico));
    assert.equal(reads, 0);
    decide({ ingress: LAN, handler: counting, d: mdns(DEVICE).d }, env(topology(homekit, sonos, ha)));
    assert.equal(reads, 1, 'once per packet, however many pods filter');
  });

  it('never targets a send-only pod or the sender', () => {
    const d = decide({ ingress: 'cali-ha', ...mdns(ha.pod.addresses[0]) }, env(calico));
    assert.ok(d.relay);
    assert.ok(d.targets.every((t) => t.pod !== announcer && t.pod !== ha));
  });

  it('names the pod each copy is for, and no pod for the LAN copy', () => {
    const d = decide({ ingress: 'cali-sonos', ...mdns(sonos.pod.addresses[0]) }, env(topology(ha, sonos)));
    assert.ok(d.relay);
    assert.deepEqual(
      d.targets.map((t) => [t.link, t.pod?.pod.name]),
      [
        [LAN, undefined],
        ['cali-ha', 'home/ha'],
      ],
    );
  });
});

export type { PodAttachment };
