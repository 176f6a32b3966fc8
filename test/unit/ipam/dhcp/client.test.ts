import assert from 'node:assert/strict';
import { DhcpClient, DhcpError, type AcquireRequest, type Claim } from '../../../../src/ipam/dhcp/client.js';
import type { DhcpLease } from '../../../../src/ipam/dhcp/lease.js';
import type { DhcpMessage } from '../../../../src/ipam/dhcp/message.js';
import { FakeClock, NODE_MAC, SERVER_IP, SERVER_MAC, ScriptedLink, be32, ip4, reply } from './helpers.js';

const DISCOVER = 1,
  OFFER = 2,
  REQUEST = 3,
  DECLINE = 4,
  ACK = 5,
  NAK = 6,
  RELEASE = 7,
  INFORM = 8;
const ID = Buffer.from('\0lan-reflector:home/ha', 'latin1');
const NODE_IP = '198.18.4.2';

function setup() {
  const clock = new FakeClock();
  const link = new ScriptedLink(clock);
  let seed = 1;
  const client = new DhcpClient({
    transport: link,
    clock,
    mac: NODE_MAC,
    nodeAddress: NODE_IP,
    link: 'lan0',
    random: () => (seed = (seed * 48271) % 2147483647) / 2147483647,
  });
  return { clock, link, client };
}

function request(clock: FakeClock, o: Partial<AcquireRequest> = {}): AcquireRequest {
  return {
    clientId: ID,
    hostname: 'ha',
    unusable: () => null,
    claim: async () => 'claimed',
    deadline: clock.now() + 20_000,
    ...o,
  };
}

const leaseOpts = (lease = 3600): [number, Buffer][] => [
  [51, be32(lease)],
  [1, ip4('255.255.255.0')],
];

/** A well-behaved server: offers `pool` in order to each new DISCOVER, ACKs a REQUEST for what it offered. */
function goodServer(pool: string[], o: { lease?: number; t1?: number; t2?: number } = {}) {
  let next = 0;
  const extra: [number, Buffer][] = [];
  if (o.t1 !== undefined) extra.push([58, be32(o.t1)]);
  if (o.t2 !== undefined) extra.push([59, be32(o.t2)]);
  return (m: DhcpMessage) => {
    if (m.type === DISCOVER)
      return [reply(m, OFFER, pool[next++ % pool.length], [...leaseOpts(o.lease), ...extra])];
    if (m.type === REQUEST) {
      const want = m.options.get(50) ? [...m.options.get(50)!].join('.') : m.ciaddr;
      return [reply(m, ACK, want, [...leaseOpts(o.lease), ...extra])];
    }
    return [];
  };
}

describe('dhcp client: acquiring a lease (RFC 2131 4.4.1)', () => {
  it('runs DISCOVER, OFFER, REQUEST, ACK with the pod identity, broadcast flag and node MAC', async () => {
    const { clock, link, client } = setup();
    link.server = goodServer(['198.18.4.150'], { lease: 3600, t1: 1000, t2: 2000 });
    const { value: lease } = await clock.run(client.acquire(request(clock)));
    assert.equal(lease!.address, '198.18.4.150');
    assert.equal(lease!.serverId, SERVER_IP);
    assert.equal(lease!.serverMac, SERVER_MAC);
    assert.deepEqual([lease!.leaseSeconds, lease!.t1Seconds, lease!.t2Seconds], [3600, 1000, 2000]);
    assert.equal(
      lease!.clientId,
      '00:' + Buffer.from('lan-reflector:home/ha').toString('hex').match(/../g)!.join(':'),
    );

    const [d] = link.ofType(DISCOVER);
    const [r] = link.ofType(REQUEST);
    for (const s of [d, r]) {
      assert.equal(s.message.chaddr, NODE_MAC);
      assert.equal(s.message.flags & 0x8000, 0x8000, 'broadcast flag');
      assert.equal(s.message.ciaddr, '0.0.0.0');
      assert.deepEqual(s.message.options.get(61), ID);
      assert.equal(s.message.options.get(12)!.toString(), 'ha');
      assert.equal(s.source, '0.0.0.0');
      assert.deepEqual(s.to, { kind: 'broadcast' });
    }
    assert.equal(d.message.options.has(50), false, 'no old address to ask for');
    // RFC 2131 4.3.2 SELECTING: the REQUEST names the offer (50) and the chosen server (54).
    assert.deepEqual([...r.message.options.get(50)!], [198, 18, 4, 150]);
    assert.deepEqual([...r.message.options.get(54)!], ip4(SERVER_IP).toJSON().data);
    assert.equal(r.message.xid, d.message.xid, 'the REQUEST continues the transaction of the OFFER');
    assert.equal(link.listening(), 0, 'no listener left behind');
  });

  it('asks for the address it held before (option 50 in DISCOVER)', async () => {
    const { clock, link, client } = setup();
    link.server = goodServer(['198.18.4.160']);
    await clock.run(client.acquire(request(clock, { requested: '198.18.4.160' })));
    assert.deepEqual([...link.ofType(DISCOVER)[0].message.options.get(50)!], [198, 18, 4, 160]);
  });

  it('uses RFC 2131 4.4.5 default T1 and T2 (0.5, 0.875) when the server sends none', async () => {
    const { clock, link, client } = setup();
    link.server = goodServer(['198.18.4.150'], { lease: 1000 });
    const { value } = await clock.run(client.acquire(request(clock)));
    assert.deepEqual([value!.t1Seconds, value!.t2Seconds], [500, 875]);
  });

  it("ignores replies meant for others: another client id (RFC 6842), the node's own client (other chaddr)", async () => {
    const { clock, link, client } = setup();
    link.server = (m) => {
      if (m.type === DISCOVER) {
        const other = reply(m, OFFER, '198.18.4.99', leaseOpts());
        other.message.options.set(61, Buffer.from('\0lan-reflector:home/other', 'latin1'));
        return [
          other,
          reply(m, OFFER, '198.18.4.98', leaseOpts(), { chaddr: '02:00:00:00:00:99', echoClientId: false }),
          reply(m, OFFER, '198.18.4.150', leaseOpts()),
        ];
      }
      if (m.type === REQUEST) return [reply(m, ACK, '198.18.4.150', leaseOpts())];
    };
    const { value } = await clock.run(client.acquire(request(clock)));
    assert.equal(value!.address, '198.18.4.150');
  });

  it('retransmits DISCOVER with growing gaps, then fails "no server" after a DHCPINFORM nobody answers', async () => {
    const { clock, link, client } = setup();
    const { error, ms } = await clock.run(client.acquire(request(clock)));
    assert.ok(error instanceof DhcpError);
    assert.equal(error.reason, 'no-server');
    assert.match(
      error.message,
      /no DHCP server answered on lan0: no DHCPOFFER for 'lan-reflector:home\/ha' within 10 s/,
    );
    const times = link.ofType(DISCOVER).map((s) => s.at - link.sent[0].at);
    assert.equal(times.length, 4);
    for (let i = 2; i < times.length; i++) assert.ok(times[i] - times[i - 1] > times[i - 1] - times[i - 2]);
    const [inform] = link.ofType(INFORM);
    assert.equal(inform.message.ciaddr, NODE_IP);
    assert.equal(inform.source, NODE_IP);
    assert.ok(ms >= 10_000 && ms <= 12_500, `bounded: ${ms} ms`);
  });

  it('fails "pool exhausted" when a server answers DHCPINFORM but offers nothing', async () => {
    const { clock, link, client } = setup();
    link.server = (m) => (m.type === INFORM ? [reply(m, ACK, '0.0.0.0', [])] : []);
    const { error } = await clock.run(client.acquire(request(clock)));
    assert.equal((error as DhcpError).reason, 'pool-exhausted');
    assert.match(
      (error as Error).message,
      /DHCP server 198\.18\.4\.1 on lan0 answered but offered no address .*exhausted/,
    );
  });

  it("never runs past the caller's deadline", async () => {
    const { clock, client } = setup();
    const { error, ms } = await clock.run(client.acquire(request(clock, { deadline: clock.now() + 3000 })));
    assert.equal((error as DhcpError).reason, 'no-server');
    assert.ok(ms <= 3200, `${ms} ms`);
  });

  it('goes back to INIT after a NAK, and fails naming the NAK when it comes again', async () => {
    const { clock, link, client } = setup();
    let naks = 0;
    link.server = (m) => {
      if (m.type === DISCOVER) return [reply(m, OFFER, '198.18.4.150', leaseOpts())];
      if (m.type === REQUEST)
        return naks++ < 1
          ? [reply(m, NAK, '0.0.0.0', [[56, Buffer.from('wrong network')]])]
          : [reply(m, ACK, '198.18.4.150', leaseOpts())];
    };
    const ok = await clock.run(client.acquire(request(clock)));
    assert.equal(ok.value!.address, '198.18.4.150');
    assert.equal(link.ofType(DISCOVER).length, 2);

    const again = setup();
    again.link.server = (m) => {
      if (m.type === DISCOVER) return [reply(m, OFFER, '198.18.4.150', leaseOpts())];
      if (m.type === REQUEST) return [reply(m, NAK, '0.0.0.0', [[56, Buffer.from('address reserved')]])];
    };
    const { error } = await again.clock.run(again.client.acquire(request(again.clock)));
    assert.equal((error as DhcpError).reason, 'nak');
    assert.match((error as Error).message, /refused 198\.18\.4\.150 \(DHCPNAK: address reserved\)/);
  });

  it('fails "no ack" when the server offers but never answers the REQUEST', async () => {
    const { clock, link, client } = setup();
    link.server = (m) => (m.type === DISCOVER ? [reply(m, OFFER, '198.18.4.150', leaseOpts())] : []);
    const { error } = await clock.run(client.acquire(request(clock)));
    assert.equal((error as DhcpError).reason, 'no-ack');
    assert.equal(link.ofType(REQUEST).length, 3, 'REQUEST retransmitted');
  });

  it('DECLINEs an address the probe finds in use (RFC 2131 3.1.5) and takes the next offer', async () => {
    const { clock, link, client } = setup();
    link.server = goodServer(['198.18.4.150', '198.18.4.151']);
    const probed: string[] = [];
    const claim = async (l: DhcpLease): Promise<Claim> => {
      probed.push(l.address);
      return l.address === '198.18.4.150' ? { inUse: '02:00:00:00:00:50' } : 'claimed';
    };
    const { value } = await clock.run(client.acquire(request(clock, { claim })));
    assert.equal(value!.address, '198.18.4.151');
    assert.deepEqual(probed, ['198.18.4.150', '198.18.4.151']);
    const [decline] = link.ofType(DECLINE);
    assert.equal(decline.message.ciaddr, '0.0.0.0');
    assert.deepEqual([...decline.message.options.get(50)!], [198, 18, 4, 150]);
    assert.deepEqual([...decline.message.options.get(54)!], [198, 18, 4, 1]);
    assert.deepEqual(decline.message.options.get(61), ID);
  });

  it('gives up after declining a bounded number of addresses', async () => {
    const { clock, link, client } = setup();
    link.server = goodServer(['198.18.4.150', '198.18.4.151', '198.18.4.152', '198.18.4.153']);
    const { error } = await clock.run(
      client.acquire(request(clock, { claim: async () => ({ inUse: 'x' }) })),
    );
    assert.equal((error as DhcpError).reason, 'declined');
    assert.equal(link.ofType(DECLINE).length, 3);
    assert.match((error as Error).message, /declined 198\.18\.4\.150 \(in use by x\), 198\.18\.4\.151/);
  });

  it('refuses an offer the agent cannot use without requesting it', async () => {
    const { clock, link, client } = setup();
    link.server = goodServer(['10.0.0.5']);
    const unusable = (a: string) => (a.startsWith('198.18.4.') ? null : 'outside ipam.subnet 198.18.4.0/24');
    const { error } = await clock.run(client.acquire(request(clock, { unusable })));
    assert.equal((error as DhcpError).reason, 'bad-offer');
    assert.match((error as Error).message, /offered 10\.0\.0\.5, outside ipam\.subnet/);
    assert.equal(link.ofType(REQUEST).length, 0);
  });
});

describe('dhcp client: renewing, rebinding, rebooting and releasing', () => {
  const bound = (clock: FakeClock): DhcpLease => ({
    address: '198.18.4.150',
    clientId: '00:6c',
    hostname: 'ha',
    serverId: SERVER_IP,
    serverMac: SERVER_MAC,
    leaseSeconds: 100,
    t1Seconds: 50,
    t2Seconds: 87,
    boundAt: clock.now() - 60_000,
  });

  it('RENEWING unicasts to the server from the leased address, ciaddr set, no options 50/54 (RFC 2131 4.3.2)', async () => {
    const { clock, link, client } = setup();
    link.server = goodServer(['198.18.4.150'], { lease: 200 });
    const lease = bound(clock);
    const { value } = await clock.run(client.exchange('renewing', lease, 5000));
    assert.equal(value!.kind, 'ack');
    const [s] = link.ofType(REQUEST);
    assert.deepEqual(s.to, { kind: 'unicast', ip: SERVER_IP, mac: SERVER_MAC });
    assert.equal(s.source, '198.18.4.150');
    assert.equal(s.message.ciaddr, '198.18.4.150');
    assert.equal(s.message.options.has(50), false);
    assert.equal(s.message.options.has(54), false);
    if (value!.kind === 'ack') {
      assert.equal(value!.lease.leaseSeconds, 200);
      assert.equal(value!.lease.boundAt, s.at, 'the new lease runs from the REQUEST');
    }
  });

  it('REBINDING broadcasts; INIT-REBOOT broadcasts from 0.0.0.0 with option 50', async () => {
    const { clock, link, client } = setup();
    link.server = goodServer(['198.18.4.150']);
    await clock.run(client.exchange('rebinding', bound(clock), 5000));
    await clock.run(client.exchange('rebooting', bound(clock), 5000));
    const [rebind, reboot] = link.ofType(REQUEST);
    assert.deepEqual(rebind.to, { kind: 'broadcast' });
    assert.equal(rebind.message.ciaddr, '198.18.4.150');
    assert.deepEqual(reboot.to, { kind: 'broadcast' });
    assert.equal(reboot.source, '0.0.0.0');
    assert.equal(reboot.message.ciaddr, '0.0.0.0');
    assert.deepEqual([...reboot.message.options.get(50)!], [198, 18, 4, 150]);
  });

  it('reports a NAK and a silent server as such', async () => {
    const { clock, link, client } = setup();
    link.server = (m) => [reply(m, NAK, '0.0.0.0', [[56, Buffer.from('lease not found')]])];
    const nak = await clock.run(client.exchange('renewing', bound(clock), 5000));
    assert.deepEqual(nak.value, { kind: 'nak', server: SERVER_IP, message: 'lease not found' });
    link.server = () => [];
    const silent = await clock.run(client.exchange('renewing', bound(clock), 5000));
    assert.deepEqual(silent.value, { kind: 'timeout' });
    assert.ok(silent.ms >= 5000 && silent.ms < 5300);
  });

  it('DHCPRELEASE goes unicast to the server with ciaddr and option 54 (RFC 2131 4.4.6)', () => {
    const { link, client, clock } = setup();
    client.release(bound(clock));
    const [s] = link.ofType(RELEASE);
    assert.deepEqual(s.to, { kind: 'unicast', ip: SERVER_IP, mac: SERVER_MAC });
    assert.equal(s.message.ciaddr, '198.18.4.150');
    assert.deepEqual([...s.message.options.get(54)!], [198, 18, 4, 1]);
    assert.deepEqual(s.message.options.get(61), Buffer.from([0, 0x6c]));
  });
});
