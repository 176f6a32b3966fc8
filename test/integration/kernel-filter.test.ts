/**
 * The receive sockets' kernel filter with the real agent: 10,000 UDP packets to the overlay's port
 * (VXLAN 8472) cross the LAN link beside real mDNS discovery. The discovery is relayed into the
 * opted-in pod; the foreign packets never reach the agent (the addon's receive counter, read through
 * `status`), though the link did carry them (its kernel rx counter).
 */
import { strict as assert } from 'node:assert';
import { requestStatus } from '../../src/control/client.js';
import type { StatusReply } from '../../src/control/types.js';
import { startAgent, type RunningAgent } from '../support/agent.js';
import { calicoBed, type CalicoBed } from '../support/netns.js';
import { browse, publish } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';

const FOREIGN = 10_000;

describeAsRoot('the kernel filter on the agent’s receive sockets', function () {
  this.timeout(120_000);
  let bed: CalicoBed;
  let agent: RunningAgent;

  before(async function () {
    bed = await calicoBed({ devices: 1, podsPerNode: 1, podAddressing: 'lan' });
    const p1 = bed.nodes[0].pods[0];
    agent = await startAgent(bed, bed.nodes[0].ns, { args: ['--pod', p1.address], pods: 1 });
  });
  after(async () => bed?.teardown());

  const lanSocket = (s: StatusReply) => s.interfaces.find((i) => i.name === 'lan0')!;
  const rxPackets = async () => {
    const { stdout } = await bed.ip(bed.nodes[0].ns, ['-j', '-s', 'link', 'show', 'dev', 'lan0']);
    return (JSON.parse(stdout) as { stats64: { rx: { packets: number } } }[])[0].stats64.rx.packets;
  };

  it('shows the filter’s ports in status: only mDNS (5353) on every receive link', async function () {
    const s = await requestStatus(agent.controlSocket);
    for (const i of s.interfaces) {
      assert.equal(i.socket.kind, 'ipv4-udp');
      assert.deepEqual(i.socket.filterPorts, [5353], `${i.name}`);
    }
  });

  it('10,000 packets to port 8472 never reach the agent, while mDNS beside them is relayed', async function () {
    const node = bed.nodes[0];
    const dev1 = bed.devices[0];
    const p1 = node.pods[0];
    const before = lanSocket(await requestStatus(agent.controlSocket)).socket;
    const rxBefore = await rxPackets();
    const svc = await publish(bed, dev1.ns, { name: 'BesideTheFlood', port: 1400, address: dev1.address });
    try {
      // Half unicast to the node, half to the mDNS group itself: only the port is foreign.
      const flood = bed.exec(
        dev1.ns,
        [
          'python3',
          '-c',
          `import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('${dev1.address}'))
vxlan = bytes(8) + bytes(42)
for i in range(${FOREIGN} // 2):
    s.sendto(vxlan, ('${node.address}', 8472))
    s.sendto(vxlan, ('224.0.0.251', 8472))
    if i % 500 == 0: time.sleep(0.01)`,
        ],
        { timeoutMs: 60_000 },
      );
      const found = await browse(bed, p1.ns, { address: p1.address, count: 1, timeoutS: 10 });
      await flood;
      assert.ok(
        found.some((r) => r.name.startsWith('BesideTheFlood.')),
        `the pod resolved nothing beside the flood: ${JSON.stringify(found)}`,
      );
    } finally {
      await svc.stop();
    }
    await new Promise((r) => setTimeout(r, 300));
    const after = lanSocket(await requestStatus(agent.controlSocket)).socket;
    const crossed = (await rxPackets()) - rxBefore;
    const reachedAgent = after.received - before.received;
    assert.ok(crossed >= FOREIGN, `the LAN link carried the flood: ${crossed} packets`);
    assert.ok(reachedAgent > 0, 'the discovery packets did reach the agent');
    // What did reach it is the mDNS exchange alone: a few dozen packets, never the flood.
    assert.ok(reachedAgent < 200, `${reachedAgent} packets reached the agent's LAN socket`);
    const relayed = (await requestStatus(agent.controlSocket)).packets.mdns['lan-to-pod']!.relayed;
    assert.ok(relayed > 0);
  });
});
