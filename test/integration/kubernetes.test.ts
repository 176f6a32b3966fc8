/**
 * The agent with `--kubernetes`, end to end: the real agent process in a node namespace finds its API
 * server through KUBECONFIG and NODE_NAME, as outside a cluster, and watches the fake API server
 * (test/support/fake-apiserver.ts, run as a process inside the same node namespace) with the real
 * @kubernetes/client-node. Whether a pod is served is judged the way a user would: python3-zeroconf in
 * the pod's namespace does or does not discover a service that a LAN device publishes.
 */
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { FakeApiProcess } from '../support/fake-api-client.js';
import type { KubeObject } from '../support/fake-apiserver.js';
import { startAgent } from '../support/agent.js';
import { writeKubeconfig, type KubeconfigFile } from '../support/kubeconfig.js';
import { calicoBed, type CalicoBed, type Pod, type Proc } from '../support/netns.js';
import { browse, publish, type Published, type Resolved } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';

const NAMESPACE = 'home';
const ENABLED = 'lan-reflector.io/enabled';
const DIRECTION = 'lan-reflector.io/direction';
const SERVICE_NAME = 'Living Room Speaker';
/** A browse that should find the device stops at the first service; one that should not runs this long. */
const FOUND_WITHIN_S = 10;
const NOTHING_FOR_S = 3;
/** How long the API server stays down in the outage tests. */
const OUTAGE_MS = 4000;

// ---------------------------------------------------------------------------------------------------
// The agent, started as the DaemonSet would start it outside a cluster: --kubernetes, NODE_NAME, KUBECONFIG
// ---------------------------------------------------------------------------------------------------

type LogLine = Record<string, unknown> & { message: string; timestamp: string };

class KubeAgent {
  constructor(readonly proc: Proc) {}

  static async start(
    bed: CalicoBed,
    node: string,
    kubeconfig: string,
    args: string[] = [],
  ): Promise<KubeAgent> {
    const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig, NODE_NAME: node };
    delete env.KUBERNETES_SERVICE_HOST; // in-cluster config would win over KUBECONFIG
    const agent = await startAgent(bed, node, { args: ['--kubernetes', ...args], env });
    return new KubeAgent(agent.proc);
  }

  log(): LogLine[] {
    return this.proc
      .lines('stderr')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
  }

  /** Where the log ends now: pass it to next() to wait only for lines written after this point. */
  mark(): number {
    return this.log().length;
  }

  /** The first log line after `since` for which `match` holds. */
  async next(
    since: number,
    match: (l: LogLine) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.log().slice(since).find(match);
      if (hit) return hit;
      if (this.proc.status) throw new Error(`agent exited waiting for ${what}:\n${this.proc.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`no ${what} in the agent's log within ${timeoutMs} ms:\n${this.proc.stderr}`);
      await sleep(20);
    }
  }

  stop(): Promise<unknown> {
    return this.proc.stop();
  }
}

const about = (message: string, pod?: string) => (l: LogLine) =>
  l.message === message && (pod === undefined || l.pod === pod);

// ---------------------------------------------------------------------------------------------------
// Pods as the API server holds them
// ---------------------------------------------------------------------------------------------------

interface PodShape {
  node: string;
  /** Omitted: the pod is scheduled but has no address yet (Pending). */
  address?: string;
  annotations?: Record<string, string>;
}

function podObject(name: string, shape: PodShape): V1Pod {
  return {
    metadata: { name, namespace: NAMESPACE, labels: { app: name }, annotations: shape.annotations },
    spec: {
      nodeName: shape.node,
      containers: [{ name: 'app', image: 'ghcr.io/home-assistant/home-assistant' }],
    },
    status: shape.address
      ? { phase: 'Running', podIP: shape.address, podIPs: [{ ip: shape.address }] }
      : { phase: 'Pending' },
  };
}

/** The status the kubelet writes once the pod's sandbox has its address. */
const running = (address: string): KubeObject => ({
  status: { phase: 'Running', podIP: address, podIPs: [{ ip: address }] },
});

// ---------------------------------------------------------------------------------------------------

describeAsRoot('the agent with --kubernetes, against a list/watch API server', function () {
  this.timeout(60_000);
  let bed: CalicoBed;
  let fake: FakeApiProcess;
  let kubeconfig: KubeconfigFile;
  let device: Published;
  let deviceAddress: string;

  /** What python3-zeroconf in the pod's namespace discovers. */
  const discover = (pod: Pod, expectFound: boolean): Promise<Resolved[]> =>
    browse(bed, pod.ns, {
      address: pod.address,
      ...(expectFound ? { count: 1, timeoutS: FOUND_WITHIN_S } : { timeoutS: NOTHING_FOR_S }),
    });

  async function assertServed(pod: Pod): Promise<void> {
    const found = await discover(pod, true);
    assert.equal(found.length, 1, `${pod.short} did not discover the device's service`);
    assert.equal(found[0].name, device.name);
    assert.deepEqual(found[0].addresses, [deviceAddress]);
  }

  async function assertNotServed(pod: Pod): Promise<void> {
    const found = await discover(pod, false);
    assert.deepEqual(
      found.map((f) => f.name),
      [],
      `${pod.short} discovered the device's service, so the agent relays for it`,
    );
  }

  before(async function () {
    // One node, three LAN-addressed Calico pods (198.18.4.101-103), one device (198.18.4.11).
    bed = await calicoBed({ devices: 1, podsPerNode: 3, podAddressing: 'lan' });
    fake = await FakeApiProcess.start(bed, 'node1');
    kubeconfig = writeKubeconfig(fake.url);
    deviceAddress = bed.devices[0].address;
    device = await publish(bed, bed.devices[0].ns, {
      name: SERVICE_NAME,
      port: 1400,
      address: deviceAddress,
    });
  });

  after(async function () {
    await device?.stop().catch(() => undefined);
    await fake?.stop().catch(() => undefined);
    kubeconfig?.remove();
    await bed?.teardown();
  });

  it('answers /readyz with 503 until the pod watch has synced, then 200', async function () {
    const metrics = '127.0.0.1:9412';
    const get = async (path: string) => {
      const argv = ['curl', '-s', '-m', '2', '-w', '\n%{http_code}', `http://${metrics}${path}`];
      const { stdout } = await bed.exec('node1', argv, { check: false });
      const lines = stdout.split('\n');
      return { code: Number(lines.pop()), body: lines.join('\n') };
    };
    await fake.api.pause(); // the API server is down while the agent starts
    const agent = await KubeAgent.start(bed, 'node1', kubeconfig.path, ['--metrics-address', metrics]);
    try {
      assert.equal((await get('/healthz')).code, 200);
      const before = await get('/readyz');
      assert.equal(before.code, 503, before.body);
      assert.match(before.body, /pod sources to sync/);
      await agent.next(0, about('pod watch lost'), '"pod watch lost"');
      await sleep(1000); // retries keep failing: still not ready
      assert.equal((await get('/readyz')).code, 503);

      const resumedAt = Date.now();
      await fake.api.resume();
      let after = await get('/readyz');
      while (after.code !== 200 && Date.now() - resumedAt < 15_000) {
        await sleep(100);
        after = await get('/readyz');
      }
      assert.equal(after.code, 200, after.body);
      console.log(`      /readyz turned 200 ${Date.now() - resumedAt} ms after the API server came back`);
      const requests = await fake.api.requests();
      assert.ok(requests.some((r) => r.startsWith('GET /api/v1/pods?') && !r.includes('watch=true')));
    } finally {
      await agent.stop();
      await fake.api.resume().catch(() => undefined); // already listening unless an assertion failed early
    }
  });

  describe('one agent on node1, pods opting in and out', function () {
    let agent: KubeAgent;
    let p1: Pod, p2: Pod, p3: Pod;

    before(async function () {
      [p1, p2, p3] = bed.nodes[0].pods;
      agent = await KubeAgent.start(bed, 'node1', kubeconfig.path);
    });
    after(async () => agent?.stop());

    it('serves an annotated pod of this node once it has an address, well within a second', async function () {
      const since = agent.mark();
      await fake.api.createPod(podObject('assistant', { node: 'node1', annotations: { [ENABLED]: 'true' } }));
      await sleep(300); // scheduled, annotated, but no address yet: nothing to serve
      assert.equal(agent.log().slice(since).filter(about('pod link found')).length, 0);

      const addressedAt = Date.now();
      await fake.api.patchPod(NAMESPACE, 'assistant', running(p1.address));
      const found = await agent.next(
        since,
        about('pod link found', `${NAMESPACE}/assistant`),
        '"pod link found"',
      );
      const latency = Date.parse(found.timestamp) - addressedAt;
      console.log(`      "pod link found" ${latency} ms after the pod got its address`);
      assert.equal(found.link, p1.hostIf);
      assert.ok(latency < 1000, `the pod link was found only after ${latency} ms`);
      await assertServed(p1);
    });

    it('stops serving the pod when its annotation is removed', async function () {
      const since = agent.mark();
      await fake.api.patchPod(NAMESPACE, 'assistant', { metadata: { annotations: { [ENABLED]: null } } });
      await agent.next(since, about('pod opted out', `${NAMESPACE}/assistant`), '"pod opted out"');
      await agent.next(since, (l) => l.message === 'link closed' && l.link === p1.hostIf, 'its link closed');
      await assertNotServed(p1);
    });

    it('serves the pod again after it is deleted, restarted on a new veth and created again', async function () {
      // Opted in again first, so that the delete is a change the agent has to act on.
      let since = agent.mark();
      await fake.api.patchPod(NAMESPACE, 'assistant', { metadata: { annotations: { [ENABLED]: 'true' } } });
      await agent.next(since, about('pod link found', `${NAMESPACE}/assistant`), '"pod link found"');

      since = agent.mark();
      await fake.api.deletePod(NAMESPACE, 'assistant');
      await agent.next(since, about('pod opted out', `${NAMESPACE}/assistant`), '"pod opted out"');
      const oldLink = p1.hostIf;
      await bed.restartPod(1, 1);
      assert.notEqual(p1.hostIf, oldLink);

      since = agent.mark();
      const createdAt = Date.now();
      await fake.api.createPod(
        podObject('assistant', { node: 'node1', address: p1.address, annotations: { [ENABLED]: 'true' } }),
      );
      const found = await agent.next(
        since,
        about('pod link found', `${NAMESPACE}/assistant`),
        '"pod link found"',
      );
      console.log(
        `      "pod link found" ${Date.parse(found.timestamp) - createdAt} ms after the pod was created`,
      );
      assert.equal(found.link, p1.hostIf, 'the agent attached the pod to its old link');
      await assertServed(p1);
    });

    it('follows a served pod to the new veth its sandbox gets, with no change to the pod object', async function () {
      const since = agent.mark();
      const oldLink = p1.hostIf;
      const restartedAt = Date.now();
      await bed.restartPod(1, 1);
      assert.notEqual(p1.hostIf, oldLink);
      const found = await agent.next(
        since,
        (l) => l.message === 'pod link found' && l.link === p1.hostIf,
        '"pod link found" on the new veth',
      );
      console.log(
        `      new veth found ${Date.parse(found.timestamp) - restartedAt} ms after the restart began`,
      );
      await assertServed(p1);
    });

    it('never serves an annotated pod scheduled on another node, even one whose address routes here', async function () {
      const since = agent.mark();
      await fake.api.createPod(
        podObject('elsewhere', { node: 'node2', address: p2.address, annotations: { [ENABLED]: 'true' } }),
      );
      await assertNotServed(p2);
      const mentions = agent
        .log()
        .slice(since)
        .filter((l) => l.pod === `${NAMESPACE}/elsewhere`);
      assert.deepEqual(mentions, []);
      // The agent asked only for node1's pods, on every list and watch.
      const podRequests = (await fake.api.requests()).filter((r) => r.startsWith('GET /api/v1/pods'));
      assert.ok(podRequests.length >= 2);
      for (const r of podRequests) assert.match(r, /[?&]fieldSelector=spec\.nodeName%3Dnode1(&|$)/, r);
    });

    it('does not serve a pod with a bad annotation, and records exactly one Warning Event on it', async function () {
      let since = agent.mark();
      const annotations = { [ENABLED]: 'true', [DIRECTION]: 'lan2pod' };
      const created = await fake.api.createPod(
        podObject('typo', { node: 'node1', address: p3.address, annotations }),
      );
      const warned = await agent.next(
        since,
        about('pod has invalid annotations; not serving it', `${NAMESPACE}/typo`),
        'the warning',
      );
      assert.match(JSON.stringify(warned.errors), /lan2pod/);
      await assertNotServed(p3);

      // Status churn on the same mistake must not repeat the event; the fix below is the barrier that
      // proves the agent saw the churn before we count.
      await fake.api.patchPod(NAMESPACE, 'typo', { metadata: { labels: { restarted: '1' } } });
      since = agent.mark();
      await fake.api.patchPod(NAMESPACE, 'typo', { metadata: { annotations: { [DIRECTION]: 'both' } } });
      await agent.next(since, about('pod link found', `${NAMESPACE}/typo`), 'the fixed pod served');

      const events: CoreV1Event[] = await fake.api.events();
      assert.equal(events.length, 1, JSON.stringify(events, null, 2));
      const [event] = events;
      assert.equal(event.type, 'Warning');
      assert.equal(event.reason, 'InvalidAnnotation');
      assert.equal(event.metadata.namespace, NAMESPACE);
      assert.deepEqual(
        [
          event.involvedObject.kind,
          event.involvedObject.namespace,
          event.involvedObject.name,
          event.involvedObject.uid,
        ],
        ['Pod', NAMESPACE, 'typo', created.metadata!.uid],
      );
      assert.match(
        event.message ?? '',
        /lan-reflector\.io\/direction: "lan2pod" is not one of both, lan-to-pod, pod-to-lan/,
      );
      assert.equal(event.source?.host, 'node1');
      await assertServed(p3); // served as soon as the annotation is fixed
    });

    it('keeps relaying for a known pod while the API server is down, and catches up when it is back', async function () {
      this.timeout(90_000);
      let since = agent.mark();
      const pausedAt = Date.now();
      await fake.api.pause();
      await agent.next(since, about('pod watch lost'), '"pod watch lost"');
      // Meanwhile the pod opts out; the agent cannot know yet and keeps the pod it knows.
      await fake.api.patchPod(NAMESPACE, 'assistant', { metadata: { annotations: { [ENABLED]: null } } });
      await sleep(OUTAGE_MS - (Date.now() - pausedAt)); // down long enough for several failed retries
      await assertServed(p1);
      assert.equal(agent.log().slice(since).filter(about('pod opted out')).length, 0);
      assert.ok(agent.log().slice(since).filter(about('pod watch reconnected')).length === 0);

      since = agent.mark();
      const resumedAt = Date.now();
      await fake.api.resume();
      const out = await agent.next(
        since,
        about('pod opted out', `${NAMESPACE}/assistant`),
        '"pod opted out"',
        45_000,
      );
      await agent.next(since, about('pod watch reconnected'), '"pod watch reconnected"');
      console.log(
        `      after ${resumedAt - pausedAt} ms down, the change made meanwhile was applied ${Date.parse(out.timestamp) - resumedAt} ms after the API server came back`,
      );
      await agent.next(since, (l) => l.message === 'link closed' && l.link === p1.hostIf, 'its link closed');
    });

    it('relists after an outage that outlived the watch history, dropping a pod deleted meanwhile', async function () {
      this.timeout(90_000);
      let since = agent.mark();
      const pausedAt = Date.now();
      await fake.api.pause();
      await agent.next(since, about('pod watch lost'), '"pod watch lost"');
      await fake.api.deletePod(NAMESPACE, 'typo');
      await fake.api.compact(); // the resourceVersion the agent resumes from is gone: 410
      await sleep(OUTAGE_MS - (Date.now() - pausedAt));
      const isList = (r: string) => r.startsWith('GET /api/v1/pods?') && !r.includes('watch=true');
      const listsBefore = (await fake.api.requests()).filter(isList).length;
      since = agent.mark();
      await fake.api.resume();
      await agent.next(since, about('pod opted out', `${NAMESPACE}/typo`), '"pod opted out"', 45_000);
      const lists = (await fake.api.requests()).filter(isList).length;
      assert.equal(lists, listsBefore + 1, 'the agent did not list again after 410 Gone');
      await assertNotServed(p3);
    });
  });
});
