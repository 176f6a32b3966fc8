import assert from 'node:assert/strict';
import { KubePodSource, type KubePodSourceOptions } from '../../../src/pods/kube/kube-source.js';
import { FakeApiServer } from '../../support/fake-apiserver.js';
import { DEFAULTS, RecordingSink, pod, recordingLogger, waitFor } from './helpers.js';

const on = { 'lan-reflector.io/enabled': 'true' };

describe('KubePodSource', function () {
  let api: FakeApiServer;
  let source: KubePodSource;
  let sink: RecordingSink;
  let lines: Array<Record<string, unknown>>;

  async function startSource(more: Partial<KubePodSourceOptions> = {}): Promise<void> {
    const rec = recordingLogger();
    lines = rec.lines;
    sink = new RecordingSink();
    source = new KubePodSource({
      kubeConfig: api.kubeConfig(),
      nodeName: 'node-a',
      podDefaults: DEFAULTS,
      logger: rec.logger,
      backoff: { initialMs: 10, maxMs: 40 },
      ...more,
    });
    await source.start(sink);
  }

  const logged = (message: string) => lines.filter((l) => l.message === message).length;

  beforeEach(async () => {
    api = await FakeApiServer.start();
  });
  afterEach(async () => {
    await source?.stop();
    await api.close();
  });

  it('upserts an annotated pod of this node once it has an IP, and is synced after the first list', async () => {
    api.createPod(pod('early', { annotations: on }));
    api.createPod(pod('ha', { annotations: on, ip: '' }));
    await startSource();
    assert.equal(source.synced, true);
    assert.deepEqual([...sink.pods.keys()], ['home/early']);
    api.updatePod('home', 'ha', (p) => {
      p.status = { phase: 'Running', podIP: '10.1.9.9', podIPs: [{ ip: '10.1.9.9' }] };
    });
    await waitFor('ha is upserted', () => sink.pods.has('home/ha'));
    assert.deepEqual(sink.pods.get('home/ha')!.addresses, ['10.1.9.9']);
  });

  it('never upserts a pod on another node', async () => {
    await startSource();
    api.createPod(pod('elsewhere', { annotations: on, node: 'node-b' }));
    api.createPod(pod('marker', { annotations: on }));
    await waitFor('marker is upserted', () => sink.pods.has('home/marker'));
    assert.deepEqual(sink.calls.length, 1);
    assert.ok(api.requests.some((r) => r.includes('fieldSelector=spec.nodeName%3Dnode-a')));
  });

  it('removes a pod whose annotation is removed, and one that is deleted', async () => {
    api.createPod(pod('a', { annotations: on }));
    api.createPod(pod('b', { annotations: on }));
    await startSource();
    api.updatePod('home', 'a', (p) => delete p.metadata!.annotations);
    api.deletePod('home', 'b');
    await waitFor('both are removed', () => sink.pods.size === 0);
    assert.deepEqual(sink.removes().sort(), ['home/a', 'home/b']);
  });

  it('upserts new options when the direction annotation changes, and nothing on status churn', async () => {
    api.createPod(pod('ha', { annotations: on }));
    await startSource();
    api.updatePod('home', 'ha', (p) => (p.metadata!.labels = { churn: '1' }));
    api.updatePod(
      'home',
      'ha',
      (p) => (p.metadata!.annotations!['lan-reflector.io/direction'] = 'lan-to-pod'),
    );
    await waitFor(
      'the new direction arrives',
      () => sink.pods.get('home/ha')?.options.direction === 'lan-to-pod',
    );
    assert.equal(sink.upserts('home/ha').length, 2);
  });

  it('records exactly one Warning event for a bad annotation and serves nothing', async () => {
    const bad = { ...on, 'lan-reflector.io/direction': 'lan2pod' };
    api.createPod(pod('typo', { annotations: bad }));
    await startSource();
    await waitFor('an event is posted', () => api.events().length > 0);
    // Status updates give the pod new resourceVersions; the same mistake is not reported again.
    api.updatePod('home', 'typo', (p) => (p.metadata!.labels = { ready: 'yes' }));
    api.createPod(pod('marker', { annotations: on }));
    await waitFor('marker is upserted', () => sink.pods.has('home/marker'));
    const events = api.events();
    assert.equal(events.length, 1);
    assert.equal(events[0].type, 'Warning');
    assert.equal(events[0].reason, 'InvalidAnnotation');
    assert.equal(events[0].involvedObject.name, 'typo');
    assert.equal(events[0].involvedObject.kind, 'Pod');
    assert.match(events[0].message!, /lan-reflector.io\/direction: "lan2pod" is not one of both/);
    assert.equal(sink.upserts('home/typo').length, 0);
    assert.equal(logged('pod has invalid annotations; not serving it'), 1);
  });

  it('records a new event when the mistake changes', async () => {
    api.createPod(pod('typo', { annotations: { ...on, 'lan-reflector.io/direction': 'lan2pod' } }));
    await startSource();
    await waitFor('an event is posted', () => api.events().length === 1);
    api.updatePod(
      'home',
      'typo',
      (p) => (p.metadata!.annotations!['lan-reflector.io/direction'] = 'pod2lan'),
    );
    await waitFor('a second event is posted', () => api.events().length === 2);
    assert.match(
      api
        .events()
        .map((e) => e.message)
        .join('\n'),
      /"pod2lan"/,
    );
  });

  it('withdraws a served pod whose annotation turns bad (fail closed)', async () => {
    api.createPod(pod('ha', { annotations: on }));
    await startSource();
    api.updatePod(
      'home',
      'ha',
      (p) => (p.metadata!.annotations!['lan-reflector.io/protocols'] = 'mdns,upnp'),
    );
    await waitFor('ha is removed', () => !sink.pods.has('home/ha'));
    await waitFor('an event is posted', () => api.events().length === 1);
  });

  it('keeps known pods through an API outage and picks up changes made meanwhile', async () => {
    api.createPod(pod('a', { annotations: on }));
    api.createPod(pod('b', { annotations: on }));
    await startSource();
    await api.pause();
    // Changes that happen while the agent cannot see them.
    api.updatePod(
      'home',
      'a',
      (p) => (p.metadata!.annotations!['lan-reflector.io/direction'] = 'pod-to-lan'),
    );
    api.createPod(pod('c', { annotations: on }));
    await waitFor('the loss is logged', () => logged('pod watch lost') === 1);
    await waitFor('a few retries fail', () => logged('pod watch still down') >= 3);
    assert.deepEqual(sink.removes(), [], 'an outage removes nothing');
    assert.equal(sink.pods.size, 2);
    await api.resume();
    await waitFor('the reconnect is logged', () => logged('pod watch reconnected') === 1);
    await waitFor('c arrives', () => sink.pods.has('home/c'));
    await waitFor(
      'a has its new direction',
      () => sink.pods.get('home/a')?.options.direction === 'pod-to-lan',
    );
    assert.deepEqual(sink.removes(), []);
    assert.equal(logged('pod watch lost'), 1);
  });

  it('resumes after a dropped watch connection without relisting', async () => {
    api.createPod(pod('a', { annotations: on }));
    await startSource();
    const lists = () =>
      api.requests.filter((r) => r.startsWith('GET /api/v1/pods?') && !r.includes('watch=')).length;
    assert.equal(lists(), 1);
    await waitFor('the watch is open', () => api.requests.some((r) => r.includes('watch=true')));
    api.dropWatches();
    api.createPod(pod('b', { annotations: on }));
    await waitFor('b arrives', () => sink.pods.has('home/b'));
    assert.equal(lists(), 1);
    assert.deepEqual(sink.removes(), []);
    assert.equal(logged('pod watch lost'), 0, 'a blip is not an outage');
  });

  it('relists after 410 Gone and removes pods deleted during the gap', async () => {
    api.createPod(pod('stays', { annotations: on }));
    api.createPod(pod('goes', { annotations: on }));
    await startSource();
    await api.pause();
    api.deletePod('home', 'goes');
    api.createPod(pod('new', { annotations: on }));
    api.compact(); // the history the watch would resume from is gone
    await waitFor('the loss is logged', () => logged('pod watch lost') === 1);
    await api.resume();
    await waitFor('goes is removed', () => !sink.pods.has('home/goes'));
    await waitFor('new arrives', () => sink.pods.has('home/new'));
    assert.deepEqual(sink.removes(), ['home/goes']);
    assert.equal(sink.upserts('home/stays').length, 1, 'the relist does not re-send unchanged pods');
    assert.ok(api.requests.filter((r) => r.includes('watch=true')).length >= 2);
  });

  it('resumes a dropped watch from the last bookmark, without listing again', async () => {
    await api.close();
    api = await FakeApiServer.start({ bookmarkIntervalMs: 0 });
    api.createPod(pod('a', { annotations: on }));
    await startSource();
    await waitFor('the watch asks for bookmarks', () =>
      api.requests.some((r) => r.includes('watch=true') && r.includes('allowWatchBookmarks=true')),
    );
    // Other nodes' pods move the resourceVersion without an event for this node's watch: only a
    // bookmark tells the client how far it has seen.
    let after = '';
    for (let i = 0; i < 3; i++)
      after = api.createPod(pod(`elsewhere${i}`, { annotations: on, node: 'node-b' })).metadata!
        .resourceVersion!;
    api.bookmark();
    await new Promise((r) => setTimeout(r, 100));
    const lists = api.requests.filter((r) => r.startsWith('GET') && !r.includes('watch=true')).length;
    const watches = api.requests.filter((r) => r.includes('watch=true')).length;
    api.dropWatches();
    await waitFor('a new watch', () => api.requests.filter((r) => r.includes('watch=true')).length > watches);
    const rewatch = api.requests.filter((r) => r.includes('watch=true')).at(-1)!;
    assert.match(rewatch, new RegExp(`resourceVersion=${after}(&|$)`), `resumed from ${rewatch}`);
    assert.equal(
      api.requests.filter((r) => r.startsWith('GET') && !r.includes('watch=true')).length,
      lists,
      'no relist',
    );
    assert.deepEqual(sink.removes(), []);
  });

  it('starts while the API server is down, backs off exponentially, and syncs once it is up', async () => {
    await api.pause();
    const delays: number[] = [];
    await startSource({
      backoff: { initialMs: 100, maxMs: 400 },
      delay: async (ms) => {
        delays.push(ms);
        await new Promise((r) => setTimeout(r, 1)); // the injected clock runs fast
      },
    });
    assert.equal(source.synced, false);
    await waitFor('five retries', () => delays.length >= 5);
    assert.deepEqual(delays.slice(0, 5), [100, 200, 400, 400, 400]);
    api.createPod(pod('a', { annotations: on }));
    await api.resume();
    await waitFor('a arrives', () => sink.pods.has('home/a'));
    assert.equal(source.synced, true);
    assert.equal(logged('pod watch lost'), 1);
  });

  it('stops watching on stop() and logs no loss for it', async () => {
    await startSource();
    await source.stop();
    api.createPod(pod('late', { annotations: on }));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sink.calls.length, 0);
    assert.equal(logged('pod watch lost'), 0);
  });
});
