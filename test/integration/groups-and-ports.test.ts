/**
 * The extra multicast groups (`multicastGroups`, on in the shipped manifests/config.yaml) and
 * per-pod broadcast ports, with the real agent and real sockets on a Calico-style node.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAgent } from '../support/agent.js';
import { calicoBed, type CalicoBed, type Proc } from '../support/netns.js';
import { runPeer, spawnPeer } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';

const YEELIGHT = '239.255.255.250';

async function listen(
  bed: CalicoBed,
  ns: string,
  port: number,
  group?: string,
  joinOn?: string,
): Promise<Proc> {
  const args = ['--port', String(port), ...(group ? ['--group', group] : [])];
  if (joinOn) args.push('--join-on', joinOn);
  const p = spawnPeer(bed, ns, 'udp_listen.py', args);
  await p.waitForLine(/"listening"/, { timeoutMs: 5000 });
  return p;
}
const heard = (p: Proc) =>
  p
    .json<{ event: string; from: string }>()
    .filter((e) => e.event === 'datagram')
    .map((e) => e.from);

describeAsRoot('extra multicast groups and per-pod broadcast ports', function () {
  this.timeout(120_000);
  let bed: CalicoBed;

  before(async () => {
    bed = await calicoBed({ devices: 1, podsPerNode: 3, podAddressing: 'lan' });
    const [wiz, kasa, plain] = bed.nodes[0].pods;
    const dir = mkdtempSync(join(tmpdir(), 'lr-conf-'));
    writeFileSync(
      join(dir, 'config.yaml'),
      [
        'lanInterface: lan0',
        'protocols: [mdns, broadcast]',
        'broadcastPorts: [wiz, kasa]',
        `multicastGroups: ["${YEELIGHT}:1982"]`,
        'pods:',
        `  - { address: ${wiz.address}, broadcastPorts: [wiz] }`,
        `  - { address: ${kasa.address}, broadcastPorts: [kasa] }`,
        `  - { address: ${plain.address}, protocols: [mdns] }`,
      ].join('\n'),
    );
    await startAgent(bed, bed.nodes[0].ns, { args: ['--config', join(dir, 'config.yaml')], pods: 3 });
  });
  after(async () => bed?.teardown());

  it('relays a LAN device’s packet to an extra group into the pods that take the multicast protocol only', async () => {
    const [wiz, kasa, plain] = bed.nodes[0].pods;
    const [dev] = bed.devices;
    const ls = [
      await listen(bed, wiz.ns, 1982, YEELIGHT),
      await listen(bed, kasa.ns, 1982, YEELIGHT),
      await listen(bed, plain.ns, 1982, YEELIGHT),
    ];
    try {
      const args = [
        '--address',
        YEELIGHT,
        '--port',
        '1982',
        '--bind',
        dev.address,
        '--timeout',
        '0.3',
        '--message',
        'M-SEARCH * HTTP/1.1',
      ];
      await runPeer(bed, dev.ns, 'udp_broadcast.py', args);
      await sleep(300);
      assert.deepEqual(heard(ls[0]), [dev.address]);
      assert.deepEqual(heard(ls[1]), [dev.address]);
      assert.deepEqual(heard(ls[2]), [], 'a pod without the multicast protocol gets nothing');
    } finally {
      for (const l of ls) await l.stop();
    }
  });

  it("relays a pod's packet to an extra group onto the LAN with the pod's own address", async () => {
    const [wiz] = bed.nodes[0].pods;
    const [dev] = bed.devices;
    const onLan = await listen(bed, dev.ns, 1982, YEELIGHT, dev.address);
    try {
      const args = [
        '--address',
        YEELIGHT,
        '--port',
        '1982',
        '--bind',
        wiz.address,
        '--timeout',
        '0.3',
        '--message',
        'M-SEARCH * HTTP/1.1',
      ];
      await runPeer(bed, wiz.ns, 'udp_broadcast.py', args);
      await sleep(300);
      assert.deepEqual(heard(onLan), [wiz.address]);
    } finally {
      await onLan.stop();
    }
  });

  it('gives each pod only the broadcasts to its own ports', async () => {
    const [wiz, kasa] = bed.nodes[0].pods;
    const [dev] = bed.devices;
    const wizOn38899 = await listen(bed, wiz.ns, 38899);
    const kasaOn38899 = await listen(bed, kasa.ns, 38899);
    const wizOn9999 = await listen(bed, wiz.ns, 9999);
    const kasaOn9999 = await listen(bed, kasa.ns, 9999);
    try {
      for (const port of ['38899', '9999'])
        await runPeer(bed, dev.ns, 'udp_broadcast.py', [
          '--port',
          port,
          '--bind',
          dev.address,
          '--timeout',
          '0.3',
          '--message',
          'probe',
        ]);
      await sleep(300);
      assert.deepEqual(heard(wizOn38899), [dev.address]);
      assert.deepEqual(heard(kasaOn9999), [dev.address]);
      assert.deepEqual(heard(kasaOn38899), [], 'a kasa-only pod gets no WiZ broadcast');
      assert.deepEqual(heard(wizOn9999), [], 'a wiz-only pod gets no Kasa broadcast');
    } finally {
      for (const l of [wizOn38899, kasaOn38899, wizOn9999, kasaOn9999]) await l.stop();
    }
  });
});
