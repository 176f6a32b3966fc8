// Shared set-up for the Kubernetes store's unit tests: the fake API server with the IPAM CRDs from
// manifests/crds/, stores for simulated nodes, and the pool walk the allocator does (scope, reserve,
// grow), kept to what the IpamStore contract says so the store is tested through its interface.
import { FakeApiServer } from '../../support/fake-apiserver.js';
import { ipamCrds } from '../../support/ipam-crds.js';
import { clientIpamApi } from '../../../src/ipam/store/kube-api.js';
import { KubeStore, type KubeStoreOptions } from '../../../src/ipam/store/kube-store.js';
import { toAddress, toInt } from '../../../src/ipam/address-math.js';
import type { Allocation } from '../../../src/ipam/types.js';
import { recordingLogger } from '../pods/helpers.js';

export const POOL = {
  subnet: { network: '198.18.4.0', prefix: 23 },
  subnetText: '198.18.4.0/23',
  ranges: [{ start: '198.18.5.0', end: '198.18.5.255' }],
  exclude: [] as Array<{ start: string; end: string }>,
};

export async function startFake(): Promise<FakeApiServer> {
  const fake = await FakeApiServer.start();
  for (const crd of ipamCrds()) fake.registerCrd(crd);
  return fake;
}

export function makeStore(
  fake: FakeApiServer,
  node: string,
  over: Partial<KubeStoreOptions> = {},
): KubeStore {
  return new KubeStore({
    api: clientIpamApi(fake.kubeConfig(), 800),
    node,
    pool: POOL,
    blockSize: 26,
    logger: recordingLogger().logger,
    retryMs: { initial: 50, max: 200 },
    resyncMs: 60_000,
    ...over,
  });
}

export function allocation(
  address: string,
  containerId: string,
  extra: Partial<Allocation> = {},
): Allocation {
  return {
    address,
    owner: { containerId, ifname: 'eth0' },
    network: 'lan',
    pod: { namespace: 'home', name: `pod-${containerId}`, uid: `uid-${containerId}` },
    since: new Date().toISOString(),
    source: 'pool',
    ...extra,
  };
}

/** What the allocator does for one ADD: walk scope() for a free address, reserve it; grow() when none is left. */
export async function assign(
  store: KubeStore,
  containerId: string,
  extra: Partial<Allocation> = {},
): Promise<string> {
  for (let round = 0; round < 20; round++) {
    const taken = new Set((await store.list()).map((a) => a.address));
    for (const r of await store.scope())
      for (let n = toInt(r.start); n <= toInt(r.end); n++) {
        const address = toAddress(n);
        if (!taken.has(address) && (await store.reserve(allocation(address, containerId, extra))))
          return address;
      }
    if (!(await store.grow())) throw new Error('pool exhausted');
  }
  throw new Error('no address after 20 rounds');
}

export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 5000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
