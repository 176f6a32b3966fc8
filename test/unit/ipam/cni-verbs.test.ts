// The CNI verbs with plain values: what goes to a delegate, refusals, the pod lookup and the shim's
// wire format. (Every verb and version against a real shim and agent: test/integration/ipam-verbs.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { loadIpamConfig } from '../../../src/config/ipam.js';
import { handle, type Delegations, type VerbDeps } from '../../../src/ipam/cni/verbs.js';
import { KubePodLookup } from '../../../src/ipam/kube-pod-lookup.js';
import { PoolProvider } from '../../../src/ipam/pool-provider.js';
import { decodeRequest, encodeReply, encodeRequest } from '../../../src/ipam/shim-protocol.js';
import { FileStore } from '../../../src/ipam/store/file-store.js';
import { IpamError, NO_ANNOUNCER, NO_GUARD, ownerKey, type Owner } from '../../../src/ipam/types.js';

class MemoryDelegations implements Delegations {
  readonly map = new Map<string, string>();
  async record(o: Owner, stdin: string) {
    this.map.set(ownerKey(o), stdin);
  }
  async has(o: Owner) {
    return this.map.has(ownerKey(o));
  }
  async forget(o: Owner) {
    this.map.delete(ownerKey(o));
  }
  async list() {
    return [...this.map.keys()].map((k) => ({ containerId: k.split('/')[0], ifname: k.split('/')[1] }));
  }
}

describe('CNI verbs', () => {
  let dir: string;
  let deps: VerbDeps;
  let annotations: Record<string, string | undefined>;
  const delegations = new MemoryDelegations();
  const env = (command: string, cid = 'c1', pod = 'hass') => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: cid,
    CNI_IFNAME: 'eth0',
    CNI_NETNS: '/run/netns/x',
    CNI_PATH: '/opt/cni/bin',
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=home;K8S_POD_NAME=${pod}`,
  });
  const flannelConf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'cbr0',
    type: 'ptp',
    ipam: {
      type: 'lan-reflector-ipam',
      ranges: [[{ subnet: '10.42.0.0/24' }]],
      routes: [{ dst: '10.42.0.0/16' }],
    },
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lr-verbs-'));
    const config = loadIpamConfig({
      subnet: '192.168.2.0/23',
      ranges: ['192.168.3.0/28'],
      delegate: { type: 'host-local', dataDir: '/var/lib/x' },
    })!;
    const store = await FileStore.open({ directory: dir, node: 'n' });
    deps = {
      config,
      store,
      delegations,
      provider: new PoolProvider({
        config,
        store,
        guard: NO_GUARD,
        announcer: NO_ANNOUNCER,
        reserved: ['192.168.2.5'],
      }),
      pods: { lanAddress: async (p) => annotations[p.name] },
      gateway: () => '192.168.2.5',
      unavailable: async () => undefined,
    };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("hands a pod that did not ask to the delegate with the full config, flannel's ranges kept, and routes its DEL there", async () => {
    annotations = {};
    const r = await handle(env('ADD', 'plain', 'plain'), flannelConf, deps);
    assert.equal(r.kind, 'delegate');
    if (r.kind !== 'delegate') return;
    assert.equal(r.plugin, 'host-local');
    const sent = JSON.parse(r.stdin) as Record<string, unknown>;
    assert.equal(sent.name, 'cbr0');
    assert.equal(sent.type, 'ptp');
    assert.deepEqual(sent.ipam, {
      type: 'host-local',
      dataDir: '/var/lib/x',
      ranges: [[{ subnet: '10.42.0.0/24' }]],
      routes: [{ dst: '10.42.0.0/16' }],
    });
    const del = await handle(env('DEL', 'plain', 'plain'), flannelConf, deps);
    assert.equal(del.kind, 'delegate');
  });

  it('gives an annotated pod a LAN address with the subnet prefix and the node as gateway', async () => {
    annotations = { hass: 'true' };
    const r = await handle(env('ADD'), flannelConf, deps);
    assert.equal(r.kind, 'reply');
    if (r.kind !== 'reply') return;
    const res = JSON.parse(r.stdout) as { ips: Array<{ address: string; gateway: string }> };
    // 192.168.3.0 is a host address in 192.168.2.0/23 (only .2.0 and .3.255 are not).
    assert.equal(res.ips[0].address, '192.168.3.0/23');
    assert.equal(res.ips[0].gateway, '192.168.2.5');
  });

  it('refuses a malformed annotation with code 101, naming it', async () => {
    annotations = { bad: 'yes please' };
    const r = await handle(env('ADD', 'c2', 'bad'), flannelConf, deps);
    assert.equal(r.kind === 'reply' && JSON.parse(r.stdout).code, 101);
    assert.match(r.kind === 'reply' ? r.stdout : '', /lan-reflector\.io\/lan-address/);
  });

  it('answers code 11 when the pod cannot be looked up', async () => {
    const saved = deps.pods;
    deps.pods = { lanAddress: async () => Promise.reject(new IpamError(11, 'cannot read pod')) };
    const r = await handle(env('ADD', 'c3'), flannelConf, deps);
    deps.pods = saved;
    assert.equal(r.kind === 'reply' && JSON.parse(r.stdout).code, 11);
  });
});

describe('KubePodLookup', () => {
  const pod = (uid: string, a?: string): V1Pod => ({
    metadata: { name: 'p', namespace: 'n', uid, annotations: a ? { 'lan-reflector.io/lan-address': a } : {} },
  });

  it('reads the annotation from the watch cache when it has the pod', async () => {
    const l = new KubePodLookup({
      cached: () => pod('u1', 'true'),
      get: async () => assert.fail('no GET needed'),
    });
    assert.equal(await l.lanAddress({ namespace: 'n', name: 'p' }), 'true');
  });
  it('GETs a pod the watch has not seen after waiting, and one whose UID is another incarnation', async () => {
    let gets = 0;
    const l = new KubePodLookup({
      cached: () => pod('old', 'true'),
      get: async () => (gets++, pod('new')),
      waitMs: 30,
    });
    assert.equal(await l.lanAddress({ namespace: 'n', name: 'p', uid: 'new' }), undefined);
    assert.equal(gets, 1);
  });
  it('turns an API failure into code 11', async () => {
    const l = new KubePodLookup({
      cached: () => undefined,
      get: async () => Promise.reject(new Error('ECONNREFUSED')),
      waitMs: 10,
    });
    await assert.rejects(
      l.lanAddress({ namespace: 'n', name: 'p' }),
      (e: unknown) => e instanceof IpamError && e.code === 11,
    );
  });
});

describe('shim wire format', () => {
  it('round-trips a request and keeps only CNI_* variables', () => {
    const buf = encodeRequest({ env: { CNI_COMMAND: 'ADD', CNI_ARGS: 'A=1;B=2' }, stdin: '{"x":1}' });
    assert.deepEqual(decodeRequest(buf), {
      env: { CNI_COMMAND: 'ADD', CNI_ARGS: 'A=1;B=2' },
      stdin: '{"x":1}',
    });
    const foreign = Buffer.concat([
      Buffer.from('LRIPAM1\nPATH=/bin\0CNI_COMMAND=DEL\0\0'),
      Buffer.from('{}'),
    ]);
    assert.deepEqual(decodeRequest(foreign), { env: { CNI_COMMAND: 'DEL' }, stdin: '{}' });
  });
  it('refuses what is not a request', () => {
    assert.equal(typeof decodeRequest(Buffer.from('GET / HTTP/1.1\r\n')), 'string');
    assert.equal(typeof decodeRequest(Buffer.from('LRIPAM1\nCNI_COMMAND=ADD')), 'string');
  });
  it('encodes both kinds of reply with the header the shim parses', () => {
    assert.equal(encodeReply({ kind: 'reply', code: 1, stdout: '{}' }).toString(), 'LRIPAM1 R 1\n{}');
    assert.equal(
      encodeReply({ kind: 'delegate', plugin: 'host-local', stdin: '{}' }).toString(),
      'LRIPAM1 D host-local\n{}',
    );
  });
});
