import assert from 'node:assert/strict';
import { inSubnet, lookupRoute, parseRoutes, type Route } from '../../../src/links/routes.js';

/**
 * `ip -j -4 route show table main` on a Calico node (BGP, one /26 block per node) that also runs
 * flannel-style bridge pods, as iproute2 prints it: host routes without a /len, a blackhole for the
 * node's own block, remote blocks via gateways, a multipath route with no top-level dev.
 */
const NODE_ROUTES = JSON.stringify([
  {
    dst: 'default',
    gateway: '192.168.1.1',
    dev: 'eth0',
    protocol: 'dhcp',
    prefsrc: '192.168.1.20',
    metric: 100,
    flags: [],
  },
  { dst: '10.1.0.5', dev: 'cali1a2b3c4d5e6', scope: 'link', flags: [] },
  { dst: '10.1.0.6', dev: 'cali6e5d4c3b2a1', scope: 'link', flags: [] },
  { type: 'blackhole', dst: '10.1.0.0/26', protocol: 'bird', flags: [] },
  { dst: '10.1.1.0/26', gateway: '192.168.1.21', dev: 'eth0', protocol: 'bird', flags: ['onlink'] },
  {
    dst: '10.1.3.0/26',
    protocol: 'bird',
    flags: [],
    nexthops: [
      { gateway: '192.168.1.23', dev: 'eth0', weight: 1, flags: ['onlink'] },
      { gateway: '192.168.1.24', dev: 'eth0', weight: 1, flags: ['onlink'] },
    ],
  },
  { type: 'unreachable', dst: '10.9.0.0/16', flags: [] },
  { dst: '10.244.0.0/24', dev: 'cni0', protocol: 'kernel', scope: 'link', prefsrc: '10.244.0.1', flags: [] },
  {
    dst: '192.168.1.0/24',
    dev: 'eth0',
    protocol: 'kernel',
    scope: 'link',
    prefsrc: '192.168.1.20',
    metric: 100,
    flags: [],
  },
]);

describe('parseRoutes', () => {
  it('reads every route of real `ip -j -4 route show` output, keeping dst, dev, gateway and type', () => {
    const routes = parseRoutes(NODE_ROUTES);
    assert.equal(routes.length, 9);
    assert.deepEqual(
      routes.map((r) => [r.dst, r.dev, r.gateway, r.type]),
      [
        ['default', 'eth0', '192.168.1.1', undefined],
        ['10.1.0.5', 'cali1a2b3c4d5e6', undefined, undefined],
        ['10.1.0.6', 'cali6e5d4c3b2a1', undefined, undefined],
        ['10.1.0.0/26', undefined, undefined, 'blackhole'],
        ['10.1.1.0/26', 'eth0', '192.168.1.21', undefined],
        ['10.1.3.0/26', undefined, undefined, undefined],
        ['10.9.0.0/16', undefined, undefined, 'unreachable'],
        ['10.244.0.0/24', 'cni0', undefined, undefined],
        ['192.168.1.0/24', 'eth0', undefined, undefined],
      ],
    );
  });

  it('reads an empty table', () => assert.deepEqual(parseRoutes('[]'), []));

  it('skips entries without a dst instead of failing on them', () => {
    assert.deepEqual(parseRoutes('[null, 3, {"dev":"eth0"}, {"dst":"default","dev":"eth0"}]'), [
      { dst: 'default', dev: 'eth0' },
    ]);
  });

  it('refuses output that is not a JSON list', () => {
    assert.throws(() => parseRoutes('{"dst":"default"}'), /^Error: ip route output is not a JSON list$/);
  });

  it('refuses output that is not JSON at all', () => {
    assert.throws(() => parseRoutes('default via 192.168.1.1 dev eth0'), SyntaxError);
  });
});

describe('lookupRoute', () => {
  const routes = parseRoutes(NODE_ROUTES);
  const cases: Array<{ desc: string; input: string; want: Partial<Route> | undefined }> = [
    {
      desc: 'a Calico pod is found by its host route (no /len means /32), not its block’s blackhole',
      input: '10.1.0.5',
      want: { dst: '10.1.0.5', dev: 'cali1a2b3c4d5e6' },
    },
    {
      desc: 'an address of the node’s block with no pod on it falls into the blackhole',
      input: '10.1.0.7',
      want: { dst: '10.1.0.0/26', type: 'blackhole' },
    },
    {
      desc: 'an address of another node’s block goes via that node',
      input: '10.1.1.9',
      want: { dst: '10.1.1.0/26', gateway: '192.168.1.21' },
    },
    {
      desc: 'a bridge pod is found by the bridge’s subnet route',
      input: '10.244.0.3',
      want: { dst: '10.244.0.0/24', dev: 'cni0' },
    },
    {
      desc: 'a LAN address is found on the LAN subnet route',
      input: '192.168.1.50',
      want: { dst: '192.168.1.0/24', dev: 'eth0' },
    },
    {
      desc: 'anything else takes the default route',
      input: '8.8.8.8',
      want: { dst: 'default', gateway: '192.168.1.1' },
    },
    { desc: 'the very edge of a /24 is inside it', input: '192.168.1.255', want: { dst: '192.168.1.0/24' } },
    { desc: 'one past the edge of a /26 is outside it', input: '10.1.0.64', want: { dst: 'default' } },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const r = lookupRoute(routes, c.input);
      assert.ok(r, 'no route found');
      for (const [k, v] of Object.entries(c.want ?? {})) assert.equal(r[k as keyof Route], v, k);
    });
  }

  it('prefers the longest prefix whatever the order of the table', () => {
    const reversed = [...routes].reverse();
    assert.equal(lookupRoute(reversed, '10.1.0.5')?.dev, 'cali1a2b3c4d5e6');
    assert.equal(lookupRoute(reversed, '10.1.0.7')?.type, 'blackhole');
  });

  it('finds nothing in a table without a default route for an address it does not cover', () => {
    assert.equal(lookupRoute(routes.slice(1), '8.8.8.8'), undefined);
    assert.equal(lookupRoute([], '10.1.0.5'), undefined);
  });

  it('matches high addresses correctly despite 32-bit signed arithmetic', () => {
    const r = lookupRoute(
      [
        { dst: '224.0.0.0/4', dev: 'eth0' },
        { dst: 'default', dev: 'eth1' },
      ],
      '239.255.255.250',
    );
    assert.equal(r?.dev, 'eth0');
  });
});

describe('inSubnet', () => {
  const cases: Array<{ input: [string, string]; want: boolean }> = [
    { input: ['192.168.1.50', '192.168.1.0/24'], want: true },
    { input: ['192.168.2.50', '192.168.1.0/24'], want: false },
    { input: ['192.168.3.255', '192.168.2.0/23'], want: true },
    { input: ['192.168.4.0', '192.168.2.0/23'], want: false },
    { input: ['10.1.0.5', '10.1.0.5'], want: true },
    { input: ['10.1.0.6', '10.1.0.5/32'], want: false },
    { input: ['203.0.113.9', '0.0.0.0/0'], want: true },
    { input: ['203.0.113.9', 'default'], want: true },
    { input: ['250.1.2.3', '240.0.0.0/4'], want: true },
    { input: ['239.1.2.3', '240.0.0.0/4'], want: false },
  ];
  for (const c of cases) {
    it(`says ${c.input[0]} is ${c.want ? '' : 'not '}in ${c.input[1]}`, () =>
      assert.equal(inSubnet(...c.input), c.want));
  }
});

/**
 * `ip -j -6 route show table main` on a dual-stack Calico node: a /128 host route per pod (printed
 * without /len), the node's own /122 block as a blackhole, another node's block via its address,
 * the LAN prefix, a bridge's prefix, fe80::/64 on every link, and the default via the router's
 * link-local address.
 */
const NODE_ROUTES6 = JSON.stringify([
  { dst: '2001:db8:1::5', dev: 'cali1a2b3c4d5e6', metric: 1024, flags: [], pref: 'medium' },
  { type: 'blackhole', dst: '2001:db8:1::/122', dev: 'lo', protocol: 'bird', metric: 1024, flags: [] },
  { dst: '2001:db8:1::40/122', gateway: '2001:db8:4::21', dev: 'eth0', protocol: 'bird', flags: [] },
  { dst: '2001:db8:4::/64', dev: 'eth0', protocol: 'kernel', metric: 256, flags: [] },
  { dst: '2001:db8:244::/64', dev: 'cni0', protocol: 'kernel', metric: 256, flags: [] },
  { dst: 'fe80::/64', dev: 'eth0', protocol: 'kernel', metric: 256, flags: [] },
  { dst: 'fe80::/64', dev: 'cali1a2b3c4d5e6', protocol: 'kernel', metric: 256, flags: [] },
  { dst: 'default', gateway: 'fe80::1', dev: 'eth0', protocol: 'ra', metric: 1024, flags: [] },
]);

describe('lookupRoute for IPv6', () => {
  const routes = [...parseRoutes(NODE_ROUTES), ...parseRoutes(NODE_ROUTES6, 6)];
  const cases: Array<{ desc: string; input: string; want: Partial<Route> }> = [
    {
      desc: 'a Calico pod is found by its /128 host route, not its block’s blackhole',
      input: '2001:db8:1::5',
      want: { dst: '2001:db8:1::5', dev: 'cali1a2b3c4d5e6' },
    },
    {
      desc: 'the rest of the node’s block is the blackhole',
      input: '2001:db8:1::6',
      want: { type: 'blackhole' },
    },
    {
      desc: 'another node’s block goes via that node',
      input: '2001:db8:1::41',
      want: { gateway: '2001:db8:4::21' },
    },
    { desc: 'a bridge pod is found by the bridge’s prefix', input: '2001:db8:244::9', want: { dev: 'cni0' } },
    {
      desc: 'anything else takes the IPv6 default route, never the IPv4 one',
      input: '2001:db8:99::1',
      want: { dst: 'default', gateway: 'fe80::1', family: 6 },
    },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const r = lookupRoute(routes, c.input);
      assert.ok(r, 'no route found');
      for (const [k, v] of Object.entries(c.want)) assert.equal(r[k as keyof Route], v, k);
    });
  }

  it('never answers an IPv4 address with an IPv6 route, or the other way round', () => {
    assert.equal(lookupRoute(routes, '8.8.8.8')?.gateway, '192.168.1.1');
    assert.equal(lookupRoute(parseRoutes(NODE_ROUTES6, 6), '8.8.8.8'), undefined);
    assert.equal(lookupRoute(parseRoutes(NODE_ROUTES), '2001:db8:1::5'), undefined);
  });

  it('says an IPv6 address is in its prefix and never in an IPv4 subnet', () => {
    assert.ok(inSubnet('2001:db8:4::11', '2001:db8:4::/64'));
    assert.ok(!inSubnet('2001:db8:5::11', '2001:db8:4::/64'));
    assert.ok(!inSubnet('2001:db8:4::11', '0.0.0.0/0'));
    assert.ok(!inSubnet('192.168.1.5', '::/0'));
  });
});
