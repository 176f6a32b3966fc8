// The fake API server's custom resources and injected faults, spoken to by the real client-node: the
// Kubernetes store's tests are only as honest as these behaviours (409 AlreadyExists on a create of a
// taken name, 409 Conflict on a stale replace, pruning and validation by the CRD's schema, 404 before
// the CRD exists, dropped connections, late watches).
import assert from 'node:assert/strict';
import { CustomObjectsApi, Watch } from '@kubernetes/client-node';
import { FakeApiServer } from '../../support/fake-apiserver.js';
import { ALLOCATIONS_RESOURCE, ipamCrds } from '../../support/ipam-crds.js';

const G = { group: 'ipam.lan-reflector.io', version: 'v1alpha1' };
const alloc = (address: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'ipam.lan-reflector.io/v1alpha1',
  kind: 'IPAllocation',
  metadata: { name: address, labels: { 'ipam.lan-reflector.io/node': 'node-a' } },
  spec: {
    address,
    node: 'node-a',
    network: 'lan',
    containerId: 'c1',
    ifname: 'eth0',
    since: '2026-12-01T09:00:00.000Z',
    source: 'pool',
    ...extra,
  },
});

describe('the fake API server’s custom resources, spoken to by the real client', () => {
  let api: FakeApiServer;
  let objs: CustomObjectsApi;
  beforeEach(async () => {
    api = await FakeApiServer.start();
    objs = api.kubeConfig().makeApiClient(CustomObjectsApi);
  });
  afterEach(() => api.close());

  it('answers 404 for a custom resource until its CRD is registered', async () => {
    await assert.rejects(objs.listClusterCustomObject({ ...G, plural: 'ipallocations' }), { code: 404 });
    for (const crd of ipamCrds()) api.registerCrd(crd);
    const list = await objs.listClusterCustomObject({ ...G, plural: 'ipallocations' });
    assert.deepEqual(list.items, []);
    assert.equal(list.kind, 'IPAllocationList');
    assert.equal(list.apiVersion, 'ipam.lan-reflector.io/v1alpha1');
  });

  it('registers a CRD POSTed to apiextensions.k8s.io, as kubectl apply does', async () => {
    const ext = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions' };
    for (const crd of ipamCrds()) await objs.createClusterCustomObject({ ...ext, body: crd });
    await objs.createClusterCustomObject({ ...G, plural: 'ipallocations', body: alloc('198.18.5.7') });
  });

  describe('once the IPAM CRDs are registered', () => {
    beforeEach(() => ipamCrds().forEach((c) => api.registerCrd(c)));

    it('refuses a second create of one name with 409 AlreadyExists, and a stale replace with 409 Conflict', async () => {
      const made = await objs.createClusterCustomObject({
        ...G,
        plural: 'ipallocations',
        body: alloc('198.18.5.7'),
      });
      await assert.rejects(
        objs.createClusterCustomObject({ ...G, plural: 'ipallocations', body: alloc('198.18.5.7') }),
        (e: any) => e.code === 409 && JSON.parse(e.body).reason === 'AlreadyExists',
      );
      const moved = { ...made, spec: { ...made.spec, containerId: 'c2' } };
      await objs.replaceClusterCustomObject({
        ...G,
        plural: 'ipallocations',
        name: '198.18.5.7',
        body: moved,
      });
      await assert.rejects(
        objs.replaceClusterCustomObject({ ...G, plural: 'ipallocations', name: '198.18.5.7', body: made }),
        (e: any) => e.code === 409 && JSON.parse(e.body).reason === 'Conflict',
      );
      const body = { preconditions: { resourceVersion: made.metadata.resourceVersion } };
      await assert.rejects(
        objs.deleteClusterCustomObject({ ...G, plural: 'ipallocations', name: '198.18.5.7', body }),
        { code: 409 },
        'a delete with a stale precondition is refused too',
      );
    });

    it('prunes fields the schema does not name and refuses values it forbids (422)', async () => {
      const made = await objs.createClusterCustomObject({
        ...G,
        plural: 'ipallocations',
        body: alloc('198.18.5.8', {
          colour: 'blue',
          pod: { namespace: 'home', name: 'ha', uid: 'u1', extra: 1 },
        }),
      });
      assert.equal(made.spec.colour, undefined);
      assert.deepEqual(made.spec.pod, { namespace: 'home', name: 'ha', uid: 'u1' });
      await assert.rejects(
        objs.createClusterCustomObject({
          ...G,
          plural: 'ipallocations',
          body: alloc('198.18.5.9', { source: 'guess' }),
        }),
        (e: any) => e.code === 422 && /spec\.source: Unsupported value/.test(JSON.parse(e.body).message),
      );
      const noOwner = alloc('198.18.5.10');
      delete (noOwner.spec as any).containerId;
      await assert.rejects(objs.createClusterCustomObject({ ...G, plural: 'ipallocations', body: noOwner }), {
        code: 422,
      });
      await assert.rejects(
        objs.createClusterCustomObject({
          ...G,
          plural: 'ipblocks',
          body: {
            apiVersion: 'ipam.lan-reflector.io/v1alpha1',
            kind: 'IPBlock',
            metadata: { name: '198.18.5.0/26' },
            spec: { cidr: '198.18.5.0/26', node: 'a', subnet: '198.18.4.0/23' },
          },
        }),
        { code: 422 },
        'a name with a slash is no RFC 1123 subdomain',
      );
    });

    it('serves cluster-scoped resources only at cluster paths', async () => {
      await assert.rejects(
        objs.listNamespacedCustomObject({ ...G, namespace: 'home', plural: 'ipallocations' }),
        { code: 404 },
      );
    });

    it('lists by label and watches custom resources with resourceVersions', async () => {
      api.create(ALLOCATIONS_RESOURCE, alloc('198.18.5.1'));
      const other = alloc('198.18.5.2');
      other.metadata.labels = { 'ipam.lan-reflector.io/node': 'node-b' };
      api.create(ALLOCATIONS_RESOURCE, other);
      const list = await objs.listClusterCustomObject({
        ...G,
        plural: 'ipallocations',
        labelSelector: 'ipam.lan-reflector.io/node=node-a',
      });
      assert.deepEqual(
        list.items.map((o: any) => o.metadata.name),
        ['198.18.5.1'],
      );
      const seen: string[] = [];
      const ctl = await new Watch(api.kubeConfig()).watch(
        '/apis/ipam.lan-reflector.io/v1alpha1/ipallocations',
        { resourceVersion: list.metadata.resourceVersion },
        (type, o) => seen.push(`${type} ${o.metadata.name}`),
        () => undefined,
      );
      api.remove(ALLOCATIONS_RESOURCE, '', '198.18.5.1');
      await waitFor(() => seen.length === 1);
      ctl.abort();
      assert.deepEqual(seen, ['DELETED 198.18.5.1']);
    });

    it('delivers watch events late when told to, while GET is current at once', async () => {
      api.delayWatch(ALLOCATIONS_RESOURCE, 400);
      const seen: number[] = [];
      const t0 = Date.now();
      const ctl = await new Watch(api.kubeConfig()).watch(
        '/apis/ipam.lan-reflector.io/v1alpha1/ipallocations',
        { resourceVersion: '1' },
        () => seen.push(Date.now() - t0),
        () => undefined,
      );
      api.create(ALLOCATIONS_RESOURCE, alloc('198.18.5.3'));
      await objs.getClusterCustomObject({ ...G, plural: 'ipallocations', name: '198.18.5.3' });
      assert.deepEqual(seen, [], 'not yet in the watch');
      await waitFor(() => seen.length === 1);
      ctl.abort();
      assert.ok(seen[0] >= 350, `arrived after ${seen[0]} ms`);
    });

    it('cuts a request before it takes effect, or after: the client cannot tell which', async () => {
      api.inject({ match: '^POST /apis/ipam', drop: 'before' });
      await assert.rejects(
        objs.createClusterCustomObject({ ...G, plural: 'ipallocations', body: alloc('198.18.5.4') }),
        (e: any) => e.code === undefined,
      );
      assert.equal(api.get(ALLOCATIONS_RESOURCE, '', '198.18.5.4'), undefined, 'cut before: not written');
      api.inject({ match: '^POST /apis/ipam', drop: 'after' });
      await assert.rejects(
        objs.createClusterCustomObject({ ...G, plural: 'ipallocations', body: alloc('198.18.5.4') }),
        (e: any) => e.code === undefined,
      );
      assert.ok(api.get(ALLOCATIONS_RESOURCE, '', '198.18.5.4'), 'cut after: written');
      api.inject({ match: '^GET /apis/ipam', status: 503, times: 2 });
      for (let i = 0; i < 2; i++)
        await assert.rejects(
          objs.getClusterCustomObject({ ...G, plural: 'ipallocations', name: '198.18.5.4' }),
          { code: 503 },
        );
      await objs.getClusterCustomObject({ ...G, plural: 'ipallocations', name: '198.18.5.4' });
    });
  });
});

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
