/**
 * ipam.mode dhcp beside the node's own DHCP client (issue 12: "It must coexist with the node's own
 * DHCP client on the same link"). Debian's dhclient runs in the node namespace on lan0 and leases
 * the node's address from dnsmasq (a reservation for its client identifier) while the agent leases
 * pod addresses on the same link with the same MAC. Both keep and renew their leases with a short
 * T1, and neither takes the other's replies: different addresses, and dnsmasq's lease table lists
 * the node and each pod as separate leases.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { netConf, ourIpam, podAddress, runCni } from '../support/cni.js';
import { startDhclient, type Dhclient } from '../support/dhclient.js';
import { documentedClientId, startDnsmasq, type DhcpServer } from '../support/dhcp-servers.js';
import { startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { cniBed, macOf, nodeAddress, type CniBed } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const POOL = ['198.18.4.150', '198.18.4.151', '198.18.4.152', '198.18.4.153'];
const T1 = 6;

describeAsRoot("ipam.mode dhcp beside the node's own DHCP client (dhclient) on the same link", function () {
  this.timeout(180_000);
  let bed: CniBed;
  let server: DhcpServer;
  let dhclient: Dhclient;
  let agent: IpamAgent;
  let nodeMac: string;
  let nodeIp: string;
  let resolvConf: string;
  let nodeState: string;
  const pods: Record<string, string> = {};

  /** lan0's addresses and routes in the node namespace (dhclient-script would change them; ptp
   *  touches only the pods' veths). */
  const snapshot = async (): Promise<string> =>
    (await bed.ip('node1', ['-4', '-o', 'addr', 'show', 'dev', 'lan0'])).stdout +
    (await bed.ip('node1', ['-4', 'route', 'show', 'dev', 'lan0'])).stdout;

  before(async () => {
    resolvConf = readFileSync('/etc/resolv.conf', 'utf8');
    bed = await cniBed({ devices: 1, nodes: 1 });
    nodeMac = await macOf(bed, 'node1', 'lan0');
    nodeIp = nodeAddress(1);
    nodeState = await snapshot();
    server = await startDnsmasq(bed, 'dev1', {
      first: POOL[0],
      last: POOL[POOL.length - 1],
      leaseSeconds: 120, // dnsmasq's minimum
      t1Seconds: T1,
      t2Seconds: 100,
      // The router hands the node its own address: client identifier 01 + the node's MAC.
      reservations: [{ clientId: `01:${nodeMac}`, address: nodeIp }],
    });
    // The node's client first, as on a booted node: it holds UDP 68 and its LPF socket on lan0.
    dhclient = startDhclient(bed, 'node1', 'lan0', { hostname: 'node1' });
    await dhclient.proc.waitForLine(/^bound to /, { stream: 'stderr', timeoutMs: 30_000 });
    agent = await startIpamAgent(bed, 'node1', {
      ipam: { mode: 'dhcp', subnet: '198.18.4.0/24', probe: { enabled: true, timeoutMs: 200 } },
    });
  });
  after(async () => {
    await agent?.stop();
    await dhclient?.stop();
    await server?.stop();
    await bed?.teardown();
    agent?.remove();
    dhclient?.remove();
    server?.remove();
  });

  it("dhclient leases the node's own address from dnsmasq", () => {
    assert.deepEqual([...new Set(dhclient.bound())], [nodeIp], dhclient.proc.stderr);
    const lease = server.leases().find((l) => l.address === nodeIp);
    assert.ok(lease, JSON.stringify(server.leases()));
    assert.deepEqual([lease.mac, lease.clientId, lease.hostname], [nodeMac, `01:${nodeMac}`, 'node1']);
  });

  it('two pods get leases through the agent on the same link, while dhclient holds UDP 68', async () => {
    for (const name of ['ha', 'mqtt']) {
      const ns = await bed.podNs(1);
      const r = await runCni(bed, 'node1', {
        plugin: 'ptp',
        command: 'ADD',
        config: netConf('ptp', ourIpam(agent.socket), { extra: { ipMasq: false } }),
        containerId: `${bed.prefix}${name}`,
        netns: ns,
        ifname: 'eth0',
        args: { K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: name },
        timeoutMs: 40_000,
      });
      assert.equal(r.code, 0, r.stdout + r.stderr + agent.proc.stderr);
      pods[name] = (await podAddress(bed, ns))!.local;
    }
    assert.ok(POOL.includes(pods.ha) && POOL.includes(pods.mqtt), JSON.stringify(pods));
    assert.notEqual(pods.ha, pods.mqtt);
  });

  it("dnsmasq's lease table lists the node and each pod separately, all under the node's MAC", () => {
    const rows = server
      .leases()
      .map((l) => [l.address, l.mac, l.clientId, l.hostname])
      .sort((a, b) => a[0].localeCompare(b[0]));
    const want = [
      [nodeIp, nodeMac, `01:${nodeMac}`, 'node1'],
      [pods.ha, nodeMac, documentedClientId('home', 'ha'), 'ha'],
      [pods.mqtt, nodeMac, documentedClientId('home', 'mqtt'), 'mqtt'],
    ].sort((a, b) => a[0].localeCompare(b[0]));
    assert.deepEqual(rows, want);
  });

  it("both keep renewing: the node's lease (dhclient) and the pods' (agent) at T1, each its own address", async () => {
    const expiry = (a: string): number => server.leases().find((l) => l.address === a)?.expires ?? 0;
    const before = { node: expiry(nodeIp), ha: expiry(pods.ha), mqtt: expiry(pods.mqtt) };
    const renewals = (a: string): number =>
      agent.log().filter((l) => l.message === 'DHCP lease renewed' && l.address === a).length;
    const base = { binds: dhclient.bound().length, ha: renewals(pods.ha), mqtt: renewals(pods.mqtt) };
    // Two more renewals each (T1 = 6 s; dhclient renews at 3/4..1 of T1): about 12 s, 40 s allowed.
    const done = (): boolean =>
      dhclient.bound().length >= base.binds + 2 &&
      renewals(pods.ha) >= base.ha + 2 &&
      renewals(pods.mqtt) >= base.mqtt + 2;
    const deadline = Date.now() + 40_000;
    while (!done() && Date.now() < deadline) await sleep(500);
    assert.ok(
      done(),
      `renewals: dhclient ${dhclient.bound().length - base.binds}, ha ${renewals(pods.ha) - base.ha}, ` +
        `mqtt ${renewals(pods.mqtt) - base.mqtt}\ndhclient:\n${dhclient.proc.stderr}`,
    );
    // The server extended each of the three leases.
    assert.ok(expiry(nodeIp) > before.node, `node lease not extended: ${before.node} → ${expiry(nodeIp)}`);
    assert.ok(expiry(pods.ha) > before.ha, `ha lease not extended: ${before.ha} → ${expiry(pods.ha)}`);
    assert.ok(
      expiry(pods.mqtt) > before.mqtt,
      `mqtt lease not extended: ${before.mqtt} → ${expiry(pods.mqtt)}`,
    );
    // dhclient took only its own ACKs (it saw the pods' on its LPF socket too), never a pod's address.
    assert.deepEqual([...new Set(dhclient.bound())], [nodeIp], dhclient.proc.stderr);
    assert.deepEqual([...new Set(dhclient.leasedAddresses())], [nodeIp]);
    assert.doesNotMatch(dhclient.proc.stderr, new RegExp(`${pods.ha}|${pods.mqtt}`.replace(/\./g, '\\.')));
    // The agent took only the pods' ACKs: no pod was ever renewed onto the node's address, no lease lost.
    assert.ok(!agent.log().some((l) => l.address === nodeIp && l.message === 'DHCP lease renewed'));
    assert.deepEqual(
      agent.log().filter((l) => l.problem !== undefined),
      [],
      'no lease problem reported',
    );
  });

  it('dhclient changed nothing: not the host resolv.conf, not the node namespace addresses or routes', async () => {
    assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), resolvConf);
    assert.equal(await snapshot(), nodeState);
    assert.equal(dhclient.proc.status, undefined, 'dhclient is still running');
  });
});
