/**
 * Proves the IPv6 side of the namespace test beds behaves like the networks it imitates, before the
 * IPv6 relay tests rely on it: Calico's /128 pods behind the host end's link-local gateway, proxy
 * NDP for LAN-addressed pods, BGP-style routes to routed pods, a flannel bridge with NAT66, and
 * IPv6 mDNS staying on its own link without an agent.
 */
import { strict as assert } from 'node:assert';
import {
  CALICO_GATEWAY6,
  type CalicoBed,
  type FlannelBed,
  type LanBed,
  calicoBed,
  flannelBed,
} from '../support/netns.js';
import { capture } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';

async function ping6(bed: LanBed, ns: string, address: string): Promise<boolean> {
  const r = await bed.exec(ns, ['ping', '-6', '-n', '-q', '-c', '1', '-W', '3', address], {
    check: false,
    timeoutMs: 8000,
  });
  return r.code === 0;
}

/** The IPv6 addresses of `iface` in `ns`, with their scope. */
async function addrs6(
  bed: LanBed,
  ns: string,
  iface: string,
): Promise<Array<{ local: string; scope: string }>> {
  const { stdout } = await bed.ip(ns, ['-j', '-6', 'addr', 'show', 'dev', iface]);
  const links = JSON.parse(stdout) as Array<{ addr_info: Array<{ local: string; scope: string }> }>;
  return links[0]?.addr_info ?? [];
}

/** Sends one UDP datagram to ff02::fb:5353 out of `iface`, from Debian's python (no zeroconf). */
function sendMdns6(bed: LanBed, ns: string, iface: string): Promise<unknown> {
  const code = [
    'import socket',
    's = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
    `s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("${iface}"))`,
    's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)',
    's.sendto(bytes(12), ("ff02::fb", 5353))',
  ].join('\n');
  return bed.exec(ns, ['/usr/bin/python3', '-c', code]);
}

describeAsRoot('the network-namespace test bed with IPv6', function () {
  this.timeout(60_000);

  describe('with Calico-style pods addressed in the LAN subnet', function () {
    let bed: CalicoBed;
    before(async () => {
      bed = await calicoBed({ devices: 1, podsPerNode: 2, podAddressing: 'lan', ipv6: true });
    });
    after(async () => bed?.teardown());

    it('gives the host end the Calico gateway as its link-local address and a /128 route to the pod', async () => {
      const node = bed.nodes[0];
      const pod = node.pods[0];
      const host = await addrs6(bed, node.ns, pod.hostIf);
      assert.deepEqual(
        host.map((a) => [a.local, a.scope]),
        [[CALICO_GATEWAY6, 'link']],
      );
      const { stdout } = await bed.ip(node.ns, ['-j', '-6', 'route', 'show', pod.address6!]);
      assert.equal((JSON.parse(stdout) as Array<{ dev: string }>)[0]?.dev, pod.hostIf);
      const inPod = await addrs6(bed, pod.ns, 'eth0');
      assert.ok(
        inPod.some((a) => a.local === pod.address6 && a.scope === 'global'),
        JSON.stringify(inPod),
      );
      assert.ok(
        inPod.some((a) => a.local.startsWith('fe80:')),
        'the pod has a link-local address too',
      );
    });

    it('lets a pod reach a LAN device over IPv6 through its link-local gateway, and the device the pod (proxy NDP)', async () => {
      const pod = bed.nodes[0].pods[0];
      const dev = bed.devices[0];
      assert.ok(await ping6(bed, pod.ns, dev.address6!), 'pod -> device');
      assert.ok(await ping6(bed, dev.ns, pod.address6!), 'device -> pod');
    });

    it("keeps a pod's IPv6 mDNS on its own link without an agent: the host end hears it, the LAN does not", async () => {
      const pod = bed.nodes[0].pods[0];
      const dev = bed.devices[0];
      const [onHost, onLan] = await Promise.all([
        capture(bed, bed.nodes[0].ns, pod.hostIf, 'ip6 and udp port 5353', 1500, () =>
          sendMdns6(bed, pod.ns, 'eth0'),
        ),
        capture(bed, dev.ns, 'eth0', 'ip6 and udp port 5353', 2500),
      ]);
      assert.ok(
        onHost.packets.some((p) => p.family === 'IP6' && p.dst === 'ff02::fb' && p.src.startsWith('fe80:')),
        `the host end saw no IPv6 mDNS from the pod's link-local address: ${onHost.lines.join('\n')}`,
      );
      assert.equal(onLan.packets.length, 0, onLan.lines.join('\n'));
    });
  });

  describe('with Calico-style routed pods', function () {
    let bed: CalicoBed;
    before(async () => {
      bed = await calicoBed({ devices: 1, podsPerNode: 1, podAddressing: 'routed', ipv6: true });
    });
    after(async () => bed?.teardown());

    it("lets a LAN device reach a routed pod by the node's route, and the pod see the device's own address", async () => {
      const pod = bed.nodes[0].pods[0];
      const dev = bed.devices[0];
      assert.match(pod.address6!, /^2001:db8:19:1::/);
      const seen = await capture(bed, pod.ns, 'eth0', 'icmp6 and ip6[40] == 128', 500, () =>
        ping6(bed, dev.ns, pod.address6!),
      );
      assert.ok(
        seen.packets.some((p) => p.src === dev.address6),
        `no echo request from ${dev.address6} in the pod: ${seen.lines.join('\n')}`,
      );
    });
  });

  describe('with flannel-style pods on a cni0 bridge', function () {
    let bed: FlannelBed;
    before(async () => {
      bed = await flannelBed({ devices: 1, podsPerNode: 2, ipv6: true });
    });
    after(async () => bed?.teardown());

    it('lets a pod reach a LAN device over IPv6, masqueraded to the node', async () => {
      const pod = bed.nodes[0].pods[0];
      const dev = bed.devices[0];
      const seen = await capture(bed, dev.ns, 'eth0', 'icmp6 and ip6[40] == 128', 500, () =>
        ping6(bed, pod.ns, dev.address6!),
      );
      assert.ok(
        seen.packets.some((p) => p.src === bed.nodes[0].address6),
        `the device did not see the node's address: ${seen.lines.join('\n')}`,
      );
    });

    it('gives each pod its IPv6 address on the bridge, and the pods reach each other directly', async () => {
      const [p1, p2] = bed.nodes[0].pods;
      assert.ok(await ping6(bed, p1.ns, p2.address6!));
    });
  });
});
