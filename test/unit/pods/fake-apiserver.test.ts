// The fake API server is only worth having if the real client agrees with it: these check the parts
// the pod watch does not reach (the IPAM store will rely on them).
import assert from 'node:assert/strict';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, Watch, setHeaderOptions } from '@kubernetes/client-node';
import { FakeApiServer } from '../../support/fake-apiserver.js';
import { pod, waitFor } from './helpers.js';

// A namespaced custom resource of its own (the IPAM's are cluster-scoped: see test/unit/ipam/).
const block = {
  group: 'example.lan-reflector.io',
  version: 'v1alpha1',
  namespace: 'lan',
  plural: 'ipblocks',
};
const blockCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'ipblocks.example.lan-reflector.io' },
  spec: {
    group: 'example.lan-reflector.io',
    scope: 'Namespaced',
    names: { plural: 'ipblocks', kind: 'IPBlock' },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
};

describe('the fake API server, spoken to by the real client', () => {
  let api: FakeApiServer;
  beforeEach(async () => (api = await FakeApiServer.start()));
  afterEach(() => api.close());

  it('refuses a replace with a stale resourceVersion with 409 Conflict', async () => {
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    const created = api.createPod(pod('p'));
    api.updatePod('home', 'p', (p) => (p.metadata!.labels = { moved: 'on' }));
    await assert.rejects(core.replaceNamespacedPod({ namespace: 'home', name: 'p', body: created }), {
      code: 409,
    });
    const fresh = await core.readNamespacedPod({ namespace: 'home', name: 'p' });
    await core.replaceNamespacedPod({ namespace: 'home', name: 'p', body: fresh });
  });

  it('stores custom resources and guards merge patches on resourceVersion', async () => {
    api.registerCrd(blockCrd);
    const objs = api.kubeConfig().makeApiClient(CustomObjectsApi);
    const body = {
      apiVersion: 'example.lan-reflector.io/v1alpha1',
      kind: 'IPBlock',
      metadata: { name: 'node-a' },
      spec: { cidr: '192.168.2.192/26' },
    };
    const made = await objs.createNamespacedCustomObject({ ...block, body });
    await assert.rejects(objs.createNamespacedCustomObject({ ...block, body }), { code: 409 });
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const patched = await objs.patchNamespacedCustomObject(
      {
        ...block,
        name: 'node-a',
        body: { metadata: { resourceVersion: made.metadata.resourceVersion }, spec: { node: 'node-a' } },
      },
      merge,
    );
    assert.deepEqual(patched.spec, { cidr: '192.168.2.192/26', node: 'node-a' });
    const stale = { metadata: { resourceVersion: made.metadata.resourceVersion }, spec: { node: 'node-b' } };
    await assert.rejects(objs.patchNamespacedCustomObject({ ...block, name: 'node-a', body: stale }, merge), {
      code: 409,
    });
    const list = await objs.listNamespacedCustomObject({ ...block });
    assert.equal(list.items.length, 1);
    assert.equal(list.metadata.resourceVersion, patched.metadata.resourceVersion);
  });

  it('lists one namespace, honouring a metadata.name field selector', async () => {
    api.createPod(pod('a'));
    api.createPod(pod('b'));
    api.createPod(pod('a', { namespace: 'other' }));
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    const list = await core.listNamespacedPod({ namespace: 'home', fieldSelector: 'metadata.name=a' });
    assert.deepEqual(
      list.items.map((p) => `${p.metadata!.namespace}/${p.metadata!.name}`),
      ['home/a'],
    );
  });

  it('reports an object that leaves a watch’s selector as DELETED, and ends the watch at timeoutSeconds', async () => {
    api.createPod(pod('a', { node: 'node-a' }));
    const seen: string[] = [];
    let ended: unknown = 'not yet';
    await new Watch(api.kubeConfig()).watch(
      '/api/v1/pods',
      { fieldSelector: 'spec.nodeName=node-a', resourceVersion: '1', timeoutSeconds: 1 },
      (type, obj) => seen.push(`${type} ${obj.metadata.name}`),
      (err) => (ended = err),
    );
    api.updatePod('home', 'a', (p) => (p.spec!.nodeName = 'node-b')); // not allowed by a real server, fine here
    await waitFor('the watch ends', () => ended !== 'not yet', 3000);
    assert.deepEqual(seen, ['ADDED a', 'DELETED a']);
    assert.equal(ended, null);
  });
});
