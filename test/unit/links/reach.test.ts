import assert from 'node:assert/strict';
import { parseRoutes, type Route } from '../../../src/links/routes.js';
import { bgpAnnouncesPods, reachOf } from '../../../src/links/reach.js';
import { chooseSourceMode } from '../../../src/reflect/source-mode.js';

const lan = { address: '192.168.1.2', prefixLength: 24, cidr: '192.168.1.0/24', broadcast: '192.168.1.255' };

// `ip -j -4 route show table main` on a Calico node peering with the LAN router over BGP (the
// write-up's setup): BIRD installs a blackhole for each block it owns and announces, and reaches the
// other nodes' blocks natively over the LAN.
const CALICO_BGP = parseRoutes(
  JSON.stringify([
    { dst: 'default', gateway: '192.168.1.1', dev: 'eth0', protocol: 'dhcp', flags: [] },
    {
      dst: '192.168.1.0/24',
      dev: 'eth0',
      protocol: 'kernel',
      scope: 'link',
      prefsrc: '192.168.1.2',
      flags: [],
    },
    { type: 'blackhole', dst: '10.42.7.0/26', protocol: 'bird', flags: [] },
    { dst: '10.42.7.5', dev: 'cali1a2b3c4d5e6', scope: 'link', flags: [] },
    { dst: '10.42.9.0/26', gateway: '192.168.1.3', dev: 'eth0', protocol: 'bird', flags: [] },
  ]),
);
// Calico's default install: IPIP between nodes, BGP only in the node-to-node mesh. BIRD still
// installs its blackhole, but the LAN router knows nothing of pod addresses.
const CALICO_IPIP: Route[] = [
  ...CALICO_BGP.filter((r) => r.gateway !== '192.168.1.3'),
  { dst: '10.42.9.0/26', gateway: '192.168.1.3', dev: 'tunl0', protocol: 'bird' },
];
// k3s with flannel: a bridge, a VXLAN device to the other nodes, no BGP.
const FLANNEL: Route[] = [
  { dst: 'default', gateway: '192.168.1.1', dev: 'eth0' },
  { dst: '192.168.1.0/24', dev: 'eth0', protocol: 'kernel' },
  { dst: '10.42.0.0/24', dev: 'cni0', protocol: 'kernel' },
  { dst: '10.42.1.0/24', gateway: '10.42.1.0', dev: 'flannel.1' },
];

describe('reachOf: does the LAN reach a pod’s address?', () => {
  const cases: Array<{
    desc: string;
    address: string;
    routes: Route[];
    routedPodCidrs?: string[];
    want: string;
  }> = [
    {
      desc: 'a pod inside the LAN subnet (LAN-subnet IPAM, macvlan)',
      address: '192.168.1.77',
      routes: FLANNEL,
      want: 'lan-subnet',
    },
    {
      desc: 'a Calico pod whose block BIRD announces natively (BGP peering with the router)',
      address: '10.42.7.5',
      routes: CALICO_BGP,
      want: 'routed',
    },
    {
      desc: 'a Calico pod outside any announced block',
      address: '10.99.0.5',
      routes: CALICO_BGP,
      want: 'unroutable',
    },
    {
      desc: 'a Calico pod in IPIP mode: BIRD runs between nodes, pod traffic is tunnelled',
      address: '10.42.7.5',
      routes: CALICO_IPIP,
      want: 'unroutable',
    },
    { desc: 'a flannel/k3s pod', address: '10.42.0.9', routes: FLANNEL, want: 'unroutable' },
    {
      desc: 'a pod in a configured routedPodCidrs range, whatever the routes say',
      address: '10.42.0.9',
      routes: FLANNEL,
      routedPodCidrs: ['10.42.0.0/16'],
      want: 'routed',
    },
    {
      desc: 'configured routedPodCidrs replace the detection: a pod outside them is unroutable',
      address: '10.42.7.5',
      routes: CALICO_BGP,
      routedPodCidrs: ['10.50.0.0/16'],
      want: 'unroutable',
    },
  ];
  for (const c of cases)
    it(`${c.want}: ${c.desc}`, () =>
      assert.equal(
        reachOf(c.address, { lan, routes: c.routes, routedPodCidrs: c.routedPodCidrs ?? [] }),
        c.want,
      ));

  it('reads BIRD’s routes from ip -j output: the protocol is kept', () => {
    assert.equal(CALICO_BGP.find((r) => r.type === 'blackhole')?.protocol, 'bird');
    assert.equal(bgpAnnouncesPods(CALICO_BGP), true);
    assert.equal(bgpAnnouncesPods(CALICO_IPIP), false);
    assert.equal(bgpAnnouncesPods(FLANNEL), false);
  });
});

describe('chooseSourceMode', () => {
  const cases = [
    ['auto', 'lan-subnet', true, 'preserve'],
    ['auto', 'routed', true, 'preserve'],
    ['auto', 'unroutable', true, 'node'],
    ['auto', 'unroutable', false, 'preserve'],
    ['node', 'routed', true, 'node'],
    ['node', 'unroutable', false, 'no-node-address'],
    ['preserve', 'unroutable', true, 'preserve'],
  ] as const;
  for (const [mode, reach, has, want] of cases)
    it(`${mode} with a ${reach} pod ${has ? 'and' : 'but no'} node address: ${want}`, () =>
      assert.equal(chooseSourceMode(mode, reach, has), want));
});
