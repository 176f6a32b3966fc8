/**
 * The file store's leak reclaim (issue 10: a restart removes nothing, and reconciles with the pods
 * the node really runs). Two pods made by Debian's ptp with our IPAM; the agent is killed; one pod's
 * veth is deleted without a DEL, as by a runtime that lost it; the agent starts again with a short
 * `ipam.reclaimAfterSeconds`. The lost pod's address and proxy entry go, the live pod keeps both
 * and stays reachable, and an allocation younger than the grace (no route yet, like an ADD in
 * flight) is kept until the grace has passed.
 */
import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cniOk, netConf, ourIpam, podAddress, runPlugin } from '../support/cni.js';
import { startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { arpingMacs, cniBed, type CniBed } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const GRACE_S = 8;
const METRICS_PORT = 9478;
const section = {
  subnet: '198.18.4.0/24',
  ranges: ['198.18.4.150-198.18.4.179'],
  probe: false,
};

describeAsRoot('IPAM leak reclaim: a pod gone without a DEL while the agent was down', function () {
  this.timeout(180_000);
  let bed: CniBed;
  let agent: IpamAgent;

  before(async () => {
    bed = await cniBed({ devices: 1, nodes: 1 });
    agent = await startIpamAgent(bed, 'node1', { ipam: section });
  });
  after(async () => {
    await agent?.stop();
    await bed?.teardown();
    agent?.remove();
  });

  const stored = () => readdirSync(join(agent.store, 'addresses'));
  const proxies = async () =>
    (await bed.ip('node1', ['neigh', 'show', 'proxy', 'dev', 'lan0'])).stdout
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter(Boolean);
  const reclaimed = () =>
    agent
      .log()
      .filter((l) => String(l.message).startsWith('address reclaimed'))
      .map((l) => String(l.address));

  async function until(what: string, ok: () => boolean | Promise<boolean>, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms:\n${agent.proc.stderr}`);
      await sleep(100);
    }
  }

  async function addPod(name: string): Promise<{ ns: string; address: string }> {
    const ns = await bed.podNs(1);
    await cniOk(bed, 'node1', {
      plugin: 'ptp',
      command: 'ADD',
      config: netConf('ptp', ourIpam(agent.socket), { extra: { ipMasq: false } }),
      containerId: `${bed.prefix}${name}`,
      netns: ns,
      ifname: 'eth0',
      args: { K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: name },
    });
    const a = await podAddress(bed, ns);
    assert.ok(a, `pod ${name} has no address`);
    return { ns, address: a.local };
  }

  it('frees the lost pod (address and proxy entry), keeps the live one reachable, and a young allocation until its grace has passed', async () => {
    const live = await addPod('live');
    const lost = await addPod('lost');
    assert.ok(
      await bed.ping('dev1', live.address, { count: 1, timeoutS: 2 }),
      'dev1 cannot ping the live pod',
    );
    // Both must be older than the grace when the new agent looks.
    await sleep((GRACE_S + 1) * 1000);
    // An allocation with no veth and no route, as an ADD still in flight has: young at the restart.
    const young = await runPlugin({
      plugin: 'lan-reflector-ipam',
      command: 'ADD',
      config: netConf('ptp', ourIpam(agent.socket)),
      containerId: `${bed.prefix}young`,
      netns: '/run/netns/none',
      ifname: 'eth0',
    });
    assert.equal(young.code, 0, young.stdout);
    const youngAddress = String((young.json?.ips as Array<{ address: string }>)[0].address).split('/')[0];

    await agent.kill9();
    // The runtime loses the lost pod without a DEL: its veth (and ptp's host route with it) is gone.
    const route = JSON.parse((await bed.ip('node1', ['-j', 'route', 'show', lost.address])).stdout) as Array<{
      dev: string;
    }>;
    assert.equal(route.length, 1, `no host route to ${lost.address}`);
    await bed.ip('node1', ['link', 'del', route[0].dev]);
    assert.deepEqual(stored().sort(), [live.address, lost.address, youngAddress].sort());
    assert.deepEqual((await proxies()).sort(), [live.address, lost.address, youngAddress].sort());

    agent = await startIpamAgent(
      bed,
      'node1',
      {
        ipam: { ...section, reclaimAfterSeconds: GRACE_S },
        args: ['--metrics-address', `127.0.0.1:${METRICS_PORT}`],
      },
      agent.dir,
    );
    await until(
      'no leak check at start',
      () => agent.log().some((l) => l.message === 'allocations checked for leaks'),
      10_000,
    );
    const startPass = agent.log().find((l) => l.message === 'allocations checked for leaks')!;
    assert.equal(startPass.released, 1, JSON.stringify(startPass));
    assert.deepEqual(reclaimed(), [lost.address]);
    assert.ok(!stored().includes(lost.address), 'the lost pod still holds its address in the store');
    assert.ok(stored().includes(live.address), 'the live pod lost its address');
    assert.ok(stored().includes(youngAddress), 'an allocation younger than the grace was freed');
    const entries = await proxies();
    assert.ok(!entries.includes(lost.address), `the lost pod's proxy entry stayed: ${entries.join(' ')}`);
    assert.ok(entries.includes(live.address), `the live pod's proxy entry went: ${entries.join(' ')}`);
    assert.deepEqual(await arpingMacs(bed, 'dev1', lost.address, { count: 1 }), []);
    assert.ok(await bed.ping('dev1', live.address, { count: 2, timeoutS: 2 }), 'the live pod is unreachable');

    // Once the grace has passed, the allocation without a route is a leak too.
    await until(
      'the young allocation was not freed after its grace',
      () => !stored().includes(youngAddress),
      20_000,
    );
    assert.deepEqual(reclaimed(), [lost.address, youngAddress]);
    assert.ok(stored().includes(live.address), 'the live pod lost its address');
    assert.ok(!(await proxies()).includes(youngAddress));
    const metrics = await bed.exec('node1', [
      'curl',
      '-sS',
      '--max-time',
      '5',
      `http://127.0.0.1:${METRICS_PORT}/metrics`,
    ]);
    assert.match(metrics.stdout, /^lan_reflector_ipam_reclaimed_total 2$/m);
  });
});
