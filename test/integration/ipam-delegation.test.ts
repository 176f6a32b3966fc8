// Delegation: with --kubernetes, a pod that asked (annotation lan-reflector.io/lan-address) gets a
// LAN address; a pod that did not gets its address from the configured delegate (Debian's
// host-local here), run from CNI_PATH as a main plugin runs its IPAM — and its DEL goes there too,
// even while the agent is down. Pods come from the fake API server (the one allowed fake).
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { cniOk, netConf, ourIpam, podAddress, runCni, type CniCall } from '../support/cni.js';
import { FakeApiProcess } from '../support/fake-api-client.js';
import { startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { writeKubeconfig, type KubeconfigFile } from '../support/kubeconfig.js';
import { calicoBed, type CalicoBed } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const ANNOTATION = 'lan-reflector.io/lan-address';
const DELEGATE_SUBNET = '198.19.7.0/24';

function pod(name: string, annotations?: Record<string, string>): V1Pod {
  return {
    metadata: { name, namespace: 'home', annotations },
    spec: { nodeName: 'node1', containers: [{ name: 'app', image: 'example/app' }] },
    status: { phase: 'Pending' },
  };
}

describeAsRoot('IPAM delegation to host-local for pods that did not ask', function () {
  this.timeout(120_000);
  let bed: CalicoBed;
  let fake: FakeApiProcess;
  let kubeconfig: KubeconfigFile;
  let agent: IpamAgent;
  let hostLocalDir: string;
  let n = 0;

  before(async () => {
    bed = await calicoBed({ devices: 0, podsPerNode: 0, podAddressing: 'lan' });
    fake = await FakeApiProcess.start(bed, 'node1');
    kubeconfig = writeKubeconfig(fake.url);
    await fake.api.createPod(pod('hass', { [ANNOTATION]: 'true' }));
    await fake.api.createPod(pod('plain'));
    await fake.api.createPod(pod('pinned', { [ANNOTATION]: '198.18.4.150' }));
    // A pod another node's file store gave an address from our ranges: the agent must say so.
    await fake.api.createPod({
      ...pod('elsewhere'),
      spec: { nodeName: 'node2', containers: [{ name: 'app', image: 'example/app' }] },
      status: { phase: 'Running', podIP: '198.18.4.120', podIPs: [{ ip: '198.18.4.120' }] },
    });
    const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig.path, NODE_NAME: 'node1' };
    delete env.KUBERNETES_SERVICE_HOST;
    const dir = (await import('../support/ipam-agent.js')).ipamDir();
    hostLocalDir = join(dir, 'host-local');
    agent = await startIpamAgent(
      bed,
      'node1',
      {
        ipam: {
          subnet: '198.18.4.0/24',
          ranges: ['198.18.4.100-198.18.4.199'],
          probe: false,
          delegate: { type: 'host-local', ranges: [[{ subnet: DELEGATE_SUBNET }]], dataDir: hostLocalDir },
        },
        args: ['--kubernetes'],
        env,
      },
      dir,
    );
  });
  after(async () => {
    await agent?.stop();
    await fake?.stop();
    await bed?.teardown();
    kubeconfig?.remove();
    agent?.remove();
  });

  const ptp = async (podName: string, command: CniCall['command'], extra: Partial<CniCall> = {}) => {
    const ns = `d${++n}`;
    if (command === 'ADD') await bed.addNs(ns);
    return {
      ns,
      call: {
        plugin: 'ptp',
        command,
        config: netConf('ptp', ourIpam(agent.socket), { extra: { ipMasq: false } }),
        containerId: `ctr-${podName}-${process.pid}`,
        netns: ns,
        ifname: 'eth0',
        args: { K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: podName, IgnoreUnknown: '1' },
        ...extra,
      } satisfies CniCall,
    };
  };

  it("warns at start that another node has a pod in its file store's ranges", async () => {
    const deadline = Date.now() + 10_000;
    let hit: Record<string, unknown> | undefined;
    while (!hit && Date.now() < deadline) {
      hit = agent.log().find((l) => String(l.message).startsWith('another node has pods in this node'));
      if (!hit) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(hit?.otherNode, 'node2');
    assert.equal(hit?.address, '198.18.4.120');
  });

  it('gives the annotated pod a LAN address', async () => {
    const { ns, call } = await ptp('hass', 'ADD');
    await cniOk(bed, 'node1', call);
    assert.match((await podAddress(bed, ns))?.local ?? '', /^198\.18\.4\.1\d\d$/);
  });

  it('gives the pod the address its annotation pins', async () => {
    const { ns, call } = await ptp('pinned', 'ADD');
    await cniOk(bed, 'node1', call);
    assert.equal((await podAddress(bed, ns))?.local, '198.18.4.150');
  });

  it('hands a pod without the annotation to host-local, and its DEL too', async () => {
    const { ns, call } = await ptp('plain', 'ADD');
    const r = await cniOk(bed, 'node1', call);
    const a = await podAddress(bed, ns);
    assert.match(a?.local ?? '', /^198\.19\.7\.\d+$/, JSON.stringify(r.json));
    const held = () => readdirSync(join(hostLocalDir, 'lan')).filter((f) => /^\d/.test(f));
    assert.deepEqual(held(), [a!.local], 'host-local recorded the address');
    await cniOk(bed, 'node1', { ...call, command: 'DEL' });
    assert.deepEqual(held(), [], 'host-local released it on DEL');
    assert.ok(!existsSync(join(agent.dir, 'run', 'ipam-delegated', `${call.containerId}@eth0`)));
  });

  it('serves a pod created just before its ADD (the watch may not have it yet)', async () => {
    await fake.api.createPod(pod('late', { [ANNOTATION]: 'true' }));
    const { ns, call } = await ptp('late', 'ADD');
    await cniOk(bed, 'node1', call);
    assert.match((await podAddress(bed, ns))?.local ?? '', /^198\.18\.4\.1\d\d$/);
  });

  it("sends a delegated pod's DEL to host-local even while the agent is down", async () => {
    await fake.api.createPod(pod('plain2'));
    const { ns, call } = await ptp('plain2', 'ADD');
    await cniOk(bed, 'node1', call);
    const addr = (await podAddress(bed, ns))!.local;
    await agent.kill9();
    try {
      const del = await runCni(bed, 'node1', { ...call, command: 'DEL' });
      assert.equal(del.code, 0, del.stdout + del.stderr);
      assert.ok(!readdirSync(join(hostLocalDir, 'lan')).includes(addr), 'host-local released it');
    } finally {
      agent = await agent.restart();
    }
  });
});
