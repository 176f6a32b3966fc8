import assert from 'node:assert/strict';
import { MemoryAddressBook } from '../../../../src/ipam/dhcp/address-book.js';
import { DhcpClient } from '../../../../src/ipam/dhcp/client.js';
import { DhcpProvider, fromAllocation, toLeaseData } from '../../../../src/ipam/dhcp/provider.js';
import type { DhcpMessage } from '../../../../src/ipam/dhcp/message.js';
import { IpamError, type AddressRequest, type Announcer } from '../../../../src/ipam/types.js';
import { FakeClock, MemoryStore, NODE_MAC, ScriptedLink, be32, reply } from './helpers.js';

const DISCOVER = 1,
  OFFER = 2,
  REQUEST = 3,
  DECLINE = 4,
  ACK = 5,
  RELEASE = 7;

/** A server keyed by client identifier, as dnsmasq and Kea are: same id → same address. */
function leasingServer(pool: string[], leaseSeconds = 600) {
  const byId = new Map<string, string>();
  const declined = new Set<string>();
  const handle = (m: DhcpMessage) => {
    if (!m.options.has(61)) return []; // this server does not answer DHCPINFORM
    const id = m.options.get(61)!.toString('hex');
    const opts: [number, Buffer][] = [[51, be32(leaseSeconds)]];
    if (m.type === DISCOVER) {
      const asked = m.options.get(50) ? [...m.options.get(50)!].join('.') : undefined;
      const taken = new Set(byId.values());
      let a = byId.get(id);
      if (!a && asked && pool.includes(asked) && !taken.has(asked) && !declined.has(asked)) a = asked;
      a ??= pool.find((p) => !taken.has(p) && !declined.has(p));
      return a ? [reply(m, OFFER, a, opts)] : [];
    }
    if (m.type === REQUEST) {
      const a = m.options.get(50) ? [...m.options.get(50)!].join('.') : m.ciaddr;
      byId.set(id, a);
      return [reply(m, ACK, a, opts)];
    }
    if (m.type === RELEASE) byId.delete(id);
    if (m.type === DECLINE) {
      declined.add([...m.options.get(50)!].join('.'));
      byId.delete(id);
    }
    return [];
  };
  return { handle, byId };
}

function setup(o: { inUse?: string[] } = {}) {
  const clock = new FakeClock();
  const link = new ScriptedLink(clock);
  const server = leasingServer(['198.18.4.150', '198.18.4.151', '198.18.4.152']);
  link.server = server.handle;
  const client = new DhcpClient({
    transport: link,
    clock,
    mac: NODE_MAC,
    link: 'lan0',
    nodeAddress: '198.18.4.2',
  });
  const store = new MemoryStore();
  const announced: string[] = [];
  const announcer: Announcer = {
    assigned: async (a) => void announced.push(`+${a}`),
    released: async (a) => void announced.push(`-${a}`),
    reconcile: async () => {},
  };
  const problems: string[] = [];
  const provider = new DhcpProvider({
    store,
    client,
    clock,
    guard: { inUse: async (a) => (o.inUse?.includes(a) ? { by: '02:00:00:00:00:77' } : 'free') },
    announcer,
    inSubnet: (a) => a.startsWith('198.18.4.'),
    subnetText: '198.18.4.0/24',
    reserved: ['198.18.4.2'],
    addresses: new MemoryAddressBook(),
    minRetransmitMs: 1000,
    events: {
      problem: (pod, _l, problem) => void problems.push(`${problem} ${pod?.namespace}/${pod?.name}`),
    },
  });
  return { clock, link, server, store, provider, announced, problems };
}

const add = (containerId: string, name: string): AddressRequest => ({
  owner: { containerId, ifname: 'eth0' },
  network: 'lan',
  pod: { namespace: 'home', name },
});

describe('dhcp provider: leases as allocations', () => {
  it('leases an address for a pod, stores it with the lease, announces it, and is idempotent', async () => {
    const t = setup();
    const { value: a } = await t.clock.run(t.provider.assign(add('c1', 'ha')));
    assert.equal(a!.address, '198.18.4.150');
    assert.equal(a!.source, 'dhcp');
    assert.equal(a!.lease!.server, '198.18.4.1');
    assert.equal(
      a!.lease!.clientId,
      Buffer.from('\0lan-reflector:home/ha', 'latin1').toString('hex').match(/../g)!.join(':'),
    );
    assert.deepEqual(t.announced, ['+198.18.4.150']);
    const again = await t.clock.run(t.provider.assign(add('c1', 'ha')));
    assert.equal(again.value!.address, '198.18.4.150');
    assert.equal(t.link.ofType(DISCOVER).length, 1, 'a retried ADD sends nothing');
    void t.provider.stop();
  });

  it('round-trips a lease through the allocation record', () => {
    const lease = {
      address: '198.18.4.150',
      clientId: '00:6c',
      hostname: 'ha',
      serverId: '198.18.4.1',
      serverMac: '02:00:00:00:00:01',
      leaseSeconds: 600,
      t1Seconds: 300,
      t2Seconds: 525,
      boundAt: Date.UTC(2026, 11, 1, 10),
    };
    const back = fromAllocation({
      address: lease.address,
      owner: { containerId: 'c', ifname: 'eth0' },
      network: 'n',
      since: '',
      source: 'dhcp',
      lease: toLeaseData(lease),
    });
    assert.deepEqual(back, lease);
  });

  it('DEL sends DHCPRELEASE, removes the record and the proxy entry; a recreated pod asks for its old address', async () => {
    const t = setup();
    await t.clock.run(t.provider.assign(add('c1', 'ha')));
    await t.clock.run(t.provider.assign(add('c2', 'other')));
    const gone = await t.provider.release({ containerId: 'c1', ifname: 'eth0' });
    assert.deepEqual(
      gone.map((a) => a.address),
      ['198.18.4.150'],
    );
    assert.equal(t.link.ofType(RELEASE).length, 1);
    assert.equal(t.server.byId.size, 1, 'the server freed the lease');
    assert.deepEqual(
      await t.provider.release({ containerId: 'c1', ifname: 'eth0' }),
      [],
      'DEL is idempotent',
    );
    assert.equal(t.link.ofType(RELEASE).length, 1);
    const { value } = await t.clock.run(t.provider.assign(add('c3', 'ha')));
    assert.equal(value!.address, '198.18.4.150');
    assert.deepEqual([...t.link.ofType(DISCOVER).at(-1)!.message.options.get(50)!], [198, 18, 4, 150]);
    void t.provider.stop();
  });

  it("moves the lease to a pod's new sandbox when the old one's DEL has not come yet", async () => {
    const t = setup();
    await t.clock.run(t.provider.assign(add('c1', 'ha')));
    const { value } = await t.clock.run(t.provider.assign(add('c2', 'ha')));
    assert.equal(value!.address, '198.18.4.150');
    assert.equal(t.link.ofType(DISCOVER).length, 1, 'no second lease');
    assert.deepEqual(await t.provider.release({ containerId: 'c1', ifname: 'eth0' }), []);
    assert.equal(t.link.ofType(RELEASE).length, 0, "the old sandbox's DEL does not release the pod's lease");
    void t.provider.stop();
  });

  it('declines an address the probe finds in use and stores only the one it keeps', async () => {
    const t = setup({ inUse: ['198.18.4.150'] });
    const { value } = await t.clock.run(t.provider.assign(add('c1', 'ha')));
    assert.equal(value!.address, '198.18.4.151');
    assert.equal(t.link.ofType(DECLINE).length, 1);
    assert.deepEqual([...t.store.byAddress.keys()], ['198.18.4.151']);
    void t.provider.stop();
  });

  it('fails ADD with a CNI error naming the cause when the pool is exhausted, and serves once one is released', async () => {
    const t = setup();
    for (const [c, n] of [
      ['c1', 'a'],
      ['c2', 'b'],
      ['c3', 'c'],
    ])
      await t.clock.run(t.provider.assign(add(c, n)));
    const { error, value: v4 } = await t.clock.run(t.provider.assign(add('c4', 'd')));
    assert.equal(v4, undefined, JSON.stringify(v4));
    assert.ok(error instanceof IpamError, String(error));
    assert.equal(error.code, 11, 'no INFORM answer from this scripted server: "no server", try again later');
    assert.match(
      error.message,
      /^DHCP \(no-server\): no DHCP server answered on lan0: no DHCPOFFER for 'lan-reflector:home\/d'/,
    );
    await t.provider.release({ containerId: 'c2', ifname: 'eth0' });
    const { value } = await t.clock.run(t.provider.assign(add('c4', 'd')));
    assert.equal(value!.address, '198.18.4.151');
    void t.provider.stop();
  });

  it("reports a lease the server stops renewing by T2, naming the pod (the Warning Event's target)", async () => {
    const t = setup();
    await t.clock.run(t.provider.assign(add('c1', 'ha')));
    t.link.server = () => [];
    await t.clock.advance(524_000); // T2 of a 600 s lease is 525 s
    assert.deepEqual(t.problems, []);
    await t.clock.advance(2_000);
    assert.deepEqual(t.problems, ['not-renewed home/ha']);
    void t.provider.stop();
  });

  it('renews at T1 and stores the new times; a restarted provider keeps renewing what the store holds', async () => {
    const t = setup();
    await t.clock.run(t.provider.assign(add('c1', 'ha')));
    const before = (await t.store.list())[0].lease!.renewAt;
    await t.clock.advance(301_000);
    const after = (await t.store.list())[0].lease!.renewAt;
    assert.ok(Date.parse(after) > Date.parse(before), `${after} > ${before}`);
    void t.provider.stop();
    const requests = t.link.ofType(REQUEST).length;
    const restarted = new DhcpProvider({
      ...(t.provider as unknown as { o: ConstructorParameters<typeof DhcpProvider>[0] }).o,
    });
    await restarted.start();
    await t.clock.advance(301_000);
    assert.equal(t.link.ofType(REQUEST).length, requests + 1);
    assert.equal(t.link.ofType(REQUEST).at(-1)!.message.ciaddr, '198.18.4.150');
    void restarted.stop();
  });
});
