/**
 * ipam.mode dhcp against ISC Kea (kea-dhcp4, memfile leases) on the LAN, and against a LAN where no
 * server answers (issue 12). Kea's short lease (30 s, T1 8 s, T2 16 s) lets a renewal cross a
 * server restart inside the test: the server is down at T1, so the agent's RENEWING goes
 * unanswered, and REBINDING at T2 reaches the restarted Kea, which still has the lease on disk.
 */
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { cniOk, netConf, ourIpam, podAddress, runCni, type CniOutcome } from '../support/cni.js';
import { documentedClientId, startKea, type DhcpServer } from '../support/dhcp-servers.js';
import { startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { cniBed, type CniBed } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const POOL = ['198.18.4.170', '198.18.4.171', '198.18.4.172'];
const RESERVED = '198.18.4.180';
const SUBNET = '198.18.4.0/24';

interface PodHandle {
  ns: string;
  containerId: string;
  address: string;
}

function cniPods(bed: () => CniBed, agent: () => IpamAgent) {
  let n = 0;
  const conf = () => netConf('ptp', ourIpam(agent().socket), { extra: { ipMasq: false } });
  const args = (name: string) => ({ K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: name });
  const pods: Record<string, PodHandle> = {};
  return {
    pods,
    async add(name: string): Promise<CniOutcome & { address?: string; ms: number }> {
      const ns = await bed().podNs(1);
      const containerId = `${bed().prefix}${name}-${++n}`;
      const r = await runCni(bed(), 'node1', {
        plugin: 'ptp',
        command: 'ADD',
        config: conf(),
        containerId,
        netns: ns,
        ifname: 'eth0',
        args: args(name),
        timeoutMs: 40_000,
      });
      if (r.code !== 0) return r;
      const a = await podAddress(bed(), ns);
      pods[name] = { ns, containerId, address: a!.local };
      return { ...r, address: a!.local };
    },
    async del(name: string): Promise<void> {
      const p = pods[name];
      await cniOk(bed(), 'node1', {
        plugin: 'ptp',
        command: 'DEL',
        config: conf(),
        containerId: p.containerId,
        netns: p.ns,
        ifname: 'eth0',
        args: args(name),
      });
      delete pods[name];
    },
  };
}

describeAsRoot('ipam.mode dhcp with ISC Kea as the LAN DHCP server', function () {
  this.timeout(240_000);
  let bed: CniBed;
  let agent: IpamAgent;
  let server: DhcpServer;
  const c = cniPods(
    () => bed,
    () => agent,
  );

  before(async () => {
    bed = await cniBed({ devices: 3, nodes: 1 });
    // dev3 uses the pool's first address by hand, unknown to Kea (which, unlike dnsmasq, does not ping).
    await bed.ip('dev3', ['addr', 'add', `${POOL[0]}/24`, 'dev', 'eth0']);
    server = await startKea(bed, 'dev1', {
      first: POOL[0],
      last: POOL[2],
      leaseSeconds: 30,
      t1Seconds: 8,
      t2Seconds: 16,
      reservations: [{ clientId: documentedClientId('home', 'reserved'), address: RESERVED }],
    });
    agent = await startIpamAgent(bed, 'node1', {
      ipam: { mode: 'dhcp', subnet: SUBNET, probe: { enabled: true, timeoutMs: 200 } },
    });
  });
  after(async () => {
    await agent?.stop();
    await server?.stop();
    await bed?.teardown();
    agent?.remove();
    server?.remove();
  });

  it('declines the address a device answers the probe for (RFC 2131 3.1.5) and uses the next offer', async () => {
    const r = await c.add('ha');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.address, POOL[1], 'Kea offered POOL[0] first; dev3 answered the probe for it');
    const declined = agent
      .log()
      .find((l) => l.message === 'the leased address answered the probe; declining it');
    assert.equal(declined?.address, POOL[0], agent.proc.stderr.slice(-2000));
    assert.ok(
      server.proc.stdout.includes('DHCP4_DECLINE_LEASE'),
      `Kea logged no DECLINE:\n${server.proc.stdout.slice(-2000)}`,
    );
  });

  it("leases an address that a LAN device reaches, and Kea's lease file names the pod", async () => {
    const r = { address: c.pods.ha.address };
    assert.ok(await bed.ping('dev2', r.address!, { count: 2, timeoutS: 2 }), 'dev2 cannot ping the pod');
    const lease = server.leases().find((l) => l.address === r.address);
    assert.ok(lease, JSON.stringify(server.leases()));
    assert.equal(lease.hostname, 'ha');
    assert.equal(lease.clientId, documentedClientId('home', 'ha'));
  });

  it('honours a Kea reservation by the documented client identifier', async () => {
    const r = await c.add('reserved');
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.address, RESERVED);
  });

  it('a pod recreated under the same name gets the same address back', async () => {
    const address = c.pods.ha.address;
    await c.del('ha');
    const r = await c.add('ha');
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.address, address);
  });

  it('keeps the address through a renewal across a server restart (RENEWING unanswered, REBINDING at T2)', async () => {
    const address = c.pods.ha.address;
    const bound = Date.now();
    await server.stop();
    // Down past T1 (8 s): the unicast RENEWING requests go unanswered.
    await sleep(11_000);
    server = await server.restart();
    const deadline = bound + 30_000;
    const renewedBy = (how: string) =>
      agent.log().some((l) => l.message === 'DHCP lease renewed' && l.address === address && l.how === how);
    while (Date.now() < deadline && !renewedBy('rebinding')) await sleep(500);
    assert.ok(
      renewedBy('rebinding'),
      `no rebinding renewal of ${address}:\n${agent.proc.stderr.slice(-3000)}`,
    );
    const lease = server.leases().find((l) => l.address === address);
    assert.ok(
      lease && lease.expires * 1000 > Date.now() + 15_000,
      `Kea extended the lease: ${JSON.stringify(lease)}`,
    );
    assert.equal((await podAddress(bed, c.pods.ha.ns))?.local, address);
    assert.ok(await bed.ping('dev2', address, { count: 1, timeoutS: 2 }));
  });

  it("DEL releases the lease: Kea's lease table no longer has it", async () => {
    const address = c.pods.reserved.address;
    assert.ok(server.leases().some((l) => l.address === address));
    await c.del('reserved');
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && server.leases().some((l) => l.address === address)) await sleep(200);
    assert.ok(!server.leases().some((l) => l.address === address), JSON.stringify(server.leases()));
  });
});

describeAsRoot('ipam.mode dhcp on a LAN where no DHCP server answers', function () {
  this.timeout(120_000);
  let bed: CniBed;
  let agent: IpamAgent;
  const c = cniPods(
    () => bed,
    () => agent,
  );

  before(async () => {
    bed = await cniBed({ devices: 1, nodes: 1 });
    agent = await startIpamAgent(bed, 'node1', { ipam: { mode: 'dhcp', subnet: SUBNET } });
  });
  after(async () => {
    await agent?.stop();
    await bed?.teardown();
    agent?.remove();
  });

  it('fails ADD within the bound (well under the shim’s 30 s) with a temporary CNI error naming the cause', async () => {
    const started = Date.now();
    const r = await c.add('lonely');
    const ms = Date.now() - started;
    assert.notEqual(r.code, 0);
    assert.equal(r.json?.code, 11, r.stdout);
    assert.match(
      String(r.json?.msg),
      /^DHCP \(no-server\): no DHCP server answered on lan0: no DHCPOFFER for 'lan-reflector:home\/lonely'/,
    );
    // 10 s of DISCOVERs and 2 s for the DHCPINFORM; the rest is ptp and the namespace.
    assert.ok(ms >= 10_000 && ms < 20_000, `${ms} ms`);
  });
});
