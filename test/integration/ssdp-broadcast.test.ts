/**
 * SSDP and broadcast discovery across the pod boundary, against real peers (minidlna, upnpc, the
 * GSSDP library) and the real agent, on Calico-style and flannel-style nodes, in every source mode.
 */
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI, startAgent, type RunningAgent } from '../support/agent.js';
import {
  calicoBed,
  flannelBed,
  type CalicoBed,
  type FlannelBed,
  type LanBed,
  type Proc,
} from '../support/netns.js';
import { browse, publish, runPeer, spawnPeer } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';
import { MEDIA_SERVER, startMiniDlna, type MiniDlna } from '../support/upnp.js';

interface Reply {
  event: string;
  from: string;
  port: number;
  st?: string;
  text?: string;
  usn?: string;
  locations?: string[];
}

const PROTOCOLS = ['--protocols', 'mdns,ssdp,broadcast', '--broadcast', 'wiz'];

/** A listener in `ns` on 0.0.0.0:port, joined to `group` if given; resolves once it listens. */
async function listen(bed: LanBed, ns: string, port: number, group?: string): Promise<Proc> {
  const args = ['--port', String(port), ...(group ? ['--group', group] : [])];
  const p = spawnPeer(bed, ns, 'udp_listen.py', args);
  await p.waitForLine(/"listening"/, { timeoutMs: 5000 });
  return p;
}

const datagrams = (p: Proc) => p.json<Reply>().filter((e) => e.event === 'datagram');

/** The IP TTL of each packet tcpdump -v sees on `iface` while `during` runs. */
async function ttls(bed: LanBed, ns: string, iface: string, filter: string, during: () => Promise<unknown>) {
  const p = bed.spawn(ns, ['tcpdump', '-n', '-v', '-l', '-p', '--immediate-mode', '-i', iface, filter]);
  await p.waitForLine(/listening on/, { stream: 'stderr', timeoutMs: 10_000 });
  await during();
  await sleep(300);
  await p.stop();
  return [...p.stdout.matchAll(/\bttl (\d+)\b/g)].map((m) => Number(m[1]));
}

async function search(bed: LanBed, ns: string): Promise<Reply[]> {
  const r = await runPeer<Reply>(bed, ns, 'ssdp_search.py', ['--st', MEDIA_SERVER, '--timeout', '3']);
  return r.filter((e) => e.event === 'reply');
}

/** Waits until `listener` has heard a NOTIFY from `device`. */
async function waitForNotify(listener: Proc, device: string): Promise<void> {
  const deadline = Date.now() + 8000;
  while (!datagrams(listener).some((d) => d.text?.startsWith('NOTIFY') && d.from === device)) {
    assert.ok(Date.now() < deadline, `no NOTIFY from ${device}:\n${listener.stdout}`);
    await sleep(100);
  }
}

/** The GSSDP library and upnpc, run in `ns`, both find minidlna at `device`. */
async function assertFindsMediaServer(bed: LanBed, ns: string, device: string): Promise<void> {
  const args = ['--interface', 'eth0', '--target', MEDIA_SERVER, '--timeout', '3'];
  const gssdp = await runPeer<Reply>(bed, ns, 'gssdp_discover.py', args);
  const desc = `http://${device}:8200/rootDesc.xml`;
  assert.ok(
    gssdp.some((e) => e.event === 'available' && e.locations?.includes(desc)),
    `GSSDP found nothing: ${JSON.stringify(gssdp)}`,
  );
  const upnpc = await bed.exec(ns, ['upnpc', '-m', 'eth0', '-l'], { check: false, timeoutMs: 20_000 });
  assert.ok(upnpc.stdout.includes(`desc: ${desc}`), upnpc.stdout);
}

/** A WiZ-style bulb at `bulb` answers a broadcast probe from `ns`: who replied, and who it saw ask. */
async function wizRoundTrip(bed: LanBed, bulb: { ns: string }, ns: string) {
  const responder = spawnPeer(bed, bulb.ns, 'udp_listen.py', ['--port', '38899', '--reply', '{"result":{}}']);
  await responder.waitForLine(/"listening"/, { timeoutMs: 5000 });
  try {
    const replies = (await wizProbe(bed, ns)).map((r) => r.from);
    return { replies, askedBy: datagrams(responder).map((d) => d.from) };
  } finally {
    await responder.stop();
  }
}

/** A LAN device's broadcast to port 38899 (limited unless `address` says otherwise). */
async function lanBroadcast(
  bed: LanBed,
  dev: { ns: string; address: string },
  message: string,
  address?: string,
) {
  const args = ['--port', '38899', '--timeout', '0.5', '--message', message, '--bind', dev.address];
  await runPeer(bed, dev.ns, 'udp_broadcast.py', address ? [...args, '--address', address] : args);
}

async function wizProbe(bed: LanBed, ns: string): Promise<Reply[]> {
  return (await runPeer<Reply>(bed, ns, 'udp_broadcast.py', ['--port', '38899', '--timeout', '2'])).filter(
    (e) => e.event === 'reply',
  );
}

describeAsRoot(
  'SSDP and broadcasts on a Calico-style node, pods in the LAN subnet (auto = preserve)',
  function () {
    this.timeout(120_000);
    let bed: CalicoBed;
    let dlna: MiniDlna;
    let agent: RunningAgent;
    let notifyInPod: Proc;
    let notifyInOther: Proc;

    before(async () => {
      bed = await calicoBed({ devices: 2, podsPerNode: 3, podAddressing: 'lan' });
      const [p1, p2, p3] = bed.nodes[0].pods;
      agent = await startAgent(bed, bed.nodes[0].ns, {
        args: [...PROTOCOLS, '--pod', p1.address, '--pod', p2.address],
        pods: 2,
      });
      notifyInPod = await listen(bed, p1.ns, 1900, '239.255.255.250');
      notifyInOther = await listen(bed, p3.ns, 1900, '239.255.255.250');
      dlna = await startMiniDlna(bed, bed.devices[0].ns); // announces itself with NOTIFY at start
    });
    after(async () => {
      await dlna?.stop();
      await bed?.teardown();
    });

    it('a NOTIFY from the LAN device reaches a listener on 0.0.0.0:1900 in the opted-in pod', async () => {
      await waitForNotify(notifyInPod, bed.devices[0].address);
    });

    it('the pod that did not opt in hears no NOTIFY', () => {
      assert.deepEqual(datagrams(notifyInOther), []);
    });

    it("a SoCo-like M-SEARCH from the pod gets the reply from the device's own address", async () => {
      const replies = await search(bed, bed.nodes[0].pods[0].ns);
      assert.ok(replies.length > 0, 'no reply');
      assert.deepEqual([...new Set(replies.map((r) => r.from))], [bed.devices[0].address]);
      assert.ok(dlna.requesters().includes(bed.nodes[0].pods[0].address), 'minidlna did not see the pod ask');
    });

    it('the GSSDP library and upnpc in the pod find the media server', async () => {
      await assertFindsMediaServer(bed, bed.nodes[0].pods[0].ns, bed.devices[0].address);
    });

    it("a WiZ broadcast from the pod reaches the LAN responder and its reply comes from the bulb's address", async () => {
      const pod = bed.nodes[0].pods[0];
      const { replies, askedBy } = await wizRoundTrip(bed, bed.devices[1], pod.ns);
      assert.deepEqual(replies, [bed.devices[1].address]);
      assert.deepEqual(askedBy, [pod.address]);
    });

    it('a limited and a subnet-directed broadcast from the LAN reach the opted-in pod, not the other', async () => {
      const [p1, , p3] = bed.nodes[0].pods;
      const inPod = await listen(bed, p1.ns, 38899);
      const inOther = await listen(bed, p3.ns, 38899);
      try {
        const dev = bed.devices[1];
        await lanBroadcast(bed, dev, 'limited');
        await lanBroadcast(bed, dev, 'directed', '198.18.4.255');
        await sleep(200);
        assert.deepEqual(
          datagrams(inPod).map((d) => [d.from, d.text]),
          [
            [dev.address, 'limited'],
            [dev.address, 'directed'],
          ],
        );
        assert.deepEqual(datagrams(inOther), []);
      } finally {
        await inPod.stop();
        await inOther.stop();
      }
    });

    it("emits mDNS with IP TTL 255 and SSDP with TTL 2 into pods, and keeps a broadcast's TTL", async () => {
      const pod = bed.nodes[0].pods[0];
      const dev = bed.devices[1];
      const mdnsTtls = await ttls(
        bed,
        pod.ns,
        'eth0',
        `udp port 5353 and src host ${dev.address}`,
        async () => {
          const svc = await publish(bed, dev.ns, { name: 'TtlProbe', port: 1, address: dev.address });
          await svc.stop();
        },
      );
      assert.ok(mdnsTtls.length > 0 && mdnsTtls.every((t) => t === 255), `mDNS TTLs: ${mdnsTtls}`);
      const ssdpTtls = await ttls(bed, pod.ns, 'eth0', `udp port 1900 and src host ${dev.address}`, () =>
        runPeer(bed, dev.ns, 'ssdp_search.py', ['--timeout', '0.5', '--bind', dev.address]),
      );
      assert.ok(ssdpTtls.length > 0 && ssdpTtls.every((t) => t === 2), `SSDP TTLs: ${ssdpTtls}`);
      const bcastTtls = await ttls(bed, pod.ns, 'eth0', `udp port 38899 and src host ${dev.address}`, () =>
        runPeer(bed, dev.ns, 'udp_broadcast.py', [
          '--port',
          '38899',
          '--timeout',
          '0.3',
          '--bind',
          dev.address,
        ]),
      );
      // python's socket sends broadcasts with the system default TTL, 64; the agent keeps it.
      assert.deepEqual(bcastTtls, [64]);
    });

    it("a flood from one pod is rate-limited without starving another pod's discovery", async () => {
      const [p1, p2] = bed.nodes[0].pods;
      const flood = runPeer(bed, p1.ns, 'mdns_garbage.py', [
        '--address',
        p1.address,
        '--count',
        '20000',
        '--valid',
      ]);
      const replies = await search(bed, p2.ns);
      await flood;
      assert.deepEqual([...new Set(replies.map((r) => r.from))], [bed.devices[0].address]);
      const status = await bed.exec(
        bed.nodes[0].ns,
        CLI(['status', '--json', '--control-socket', agent.controlSocket]),
      );
      const s = JSON.parse(status.stdout) as { dropped: Record<string, Record<string, number>> };
      const limited = Object.values(s.dropped).reduce((n, row) => n + (row['rate-limited'] ?? 0), 0);
      assert.ok(limited > 10_000, `only ${limited} packets were rate-limited: ${status.stdout}`);
    });
  },
);

describeAsRoot('a routed Calico pod outside the LAN subnet', function () {
  this.timeout(90_000);
  let bed: CalicoBed;
  let dlna: MiniDlna;
  before(async () => {
    bed = await calicoBed({ devices: 1, podsPerNode: 1, podAddressing: 'routed' });
    dlna = await startMiniDlna(bed, bed.devices[0].ns);
  });
  after(async () => {
    await dlna?.stop();
    await bed?.teardown();
  });

  for (const mode of ['auto', 'preserve'] as const) {
    const asker = mode === 'auto' ? 'the node (auto chose node mode)' : 'the pod (a LAN route reaches it)';
    it(`in ${mode} mode finds the media server, which sees ${asker} ask; replies come from the device`, async () => {
      const pod = bed.nodes[0].pods[0];
      const agent = await startAgent(bed, bed.nodes[0].ns, {
        args: [...PROTOCOLS, '--source-mode', mode, '--pod', pod.address],
        pods: 1,
      });
      try {
        const before = dlna.requesters().length;
        const replies = await search(bed, pod.ns);
        assert.ok(replies.length > 0, 'no reply');
        assert.deepEqual([...new Set(replies.map((r) => r.from))], [bed.devices[0].address]);
        const askedBy = dlna.requesters().slice(before);
        assert.deepEqual([...new Set(askedBy)], [mode === 'auto' ? bed.nodes[0].address : pod.address]);
      } finally {
        await agent.stop();
      }
    });
  }
});

describeAsRoot('a flannel-style bridge node in node mode (pod subnet unroutable from the LAN)', function () {
  this.timeout(120_000);
  let bed: FlannelBed;
  let dlna: MiniDlna;
  let notifyInPod: Proc;
  let notifyInOther: Proc;

  before(async () => {
    bed = await flannelBed({ devices: 2, podsPerNode: 2 });
    const [p1, p2] = bed.nodes[0].pods;
    await startAgent(bed, bed.nodes[0].ns, {
      args: [...PROTOCOLS, '--source-mode', 'node', '--pod', p1.address],
      pods: 1,
    });
    notifyInPod = await listen(bed, p1.ns, 1900, '239.255.255.250');
    notifyInOther = await listen(bed, p2.ns, 1900, '239.255.255.250');
    dlna = await startMiniDlna(bed, bed.devices[0].ns);
  });
  after(async () => {
    await dlna?.stop();
    await bed?.teardown();
  });

  it("the opted-in pod hears the device's NOTIFY; its bridge neighbour, which did not opt in, does not", async () => {
    await waitForNotify(notifyInPod, bed.devices[0].address);
    assert.deepEqual(datagrams(notifyInOther), []);
  });

  it("M-SEARCH, GSSDP and upnpc from the pod find the media server; replies carry the device's address", async () => {
    const pod = bed.nodes[0].pods[0];
    const replies = await search(bed, pod.ns);
    assert.ok(replies.length > 0, 'no reply');
    assert.deepEqual([...new Set(replies.map((r) => r.from))], [bed.devices[0].address]);
    assert.ok(dlna.requesters().includes(bed.nodes[0].address), 'minidlna did not see the node ask');
    await assertFindsMediaServer(bed, pod.ns, bed.devices[0].address);
  });

  it("a WiZ broadcast from the pod is answered through the node, from the bulb's address", async () => {
    const { replies, askedBy } = await wizRoundTrip(bed, bed.devices[1], bed.nodes[0].pods[0].ns);
    assert.deepEqual(replies, [bed.devices[1].address]);
    assert.deepEqual(askedBy, [bed.nodes[0].address]);
  });

  it('a LAN broadcast reaches the opted-in pod only', async () => {
    const [p1, p2] = bed.nodes[0].pods;
    const inPod = await listen(bed, p1.ns, 38899);
    const inOther = await listen(bed, p2.ns, 38899);
    try {
      await lanBroadcast(bed, bed.devices[1], 'hello');
      await sleep(200);
      assert.deepEqual(
        datagrams(inPod).map((d) => d.from),
        [bed.devices[1].address],
      );
      assert.deepEqual(datagrams(inOther), []);
    } finally {
      await inPod.stop();
      await inOther.stop();
    }
  });

  it("mDNS works both ways: the pod resolves the device, the LAN sees the pod's service at the node's address", async () => {
    const [p1] = bed.nodes[0].pods;
    const dev = bed.devices[1];
    const speaker = await publish(bed, dev.ns, { name: 'Speaker', port: 1400, address: dev.address });
    const svc = await publish(bed, p1.ns, { name: 'PodService', port: 8123, address: p1.address });
    try {
      const inPod = await browse(bed, p1.ns, { address: p1.address, count: 2, timeoutS: 8 });
      assert.ok(
        inPod.some((r) => r.name.startsWith('Speaker.') && r.addresses.includes(dev.address)),
        JSON.stringify(inPod),
      );
      const onLan = await browse(bed, bed.devices[0].ns, {
        address: bed.devices[0].address,
        count: 2,
        timeoutS: 8,
      });
      const found = onLan.find((r) => r.name.startsWith('PodService.'));
      assert.ok(found, `the LAN did not resolve the pod's service: ${JSON.stringify(onLan)}`);
      assert.deepEqual(found.addresses, [bed.nodes[0].address]);
    } finally {
      await svc.stop();
      await speaker.stop();
    }
  });
});
