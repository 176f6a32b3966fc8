/**
 * LAN addresses for pods, end to end (issue 10): the real agent with an `ipam:` section in each node
 * namespace, Debian's ptp plugin calling lan-reflector-ipam as its `ipam` exactly as a runtime
 * would, and devices on the LAN that know nothing of Kubernetes. Two nodes with ranges that do not
 * overlap (the file store is per node).
 */
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { cniOk, netConf, ourIpam, podAddress, runCni } from '../support/cni.js';
import { startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { arping, arpingMacs, cniBed, macOf, neighbourMac, type CniBed } from '../support/netns.js';
import { browse, capture, publish, runPeer, spawnPeer } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';

/** dev2 holds the first address of node1's range by hand: in no exclusion, in no table. */
const HELD_BY_DEVICE = '198.18.4.150';
const RANGE1 = '198.18.4.150-198.18.4.179';
const RANGE2 = '198.18.4.180-198.18.4.199';
const METRICS_PORT = 9471;

describeAsRoot('LAN addresses for pods: ptp + lan-reflector-ipam + the agent, two nodes', function () {
  this.timeout(180_000);
  let bed: CniBed;
  let agent1: IpamAgent;
  let agent2: IpamAgent;
  let node1Mac: string;
  let node2Mac: string;
  const pods: Record<string, { ns: string; address: string; containerId: string }> = {};

  const ptp = (agent: IpamAgent) => netConf('ptp', ourIpam(agent.socket), { extra: { ipMasq: false } });

  /** Runs ptp ADD for a new pod on node k; returns its address. */
  async function addPod(k: number, name: string): Promise<string> {
    const agent = k === 1 ? agent1 : agent2;
    const ns = await bed.podNs(k);
    const containerId = `${bed.prefix}${name}`;
    await cniOk(bed, `node${k}`, {
      plugin: 'ptp',
      command: 'ADD',
      config: ptp(agent),
      containerId,
      netns: ns,
      ifname: 'eth0',
      args: { K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: name },
    });
    const a = await podAddress(bed, ns);
    assert.ok(a, `pod ${name} has no address`);
    pods[name] = { ns, address: a.local, containerId };
    return a.local;
  }

  const ipamSection = (range: string) => ({
    subnet: '198.18.4.0/24',
    ranges: [range],
    probe: { enabled: true, timeoutMs: 200 },
  });

  before(async () => {
    bed = await cniBed({ devices: 3, nodes: 2 });
    node1Mac = await macOf(bed, 'node1', 'lan0');
    node2Mac = await macOf(bed, 'node2', 'lan0');
    await bed.ip('dev2', ['addr', 'add', `${HELD_BY_DEVICE}/24`, 'dev', 'eth0']);
    agent1 = await startIpamAgent(bed, 'node1', {
      ipam: ipamSection(RANGE1),
      args: ['--metrics-address', `127.0.0.1:${METRICS_PORT}`],
    });
    agent2 = await startIpamAgent(bed, 'node2', { ipam: ipamSection(RANGE2) });
  });
  after(async () => {
    await agent1?.stop();
    await agent2?.stop();
    await bed?.teardown();
    agent1?.remove();
    agent2?.remove();
  });

  it('skips an in-range address a device holds because the probe answered; a gratuitous ARP announces the pod at ADD', async () => {
    let address = '';
    const lan = await capture(bed, 'dev3', 'eth0', 'arp', 400, async () => {
      address = await addPod(1, 'ha');
    });
    // .150 is the first in the range and in no table: only dev2's answer to the probe keeps it out.
    assert.equal(address, '198.18.4.151');
    const dev2Mac = await macOf(bed, 'dev2', 'eth0');
    const skipped = agent1.log().find((l) => l.address === HELD_BY_DEVICE && typeof l.by === 'string');
    assert.ok(skipped, `the agent did not log the skipped address:\n${agent1.proc.stderr}`);
    assert.equal(skipped.by, dev2Mac);
    assert.ok(
      lan.lines.some((l) => l.includes(`who-has ${HELD_BY_DEVICE} tell 0.0.0.0`)),
      `no probe from 0.0.0.0 on the LAN:\n${lan.lines.join('\n')}`,
    );
    assert.ok(
      lan.lines.some(
        (l) => l.includes(`who-has ${address} tell ${address}`) || l.includes(`Announcement ${address}`),
      ),
      `no gratuitous ARP for ${address} on the LAN:\n${lan.lines.join('\n')}`,
    );
  });

  it("a LAN device reaches the pod by ping, UDP and TCP; its neighbour entry for the pod is the node's MAC", async () => {
    const { ns, address } = pods.ha;
    assert.ok(await bed.ping('dev1', address, { count: 2, timeoutS: 2 }), 'dev1 cannot ping the pod');
    assert.equal(await neighbourMac(bed, 'dev1', address), node1Mac);
    for (const proto of ['udp', 'tcp']) {
      const server = spawnPeer(bed, ns, 'echo.py', ['--proto', proto, '--listen', '7007']);
      await server.waitForLine(/listening/);
      const [reply] = await runPeer(bed, 'dev1', 'echo.py', [
        '--proto',
        proto,
        '--connect',
        address,
        '--port',
        '7007',
        '--text',
        proto,
      ]);
      assert.deepEqual(reply, { event: 'reply', text: `echo ${proto}`, peer: address });
      await server.waitForLine(new RegExp(`"peer": "${bed.devices[0].address}"`));
      await server.stop();
    }
  });

  it('with two nodes, only the node hosting a pod answers ARP for it (arping sees exactly one MAC)', async () => {
    const other = await addPod(2, 'sonos');
    assert.match(other, /^198\.18\.4\.(18\d|19\d)$/);
    const r1 = await arping(bed, 'dev3', pods.ha.address, { count: 3 });
    assert.equal(r1.length, 3, JSON.stringify(r1));
    assert.deepEqual([...new Set(r1.map((r) => r.mac))], [node1Mac]);
    assert.deepEqual([...new Set(await arpingMacs(bed, 'dev3', other))], [node2Mac]);
  });

  it("a restart of the agent (kill -9, then start) keeps a device's ping to the pod going", async () => {
    const { address } = pods.ha;
    const ping = bed.spawn('dev1', ['ping', '-n', '-i', '0.2', '-W', '1', address]);
    await ping.waitForLine(/bytes from/);
    await agent1.kill9();
    await sleep(1000);
    agent1 = await agent1.restart();
    await sleep(600);
    ping.signal('SIGINT');
    await ping.exited;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(ping.stdout);
    assert.ok(m, ping.stdout);
    const [sent, got] = [Number(m[1]), Number(m[2])];
    assert.ok(sent >= 6, `only ${sent} pings sent`);
    assert.ok(got >= sent - 1, `${sent - got} of ${sent} pings lost across the restart`);
    // The new agent found the allocation and kept the entry.
    const reconciled = agent1.log().find((l) => l.message === 'proxy neighbour entries reconciled');
    assert.ok(reconciled, agent1.proc.stderr);
    assert.equal(reconciled.live, 1);
    assert.deepEqual(reconciled.added, []);
  });

  it('another MAC claiming a pod address is a conflict: a log line and a metric; the node defends the address', async () => {
    const { address } = pods.ha;
    const dev3Mac = await macOf(bed, 'dev3', 'eth0');
    await bed.exec('dev3', ['arping', '-U', '-S', address, '-c', '1', '-w', '1', '-i', 'eth0', address], {
      check: false,
    });
    const deadline = Date.now() + 5000;
    let hit: Record<string, unknown> | undefined;
    while (!hit && Date.now() < deadline) {
      hit = agent1.log().find((l) => l.message === 'LAN address conflict');
      if (!hit) await sleep(50);
    }
    assert.ok(hit, `no conflict logged:\n${agent1.proc.stderr}`);
    assert.deepEqual([hit.address, hit.by, hit.pod], [address, dev3Mac, 'home/ha']);
    const metrics = await bed.exec('node1', [
      'curl',
      '-sS',
      '--max-time',
      '5',
      `http://127.0.0.1:${METRICS_PORT}/metrics`,
    ]);
    const m = /^lan_reflector_ipam_address_conflicts_total\{when="assigned"\} (\d+)/m.exec(metrics.stdout);
    assert.ok(
      m && Number(m[1]) >= 1,
      metrics.stdout
        .split('\n')
        .filter((l) => l.includes('conflict'))
        .join('\n'),
    );
    // The claim changed dev1's cache; the node's one defending announcement put its own MAC back.
    await sleep(200);
    assert.equal(await neighbourMac(bed, 'dev1', address), node1Mac);
  });

  it('the whole mission: a zeroconf service in the pod is resolved by a LAN device to the pod address and reached over TCP there', async () => {
    const { ns, address } = pods.ha;
    const server = spawnPeer(bed, ns, 'echo.py', ['--proto', 'tcp', '--listen', '8123']);
    await server.waitForLine(/listening/);
    const svc = await publish(bed, ns, { name: 'Home Assistant', port: 8123, address });
    try {
      const found = await browse(bed, 'dev1', { address: bed.devices[0].address, count: 1, timeoutS: 10 });
      const ha = found.find((r) => r.name.startsWith('Home Assistant.'));
      assert.ok(ha, `the device resolved nothing: ${JSON.stringify(found)}\n${agent1.proc.stderr}`);
      // Source mode preserve (auto, for a pod in the LAN subnet): the A record is the pod's own address.
      assert.deepEqual(ha.addresses, [address]);
      const [reply] = await runPeer(bed, 'dev1', 'echo.py', [
        '--proto',
        'tcp',
        '--connect',
        ha.addresses[0],
        '--port',
        String(ha.port),
        '--text',
        'GET /',
      ]);
      assert.deepEqual(reply, { event: 'reply', text: 'echo GET /', peer: address });
    } finally {
      await svc.stop();
      await server.stop();
    }
  });

  it('DEL releases the address and removes the proxy entry: the node stops answering for it', async () => {
    const { ns, address, containerId } = pods.ha;
    const r = await runCni(bed, 'node1', {
      plugin: 'ptp',
      command: 'DEL',
      config: ptp(agent1),
      containerId,
      netns: ns,
      ifname: 'eth0',
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const proxies = (await bed.ip('node1', ['neigh', 'show', 'proxy', 'dev', 'lan0'])).stdout;
    assert.doesNotMatch(proxies, new RegExp(`^${address.replace(/\./g, '\\.')} `, 'm'));
    assert.deepEqual(await arpingMacs(bed, 'dev3', address, { count: 1 }), []);
  });
});
