import assert from 'node:assert/strict';
import type { IPv4Address } from '../../../src/config/types.js';
import { attachPods, diffLinks, type AttachContext } from '../../../src/links/attach.js';
import type { Route } from '../../../src/links/routes.js';
import type { PodSpec } from '../../../src/pods/types.js';

const ROUTES: Route[] = [
  { dst: 'default', gateway: '192.168.1.1', dev: 'eth0' },
  { dst: '192.168.1.0/24', dev: 'eth0' },
  { dst: '10.1.0.5', dev: 'cali1a2b3c4d5e6' },
  { dst: '10.1.0.0/26', type: 'blackhole' },
  { dst: '10.1.1.0/26', gateway: '192.168.1.21', dev: 'eth0' },
  { dst: '10.244.0.0/24', dev: 'cni0' },
  { dst: '2001:db8:1::5', dev: 'cali1a2b3c4d5e6', family: 6 },
  { dst: '2001:db8:244::/64', dev: 'cni0', family: 6 },
  { dst: 'default', gateway: 'fe80::1', dev: 'eth0', family: 6 },
];

/** A node whose LAN link is eth0, with a flannel bridge cni0; pods in 192.168.1.0/24 keep their
 *  address on the LAN, the others are re-sent from the node's. */
function context(bridgePorts: Record<IPv4Address, string> = {}): AttachContext {
  return {
    lanLink: 'eth0',
    bridges: new Set(['cni0']),
    bridgePorts: new Map(Object.entries(bridgePorts)),
    reachOf: (a) => (a.startsWith('192.168.1.') ? 'lan-subnet' : 'unroutable'),
  };
}

function pod(name: string, ...addresses: IPv4Address[]): PodSpec {
  return {
    key: `home/${name}`,
    name: `home/${name}`,
    addresses,
    options: { protocols: ['mdns'], direction: 'both', services: [], broadcastPorts: [] },
  };
}

/** attachPods for one pod: its link, port and source mode, or its problem. */
function attachOne(p: PodSpec, ctx = context(), routes = ROUTES) {
  const { attachments, problems } = attachPods([p], routes, ctx);
  assert.equal(attachments.length + problems.length, 1, 'each pod is either attached or has a problem');
  if (problems.length) return { problem: problems[0].message };
  const a = attachments[0];
  assert.equal(a.pod, p);
  return { link: a.link, port: a.port, reach: a.reach };
}

describe('attachPods', () => {
  const cases: Array<{
    desc: string;
    input: PodSpec;
    ctx?: AttachContext;
    want: ReturnType<typeof attachOne>;
  }> = [
    {
      desc: 'attaches a Calico pod to the veth its host route names, sending to that same veth',
      input: pod('ha', '10.1.0.5'),
      want: { link: 'cali1a2b3c4d5e6', port: 'cali1a2b3c4d5e6', reach: 'unroutable' },
    },
    {
      desc: 'attaches an IPv6-only Calico pod by its /128 host route',
      input: pod('v6', '2001:db8:1::5'),
      want: { link: 'cali1a2b3c4d5e6', port: 'cali1a2b3c4d5e6', reach: 'unroutable' },
    },
    {
      desc: 'attaches a dual-stack pod whose IPv4 address has no route yet by its IPv6 one',
      input: pod('dual', '10.1.0.9', '2001:db8:1::5'),
      want: { link: 'cali1a2b3c4d5e6', port: 'cali1a2b3c4d5e6', reach: 'unroutable' },
    },
    {
      desc: 'finds a dual-stack bridge pod’s port from either of its addresses',
      input: pod('dual-br', '10.244.0.3', '2001:db8:244::3'),
      ctx: context({ '2001:db8:244::3': 'veth1234' }),
      want: { link: 'cni0', port: 'veth1234', reach: 'unroutable' },
    },
    {
      desc: 'reports an IPv6 pod of another node by the gateway its default route names',
      input: pod('away', '2001:db8:9::1'),
      want: {
        problem:
          '2001:db8:9::1 is reached through gateway fe80::1, not a pod link: the pod does not run on this node',
      },
    },
    {
      desc: 'attaches a bridge pod to the bridge, sending to its own bridge port',
      input: pod('sonos', '10.244.0.3'),
      ctx: context({ '10.244.0.3': 'veth3f2a' }),
      want: { link: 'cni0', port: 'veth3f2a', reach: 'unroutable' },
    },
    {
      desc: 'leaves a bridge pod out while its bridge port is unknown, so it cannot feed its neighbours',
      input: pod('sonos', '10.244.0.3'),
      want: { problem: '10.244.0.3 is behind bridge cni0 but its bridge port is not known yet' },
    },
    {
      desc: 'says a pod without an address yet has none',
      input: pod('pending'),
      want: { problem: 'has no address yet' },
    },
    {
      desc: 'says there is no route for a pod address that falls into the node’s blackhole',
      input: pod('gone', '10.1.0.7'),
      want: { problem: 'no route to 10.1.0.7 on this node (is the pod running here?)' },
    },
    {
      desc: 'says a pod reached via a gateway runs on another node',
      input: pod('remote', '10.1.1.9'),
      want: {
        problem:
          '10.1.1.9 is reached through gateway 192.168.1.21, not a pod link: the pod does not run on this node',
      },
    },
    {
      desc: 'says a pod reached through the LAN interface is not on a pod link',
      input: pod('lan', '192.168.1.77'),
      want: {
        problem:
          '192.168.1.77 is reached through the LAN interface eth0, not a pod link: the pod does not run on this node',
      },
    },
    {
      desc: 'says an address only the default route covers is behind the default gateway',
      input: pod('far', '172.16.0.9'),
      want: {
        problem:
          '172.16.0.9 is reached through gateway 192.168.1.1, not a pod link: the pod does not run on this node',
      },
    },
  ];
  for (const c of cases) {
    it(c.desc, () => assert.deepEqual(attachOne(c.input, c.ctx), c.want));
  }

  it('takes each pod’s source mode from the context', () => {
    const routes: Route[] = [{ dst: '192.168.1.200', dev: 'cali0000000001' }, ...ROUTES];
    assert.deepEqual(attachOne(pod('lan-ipam', '192.168.1.200'), context(), routes), {
      link: 'cali0000000001',
      port: 'cali0000000001',
      reach: 'lan-subnet',
    });
  });

  it('says there is no route when the table has none at all', () => {
    assert.deepEqual(attachOne(pod('ha', '10.1.0.5'), context(), []), {
      problem: 'no route to 10.1.0.5 on this node (is the pod running here?)',
    });
  });

  it('refuses a multipath route, which names no single link, with a message naming the address', () => {
    const routes: Route[] = [{ dst: '10.1.3.0/26' }];
    const r = attachOne(pod('ecmp', '10.1.3.4'), context(), routes);
    assert.ok('problem' in r && r.problem?.includes('10.1.3.4'), JSON.stringify(r));
  });

  it('attaches the pods it can and reports the others, in one pass', () => {
    const pods = [pod('ha', '10.1.0.5'), pod('remote', '10.1.1.9'), pod('b', '10.244.0.4'), pod('pending')];
    const { attachments, problems } = attachPods(pods, ROUTES, context({ '10.244.0.4': 'veth44' }));
    assert.deepEqual(
      attachments.map((a) => [a.pod.name, a.link, a.port]),
      [
        ['home/ha', 'cali1a2b3c4d5e6', 'cali1a2b3c4d5e6'],
        ['home/b', 'cni0', 'veth44'],
      ],
    );
    assert.deepEqual(
      problems.map((p) => p.pod.name),
      ['home/remote', 'home/pending'],
    );
  });
});

describe('diffLinks', () => {
  const cases: Array<{
    desc: string;
    input: [string[], string[]];
    want: { add: string[]; remove: string[] };
  }> = [
    {
      desc: 'opens every wanted link when none is open',
      input: [[], ['eth0', 'cali1']],
      want: { add: ['eth0', 'cali1'], remove: [] },
    },
    {
      desc: 'closes every open link when none is wanted',
      input: [['eth0', 'cali1'], []],
      want: { add: [], remove: ['eth0', 'cali1'] },
    },
    {
      desc: 'changes nothing when open and wanted agree',
      input: [
        ['eth0', 'cali1'],
        ['cali1', 'eth0'],
      ],
      want: { add: [], remove: [] },
    },
    {
      desc: 'swaps a restarted pod’s old veth for its new one and keeps the rest',
      input: [
        ['eth0', 'cali1', 'cali2'],
        ['eth0', 'cali1', 'cali3'],
      ],
      want: { add: ['cali3'], remove: ['cali2'] },
    },
    {
      desc: 'counts a link wanted twice once',
      input: [[], ['cni0', 'cni0']],
      want: { add: ['cni0'], remove: [] },
    },
  ];
  for (const c of cases) {
    it(c.desc, () => assert.deepEqual(diffLinks(...c.input), c.want));
  }

  it('takes any iterable, such as the keys of a Map of open sockets', () => {
    const open = new Map([
      ['eth0', 1],
      ['cali2', 2],
    ]);
    assert.deepEqual(diffLinks(open.keys(), new Set(['eth0', 'cali3'])), {
      add: ['cali3'],
      remove: ['cali2'],
    });
  });
});
