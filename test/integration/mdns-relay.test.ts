/**
 * The reflector core against real python3-zeroconf peers, with the real agent process in the node
 * namespace of a Calico-style bed (issue: "Reflector core").
 */
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAgent, type RunningAgent } from '../support/agent.js';
import { calicoBed, type CalicoBed } from '../support/netns.js';
import { browse, capture, publish, runPeer } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';

describeAsRoot('mDNS relay between the LAN and opted-in Calico-style pods', function () {
  this.timeout(120_000);
  let bed: CalicoBed;
  let agent: RunningAgent;
  const names = () => {
    const n = bed.nodes[0];
    return {
      dev1: bed.devices[0],
      dev2: bed.devices[1],
      node: n,
      p1: n.pods[0],
      p2: n.pods[1],
      p3: n.pods[2],
    };
  };

  before(async function () {
    bed = await calicoBed({ devices: 2, podsPerNode: 3, podAddressing: 'lan' });
    const { node, p1, p2, dev1 } = names();
    agent = await startAgent(bed, node.ns, { args: ['--pod', p1.address, '--pod', p2.address], pods: 2 });
    await publish(bed, dev1.ns, { name: 'Speaker', port: 1400, address: dev1.address });
  });
  after(async () => bed?.teardown());

  it("an opted-in pod resolves a LAN device's service with the device's address, from the device's source", async () => {
    const { p1, dev1 } = names();
    let found: Awaited<ReturnType<typeof browse>> = [];
    const seen = await capture(
      bed,
      p1.ns,
      'eth0',
      `udp port 5353 and src host ${dev1.address}`,
      500,
      async () => {
        found = await browse(bed, p1.ns, { address: p1.address, count: 1, timeoutS: 8 });
      },
    );
    const speaker = found.find((r) => r.name.startsWith('Speaker.'));
    assert.ok(speaker, `the pod resolved nothing: ${JSON.stringify(found)}`);
    assert.deepEqual(speaker.addresses, [dev1.address]);
    assert.ok(seen.packets.length > 0, "no packet in the pod carried the device's source address");
  });

  it("a pod's service is resolved on the LAN and by another opted-in pod of the node", async () => {
    const { p1, p2, dev2 } = names();
    const svc = await publish(bed, p1.ns, { name: 'PodService', port: 8123, address: p1.address });
    try {
      const onLan = await browse(bed, dev2.ns, { address: dev2.address, count: 2, timeoutS: 8 });
      const fromLan = onLan.find((r) => r.name.startsWith('PodService.'));
      assert.ok(fromLan, `the LAN did not resolve the pod's service: ${JSON.stringify(onLan)}`);
      assert.deepEqual(fromLan.addresses, [p1.address]);
      const inPod = await browse(bed, p2.ns, { address: p2.address, count: 2, timeoutS: 8 });
      assert.ok(
        inPod.some((r) => r.name.startsWith('PodService.') && r.addresses.includes(p1.address)),
        `the other pod did not resolve it: ${JSON.stringify(inPod)}`,
      );
    } finally {
      await svc.stop();
    }
  });

  it('a pod that did not opt in resolves nothing from the LAN, and its service never reaches the LAN', async () => {
    const { p3, dev2 } = names();
    const fromLan = await browse(bed, p3.ns, { address: p3.address, timeoutS: 4 });
    assert.deepEqual(
      fromLan.filter((r) => r.name.startsWith('Speaker.')),
      [],
    );
    const svc = await publish(bed, p3.ns, { name: 'Hidden', port: 9, address: p3.address });
    try {
      let onLan: Awaited<ReturnType<typeof browse>> = [];
      const leaked = await capture(
        bed,
        dev2.ns,
        'eth0',
        `udp port 5353 and src host ${p3.address}`,
        500,
        async () => {
          onLan = await browse(bed, dev2.ns, { address: dev2.address, timeoutS: 4 });
        },
      );
      assert.deepEqual(
        onLan.filter((r) => r.name.startsWith('Hidden.')),
        [],
      );
      assert.equal(leaked.packets.length, 0, `the pod's packets reached the LAN: ${leaked.lines.join('\n')}`);
    } finally {
      await svc.stop();
    }
  });

  it('a flood of malformed and truncated packets on both links leaves the agent alive and relaying', async () => {
    const { p1, dev1 } = names();
    await Promise.all([
      runPeer(bed, dev1.ns, 'mdns_garbage.py', ['--address', dev1.address, '--count', '2000']),
      runPeer(bed, p1.ns, 'mdns_garbage.py', ['--address', p1.address, '--count', '2000', '--seed', '9']),
    ]);
    await sleep(200);
    assert.equal(agent.proc.status, undefined, `the agent exited:\n${agent.proc.stderr}`);
    const found = await browse(bed, p1.ns, { address: p1.address, count: 1, timeoutS: 8 });
    assert.ok(
      found.some((r) => r.name.startsWith('Speaker.')),
      'relaying stopped after the flood',
    );
  });

  it('a restarted pod (a new veth, the same address) is served again without restarting the agent', async () => {
    const oldLink = names().p1.hostIf;
    const before = agent.log().filter((l) => l.message === 'link opened').length;
    const pod = await bed.restartPod(1, 1);
    assert.notEqual(pod.hostIf, oldLink, 'the bed did not give the pod a new veth');
    const deadline = Date.now() + 10_000;
    while (!agent.log().some((l) => l.message === 'link opened' && l.link === pod.hostIf)) {
      assert.ok(Date.now() < deadline, `the agent did not pick up ${pod.hostIf}:\n${agent.proc.stderr}`);
      await sleep(50);
    }
    assert.ok(agent.log().filter((l) => l.message === 'link opened').length > before);
    const found = await browse(bed, pod.ns, { address: pod.address, count: 1, timeoutS: 8 });
    assert.ok(
      found.some((r) => r.name.startsWith('Speaker.')),
      'the restarted pod resolved nothing',
    );
  });

  it('stops cleanly within a second of SIGTERM', async () => {
    const t0 = Date.now();
    agent.proc.signal('SIGTERM');
    const status = await agent.proc.exited;
    const took = Date.now() - t0;
    assert.equal(status.code, 0, `exit ${status.code ?? status.signal}:\n${agent.proc.stderr}`);
    assert.ok(took < 1000, `took ${took} ms`);
  });
});

describeAsRoot('two nodes with an agent each on one LAN', function () {
  this.timeout(120_000);
  let bed: CalicoBed;

  before(async function () {
    bed = await calicoBed({ nodes: 2, devices: 1, podsPerNode: 1, podAddressing: 'lan' });
    for (const n of bed.nodes) await startAgent(bed, n.ns, { args: ['--pod', n.pods[0].address], pods: 1 });
  });
  after(async () => bed?.teardown());

  // The bound: 20 s of this traffic, relayed without a loop, is well under 150 mDNS packets on the
  // LAN (probes, announcements, a browser's backed-off queries and their answers); a reflection loop
  // between two agents would multiply it by the packet rate, thousands within a second.
  const BOUND = 150;

  it(`keeps the LAN's mDNS traffic over 20 s under ${BOUND} packets while pods on both nodes talk`, async () => {
    const [n1, n2] = bed.nodes;
    const dev = bed.devices[0];
    const svc = await publish(bed, n1.pods[0].ns, {
      name: 'NodeOnePod',
      port: 80,
      address: n1.pods[0].address,
    });
    try {
      const seen = await capture(bed, dev.ns, 'eth0', 'udp port 5353', 20_000, async () => {
        const found = await browse(bed, n2.pods[0].ns, {
          address: n2.pods[0].address,
          count: 1,
          timeoutS: 10,
        });
        assert.ok(
          found.some((r) => r.name.startsWith('NodeOnePod.')),
          'the pod on node 2 did not resolve the pod on node 1',
        );
      });
      console.log(`      (${seen.packets.length} mDNS packets on the LAN in 20 s)`);
      assert.ok(seen.packets.length > 0, 'nothing was relayed at all');
      assert.ok(seen.packets.length < BOUND, `${seen.packets.length} mDNS packets on the LAN in 20 s`);
    } finally {
      await svc.stop();
    }
  });
});
