/**
 * The IPAM's LAN side against real kernels and real devices (issue 10, "The node answers ARP for its
 * own pods only", "Never an address in use"): the real ptp plugin wires each pod (with host-local
 * handing it exactly one address), and the LAN side alone (test/support/lan-side-driver.ts) adds the
 * proxy entry, announces, probes and watches — no allocator in between, so a failure here is ours.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { cniOk, netConf } from '../support/cni.js';
import { startLanSide, type LanSideDriver } from '../support/lan-side.js';
import {
  arping,
  arpingMacs,
  cniBed,
  macOf,
  neighbourMac,
  nodeAddress,
  type CniBed,
} from '../support/netns.js';
import { capture, runPeer, spawnPeer } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';

const POD = '198.18.4.101';
const POD2 = '198.18.4.111';
/** In the range, in no exclusion, in no table: only a probe can tell that dev2 holds it. */
const HELD_BY_DEVICE = '198.18.4.150';

describeAsRoot('the LAN side of the IPAM: proxy entries, announcements, probes', function () {
  this.timeout(120_000);
  let bed: CniBed;
  let side: LanSideDriver;
  let side2: LanSideDriver;
  let nodeMac: string;
  let node2Mac: string;
  const dataDir = mkdtempSync('/tmp/lr-host-local-');

  /** The real ptp plugin wires a pod on node k at `address` (host-local with a one-address range). */
  async function ptpPod(k: number, address: string): Promise<string> {
    const pod = await bed.podNs(k);
    const ipam = {
      type: 'host-local',
      dataDir: `${dataDir}/node${k}`,
      ranges: [
        [{ subnet: '198.18.4.0/24', rangeStart: address, rangeEnd: address, gateway: nodeAddress(k) }],
      ],
      routes: [{ dst: '0.0.0.0/0' }],
    };
    await cniOk(bed, `node${k}`, {
      plugin: 'ptp',
      command: 'ADD',
      config: netConf('ptp', ipam),
      containerId: pod,
      netns: pod,
      ifname: 'eth0',
    });
    return pod;
  }

  before(async function () {
    bed = await cniBed({ devices: 3, nodes: 2 });
    nodeMac = await macOf(bed, 'node1', 'lan0');
    node2Mac = await macOf(bed, 'node2', 'lan0');
    await ptpPod(1, POD);
    await ptpPod(2, POD2);
    // dev2 also holds an address inside the pods' range (a device someone configured by hand).
    await bed.ip('dev2', ['addr', 'add', `${HELD_BY_DEVICE}/24`, 'dev', 'eth0']);
    side = await startLanSide(bed, 'node1');
    side2 = await startLanSide(bed, 'node2');
  });
  after(async () => {
    await bed?.teardown();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('sets proxy_delay 0 on the LAN link through netlink', async () => {
    for (const node of ['node1', 'node2']) {
      const r = await bed.ip(node, ['ntable', 'show', 'dev', 'lan0', 'name', 'arp_cache']);
      assert.match(r.stdout, /\bproxy_delay 0\b/, `${node}: ${r.stdout}`);
    }
  });

  it('a device cannot reach a pod before the node announces it, and can at once after', async () => {
    assert.equal(await bed.ping('dev1', POD, { timeoutS: 1 }), false);
    const garp = await capture(bed, 'dev3', 'eth0', 'arp', 300, async () => {
      await side.call('assign', { address: POD, pod: 'home/ha' });
      await side2.call('assign', { address: POD2, pod: 'home/sonos' });
    });
    // A gratuitous ARP for the pod's address, from the node's MAC, seen on the LAN.
    assert.ok(
      garp.lines.some(
        (l) => l.includes(`Request who-has ${POD} tell ${POD}`) || l.includes(`Announcement ${POD}`),
      ),
      `no announcement for ${POD} on the LAN:\n${garp.lines.join('\n')}`,
    );
    const started = Date.now();
    assert.ok(await bed.ping('dev1', POD, { count: 1, timeoutS: 2 }), 'dev1 cannot ping the pod');
    assert.ok(Date.now() - started < 1500, 'the ping waited for a delayed ARP answer');
    assert.equal(await neighbourMac(bed, 'dev1', POD), nodeMac);
  });

  it('a device reaches the pod over UDP and TCP at its own address', async () => {
    const pod = 'n1p1';
    for (const proto of ['udp', 'tcp']) {
      const server = spawnPeer(bed, pod, 'echo.py', ['--proto', proto, '--listen', '7007']);
      await server.waitForLine(/listening/);
      const [reply] = await runPeer<{ event: string; text?: string; peer?: string }>(bed, 'dev1', 'echo.py', [
        '--proto',
        proto,
        '--connect',
        POD,
        '--port',
        '7007',
        '--text',
        `over ${proto}`,
      ]);
      assert.deepEqual(reply, { event: 'reply', text: `echo over ${proto}`, peer: POD });
      // The pod saw the device's own address: nothing in between rewrote it.
      await server.waitForLine(new RegExp(`"peer": "${bed.devices[0].address}"`));
      await server.stop();
    }
  });

  it('with two nodes, only the node hosting a pod answers ARP for it, at once', async () => {
    const replies = await arping(bed, 'dev3', POD, { count: 4 });
    assert.equal(replies.length, 4, JSON.stringify(replies));
    assert.deepEqual([...new Set(replies.map((r) => r.mac))], [nodeMac]);
    // proxy_delay 0: with the kernel's default each answer waits a random 0-800 ms.
    assert.ok(
      Math.max(...replies.map((r) => r.ms)) < 100,
      `ARP answers took ${replies.map((r) => r.ms).join(', ')} ms`,
    );
    assert.deepEqual([...new Set(await arpingMacs(bed, 'dev3', POD2))], [node2Mac]);
    // Nobody answers for an address no node hosts (no link-wide proxy_arp).
    assert.deepEqual(await arpingMacs(bed, 'dev3', '198.18.4.160', { count: 1 }), []);
  });

  it('a probe finds an in-range address a device holds, naming its MAC; a free one costs the probe wait', async () => {
    const dev2Mac = await macOf(bed, 'dev2', 'eth0');
    const held = await side.call<{ by: string }>('inUse', { address: HELD_BY_DEVICE });
    assert.deepEqual(held.result, { by: dev2Mac });
    assert.ok(held.ms < 200, `an answered probe took ${held.ms} ms`);
    const free = await side.call('inUse', { address: '198.18.4.161' });
    assert.equal(free.result, 'free');
    assert.ok(free.ms >= 190 && free.ms < 600, `a free address took ${free.ms} ms to probe`);
  });

  it("another node's pod is in use for this node's probe: that node answers the probe for it", async () => {
    // The kernel's proxy entry never answers a probe (sender 0.0.0.0); node2's ARP port does.
    const r = await side.call<{ by: string }>('inUse', { address: POD2 });
    assert.deepEqual(r.result, { by: node2Mac });
  });

  it('a device probing for a pod address gets an answer from the node (RFC 5227 2.4)', async () => {
    const r = await bed.exec('dev1', ['arping', '-0', '-c', '1', '-w', '2', '-i', 'eth0', POD], {
      check: false,
    });
    assert.match(r.stdout, new RegExp(`bytes from ${nodeMac} \\(${POD.replace(/\./g, '\\.')}\\)`), r.stdout);
  });

  it('another MAC claiming a pod address is logged as a conflict', async () => {
    const devMac = await macOf(bed, 'dev3', 'eth0');
    await bed.exec('dev3', ['arping', '-U', '-S', POD, '-c', '1', '-w', '1', '-i', 'eth0', POD], {
      check: false,
    });
    const deadline = Date.now() + 5000;
    let hit: Record<string, unknown> | undefined;
    while (!hit && Date.now() < deadline) {
      hit = side.log().find((l) => l.message === 'LAN address conflict');
      if (!hit) await sleep(50);
    }
    assert.ok(hit, 'no conflict logged');
    assert.equal(hit.address, POD);
    assert.equal(hit.by, devMac);
    assert.equal(hit.pod, 'home/ha');
    // The claim changed dev1's cache; the node's defending announcement (RFC 5227 2.4 (b)) put it back.
    await sleep(200);
    assert.equal(await neighbourMac(bed, 'dev1', POD), nodeMac);
  });

  it('an agent restart (kill -9) keeps a device’s ping going, and the new agent reconciles entries', async () => {
    const ping = bed.spawn('dev1', ['ping', '-n', '-i', '0.2', '-W', '1', POD]);
    await ping.waitForLine(/bytes from/);
    // A stale entry this agent made (its pod is gone) and one an administrator made.
    await bed.ip('node1', ['neigh', 'add', 'proxy', '198.18.4.170', 'dev', 'lan0', 'protocol', '76']);
    await bed.ip('node1', ['neigh', 'add', 'proxy', '198.18.4.171', 'dev', 'lan0']);
    await side.kill();
    await sleep(1500); // the node has no agent: the kernel entry keeps answering
    side = await startLanSide(bed, 'node1');
    await side.call('reconcile', { live: [POD] });
    await sleep(600);
    ping.signal('SIGINT');
    await ping.exited;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(ping.stdout);
    assert.ok(m, ping.stdout);
    const [sent, got] = [Number(m[1]), Number(m[2])];
    assert.ok(sent >= 8, `only ${sent} pings sent`);
    assert.ok(got >= sent - 1, `${sent - got} of ${sent} pings lost across the restart`);
    const proxies = (await bed.ip('node1', ['neigh', 'show', 'proxy', 'dev', 'lan0'])).stdout;
    assert.match(proxies, new RegExp(`^${POD} .*proto 76`, 'm'));
    assert.doesNotMatch(proxies, /198\.18\.4\.170/);
    assert.match(proxies, /198\.18\.4\.171/);
  });

  it('releasing the address removes the entry: the node stops answering for it', async () => {
    await side.call('release', { address: POD });
    const proxies = (await bed.ip('node1', ['neigh', 'show', 'proxy', 'dev', 'lan0'])).stdout;
    assert.doesNotMatch(proxies, /198\.18\.4\.101\b/);
    assert.deepEqual(await arpingMacs(bed, 'dev3', POD, { count: 1 }), []);
  });
});
