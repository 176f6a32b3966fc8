/**
 * Bench section `ipam-stores` (issue 11): CNI ADD latency of the IPAM with the file store and with
 * the Kubernetes store, side by side, the probe off (it is the same wait for both: ipam.probe.timeoutMs).
 * One real agent per store in a node namespace of a test bed; the Kubernetes one talks to the fake API
 * server (a process in the same namespace, over loopback HTTP, through the real client-node) — so
 * the row measures the store's own work and its API round trips, not a real etcd's fsync. ADDs go
 * to the agent's IPAM socket as the shim sends them (the shim's fork+exec is the runtime's cost,
 * the same for both).
 *
 * Two runs per store: sequential ADDs (one at a time, each a new container), then bursts of
 * concurrent ADDs (a node starting many pods at once). Each ADD is followed, after the run, by its DEL.
 */
import { netConf, ourIpam } from '../test/support/cni.js';
import { FakeApiProcess } from '../test/support/fake-api-client.js';
import { ipamCrds } from '../test/support/ipam-crds.js';
import { startIpamAgent, type IpamAgent } from '../test/support/ipam-agent.js';
import { cniOverSocket } from '../test/support/ipam-socket.js';
import { writeKubeconfig } from '../test/support/kubeconfig.js';
import { calicoBed } from '../test/support/netns.js';

export const IPAM_STORE_P99_TARGET_MS = 200;

export interface StoreLatency {
  store: 'file' | 'kubernetes';
  mode: string;
  adds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface IpamStoresResult {
  rows: StoreLatency[];
  notes: string[];
}

const POOL = { subnet: '198.18.4.0/23', ranges: ['198.18.5.0/24'], probe: false };

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function measure(
  agent: IpamAgent,
  store: StoreLatency['store'],
  opts: { sequential: number; bursts: number; burstSize: number },
  pod: (i: number) => Promise<Record<string, string>>,
): Promise<StoreLatency[]> {
  const config = netConf('ptp', ourIpam(agent.socket));
  let n = 0;
  const one = async (args: Record<string, string>, given: string[]): Promise<number> => {
    const containerId = `bench-${store}-${++n}`;
    const t = performance.now();
    const r = await cniOverSocket(agent.socket, { command: 'ADD', containerId, args, config });
    const ms = performance.now() - t;
    if (r.code !== 0) throw new Error(`${store} ADD failed: ${r.stdout}`);
    given.push(containerId);
    return ms;
  };
  const release = async (ids: string[], args: Record<string, string>) => {
    for (const containerId of ids)
      await cniOverSocket(agent.socket, { command: 'DEL', containerId, args, config });
  };
  const rows: StoreLatency[] = [];
  const row = (mode: string, ms: number[]): StoreLatency => {
    const s = [...ms].sort((a, b) => a - b);
    const r = (x: number) => Math.round(x * 100) / 100;
    return { store, mode, adds: s.length, p50Ms: r(pct(s, 50)), p99Ms: r(pct(s, 99)), maxMs: r(s.at(-1)!) };
  };
  const args = await pod(0);
  // Warm-up: the first ADD pays for a block claim (kube) or the directory's first write (file).
  const warm: string[] = [];
  await one(args, warm);
  await release(warm, args);
  const seq: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < opts.sequential; i++) {
    seq.push(await one(args, ids));
    // Keep the node's live set small and steady (a /26 holds it): the steady state, not pool growth.
    if (ids.length >= 40) await release(ids.splice(0, 20), args);
  }
  await release(ids.splice(0), args);
  rows.push(row('sequential', seq));
  const burst: number[] = [];
  for (let b = 0; b < opts.bursts; b++) {
    const times = await Promise.all(Array.from({ length: opts.burstSize }, () => one(args, ids)));
    burst.push(...times);
    await release(ids.splice(0), args);
  }
  rows.push(row(`${opts.burstSize} concurrent`, burst));
  return rows;
}

export async function ipamStoresBench(o: {
  quick: boolean;
  say: (m: string) => void;
}): Promise<IpamStoresResult> {
  const plan = o.quick
    ? { sequential: 200, bursts: 3, burstSize: 20 }
    : { sequential: 1000, bursts: 10, burstSize: 20 };
  const bed = await calicoBed({ devices: 1, podsPerNode: 0, podAddressing: 'lan' });
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  try {
    const rows: StoreLatency[] = [];
    o.say(
      `ipam-stores: file store, ${plan.sequential} sequential ADDs and ${plan.bursts} bursts of ${plan.burstSize}`,
    );
    const file = await startIpamAgent(bed, 'node1', { ipam: POOL });
    cleanup.push(() => file.remove());
    rows.push(
      ...(await measure(file, 'file', plan, async () => ({ K8S_POD_NAMESPACE: 'bench', K8S_POD_NAME: 'p' }))),
    );
    await file.stop();

    o.say('ipam-stores: Kubernetes store (fake API server over loopback)');
    const fake = await FakeApiProcess.start(bed, 'node1');
    cleanup.push(() => fake.stop());
    for (const crd of ipamCrds()) await fake.api.registerCrd(crd);
    const kc = writeKubeconfig(fake.url);
    cleanup.push(() => kc.remove());
    await fake.api.createPod({
      metadata: { namespace: 'lan-reflector', name: 'agent-node1' },
      spec: { nodeName: 'node1', containers: [{ name: 'a', image: 'i' }] },
    });
    const p = await fake.api.createPod({
      metadata: { namespace: 'bench', name: 'p', annotations: { 'lan-reflector.io/lan-address': 'true' } },
      spec: { nodeName: 'node1', containers: [{ name: 'c', image: 'i' }] },
    });
    const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kc.path, NODE_NAME: 'node1' };
    delete env.KUBERNETES_SERVICE_HOST;
    const kube = await startIpamAgent(bed, 'node1', {
      ipam: { ...POOL, store: { kind: 'kubernetes' } },
      args: ['--kubernetes'],
      env,
    });
    cleanup.push(() => kube.remove());
    const args = { K8S_POD_NAMESPACE: 'bench', K8S_POD_NAME: 'p', K8S_POD_UID: p.metadata!.uid! };
    rows.push(...(await measure(kube, 'kubernetes', plan, async () => args)));
    await kube.stop();
    return {
      rows,
      notes: [
        "ADD latency at the agent's IPAM socket (what the shim sends and waits for), probe off; the shim's own fork+exec is not in it.",
        'Kubernetes store: the fake API server (test/support/fake-apiserver.ts) in the same node namespace over loopback HTTP, ' +
          "through @kubernetes/client-node: the store's work and round trips, not a real API server's etcd write (add its latency, typically a few ms).",
      ],
    };
  } finally {
    for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => {});
    await bed.teardown();
  }
}

export function ipamStoresTargets(
  r: IpamStoresResult,
): Array<{ target: string; measured: string; met: boolean | null; by: string }> {
  // The target is for an ADD (sequential); a burst's p99 is mostly queueing behind the other
  // 19 ADDs on the same cores, for either store, and is reported beside it without a target.
  return r.rows
    .filter((x) => x.store === 'kubernetes' && x.mode === 'sequential')
    .map((x) => ({
      target: `IPAM ADD with the Kubernetes store (${x.mode}, probe off): p99 < ${IPAM_STORE_P99_TARGET_MS} ms`,
      measured: `p99 ${x.p99Ms} ms (p50 ${x.p50Ms} ms, ${x.adds} ADDs)`,
      met: x.p99Ms < IPAM_STORE_P99_TARGET_MS,
      by:
        x.p99Ms < IPAM_STORE_P99_TARGET_MS
          ? ''
          : `${(x.p99Ms - IPAM_STORE_P99_TARGET_MS).toFixed(1)} ms over`,
    }));
}

export function ipamStoresMarkdown(r: IpamStoresResult): string {
  const lines = [
    '',
    '**IPAM stores**: CNI ADD latency, file store and Kubernetes store side by side (probe off)',
    '',
    '| store | ADDs | p50 | p99 | max |',
    '|---|---|---|---|---|',
    ...r.rows.map(
      (x) => `| ${x.store}, ${x.mode} | ${x.adds} | ${x.p50Ms} ms | ${x.p99Ms} ms | ${x.maxMs} ms |`,
    ),
    '',
    ...r.notes.map((n) => `- ${n}`),
    '',
  ];
  return lines.join('\n');
}
