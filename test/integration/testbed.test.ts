/**
 * Proves the namespace test beds behave like the networks they imitate, before any agent test relies
 * on them: proxy ARP on a Calico-style node, BGP-style routes, a flannel bridge with masquerade,
 * real zeroconf peers, and a teardown that leaves nothing behind.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import {
  CALICO_MAC,
  type CalicoBed,
  type FlannelBed,
  calicoBed,
  flannelBed,
  namespacesWithPrefix,
  run,
} from '../support/netns.js';
import { browse, capture, publish } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';

/** MAC of `iface` in namespace `ns`. */
async function macOf(bed: CalicoBed | FlannelBed, ns: string, iface: string): Promise<string> {
  const { stdout } = await bed.ip(ns, ['-j', 'link', 'show', 'dev', iface]);
  return (JSON.parse(stdout) as { address: string }[])[0].address;
}

/** Link-layer address `ns` has learned for `address` (ARP). */
async function neighbourMac(
  bed: CalicoBed | FlannelBed,
  ns: string,
  address: string,
): Promise<string | undefined> {
  const { stdout } = await bed.ip(ns, ['-j', 'neigh', 'show', address]);
  return (JSON.parse(stdout) as { lladdr?: string }[])[0]?.lladdr;
}

/** What the root namespace holds, to prove a bed adds nothing to it. */
async function rootSnapshot(): Promise<string> {
  const parts = await Promise.all([
    run(['ip', '-o', 'link', 'show']).then((r) => r.stdout.replace(/\s+link\/.*$/gm, '')),
    run(['ip', '-o', '-4', 'addr', 'show']),
    run(['ip', 'route', 'show', 'table', 'all']),
  ]);
  return parts.map((p) => (typeof p === 'string' ? p : p.stdout)).join('\n');
}

/** Alive and not a zombie (a killed orphan may stay a zombie if PID 1 does not reap). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describeAsRoot('the network-namespace test bed', function () {
  describe('with Calico-style pods addressed in the LAN subnet', function () {
    let bed: CalicoBed;
    let rootBefore: string;

    before(async function () {
      this.timeout(60_000);
      rootBefore = await rootSnapshot();
      bed = await calicoBed({ podsPerNode: 2, devices: 2, podAddressing: 'lan' });
    });
    after(async () => bed?.teardown());

    it('names every namespace with the run prefix and adds nothing to the root namespace', async function () {
      assert.match(bed.prefix, /^lr[0-9a-f]{4}-$/);
      const present = await namespacesWithPrefix(bed.prefix);
      assert.deepEqual(present.sort(), [...bed.created].sort());
      assert.deepEqual(bed.created.map((n) => n.slice(bed.prefix.length)).sort(), [
        'dev1',
        'dev2',
        'lan',
        'n1p1',
        'n1p2',
        'node1',
      ]);
      assert.equal(await rootSnapshot(), rootBefore);
    });

    it('gives the host end of a pod link the Calico shape: fixed MAC, no IPv4, proxy ARP at once, a /32 route', async function () {
      const node = bed.nodes[0];
      const pod = node.pods[0];
      assert.equal(pod.address, '198.18.4.101');
      assert.match(pod.hostIf, /^cali[0-9a-f]{11}$/);
      assert.equal(await macOf(bed, node.ns, pod.hostIf), CALICO_MAC);
      const addrs = await bed.ip(node.ns, ['-4', '-o', 'addr', 'show', 'dev', pod.hostIf]);
      assert.equal(addrs.stdout.trim(), '');
      const sysctls = await bed.exec(node.ns, [
        'sysctl',
        '-n',
        `net.ipv4.conf.${pod.hostIf}.proxy_arp`,
        `net.ipv4.neigh.${pod.hostIf}.proxy_delay`,
      ]);
      assert.deepEqual(sysctls.stdout.trim().split('\n'), ['1', '0']);
      const route = await bed.ip(node.ns, ['route', 'show', `${pod.address}/32`]);
      assert.match(route.stdout, new RegExp(`^${pod.address} dev ${pod.hostIf} scope link`));
      const podRoutes = await bed.ip(pod.ns, ['route', 'show']);
      assert.match(podRoutes.stdout, /^default via 169\.254\.1\.1 dev eth0 onlink/m);
    });

    it('lets a LAN device ping a LAN-addressed pod, the node answering ARP for the pod', async function () {
      const [dev] = bed.devices;
      const pod = bed.nodes[0].pods[0];
      assert.ok(await bed.ping(dev.ns, pod.address), `${dev.short} cannot ping ${pod.address}`);
      assert.equal(await neighbourMac(bed, dev.ns, pod.address), await macOf(bed, bed.nodes[0].ns, 'lan0'));
    });

    it('lets a pod reach a LAN device through its 169.254.1.1 gateway, answered by the host end', async function () {
      const dev = bed.devices[1];
      const pod = bed.nodes[0].pods[1];
      assert.ok(await bed.ping(pod.ns, dev.address), `${pod.short} cannot ping ${dev.address}`);
      assert.equal(await neighbourMac(bed, pod.ns, '169.254.1.1'), CALICO_MAC);
    });

    it('keeps a pod reachable after a restart replaces its host-side link with a new name', async function () {
      const node = bed.nodes[0];
      const oldIf = node.pods[0].hostIf;
      const pod = await bed.restartPod(1, 1);
      assert.notEqual(pod.hostIf, oldIf);
      const old = await bed.ip(node.ns, ['link', 'show', 'dev', oldIf], { check: false });
      assert.notEqual(old.code, 0, `${oldIf} still exists after the restart`);
      assert.ok(await bed.ping(bed.devices[0].ns, pod.address));
    });

    it('adds a pod on demand, at the next LAN address of its node', async function () {
      const pod = await bed.addPod(1);
      assert.equal(pod.short, 'n1p3');
      assert.equal(pod.address, '198.18.4.103');
      assert.ok(await bed.ping(bed.devices[0].ns, pod.address));
    });

    it('lets python3-zeroconf on one device resolve a service published on another', async function () {
      this.timeout(30_000);
      const [dev1, dev2] = bed.devices;
      const published = await publish(bed, dev1.ns, {
        name: 'Kitchen Speaker',
        port: 1400,
        address: dev1.address,
        txt: { room: 'kitchen' },
      });
      try {
        const found = await browse(bed, dev2.ns, { address: dev2.address, count: 1, timeoutS: 10 });
        assert.equal(found.length, 1);
        assert.equal(found[0].name, published.name);
        assert.deepEqual(found[0].addresses, [dev1.address]);
        assert.equal(found[0].port, 1400);
        assert.equal(found[0].txt.room, 'kitchen');
      } finally {
        await published.stop();
      }
    });

    it('keeps a pod’s mDNS on its own link without an agent: the host end hears it, the LAN does not', async function () {
      this.timeout(30_000);
      const node = bed.nodes[0];
      const pod = node.pods[1];
      const [dev] = bed.devices;
      let published: Awaited<ReturnType<typeof publish>> | undefined;
      const onLan = { sources: [] as string[] };
      try {
        const onLink = await capture(bed, node.ns, pod.hostIf, 'udp port 5353', 500, async () => {
          const lan = await capture(bed, dev.ns, 'eth0', 'udp port 5353', 500, async () => {
            published = await publish(bed, pod.ns, { name: 'Pod Two', port: 8123, address: pod.address });
          });
          onLan.sources = lan.sources;
        });
        assert.deepEqual(onLink.sources, [pod.address]);
        assert.deepEqual(onLan.sources, []);
      } finally {
        await published?.stop();
      }
    });
  });

  describe('with Calico-style routed pods on two nodes', function () {
    let bed: CalicoBed;

    before(async function () {
      this.timeout(60_000);
      bed = await calicoBed({ nodes: 2, podsPerNode: 1, devices: 1, podAddressing: 'routed' });
    });
    after(async () => bed?.teardown());

    it('gives each device a route to each node’s pod subnet via that node', async function () {
      const routes = await bed.ip(bed.devices[0].ns, ['route', 'show']);
      assert.match(routes.stdout, /^198\.19\.1\.0\/24 via 198\.18\.4\.2 dev eth0/m);
      assert.match(routes.stdout, /^198\.19\.2\.0\/24 via 198\.18\.4\.3 dev eth0/m);
    });

    it('lets a routed pod ping a LAN device, which sees the pod’s own address as the source', async function () {
      const [dev] = bed.devices;
      const pod = bed.nodes[1].pods[0];
      assert.equal(pod.address, '198.19.2.11');
      let ok = false;
      const seen = await capture(bed, dev.ns, 'eth0', 'icmp', 300, async () => {
        ok = await bed.ping(pod.ns, dev.address);
      });
      assert.ok(ok, `${pod.short} cannot ping ${dev.address}`);
      assert.deepEqual(seen.sources.sort(), [dev.address, pod.address].sort());
    });
  });

  describe('with flannel-style pods on a cni0 bridge', function () {
    let bed: FlannelBed;

    before(async function () {
      this.timeout(60_000);
      bed = await flannelBed({ podsPerNode: 2, devices: 1 });
    });
    after(async () => bed?.teardown());

    it('puts each pod’s veth on cni0 with hairpin on', async function () {
      const node = bed.nodes[0];
      for (const pod of node.pods) {
        const { stdout } = await bed.ip(node.ns, ['-j', '-d', 'link', 'show', 'dev', pod.hostIf]);
        const [link] = JSON.parse(stdout) as {
          master?: string;
          linkinfo?: { info_slave_data?: { hairpin?: boolean } };
        }[];
        assert.equal(link.master, 'cni0');
        assert.equal(link.linkinfo?.info_slave_data?.hairpin, true);
      }
    });

    it('lets a pod reach a LAN device, masqueraded to the node’s LAN address', async function () {
      const [dev] = bed.devices;
      const pod = bed.nodes[0].pods[0];
      let ok = false;
      const seen = await capture(bed, dev.ns, 'eth0', 'icmp', 300, async () => {
        ok = await bed.ping(pod.ns, dev.address);
      });
      assert.ok(ok, `${pod.short} cannot ping ${dev.address}`);
      assert.deepEqual(seen.sources.sort(), [dev.address, bed.nodes[0].address].sort());
    });

    it('gives LAN devices no route to the pod subnet', async function () {
      const r = await bed.ip(bed.devices[0].ns, ['route', 'get', bed.nodes[0].pods[0].address], {
        check: false,
      });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /unreachable/i);
    });

    it('lets pods on the bridge reach each other directly', async function () {
      const [a, b] = bed.nodes[0].pods;
      assert.ok(await bed.ping(a.ns, b.address));
    });
  });

  describe('teardown', function () {
    let bed: CalicoBed | undefined;
    after(async () => bed?.teardown());

    it('ends every process it started, even one that left the process group, and removes every namespace with the run prefix', async function () {
      bed = await calicoBed({ podsPerNode: 1, devices: 1, podAddressing: 'lan' });
      const sleeper = bed.spawn('dev1', ['sleep', '120']);
      const escapee = bed.spawn('n1p1', ['setsid', '-f', 'sleep', '121']); // forks into its own session
      await escapee.exited;
      const pids = await run(['ip', 'netns', 'pids', bed.ns('n1p1')]);
      const escaped = pids.stdout.split(/\s+/).filter(Boolean).map(Number);
      assert.equal(escaped.length, 1);

      await bed.teardown();
      assert.ok(sleeper.status, 'the spawned sleep is still running');
      assert.ok(!alive(escaped[0]), 'the setsid sleep is still running');
      assert.deepEqual(await namespacesWithPrefix(bed.prefix), []);
      await bed.teardown(); // idempotent
    });
  });
});
