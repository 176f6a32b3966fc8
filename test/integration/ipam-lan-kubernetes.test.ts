// With --kubernetes, another device claiming an opted-in pod's LAN address is a Warning Event on
// the pod (issue 10: "a log line, a metric, and a Warning Event on the pod"), so that `kubectl
// describe pod` shows who claims it. Pods and Events live in the fake API server (the one allowed
// fake); the pod is wired by the real ptp plugin with lan-reflector-ipam.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { cniOk, netConf, ourIpam, podAddress } from '../support/cni.js';
import { FakeApiProcess } from '../support/fake-api-client.js';
import { ipamDir, startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { writeKubeconfig, type KubeconfigFile } from '../support/kubeconfig.js';
import { cniBed, macOf, type CniBed } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const hass: V1Pod = {
  metadata: { name: 'hass', namespace: 'home', annotations: { 'lan-reflector.io/lan-address': 'true' } },
  spec: { nodeName: 'node1', containers: [{ name: 'app', image: 'example/app' }] },
  status: { phase: 'Pending' },
};

describeAsRoot('LAN address conflicts as Warning Events on the pod (--kubernetes)', function () {
  this.timeout(120_000);
  let bed: CniBed;
  let fake: FakeApiProcess;
  let kubeconfig: KubeconfigFile;
  let agent: IpamAgent;

  before(async () => {
    bed = await cniBed({ devices: 1, nodes: 1 });
    fake = await FakeApiProcess.start(bed, 'node1');
    kubeconfig = writeKubeconfig(fake.url);
    await fake.api.createPod(hass);
    const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig.path, NODE_NAME: 'node1' };
    delete env.KUBERNETES_SERVICE_HOST;
    agent = await startIpamAgent(
      bed,
      'node1',
      {
        ipam: { subnet: '198.18.4.0/24', ranges: ['198.18.4.150-198.18.4.199'] },
        args: ['--kubernetes'],
        env,
      },
      ipamDir(),
    );
  });
  after(async () => {
    await agent?.stop();
    await fake?.stop();
    await bed?.teardown();
    kubeconfig?.remove();
    agent?.remove();
  });

  it('records one Warning Event LANAddressConflict on the pod, naming the MAC that claims its address', async () => {
    const ns = await bed.podNs(1);
    await cniOk(bed, 'node1', {
      plugin: 'ptp',
      command: 'ADD',
      config: netConf('ptp', ourIpam(agent.socket), { extra: { ipMasq: false } }),
      containerId: `${bed.prefix}hass`,
      netns: ns,
      ifname: 'eth0',
      args: { K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: 'hass', IgnoreUnknown: '1' },
    });
    const address = (await podAddress(bed, ns))!.local;
    const devMac = await macOf(bed, 'dev1', 'eth0');
    // Twice: the second claim, within a minute, must not make a second Event.
    for (let i = 0; i < 2; i++)
      await bed.exec('dev1', ['arping', '-U', '-S', address, '-c', '1', '-w', '1', '-i', 'eth0', address], {
        check: false,
      });
    let events: CoreV1Event[] = [];
    const deadline = Date.now() + 8000;
    while (Date.now() < deadline) {
      events = (await fake.api.events()).filter((e) => e.reason === 'LANAddressConflict');
      if (events.length) break;
      await sleep(100);
    }
    await sleep(500);
    events = (await fake.api.events()).filter((e) => e.reason === 'LANAddressConflict');
    assert.equal(events.length, 1, JSON.stringify(events, null, 2));
    const [e] = events;
    assert.equal(e.type, 'Warning');
    assert.deepEqual(
      [e.involvedObject.kind, e.involvedObject.namespace, e.involvedObject.name],
      ['Pod', 'home', 'hass'],
    );
    assert.match(
      e.message ?? '',
      new RegExp(`another host \\(${devMac}\\) claims ${address.replace(/\./g, '\\.')}`),
    );
  });
});
