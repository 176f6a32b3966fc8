// The file store's leak reclaim: which allocations are provably gone (a table of evidence), and the
// pass over a store, a route table and a pod lookup given as values. Above all: what is never freed.
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { KubePodLookup, presenceOf } from '../../../src/ipam/kube-pod-lookup.js';
import {
  judgeAllocation,
  ownersToRelease,
  routeWitness,
  type PodPresence,
  type ReclaimVerdict,
} from '../../../src/ipam/reclaim.js';
import { Reclaimer } from '../../../src/ipam/reclaimer.js';
import type { Allocation, Owner } from '../../../src/ipam/types.js';
import type { Route } from '../../../src/links/routes.js';
import { recordingLogger } from '../pods/helpers.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const GRACE = 600_000;
const ago = (ms: number) => new Date(NOW - ms).toISOString();

const alloc = (address: string, since: string, extra: Partial<Allocation> = {}): Allocation => ({
  address,
  owner: { containerId: `c-${address}`, ifname: 'eth0' },
  network: 'lan',
  pod: { namespace: 'home', name: `p-${address}` },
  since,
  source: 'pool',
  ...extra,
});

/** The node's main table as a ptp node has it: the LAN's connected route, a default, pod host routes. */
const ROUTES: Route[] = [
  { dst: 'default', gateway: '198.18.4.1', dev: 'lan0' },
  { dst: '198.18.4.0/24', dev: 'lan0', protocol: 'kernel' },
  { dst: '198.18.4.151', dev: 'veth1a2b3c' }, // ptp's host route
  { dst: '198.18.4.152/32', dev: 'cni0', protocol: 'static' }, // the agent's bridged pod route
  { dst: '198.18.4.153', dev: 'lan0' }, // a host route out of the LAN link itself: no pod link
  { dst: '198.18.4.154', type: 'blackhole' },
];

describe('leak reclaim', () => {
  describe('the route that witnesses a pod link', () => {
    const cases: Array<[string, string, string | undefined]> = [
      ['ptp host route through a veth', '198.18.4.151', 'veth1a2b3c'],
      ["the agent's /32 to a bridge", '198.18.4.152', 'cni0'],
      ["only the LAN's connected route", '198.18.4.160', undefined],
      ['a host route out of the LAN link', '198.18.4.153', undefined],
      ['a blackhole route', '198.18.4.154', undefined],
      ['only the default route (outside the subnet)', '198.19.7.9', undefined],
    ];
    for (const [what, address, dev] of cases)
      it(`${what}: ${dev ?? 'no witness'}`, () => {
        assert.equal(routeWitness(ROUTES, address, 'lan0')?.dev, dev);
      });

    it('a default route through another link is no witness either', () => {
      assert.equal(routeWitness([{ dst: 'default', dev: 'wan0' }], '198.18.4.160', 'lan0'), undefined);
    });
  });

  describe('judging one allocation', () => {
    const veth: Route = { dst: '198.18.4.151', dev: 'veth1' };
    const cases: Array<{
      what: string;
      since: string;
      route?: Route;
      pod?: PodPresence;
      want: ReclaimVerdict;
    }> = [
      { what: 'old, no route, no Kubernetes', since: ago(GRACE + 1), want: 'gone' },
      { what: 'old, no route, pod absent', since: ago(GRACE * 3), pod: 'absent', want: 'gone' },
      {
        what: 'young (an ADD in flight), no route, pod absent',
        since: ago(5000),
        pod: 'absent',
        want: 'young',
      },
      { what: 'one millisecond short of the grace', since: ago(GRACE - 1), want: 'young' },
      {
        what: 'old with a route to a veth',
        since: ago(GRACE * 3),
        route: veth,
        pod: 'absent',
        want: 'routed',
      },
      {
        what: 'old, no route, the pod runs here',
        since: ago(GRACE * 3),
        pod: 'present',
        want: 'pod-present',
      },
      {
        what: 'old, no route, the API cannot answer',
        since: ago(GRACE * 3),
        pod: 'unknown',
        want: 'pod-unknown',
      },
      { what: 'a time in the future (the clock went back)', since: ago(-60_000), want: 'young' },
      { what: 'an unreadable time', since: 'yesterday', want: 'young' },
    ];
    for (const c of cases)
      it(`${c.what}: ${c.want}`, () => {
        const got = judgeAllocation(alloc('198.18.4.151', c.since), {
          now: NOW,
          graceMs: GRACE,
          route: c.route,
          pod: c.pod,
        });
        assert.equal(got, c.want);
      });
  });

  it('releases an owner only when every one of its allocations is gone', () => {
    const a = alloc('198.18.4.160', ago(GRACE * 2));
    const b = { ...alloc('198.18.4.161', ago(GRACE * 2)), owner: a.owner };
    const c = alloc('198.18.4.162', ago(GRACE * 2));
    const owners = ownersToRelease([
      { a, verdict: 'gone' },
      { a: b, verdict: 'routed' },
      { a: c, verdict: 'gone' },
    ]);
    assert.deepEqual(owners, [c.owner]);
  });

  describe("whether the allocation's pod runs on this node", () => {
    const pod = (o: { uid?: string; node?: string; phase?: string; created?: string } = {}): V1Pod => ({
      metadata: { namespace: 'home', name: 'ha', uid: o.uid ?? 'u1', creationTimestamp: o.created as never },
      spec: { nodeName: o.node ?? 'n1', containers: [] },
      status: { phase: o.phase ?? 'Running' },
    });
    const ref = { namespace: 'home', name: 'ha', uid: 'u1' };
    const cases: Array<
      [string, V1Pod | undefined, typeof ref | { namespace: string; name: string }, PodPresence]
    > = [
      ['no such pod', undefined, ref, 'absent'],
      ['the same UID on this node', pod(), ref, 'present'],
      ["a new pod under the old name (a StatefulSet's)", pod({ uid: 'u2' }), ref, 'absent'],
      ['the pod on another node', pod({ node: 'n2' }), ref, 'absent'],
      ['the pod finished', pod({ phase: 'Succeeded' }), ref, 'absent'],
      [
        'no UID recorded, a pod of that name made long after the allocation',
        pod({ created: '2026-12-01T11:00:00Z' }),
        { namespace: 'home', name: 'ha' },
        'absent',
      ],
      [
        'no UID recorded, the pod made before the allocation',
        pod({ created: '2026-12-01T09:00:00Z' }),
        { namespace: 'home', name: 'ha' },
        'present',
      ],
    ];
    for (const [what, p, r, want] of cases)
      it(`${what}: ${want}`, () => {
        assert.equal(presenceOf(p, r, 'n1', '2026-12-01T10:00:00Z'), want);
      });

    it('asks the API when the watch does not have the pod, and keeps it when the API fails', async () => {
      let gets = 0;
      const found = new KubePodLookup({ cached: () => undefined, get: async () => (gets++, pod()) });
      assert.equal(await found.presence(ref, 'n1'), 'present');
      assert.equal(gets, 1);
      const gone = new KubePodLookup({ cached: () => undefined, get: async () => undefined });
      assert.equal(await gone.presence(ref, 'n1'), 'absent');
      const down = new KubePodLookup({
        cached: () => undefined,
        get: async () => {
          throw new Error('connect ECONNREFUSED');
        },
      });
      assert.equal(await down.presence(ref, 'n1'), 'unknown');
      const cached = new KubePodLookup({
        cached: () => pod(),
        get: async () => {
          throw new Error('not asked');
        },
      });
      assert.equal(await cached.presence(ref, 'n1'), 'present');
    });
  });

  describe('one pass over a store', () => {
    function pass(o: { allocations: Allocation[]; routes: Route[]; pods?: Record<string, PodPresence> }) {
      const released: Owner[] = [];
      const asked: string[] = [];
      const { logger, lines } = recordingLogger();
      const r = new Reclaimer({
        graceMs: GRACE,
        intervalMs: 60_000,
        lanLink: 'lan0',
        list: async () => o.allocations,
        routes: async () => o.routes,
        pod: o.pods ? async (ref) => (asked.push(ref.name), o.pods![ref.name] ?? 'absent') : undefined,
        release: async (owner) => {
          released.push(owner);
          return o.allocations.filter((a) => a.owner.containerId === owner.containerId);
        },
        log: logger,
        now: () => NOW,
      });
      return { run: () => r.pass(), released, asked, lines };
    }

    it('frees only the old, unrouted allocation whose pod is gone; asks about no other pod', async () => {
      const gone = alloc('198.18.4.160', ago(GRACE * 2));
      const live = alloc('198.18.4.151', ago(GRACE * 2)); // ptp's route is there
      const young = alloc('198.18.4.161', ago(1000));
      const running = alloc('198.18.4.162', ago(GRACE * 2));
      const p = pass({
        allocations: [gone, live, young, running],
        routes: ROUTES,
        pods: { [running.pod!.name]: 'present' },
      });
      const result = await p.run();
      assert.deepEqual(p.released, [gone.owner]);
      assert.deepEqual(
        result.released.map((a) => a.address),
        ['198.18.4.160'],
      );
      assert.deepEqual(result.kept, { routed: 1, young: 1, 'pod-present': 1 });
      assert.deepEqual(p.asked.sort(), [gone.pod!.name, running.pod!.name].sort());
      const line = p.lines.find((l) => String(l.message).startsWith('address reclaimed'));
      assert.equal(line?.address, '198.18.4.160');
      assert.equal(line?.pod, 'home/p-198.18.4.160');
    });

    it('without Kubernetes, route and age decide; an allocation naming no pod too', async () => {
      const a = alloc('198.18.4.160', ago(GRACE * 2), { pod: undefined });
      const p = pass({ allocations: [a], routes: ROUTES });
      await p.run();
      assert.deepEqual(p.released, [a.owner]);
    });

    it('a route table that cannot be read frees nothing', async () => {
      const a = alloc('198.18.4.160', ago(GRACE * 2));
      const { logger } = recordingLogger();
      const released: Owner[] = [];
      const r = new Reclaimer({
        graceMs: GRACE,
        intervalMs: 60_000,
        lanLink: 'lan0',
        list: async () => [a],
        routes: async () => {
          throw new Error('ip: not found');
        },
        release: async (owner) => (released.push(owner), [a]),
        log: logger,
        now: () => NOW,
      });
      const result = await r.pass();
      assert.deepEqual(released, []);
      assert.equal(result.released.length, 0);
    });
  });
});
