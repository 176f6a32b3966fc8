/**
 * ipam.mode dhcp against a real dnsmasq on the LAN (issue 12): the agent in node1 is the DHCP
 * client for each pod, Debian's ptp plugin calls lan-reflector-ipam as its `ipam` as a runtime
 * would, and dnsmasq in dev1 leases from a pool of three addresses. A LAN device (dev2) reaches the
 * pods; dnsmasq's lease file is the router's lease table.
 */
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { cniOk, netConf, ourIpam, podAddress, runCni, type CniOutcome } from '../support/cni.js';
import { documentedClientId, startDnsmasq, type DhcpServer } from '../support/dhcp-servers.js';
import { startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { cniBed, macOf, neighbourMac, type CniBed } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const POOL = ['198.18.4.150', '198.18.4.151', '198.18.4.152'];
const RESERVED = '198.18.4.160';

describeAsRoot('ipam.mode dhcp with dnsmasq as the LAN DHCP server', function () {
  this.timeout(240_000);
  let bed: CniBed;
  let agent: IpamAgent;
  let server: DhcpServer;
  let nodeMac: string;
  let n = 0;
  const pods: Record<string, { ns: string; containerId: string; address: string }> = {};

  const conf = () => netConf('ptp', ourIpam(agent.socket), { extra: { ipMasq: false } });
  const args = (name: string) => ({ K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: name });

  async function add(name: string): Promise<CniOutcome & { address?: string }> {
    const ns = await bed.podNs(1);
    const containerId = `${bed.prefix}${name}-${++n}`;
    const r = await runCni(bed, 'node1', {
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
    const a = await podAddress(bed, ns);
    pods[name] = { ns, containerId, address: a!.local };
    return { ...r, address: a!.local };
  }

  async function del(name: string): Promise<void> {
    const p = pods[name];
    await cniOk(bed, 'node1', {
      plugin: 'ptp',
      command: 'DEL',
      config: conf(),
      containerId: p.containerId,
      netns: p.ns,
      ifname: 'eth0',
      args: args(name),
    });
    delete pods[name];
  }

  before(async () => {
    bed = await cniBed({ devices: 2, nodes: 1 });
    nodeMac = await macOf(bed, 'node1', 'lan0');
    server = await startDnsmasq(bed, 'dev1', {
      first: POOL[0],
      last: POOL[2],
      leaseSeconds: 120, // dnsmasq's minimum
      t1Seconds: 8, // renewals within the test's time
      t2Seconds: 100,
      reservations: [{ clientId: documentedClientId('home', 'reserved'), address: RESERVED }],
    });
    // The node's own DHCP client holds UDP 68 (bound without SO_REUSEADDR, as dhclient's fallback
    // socket does): the agent must not need that port.
    const holder = bed.spawn('node1', [
      'python3',
      '-c',
      "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',68))\nprint('bound',flush=True)\ntime.sleep(3600)",
    ]);
    await holder.waitForLine(/bound/);
    agent = await startIpamAgent(bed, 'node1', {
      ipam: { mode: 'dhcp', subnet: '198.18.4.0/24', probe: { enabled: true, timeoutMs: 200 } },
    });
  });
  after(async () => {
    await agent?.stop();
    await server?.stop();
    await bed?.teardown();
    agent?.remove();
    server?.remove();
  });

  it('leases an address for a pod that a LAN device reaches through the node (UDP 68 held by another process)', async () => {
    const r = await add('ha');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(POOL.includes(r.address!), `${r.address} is from dnsmasq's pool`);
    const a = await podAddress(bed, pods.ha.ns);
    assert.equal(a?.prefixlen, 24);
    assert.ok(await bed.ping('dev2', r.address!, { count: 2, timeoutS: 2 }), 'dev2 cannot ping the pod');
    assert.equal(await neighbourMac(bed, 'dev2', r.address!), nodeMac);
  });

  it("dnsmasq's lease table names the pod: its host name and the documented client identifier", () => {
    const lease = server.leases().find((l) => l.address === pods.ha.address);
    assert.ok(lease, `no lease for ${pods.ha.address}: ${JSON.stringify(server.leases())}`);
    assert.equal(lease.hostname, 'ha');
    assert.equal(lease.clientId, documentedClientId('home', 'ha'));
  });

  it('honours a reservation made on the server for the documented client identifier', async () => {
    const r = await add('reserved');
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.address, RESERVED);
  });

  it('renews the lease at T1 with the same address', async () => {
    const before = server.leases().find((l) => l.address === pods.ha.address)!.expires;
    const logged = () =>
      agent.log().some((l) => l.message === 'DHCP lease renewed' && l.address === pods.ha.address);
    const deadline = Date.now() + 20_000;
    // dnsmasq writes its lease file before its ACK reaches the agent: wait for both.
    while (Date.now() < deadline) {
      const now = server.leases().find((l) => l.address === pods.ha.address);
      if (now && now.expires > before && logged()) break;
      await sleep(500);
    }
    const after = server.leases().find((l) => l.address === pods.ha.address);
    assert.ok(after && after.expires > before, `dnsmasq saw no renewal (${before} → ${after?.expires})`);
    assert.ok(logged(), 'the agent logs the renewal');
  });

  it('a pod recreated under the same name gets the same address back', async () => {
    const address = pods.ha.address;
    await del('ha');
    const r = await add('ha');
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.address, address);
  });

  it('kill -9 of the agent loses nothing: after a restart the pod keeps its address and its lease is renewed', async () => {
    const address = pods.ha.address;
    await agent.kill9();
    agent = await agent.restart();
    const again = await runCni(bed, 'node1', {
      plugin: 'ptp',
      command: 'ADD',
      config: conf(),
      containerId: pods.ha.containerId,
      netns: pods.ha.ns,
      ifname: 'eth0',
      args: args('ha'),
    });
    // ptp's second ADD fails on its existing veth, but our IPAM answered it: same attachment, same address.
    const ipam = await runCni(bed, 'node1', {
      plugin: 'lan-reflector-ipam',
      command: 'ADD',
      config: conf(),
      containerId: pods.ha.containerId,
      netns: `/run/netns/${bed.ns(pods.ha.ns)}`,
      ifname: 'eth0',
      args: args('ha'),
    });
    assert.equal(ipam.code, 0, `${ipam.stdout} (ptp said: ${again.stdout})`);
    assert.equal(((ipam.json?.ips as Array<{ address: string }>) ?? [])[0]?.address, `${address}/24`);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (agent.log().some((l) => l.message === 'DHCP lease renewed' && l.address === address)) break;
      await sleep(500);
    }
    assert.ok(
      agent.log().some((l) => l.message === 'DHCP lease renewed' && l.address === address),
      `the restarted agent did not renew ${address}:\n${agent.proc.stderr}`,
    );
    assert.ok(await bed.ping('dev2', address, { count: 1, timeoutS: 2 }), 'the pod is still reachable');
  });

  it('a pool of 3 refuses the 4th pod with a clear error, then serves it once one is released', async () => {
    for (const name of ['second', 'third']) {
      const r = await add(name);
      assert.equal(r.code, 0, r.stdout);
    }
    assert.deepEqual(
      Object.values(pods)
        .map((p) => p.address)
        .filter((a) => POOL.includes(a))
        .sort(),
      POOL,
    );
    const started = Date.now();
    const fourth = await add('fourth');
    const ms = Date.now() - started;
    assert.notEqual(fourth.code, 0, 'the 4th pod got no address');
    // dnsmasq answers the agent's DHCPINFORM, so the error can say the pool is exhausted.
    assert.equal(fourth.json?.code, 100, fourth.stdout);
    assert.match(
      String(fourth.json?.msg),
      /^DHCP \(pool-exhausted\): the DHCP server 198\.18\.4\.11 on lan0 answered but offered no address/,
    );
    assert.match(String(fourth.json?.msg), /lan-reflector:home\/fourth/);
    assert.ok(ms < 25_000, `bounded: ${ms} ms`);
    await del('third');
    const retry = await add('fourth');
    assert.equal(retry.code, 0, retry.stdout);
    assert.ok(POOL.includes(retry.address!));
  });

  it("DEL releases the lease: it leaves dnsmasq's lease table", async () => {
    const address = pods.fourth.address;
    assert.ok(server.leases().some((l) => l.address === address));
    await del('fourth');
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && server.leases().some((l) => l.address === address)) await sleep(200);
    assert.ok(!server.leases().some((l) => l.address === address), JSON.stringify(server.leases()));
  });
});
