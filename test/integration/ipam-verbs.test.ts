// lan-reflector-ipam driven by hand as a CNI 1.1 runtime drives a plugin (Debian's plugins speak
// up to 1.0.0, so nothing else here sends GC or STATUS): every verb and config version against the
// JSON formats of CNI spec 1.1 section 5, concurrency, and kill -9 of the agent in a burst.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { netConf, ourIpam, runPlugin, type CniCall, type CniOutcome } from '../support/cni.js';
import { startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { calicoBed, nodeAddress, type CalicoBed } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const NODE = nodeAddress(1);
/** A /20 around the bed's LAN, so the pool (a /22) holds more than 200 addresses. */
const SUBNET = '198.18.0.0/20';
const RANGE = '198.18.8.0/22';
const VERSIONS = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'];

describeAsRoot('lan-reflector-ipam driven as a CNI 1.1 runtime would', function () {
  this.timeout(180_000);
  let bed: CalicoBed;
  let agent: IpamAgent;
  let n = 0;
  const cid = (tag = 'c') => `${tag}${process.pid}x${++n}`;

  before(async () => {
    bed = await calicoBed({ devices: 0, podsPerNode: 0, podAddressing: 'lan' });
    agent = await startIpamAgent(bed, 'node1', { ipam: { subnet: SUBNET, ranges: [RANGE], probe: false } });
  });
  after(async () => {
    await agent?.stop();
    await bed?.teardown();
    agent?.remove();
  });

  const conf = (cniVersion: string, extra: Record<string, unknown> = {}, name = 'lan') => ({
    ...netConf('ptp', ourIpam(agent.socket), { cniVersion, name }),
    ...extra,
  });
  const call = (c: Partial<CniCall> & Pick<CniCall, 'command'>): Promise<CniOutcome> =>
    runPlugin({
      plugin: 'lan-reflector-ipam',
      config: conf('1.1.0'),
      netns: '/run/netns/x',
      ifname: 'eth0',
      ...c,
    });
  const stored = (): string[] =>
    readdirSync(join(agent.store, 'addresses')).filter((f) => !f.startsWith('.'));
  const ownerOf = (address: string): string =>
    (
      JSON.parse(readFileSync(join(agent.store, 'addresses', address), 'utf8')) as {
        owner: { containerId: string };
      }
    ).owner.containerId;
  /** CNI spec 1.1 section 5, "Error": cniVersion, code, msg (details optional), on stdout, exit non-zero. */
  function assertCniError(r: CniOutcome, code: number, version: string): void {
    assert.notEqual(r.code, 0, `exit code for an error (stdout ${r.stdout})`);
    assert.equal(r.json?.code, code, r.stdout);
    assert.equal(r.json?.cniVersion, version);
    assert.equal(typeof r.json?.msg, 'string');
  }

  for (const v of VERSIONS) {
    it(`VERSION at ${v}: echoes cniVersion and lists every supported version`, async () => {
      const r = await call({ command: 'VERSION', config: { cniVersion: v } });
      assert.equal(r.code, 0);
      assert.equal(r.json?.cniVersion, v);
      for (const s of VERSIONS) assert.ok((r.json?.supportedVersions as string[]).includes(s), s);
    });

    it(`ADD at ${v}: the abbreviated IPAM result in ${v}'s format`, async () => {
      const r = await call({ command: 'ADD', config: conf(v), containerId: cid() });
      assert.equal(r.code, 0, r.stdout);
      const res = r.json!;
      assert.equal(res.cniVersion, v);
      assert.equal(res.interfaces, undefined, 'an IPAM result has no interfaces');
      const ips = res.ips as Array<Record<string, unknown>>;
      assert.equal(ips.length, 1);
      assert.match(String(ips[0].address), /^198\.18\.(8|9|10|11)\.\d+\/20$/);
      assert.equal(ips[0].gateway, NODE);
      assert.equal(ips[0].interface, undefined);
      // 0.3.x and 0.4.0 results carry ips[].version; 1.0.0 removed it.
      if (v.startsWith('0.')) assert.equal(ips[0].version, '4');
      else assert.ok(!('version' in ips[0]), 'no version field from 1.0.0 on');
      assert.deepEqual(res.routes, [{ dst: '0.0.0.0/0' }]);
    });
  }

  it('refuses a config version it does not speak with code 1', async () => {
    assertCniError(await call({ command: 'ADD', config: conf('0.2.0'), containerId: cid() }), 1, '0.2.0');
  });

  it('refuses GC and STATUS below 1.1.0 with code 1', async () => {
    assertCniError(
      await call({
        command: 'GC',
        config: conf('1.0.0', { 'cni.dev/valid-attachments': [] }),
      }),
      1,
      '1.0.0',
    );
    assertCniError(await call({ command: 'STATUS', config: conf('1.0.0') }), 1, '1.0.0');
  });

  it('refuses a config that is not JSON with code 6, a missing CNI_CONTAINERID with code 4, an unknown ipam field with code 2', async () => {
    const bad = await call({
      command: 'ADD',
      config:
        '{"cniVersion": "1.1.0", "ipam": {"type": "lan-reflector-ipam", "socket": ' +
        JSON.stringify(agent.socket) +
        '}, ',
      containerId: cid(),
    });
    assert.equal(bad.json?.code, 6, bad.stdout);
    assertCniError(await call({ command: 'ADD', containerId: undefined }), 4, '1.1.0');
    const r = await call({
      command: 'ADD',
      containerId: cid(),
      config: { ...conf('1.1.0'), ipam: { ...ourIpam(agent.socket), subnet: '10.0.0.0/8' } },
    });
    assertCniError(r, 2, '1.1.0');
    assert.match(String(r.json?.msg), /ipam\.subnet/);
  });

  it('CHECK passes against the prevResult of its ADD and fails against another address or none', async () => {
    const id = cid();
    const add = await call({ command: 'ADD', containerId: id });
    const prevResult = add.json!;
    assert.equal(
      (await call({ command: 'CHECK', containerId: id, config: conf('1.1.0', { prevResult }) })).code,
      0,
    );
    const wrong = { ...prevResult, ips: [{ address: '198.18.9.250/20', gateway: NODE }] };
    assertCniError(
      await call({ command: 'CHECK', containerId: id, config: conf('1.1.0', { prevResult: wrong }) }),
      104,
      '1.1.0',
    );
    assertCniError(await call({ command: 'CHECK', containerId: id }), 7, '1.1.0');
    assertCniError(
      await call({ command: 'CHECK', containerId: cid(), config: conf('1.1.0', { prevResult }) }),
      104,
      '1.1.0',
    );
  });

  it('STATUS succeeds with no output while ADD can be served', async () => {
    const r = await call({ command: 'STATUS' });
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.stdout, '');
  });

  it('GC frees exactly the attachments valid-attachments does not list, in its own network only', async () => {
    const live = cid('live');
    const leakA = cid('leak');
    const leakB = cid('leak');
    const other = cid('other');
    const addr: Record<string, string> = {};
    for (const id of [live, leakA, leakB])
      addr[id] = (
        (await call({ command: 'ADD', containerId: id })).json!.ips as Array<{ address: string }>
      )[0].address.split('/')[0];
    const o = await call({ command: 'ADD', containerId: other, config: conf('1.1.0', {}, 'othernet') });
    addr[other] = (o.json!.ips as Array<{ address: string }>)[0].address.split('/')[0];
    const before = stored();
    const valid = before
      .filter((a) => ![addr[leakA], addr[leakB]].includes(a))
      .map((a) => ({ containerID: ownerOf(a), ifname: 'eth0' }));
    const gc = await call({
      command: 'GC',
      config: conf('1.1.0', { 'cni.dev/valid-attachments': valid }),
    });
    assert.equal(gc.code, 0, gc.stdout);
    assert.equal(gc.stdout, '');
    const after = stored();
    assert.deepEqual(
      before.filter((a) => !after.includes(a)).sort(),
      [addr[leakA], addr[leakB]].sort(),
      'exactly the two leaked addresses are gone',
    );
    assert.ok(after.includes(addr[live]) && after.includes(addr[other]));
  });

  it('200 concurrent ADDs give 200 distinct addresses', async () => {
    const ids = Array.from({ length: 200 }, () => cid('burst'));
    const results = await Promise.all(
      ids.map((id) => call({ command: 'ADD', containerId: id, timeoutMs: 60_000 })),
    );
    const failed = results.filter((r) => r.code !== 0);
    assert.equal(failed.length, 0, failed.map((r) => r.stdout).join('\n'));
    const addresses = results.map((r) => (r.json!.ips as Array<{ address: string }>)[0].address);
    assert.equal(new Set(addresses).size, 200);
    for (const [i, id] of ids.entries())
      assert.equal(ownerOf(addresses[i].split('/')[0]), id, 'the store agrees who holds each');
    await Promise.all(ids.map((id) => call({ command: 'DEL', containerId: id })));
  });

  it('kill -9 of the agent during a burst of ADDs loses nothing and duplicates nothing', async () => {
    const ids = Array.from({ length: 120 }, () => cid('kill'));
    const answered = new Map<string, string>();
    const burst = ids.map(async (id, i) => {
      await new Promise((r) => setTimeout(r, i * 2)); // spread over ~250 ms, so the kill lands mid-burst
      const r = await call({ command: 'ADD', containerId: id, timeoutMs: 60_000 });
      if (r.code === 0) answered.set(id, (r.json!.ips as Array<{ address: string }>)[0].address);
      return r;
    });
    await new Promise((r) => setTimeout(r, 120));
    await agent.kill9();
    const first = await Promise.all(burst);
    const refused = first.filter((r) => r.code !== 0);
    assert.ok(
      answered.size > 0 && refused.length > 0,
      `the kill must land mid-burst (answered ${answered.size}, refused ${refused.length})`,
    );
    for (const r of refused) assert.equal(r.json?.code, 11, r.stdout);
    agent = await agent.restart();
    // Every address a runtime was given before the kill is still its container's.
    for (const [id, address] of answered)
      assert.equal(ownerOf(address.split('/')[0]), id, `${id} lost ${address}`);
    // The runtime retries the refused ADDs (same attachment): each gets one address, none shared.
    const retry = await Promise.all(ids.map((id) => call({ command: 'ADD', containerId: id })));
    const final = retry.map((r) => (r.json!.ips as Array<{ address: string }>)[0].address);
    assert.equal(new Set(final).size, ids.length, 'no address handed out twice');
    for (const [id, address] of answered)
      assert.equal(final[ids.indexOf(id)], address, 'a retried ADD returns the address already given');
    const mine = stored().filter((a) => ownerOf(a).startsWith('kill'));
    assert.equal(mine.length, ids.length, 'one address per container, none half-reserved');
  });

  it('STATUS fails with code 50 and ADD with code 11 (within 2 s) when the agent is down', async () => {
    await agent.kill9();
    try {
      assertCniError(await call({ command: 'STATUS' }), 50, '1.1.0');
      const r = await call({ command: 'ADD', containerId: cid() });
      assertCniError(r, 11, '1.1.0');
      assert.ok(r.ms < 2000, `took ${r.ms} ms`);
    } finally {
      agent = await agent.restart();
    }
  });
});
