import assert from 'node:assert/strict';
import type { ProtocolName } from '../../../src/config/types.js';
import { decide, type Arrival } from '../../../src/reflect/decide.js';
import type { Decision, Topology } from '../../../src/reflect/types.js';
import { attached, LAN, topology } from './helpers.js';

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

const DEVICE = '192.168.1.50';

/** The decision as a reader checks it: pod names, and the links copies go out on (sorted). */
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
  if (d.relay) v.targets = d.targets.map((t) => t.link).sort();
  else v.reason = d.reason;
  return v;
}

function arrival(ingress: string, src: string, protocol: ProtocolName = 'mdns'): Arrival {
  return { ingress, src, protocol };
}

interface Case {
  desc: string;
  topo: Topology;
  input: Arrival;
  want: View;
}

const cases: Case[] = [
  // From the LAN
  {
    desc: 'an mDNS packet from a LAN device goes to every pod that receives mDNS, and not back to the LAN',
    topo: calico,
    input: arrival(LAN, DEVICE),
    want: { relay: true, flow: 'lan-to-pod', targets: ['cali-ha', 'cali-listen', 'cali-sonos'] },
  },
  {
    desc: 'an SSDP packet from the LAN goes only to the pods whose protocols include SSDP',
    topo: calico,
    input: arrival(LAN, DEVICE, 'ssdp'),
    want: { relay: true, flow: 'lan-to-pod', targets: ['cali-dlna', 'cali-ha', 'cali-listen'] },
  },
  {
    desc: 'a LAN packet for pods behind a bridge goes out on each pod’s own bridge port, not the bridge',
    topo: bridged,
    input: arrival(LAN, DEVICE),
    want: { relay: true, flow: 'lan-to-pod', targets: ['veth-b1', 'veth-b2'] },
  },
  {
    desc: 'a LAN packet carrying an opted-in pod’s source address is that pod’s packet come back: own-echo',
    topo: calico,
    input: arrival(LAN, ha.pod.addresses[0]),
    want: { relay: false, flow: 'lan-to-pod', reason: 'own-echo' },
  },
  {
    desc: 'a LAN packet with no opted-in pods on the node has no target',
    topo: topology(),
    input: arrival(LAN, DEVICE),
    want: { relay: false, flow: 'lan-to-pod', reason: 'no-target' },
  },
  {
    desc: 'a LAN packet that no pod takes in (wrong protocol, send-only pods) is filtered',
    topo: topology(announcer, dlna),
    input: arrival(LAN, DEVICE, 'mdns'),
    want: { relay: false, flow: 'lan-to-pod', reason: 'filtered' },
  },
  {
    desc: 'a LAN packet of a protocol no pod speaks is filtered',
    topo: calico,
    input: arrival(LAN, DEVICE, 'broadcast'),
    want: { relay: false, flow: 'lan-to-pod', reason: 'filtered' },
  },

  // From a pod
  {
    desc: 'a pod’s packet goes to the LAN and to the other receiving pods, never back to the sender',
    topo: calico,
    input: arrival('cali-ha', ha.pod.addresses[0]),
    want: {
      relay: true,
      flow: 'pod-to-lan',
      from: 'home/ha',
      targets: ['cali-listen', 'cali-sonos', LAN],
    },
  },
  {
    desc: 'a pod’s SSDP packet reaches only the other pods that speak SSDP',
    topo: calico,
    input: arrival('cali-dlna', dlna.pod.addresses[0], 'ssdp'),
    want: { relay: true, flow: 'pod-to-lan', from: 'home/dlna', targets: ['cali-ha', 'cali-listen', LAN] },
  },
  {
    desc: 'a pod-to-lan pod sends to the LAN and the other pods',
    topo: calico,
    input: arrival('cali-announce', announcer.pod.addresses[0]),
    want: {
      relay: true,
      flow: 'pod-to-lan',
      from: 'home/announcer',
      targets: ['cali-ha', 'cali-listen', 'cali-sonos', LAN],
    },
  },
  {
    desc: 'a lan-to-pod pod’s own packet is filtered: it receives but does not send',
    topo: calico,
    input: arrival('cali-listen', listener.pod.addresses[0]),
    want: { relay: false, flow: 'pod-to-lan', from: 'home/listener', reason: 'filtered' },
  },
  {
    desc: 'a pod’s packet of a protocol outside its list is filtered',
    topo: calico,
    input: arrival('cali-sonos', sonos.pod.addresses[0], 'ssdp'),
    want: { relay: false, flow: 'pod-to-lan', from: 'home/sonos', reason: 'filtered' },
  },
  {
    desc: 'pod A’s address arriving on pod B’s link is spoofed',
    topo: calico,
    input: arrival('cali-sonos', ha.pod.addresses[0]),
    want: { relay: false, flow: 'pod-to-lan', reason: 'spoofed' },
  },
  {
    desc: 'an opted-in pod’s address arriving on a link the agent does not relay is spoofed',
    topo: calico,
    input: arrival('cali-stranger', ha.pod.addresses[0]),
    want: { relay: false, flow: 'pod-to-lan', reason: 'spoofed' },
  },
  {
    desc: 'an unknown address on a pod link is a pod that did not opt in',
    topo: calico,
    input: arrival('cali-ha', '10.1.0.99'),
    want: { relay: false, flow: 'pod-to-lan', reason: 'not-opted-in' },
  },
  {
    desc: 'a pod on a bridge is told apart from its neighbours by its source address',
    topo: bridged,
    input: arrival('cni0', b2.pod.addresses[0]),
    // Its bridge neighbours get no copy from the agent: the bridge has already flooded it to them.
    want: { relay: true, flow: 'pod-to-lan', from: 'home/b2', targets: [LAN] },
  },
  {
    desc: 'a pod on the same bridge that did not opt in is not relayed for',
    topo: bridged,
    input: arrival('cni0', '10.244.0.9'),
    want: { relay: false, flow: 'pod-to-lan', reason: 'not-opted-in' },
  },
];

describe('decide', () => {
  for (const c of cases) {
    it(c.desc, () => assert.deepEqual(view(decide(c.input, c.topo)), c.want));
  }

  it('never targets the LAN link for a LAN packet, nor a send-only pod, whatever the protocol', () => {
    for (const protocol of ['mdns', 'ssdp'] as const) {
      const d = decide(arrival(LAN, DEVICE, protocol), calico);
      assert.ok(d.relay);
      for (const t of d.targets) {
        assert.notEqual(t.link, LAN);
        assert.notEqual(t.pod, announcer);
      }
    }
  });

  it('never targets a send-only pod from another pod either', () => {
    const d = decide(arrival('cali-ha', ha.pod.addresses[0]), calico);
    assert.ok(d.relay);
    assert.ok(d.targets.every((t) => t.pod !== announcer && t.pod !== ha));
  });

  it('names the pod each copy is for, and no pod for the LAN copy', () => {
    const d = decide(arrival('cali-sonos', sonos.pod.addresses[0]), topology(ha, sonos));
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
