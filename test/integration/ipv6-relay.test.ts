/**
 * IPv6 discovery through the real agent: mDNS on ff02::fb and SSDP on ff02::c, both ways, with real
 * peers (python3-zeroconf V6Only, avahi-daemon with use-ipv6, GSSDP), on the Calico-style bed and on
 * the flannel-style bridge. The link-local rules (README "IPv6 and link-local addresses") are checked
 * on the wire: fe80 sources kept, fe80 address records stripped, hop limit 255 for mDNS.
 */
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAgent, type RunningAgent } from '../support/agent.js';
import { startAvahi } from '../support/avahi.js';
import {
  calicoBed,
  flannelBed,
  linkLocalOf,
  type CalicoBed,
  type FlannelBed,
  type LanBed,
} from '../support/netns.js';
import { browse, capture, publish, runPeer, spawnPeer } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';
import { requestStatus } from '../../src/control/client.js';

const MEDIA_SERVER = 'urn:schemas-upnp-org:device:MediaServer:1';

/** Runs the GSSDP driver in `ns` over IPv6 on `iface`'s link-local address (so ff02::c). */
async function gssdpDiscover(bed: LanBed, ns: string, iface: string, timeoutS: number): Promise<string[]> {
  const ll = await linkLocalOf(bed, ns, iface);
  const args = ['--interface', iface, '--family', '6', '--address', ll, '--target', MEDIA_SERVER];
  const lines = await runPeer<{ event: string; usn: string; locations: string[] }>(
    bed,
    ns,
    'gssdp_discover.py',
    [...args, '--timeout', String(timeoutS)],
    (timeoutS + 10) * 1000,
  );
  return lines.filter((l) => l.event === 'available').flatMap((l) => l.locations);
}

/** Starts a GSSDP resource group announcing a MediaServer over ff02::c from `iface`'s link-local. */
async function gssdpPublish(bed: LanBed, ns: string, iface: string, location: string) {
  const ll = await linkLocalOf(bed, ns, iface);
  const proc = spawnPeer(bed, ns, 'gssdp_publish.py', [
    '--interface',
    iface,
    '--family',
    '6',
    '--address',
    ll,
    '--location',
    location,
  ]);
  await proc.waitForLine(/"announcing"/, { timeoutMs: 10_000 });
  return proc;
}

describeAsRoot('IPv6 discovery through the agent on Calico-style pods', function () {
  this.timeout(180_000);
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

  before(async () => {
    bed = await calicoBed({ devices: 2, podsPerNode: 3, podAddressing: 'routed', ipv6: true });
    const { node, p1, p2 } = names();
    agent = await startAgent(bed, node.ns, {
      args: [
        '--protocols',
        'mdns,ssdp',
        '--source-mode',
        'preserve',
        '--pod',
        `${p1.address},${p1.address6}`,
        '--pod',
        `${p2.address},${p2.address6}`,
      ],
      pods: 2,
    });
  });
  after(async () => bed?.teardown());

  it("an opted-in pod resolves a LAN device over ff02::fb: the device's fe80 source kept, hop limit 255, its fe80 AAAA stripped", async () => {
    const { dev1, p1 } = names();
    const devLl = await linkLocalOf(bed, dev1.ns, 'eth0');
    let found: Awaited<ReturnType<typeof browse>> = [];
    // The device publishes while the pod listens: its probes and announcements go to ff02::fb from
    // its link-local address (as IPv6 mDNS does by default), naming its link-local and its global
    // address. (Answers to the pod's QU questions are unicast to its global address, routed, and do
    // not pass the agent.)
    const seen = await capture(
      bed,
      p1.ns,
      'eth0',
      `ip6 and udp port 5353 and src host ${devLl} and dst host ff02::fb and ip6[7] == 255`,
      500,
      async () => {
        const browsing = browse(bed, p1.ns, { address: p1.address6, count: 1, timeoutS: 12 });
        await sleep(500);
        const svc = await publish(bed, dev1.ns, {
          name: 'Speaker6',
          port: 1400,
          address: devLl,
          extraAddresses: [dev1.address6!],
        });
        found = await browsing;
        await svc.stop();
      },
    );
    const speaker = found.find((r) => r.name.startsWith('Speaker6.'));
    assert.ok(speaker, `the pod resolved nothing over IPv6: ${JSON.stringify(found)}`);
    assert.ok(speaker.addresses.includes(dev1.address6!), JSON.stringify(speaker.addresses));
    assert.ok(
      seen.packets.length > 0,
      "no IPv6 mDNS in the pod from the device's fe80 source with hop limit 255",
    );
    assert.ok(
      seen.lines.some((l) => l.includes(`AAAA ${dev1.address6}`)),
      `no relayed announcement with the global AAAA:\n${seen.lines.join('\n')}`,
    );
    assert.deepEqual(
      seen.lines.filter((l) => /AAAA fe80:/.test(l)),
      [],
      'a link-local AAAA record crossed into the pod',
    );
  });

  it("a pod's IPv6 service is resolved on the LAN and by another opted-in pod, without its fe80 AAAA", async () => {
    const { p1, p2, dev2 } = names();
    const podLl = await linkLocalOf(bed, p1.ns, 'eth0');
    let onLan: Awaited<ReturnType<typeof browse>> = [];
    let svc: Awaited<ReturnType<typeof publish>> | undefined;
    try {
      const seen = await capture(
        bed,
        dev2.ns,
        'eth0',
        `ip6 and udp port 5353 and src host ${podLl}`,
        500,
        async () => {
          const browsing = browse(bed, dev2.ns, { address: dev2.address6, count: 1, timeoutS: 12 });
          await sleep(500);
          svc = await publish(bed, p1.ns, {
            name: 'PodService6',
            port: 8123,
            address: podLl,
            extraAddresses: [p1.address6!],
          });
          onLan = await browsing;
        },
      );
      const fromLan = onLan.find((r) => r.name.startsWith('PodService6.'));
      assert.ok(fromLan, `the LAN did not resolve the pod's service over IPv6: ${JSON.stringify(onLan)}`);
      assert.ok(fromLan.addresses.includes(p1.address6!), JSON.stringify(fromLan.addresses));
      assert.ok(seen.packets.length > 0, "no packet on the LAN from the pod's fe80 source");
      assert.ok(
        seen.lines.some((l) => l.includes(`AAAA ${p1.address6}`)),
        seen.lines.join('\n'),
      );
      assert.deepEqual(
        seen.lines.filter((l) => /AAAA fe80:/.test(l)),
        [],
        'a link-local AAAA record crossed onto the LAN',
      );
      const inPod = await browse(bed, p2.ns, { address: p2.address6, count: 1, timeoutS: 10 });
      const fromPod = inPod.find((r) => r.name.startsWith('PodService6.'));
      assert.ok(fromPod, `the other pod did not resolve it: ${JSON.stringify(inPod)}`);
      assert.ok(fromPod.addresses.includes(p1.address6!), JSON.stringify(fromPod.addresses));
    } finally {
      await svc?.stop();
    }
  });

  it('a pod that did not opt in hears nothing over IPv6, and its IPv6 service never reaches the LAN', async () => {
    const { p3, dev1, dev2 } = names();
    const svc = await publish(bed, dev1.ns, { name: 'Lamp6', port: 80, address: dev1.address6! });
    const hidden = await publish(bed, p3.ns, { name: 'Hidden6', port: 9, address: p3.address6! });
    try {
      const inP3 = await browse(bed, p3.ns, { address: p3.address6, timeoutS: 4 });
      assert.deepEqual(
        inP3.filter((r) => r.name.startsWith('Lamp6.')),
        [],
      );
      const leaked = await capture(
        bed,
        dev2.ns,
        'eth0',
        `ip6 and udp port 5353 and src host ${p3.address6}`,
        4000,
      );
      assert.equal(
        leaked.packets.length,
        0,
        `the pod's IPv6 packets reached the LAN: ${leaked.lines.join('\n')}`,
      );
    } finally {
      await Promise.all([svc.stop(), hidden.stop()]);
    }
  });

  it('avahi-daemon with IPv6 on the LAN answers an opted-in pod over ff02::fb, both ways through the agent', async () => {
    const { dev2, p1 } = names();
    const avahi = await startAvahi(bed, dev2.ns, {
      iface: 'eth0',
      ipv4: false,
      ipv6: true,
      services: [{ name: 'AvahiV6', type: '_demo._tcp', port: 631 }],
    });
    try {
      const found = await browse(bed, p1.ns, { address: p1.address6, count: 1, timeoutS: 12 });
      const svc = found.find((r) => r.name.startsWith('AvahiV6.'));
      assert.ok(svc, `the pod did not resolve avahi's IPv6 service: ${JSON.stringify(found)}`);
      assert.deepEqual(svc.addresses, [dev2.address6]);
      assert.equal(avahi.proc.status, undefined, `avahi-daemon exited:\n${avahi.proc.stderr}`);
    } finally {
      await avahi.stop();
    }
  });

  it('GSSDP over ff02::c: a LAN MediaServer is found from the pod, and a pod MediaServer from the LAN', async () => {
    const { dev1, dev2, p1 } = names();
    // The announcements (NOTIFY ssdp:alive) are multicast and cross; the browser's M-SEARCH comes
    // from a link-local address, whose unicast replies could not (README, link-local rules).
    const lanLocation = `http://[${dev1.address6}]:8200/rootDesc.xml`;
    const inPod = gssdpDiscover(bed, p1.ns, 'eth0', 6);
    await sleep(1000);
    const lanServer = await gssdpPublish(bed, dev1.ns, 'eth0', lanLocation);
    try {
      assert.ok((await inPod).includes(lanLocation), 'the pod did not find the LAN MediaServer over IPv6');
    } finally {
      await lanServer.stop();
    }
    const podLocation = `http://[${p1.address6}]:8200/rootDesc.xml`;
    const onLan = gssdpDiscover(bed, dev2.ns, 'eth0', 6);
    await sleep(1000);
    const podServer = await gssdpPublish(bed, p1.ns, 'eth0', podLocation);
    try {
      assert.ok((await onLan).includes(podLocation), "the LAN did not find the pod's MediaServer over IPv6");
    } finally {
      await podServer.stop();
    }
  });

  it("10,000 IPv6 UDP packets to a non-discovery port never reach the agent's IPv6 socket, discovery beside them does", async () => {
    const { dev1, node } = names();
    const lan6 = async () =>
      (await requestStatus(agent.controlSocket)).interfaces.find((i) => i.name === node.lanIf)?.ipv6
        ?.received ?? -1;
    const before = await lan6();
    assert.ok(before >= 0, 'no IPv6 counters for the LAN link in status');
    const code = [
      'import socket',
      's = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
      `for i in range(10000): s.sendto(b"x" * 64, ("${node.address6}", 8472))`,
      'm = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
      'm.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("eth0"))',
      `for i in range(5): m.sendto(bytes(12), ("ff02::fb", 5353))`,
    ].join('\n');
    await bed.exec(dev1.ns, ['/usr/bin/python3', '-c', code], { timeoutMs: 30_000 });
    await sleep(300);
    const read = (await lan6()) - before;
    assert.ok(read >= 5, `the 5 mDNS packets beside them did not reach the agent (read ${read})`);
    assert.ok(
      read < 100,
      `${read} packets reached the agent's IPv6 socket: the kernel filter let port 8472 through`,
    );
  });

  it('a pod link with IPv6 disabled is reported once and in status, and IPv4 on it keeps working', async () => {
    const { node, p2, dev1 } = names();
    await bed.sysctl(node.ns, { [`net.ipv6.conf.${p2.hostIf}.disable_ipv6`]: 1 });
    const deadline = Date.now() + 10_000;
    const disabledLines = () =>
      agent.log().filter((l) => l.link === p2.hostIf && l.ipv6 === 'disabled' && l.level === 'warn');
    while (disabledLines().length === 0) {
      assert.ok(Date.now() < deadline, `no IPv6-disabled line for ${p2.hostIf}:\n${agent.proc.stderr}`);
      await sleep(100);
    }
    const status = await requestStatus(agent.controlSocket);
    const link = status.interfaces.find((l) => l.name === p2.hostIf);
    assert.equal(link?.ipv6?.state, 'disabled', JSON.stringify(status.interfaces));
    assert.match(link?.ipv6?.detail ?? '', /disable_ipv6 = 1/);
    const svc = await publish(bed, dev1.ns, { name: 'StillV4', port: 80, address: dev1.address });
    try {
      const found = await browse(bed, p2.ns, { address: p2.address, count: 1, timeoutS: 8 });
      assert.ok(
        found.some((r) => r.name.startsWith('StillV4.')),
        `IPv4 stopped on the link: ${JSON.stringify(found)}`,
      );
    } finally {
      await svc.stop();
    }
    await sleep(1500); // a few link scans
    assert.equal(disabledLines().length, 1, 'the disabled link was reported more than once');
    assert.equal(agent.proc.status, undefined, `the agent exited:\n${agent.proc.stderr}`);
  });
});

describeAsRoot('IPv6 discovery through the agent on a flannel-style bridge', function () {
  this.timeout(120_000);
  let bed: FlannelBed;

  before(async () => {
    bed = await flannelBed({ devices: 1, podsPerNode: 2, ipv6: true });
    const [p1] = bed.nodes[0].pods;
    await startAgent(bed, bed.nodes[0].ns, {
      args: [
        '--protocols',
        'mdns,ssdp',
        '--source-mode',
        'preserve',
        '--pod',
        `${p1.address},${p1.address6}`,
      ],
      pods: 1,
    });
  });
  after(async () => bed?.teardown());

  it('the opted-in pod resolves the LAN device over IPv6; its bridge neighbour, which did not opt in, gets nothing from the agent', async () => {
    const [dev] = bed.devices;
    const [p1, p2] = bed.nodes[0].pods;
    const devLl = await linkLocalOf(bed, dev.ns, 'eth0');
    const svc = await publish(bed, dev.ns, {
      name: 'Tv6',
      port: 8009,
      address: devLl,
      extraAddresses: [dev.address6!],
    });
    try {
      let found: Awaited<ReturnType<typeof browse>> = [];
      const atNeighbour = await capture(
        bed,
        p2.ns,
        'eth0',
        `ip6 and udp port 5353 and src host ${devLl}`,
        500,
        async () => {
          found = await browse(bed, p1.ns, { address: p1.address6, count: 1, timeoutS: 10 });
        },
      );
      const tv = found.find((r) => r.name.startsWith('Tv6.'));
      assert.ok(tv, `the pod resolved nothing: ${JSON.stringify(found)}`);
      assert.deepEqual(tv.addresses, [dev.address6]);
      assert.equal(
        atNeighbour.packets.length,
        0,
        `the neighbour got the device's packets: ${atNeighbour.lines.join('\n')}`,
      );
    } finally {
      await svc.stop();
    }
  });

  it('avahi-daemon with IPv6 on the LAN answers the bridged pod over ff02::fb', async () => {
    const [dev] = bed.devices;
    const [p1] = bed.nodes[0].pods;
    const avahi = await startAvahi(bed, dev.ns, {
      iface: 'eth0',
      ipv4: false,
      ipv6: true,
      services: [{ name: 'AvahiBridge6', type: '_demo._tcp', port: 631 }],
    });
    try {
      const found = await browse(bed, p1.ns, { address: p1.address6, count: 1, timeoutS: 12 });
      const svc = found.find((r) => r.name.startsWith('AvahiBridge6.'));
      assert.ok(svc, `the bridged pod did not resolve avahi's IPv6 service: ${JSON.stringify(found)}`);
      assert.deepEqual(svc.addresses, [dev.address6]);
    } finally {
      await avahi.stop();
    }
  });

  it('GSSDP over ff02::c: the bridged pod finds a LAN MediaServer', async () => {
    const [dev] = bed.devices;
    const [p1] = bed.nodes[0].pods;
    const location = `http://[${dev.address6}]:8200/rootDesc.xml`;
    const inPod = gssdpDiscover(bed, p1.ns, 'eth0', 6);
    await sleep(1000);
    const server = await gssdpPublish(bed, dev.ns, 'eth0', location);
    try {
      assert.ok(
        (await inPod).includes(location),
        'the bridged pod did not find the LAN MediaServer over IPv6',
      );
    } finally {
      await server.stop();
    }
  });

  it("the bridged pod's service, sent from its fe80 address, reaches the LAN", async () => {
    const [dev] = bed.devices;
    const [p1] = bed.nodes[0].pods;
    const podLl = await linkLocalOf(bed, p1.ns, 'eth0');
    let onLan: Awaited<ReturnType<typeof browse>> = [];
    let svc: Awaited<ReturnType<typeof publish>> | undefined;
    try {
      const seen = await capture(
        bed,
        dev.ns,
        'eth0',
        `ip6 and udp port 5353 and src host ${podLl}`,
        500,
        async () => {
          const browsing = browse(bed, dev.ns, { address: dev.address6, count: 1, timeoutS: 12 });
          await sleep(500);
          svc = await publish(bed, p1.ns, {
            name: 'Bridged6',
            port: 80,
            address: podLl,
            extraAddresses: [p1.address6!],
          });
          onLan = await browsing;
        },
      );
      const found = onLan.find((r) => r.name.startsWith('Bridged6.'));
      assert.ok(found, `the LAN did not resolve the bridged pod's service: ${JSON.stringify(onLan)}`);
      assert.ok(found.addresses.includes(p1.address6!), JSON.stringify(found.addresses));
      assert.ok(seen.packets.length > 0, "nothing on the LAN from the pod's fe80 source: not attributed");
      assert.deepEqual(
        seen.lines.filter((l) => /AAAA fe80:/.test(l)),
        [],
        'a link-local AAAA record crossed onto the LAN',
      );
    } finally {
      await svc?.stop();
    }
  });
});
