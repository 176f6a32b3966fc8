// The IPAM as the real CNI plugins use it: Debian's ptp and bridge call lan-reflector-ipam as their
// `ipam`, with the runtime's env and stdin (test/support/cni.ts), in namespaces of a test bed.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../support/agent.js';
import { run } from '../support/netns.js';
import { cniOk, netConf, ourIpam, podAddress, runCni, runPlugin, type CniOutcome } from '../support/cni.js';
import { startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { calicoBed, deviceAddress, nodeAddress, type CalicoBed } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const LAN = '198.18.4.0/24';
const NODE = nodeAddress(1);

interface IpJson {
  address: string;
  gateway?: string;
  version?: string;
}
const ipsOf = (r: CniOutcome): IpJson[] => (r.json?.ips ?? []) as IpJson[];

describeAsRoot('IPAM with the real CNI plugins (ptp, bridge) calling lan-reflector-ipam', function () {
  this.timeout(120_000);
  let bed: CalicoBed;
  let agent: IpamAgent;
  let n = 0;
  const cid = () => `c${process.pid}x${++n}`;

  before(async () => {
    bed = await calicoBed({ devices: 1, podsPerNode: 0, podAddressing: 'lan' });
    agent = await startIpamAgent(bed, 'node1', {
      ipam: {
        subnet: LAN,
        ranges: ['198.18.4.100-198.18.4.199'],
        exclude: ['198.18.4.100-198.18.4.104', '198.18.4.106'],
        probe: false,
      },
    });
  });
  after(async () => {
    await agent?.stop();
    await bed?.teardown();
    agent?.remove();
  });

  const ipam = () => ourIpam(agent.socket);

  it('ptp: the pod gets a LAN-subnet address with the LAN prefix and broadcast, routed via the node', async () => {
    await bed.addNs('pp1');
    const r = await cniOk(bed, 'node1', {
      plugin: 'ptp',
      command: 'ADD',
      config: netConf('ptp', ipam(), { extra: { ipMasq: false } }),
      containerId: cid(),
      netns: 'pp1',
      ifname: 'eth0',
    });
    const [ip] = ipsOf(r);
    // 198.18.4.100-104 and .106 are excluded: the first address the walk may give is .105.
    assert.equal(ip.address, '198.18.4.105/24');
    assert.equal(ip.gateway, NODE);
    const a = await podAddress(bed, 'pp1');
    assert.deepEqual(
      { local: a?.local, prefixlen: a?.prefixlen, broadcast: a?.broadcast },
      {
        local: '198.18.4.105',
        prefixlen: 24,
        broadcast: '198.18.4.255',
      },
    );
    const routes = await bed.ip('pp1', ['-j', 'route', 'show', 'default']);
    assert.match(routes.stdout, new RegExp(`"gateway":"${NODE.replace(/\./g, '\\.')}"`));
    assert.ok(await bed.ping('pp1', NODE), 'the pod reaches its gateway, the node');
  });

  it('bridge: the pod gets the same shape of address on a bridge and reaches the node through its host route', async () => {
    await bed.addNs('bp1');
    const r = await cniOk(bed, 'node1', {
      plugin: 'bridge',
      command: 'ADD',
      config: netConf('bridge', ipam(), { name: 'lanbr', extra: { bridge: 'lrbr0', isGateway: false } }),
      containerId: cid(),
      netns: 'bp1',
      ifname: 'eth0',
    });
    const [ip] = ipsOf(r);
    assert.match(ip.address, /^198\.18\.4\.1\d\d\/24$/);
    const a = await podAddress(bed, 'bp1');
    assert.equal(a?.prefixlen, 24);
    assert.equal(a?.broadcast, '198.18.4.255');
    assert.ok(await bed.ping('bp1', NODE), 'the pod reaches its gateway, the node');
    // The pod's /24 is on-link: it ARPs for LAN devices on the bridge, so the bridge answers for
    // them (proxy_arp on the bridge, as the README says); the device reaches the pod through the
    // node's proxy entry on the LAN link.
    await bed.sysctl('node1', { 'net.ipv4.conf.lrbr0.proxy_arp': 1 });
    assert.ok(await bed.ping('bp1', deviceAddress(1)), 'the pod reaches a LAN device');
    assert.ok(await bed.ping('dev1', a!.local), 'a LAN device reaches the pod');
  });

  it('ADD twice gives the same address; DEL twice succeeds and frees it', async () => {
    const id = cid();
    const call = {
      plugin: 'lan-reflector-ipam',
      config: netConf('ptp', ipam()),
      containerId: id,
      netns: '/run/netns/none',
      ifname: 'eth0',
    };
    const first = await runPlugin({ ...call, command: 'ADD' });
    const second = await runPlugin({ ...call, command: 'ADD' });
    assert.equal(first.code, 0, first.stdout);
    assert.equal(ipsOf(second)[0].address, ipsOf(first)[0].address);
    for (let i = 0; i < 2; i++) {
      const del = await runPlugin({ ...call, command: 'DEL' });
      assert.equal(del.code, 0, `DEL #${i + 1}: ${del.stdout}`);
      assert.equal(del.stdout, '');
    }
    const files = readdirSync(join(agent.store, 'addresses'));
    assert.ok(!files.includes(ipsOf(first)[0].address.split('/')[0]), 'the address file is gone after DEL');
  });

  it('never hands out an address in exclude, over a whole pool', async () => {
    const got: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await runPlugin({
        plugin: 'lan-reflector-ipam',
        command: 'ADD',
        config: netConf('ptp', ipam()),
        containerId: cid(),
        netns: '/x',
        ifname: 'eth0',
      });
      assert.equal(r.code, 0, r.stdout);
      got.push(ipsOf(r)[0].address.split('/')[0]);
    }
    for (const x of [
      '198.18.4.100',
      '198.18.4.101',
      '198.18.4.102',
      '198.18.4.103',
      '198.18.4.104',
      '198.18.4.106',
      NODE,
    ])
      assert.ok(!got.includes(x), `${x} was handed out`);
    assert.equal(new Set(got).size, got.length);
  });

  it('lists allocations and free counts through the control socket (lan-reflector ipam list)', async () => {
    const r = await run(CLI(['ipam', 'list', '--json', '--control-socket', agent.controlSocket]));
    const l = JSON.parse(r.stdout) as { allocations: Array<{ address: string }>; free: number; size: number };
    assert.equal(l.size, 100);
    assert.ok(
      l.allocations.some((a) => a.address === '198.18.4.105'),
      'the ptp pod is listed',
    );
    // 100 in the range, 6 excluded, and those assigned are not free.
    assert.equal(l.free, 100 - 6 - l.allocations.length);
    const text = await run(CLI(['ipam', 'list', '--control-socket', agent.controlSocket]));
    assert.match(text.stdout, /^ADDRESS\s+POD\s+CONTAINER/m);
    assert.match(text.stdout, new RegExp(`${l.allocations.length} assigned, ${l.free} free of 100`));
  });

  it('fails ADD within 2 s with code 11 when the agent is down; DEL succeeds and is carried out when it is back', async () => {
    const keep = await runPlugin({
      plugin: 'lan-reflector-ipam',
      command: 'ADD',
      config: netConf('ptp', ipam()),
      containerId: 'keepme',
      netns: '/x',
      ifname: 'eth0',
    });
    const kept = ipsOf(keep)[0].address.split('/')[0];
    await agent.kill9();
    const add = await runPlugin({
      plugin: 'lan-reflector-ipam',
      command: 'ADD',
      config: netConf('ptp', ipam()),
      containerId: cid(),
      netns: '/x',
      ifname: 'eth0',
    });
    assert.equal(add.code, 1);
    assert.equal(add.json?.code, 11);
    assert.ok(add.ms < 2000, `ADD took ${add.ms} ms`);
    const del = await runPlugin({
      plugin: 'lan-reflector-ipam',
      command: 'DEL',
      config: netConf('ptp', ipam()),
      containerId: 'keepme',
      netns: '/x',
      ifname: 'eth0',
    });
    assert.equal(del.code, 0, del.stdout + del.stderr);
    assert.ok(
      readdirSync(join(agent.store, 'addresses')).includes(kept),
      'nothing released while the agent is down',
    );
    agent = await agent.restart();
    assert.ok(
      !readdirSync(join(agent.store, 'addresses')).includes(kept),
      'the recorded DEL was carried out at start',
    );
    assert.deepEqual(
      readdirSync(join(agent.dir, 'run', 'ipam-spool')).filter((f) => f.endsWith('.del')),
      [],
    );
  });
});
