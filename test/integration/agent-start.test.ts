/**
 * The agent process at start and beside others: clear refusals for bad input, missing privileges
 * and unroutable pods, and coexistence with a host mDNS responder (avahi-daemon) on the node.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI, startAgent } from '../support/agent.js';
import { calicoBed, type CalicoBed, type Proc } from '../support/netns.js';
import { browse, publish } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';

describeAsRoot('the agent at start', function () {
  this.timeout(60_000);
  let bed: CalicoBed;
  before(async () => {
    bed = await calicoBed({ devices: 1, podsPerNode: 1, podAddressing: 'lan' });
  });
  after(async () => bed?.teardown());

  async function runAgent(
    args: string[],
    prefix: string[] = [],
  ): Promise<{ code: number | null; stderr: string }> {
    const r = await bed.exec(bed.nodes[0].ns, [...prefix, ...CLI(['agent', ...args])], {
      check: false,
      timeoutMs: 15_000,
    });
    return { code: r.code, stderr: r.stderr };
  }

  it('refuses a missing interface with exit code 2, naming the interfaces the node has', async () => {
    const r = await runAgent(['--lan-interface', 'eth9', '--pod', bed.nodes[0].pods[0].address]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /lanInterface: interface "eth9" not found on this node \(it has: .*lan0/);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'more than one line');
  });

  it('refuses a bad pod address with exit code 2 and one line naming the field', async () => {
    const r = await runAgent(['--lan-interface', 'lan0', '--pod', '198.18.4.999']);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr.trim(),
      'lan-reflector: config: --pod[0]: "198.18.4.999" is not an IPv4 or IPv6 address (e.g. 192.168.1.50, 2001:db8::50)',
    );
  });

  it('refuses an unknown source mode, listing the valid ones', async () => {
    const r = await runAgent(['--lan-interface', 'lan0', '--source-mode', 'nat']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /sourceMode: "nat" is not one of auto, preserve, node/);
  });

  it('says that raw sockets need root or CAP_NET_RAW when run without CAP_NET_RAW', async () => {
    // Still uid 0, so it can read the checkout wherever CI cloned it, but without CAP_NET_RAW.
    const r = await runAgent(
      ['--lan-interface', 'lan0', '--control-socket', '/tmp/lr-unpriv.sock'],
      ['setpriv', '--bounding-set=-net_raw', '--'],
    );
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /cannot open a raw socket: run as root or grant CAP_NET_RAW/);
  });

  it('keeps running and says why when a pod address has no route on this node', async () => {
    const agent = await startAgent(bed, bed.nodes[0].ns, { args: ['--pod', '198.18.4.77'] });
    try {
      await agent.proc.waitForLine(
        /pod 198\.18\.4\.77: 198\.18\.4\.77 is reached through the LAN interface lan0/,
        {
          stream: 'stderr',
          timeoutMs: 5000,
        },
      );
      await sleep(300);
      assert.equal(agent.proc.status, undefined, 'the agent exited');
    } finally {
      await agent.stop();
    }
  });
});

describeAsRoot('the agent beside avahi-daemon on the node', function () {
  this.timeout(90_000);
  let bed: CalicoBed;
  let dir: string;
  let avahi: Proc;

  before(async () => {
    bed = await calicoBed({ devices: 1, podsPerNode: 1, podAddressing: 'lan' });
    dir = mkdtempSync(join(tmpdir(), 'lr-avahi-'));
    writeFileSync(
      join(dir, 'avahi-daemon.conf'),
      '[server]\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=lan0\nenable-dbus=no\nratelimit-burst=1000\n' +
        '[publish]\npublish-addresses=yes\n[reflector]\nenable-reflector=no\n',
    );
    writeFileSync(
      join(dir, 'node.service'),
      '<?xml version="1.0" standalone="no"?><!DOCTYPE service-group SYSTEM "avahi-service.dtd">' +
        '<service-group><name>NodeAvahi</name><service><type>_demo._tcp</type><port>631</port></service></service-group>',
    );
    // avahi keeps its pid file and socket under /run and reads /etc/avahi/services: give it private
    // copies in a mount namespace of its own, so the host's avahi (if any) is untouched.
    const script =
      `mount -t tmpfs tmpfs /run && mkdir -p /run/services && cp ${dir}/node.service /run/services/ && ` +
      `mount --bind /run/services /etc/avahi/services && ` +
      `exec avahi-daemon -f ${dir}/avahi-daemon.conf --no-drop-root --no-chroot --no-rlimits`;
    avahi = bed.spawn(bed.nodes[0].ns, ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script]);
    await avahi.waitForLine(/Server startup complete/, { stream: 'stderr', timeoutMs: 20_000 });
  });
  after(async () => {
    await bed?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("both keep working: the LAN resolves avahi's service and the pod resolves the device's", async () => {
    const { devices, nodes } = bed;
    const [dev] = devices;
    const [pod] = nodes[0].pods;
    const agent = await startAgent(bed, nodes[0].ns, { args: ['--pod', pod.address], pods: 1 });
    await publish(bed, dev.ns, { name: 'Speaker', port: 1400, address: dev.address });
    const inPod = await browse(bed, pod.ns, { address: pod.address, count: 2, timeoutS: 8 });
    assert.ok(
      inPod.some((r) => r.name.startsWith('Speaker.') && r.addresses.includes(dev.address)),
      `the pod did not resolve the device's service: ${JSON.stringify(inPod)}`,
    );
    const onLan = await browse(bed, dev.ns, { address: dev.address, count: 2, timeoutS: 8 });
    const nodeSvc = onLan.find((r) => r.name.startsWith('NodeAvahi.'));
    assert.ok(nodeSvc, `avahi's service was not resolved on the LAN: ${JSON.stringify(onLan)}`);
    assert.ok(nodeSvc.addresses.includes(nodes[0].address), JSON.stringify(nodeSvc.addresses));
    assert.equal(avahi.status, undefined, `avahi-daemon exited:\n${avahi.stderr}`);
    assert.equal(agent.proc.status, undefined, 'the agent exited');
  });
});
