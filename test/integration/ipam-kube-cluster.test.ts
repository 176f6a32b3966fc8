/**
 * `ipam.store: kubernetes` across a cluster (issue 11): three real agent processes, each in its own
 * node namespace, share one pool through the fake API server (a process in node1's namespace,
 * listening on node1's LAN address, as a control plane on the LAN). The test plays the container
 * runtime: it sends CNI ADD/DEL to each agent's IPAM socket directly (thousands of calls; forking the
 * shim for each would measure fork) and part of them through the real lan-reflector-ipam shim.
 *
 * The judge is the test's own ledger of live attachments, built from the agents' replies only: an
 * address is live from the ADD reply that gave it until the DEL for it is sent. An ADD reply naming
 * an address that is live elsewhere is a duplicate, and fails the test.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { cniOk, netConf, ourIpam, SHIM } from '../support/cni.js';
import { FakeApiProcess } from '../support/fake-api-client.js';
import { ALLOCATIONS_RESOURCE, BLOCKS_RESOURCE, ipamCrds } from '../support/ipam-crds.js';
import { startIpamAgent, type IpamAgent } from '../support/ipam-agent.js';
import { cniOverSocket } from '../support/ipam-socket.js';
import { writeKubeconfig, type KubeconfigFile } from '../support/kubeconfig.js';
import { CLI } from '../support/agent.js';
import { calicoBed, nodeAddress, run, type CalicoBed } from '../support/netns.js';
import { toInt } from '../../src/ipam/address-math.js';
import { describeAsRoot } from '../support/root.js';

const NODES = 3;
const WORKERS = 6; // per node, each its own pod
const HOLD = 7; // live attachments a worker keeps at most: 42 per node, more than one /27 block
/** 10,000 ADD+DEL calls in all by default (issue 11: "counted over at least 10,000 operations"). */
const OPS = Number(process.env.STORM_OPS ?? 10_000);
const SHIM_OPS = 40; // per node, through the real shim
const LAN_ANNOTATION = 'lan-reflector.io/lan-address';

/** Resolves arrive() for everyone once `n` have arrived. */
function barrier(n: number): { arrive(): Promise<void> } {
  let count = 0;
  let open!: () => void;
  const all = new Promise<void>((r) => (open = r));
  return {
    arrive: () => {
      if (++count === n) open();
      return all;
    },
  };
}

interface Live {
  node: number;
  containerId: string;
}

describeAsRoot('IPAM across a cluster: several agents, one pool in the Kubernetes API', function () {
  this.timeout(900_000);
  let bed: CalicoBed;
  let fake: FakeApiProcess;
  let kubeconfig: KubeconfigFile;
  const agents: IpamAgent[] = [];
  /** address → holder, from replies only (see the header). */
  const live = new Map<string, Live>();
  const duplicates: string[] = [];
  let ops = 0;
  let shimOps = 0;
  let seq = 0;

  const ipamSection = {
    subnet: '198.18.4.0/23',
    ranges: ['198.18.5.0/24'],
    probe: false,
    blockSize: 27,
    store: { kind: 'kubernetes', gcGraceSeconds: 2, gcIntervalSeconds: 1 },
  };
  const config = (k: number) => netConf('ptp', ourIpam(agents[k - 1].socket));
  const startNode = async (k: number): Promise<IpamAgent> => {
    const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig.path, NODE_NAME: `node${k}` };
    delete env.KUBERNETES_SERVICE_HOST;
    return startIpamAgent(bed, `node${k}`, { ipam: ipamSection, args: ['--kubernetes'], env });
  };
  const makePod = async (k: number, name: string) => {
    const p = await fake.api.createPod({
      metadata: { namespace: 'storm', name, annotations: { [LAN_ANNOTATION]: 'true' } },
      spec: { nodeName: `node${k}`, containers: [{ name: 'c', image: 'i' }] },
    });
    return { namespace: 'storm', name, uid: p.metadata!.uid! };
  };
  const podArgs = (p: { namespace: string; name: string; uid: string }) => ({
    K8S_POD_NAMESPACE: p.namespace,
    K8S_POD_NAME: p.name,
    K8S_POD_UID: p.uid,
  });

  /** One ADD; records the address as live, or a duplicate. Returns the address, or undefined if refused. */
  const add = async (k: number, containerId: string, args: Record<string, string>, viaShim = false) => {
    let json: any;
    if (viaShim) {
      const r = await cniOk(bed, `node${k}`, {
        plugin: SHIM,
        command: 'ADD',
        config: config(k),
        containerId,
        netns: '/run/netns/none',
        ifname: 'eth0',
        args,
      });
      json = r.json;
      shimOps++;
    } else {
      const r = await cniOverSocket(agents[k - 1].socket, {
        command: 'ADD',
        containerId,
        args,
        config: config(k),
      });
      if (r.code !== 0) throw new Error(`ADD on node${k} failed: ${r.stdout}`);
      json = r.json;
    }
    ops++;
    const address = String(json.ips[0].address).split('/')[0];
    const holder = live.get(address);
    if (holder)
      duplicates.push(`${address}: node${holder.node}/${holder.containerId} and node${k}/${containerId}`);
    live.set(address, { node: k, containerId });
    return address;
  };
  const del = async (k: number, address: string, args: Record<string, string>, viaShim = false) => {
    const { containerId } = live.get(address)!;
    live.delete(address); // before the DEL is sent: from then on the agent may give it to another
    if (viaShim) {
      await cniOk(bed, `node${k}`, {
        plugin: SHIM,
        command: 'DEL',
        config: config(k),
        containerId,
        netns: '/run/netns/none',
        ifname: 'eth0',
        args,
      });
      shimOps++;
    } else {
      const r = await cniOverSocket(agents[k - 1].socket, {
        command: 'DEL',
        containerId,
        args,
        config: config(k),
      });
      if (r.code !== 0) throw new Error(`DEL on node${k} failed: ${r.stdout}`);
    }
    ops++;
  };
  const apiAllocations = async () =>
    (await fake.api.list(ALLOCATIONS_RESOURCE)) as Array<{
      spec: { address: string; node: string; containerId: string };
    }>;
  const apiBlocks = async () =>
    (await fake.api.list(BLOCKS_RESOURCE)) as Array<{ spec: { cidr: string; node: string } }>;

  before(async function () {
    bed = await calicoBed({ nodes: NODES, devices: 1, podsPerNode: 0, podAddressing: 'lan' });
    fake = await FakeApiProcess.start(bed, 'node1', nodeAddress(1));
    for (const crd of ipamCrds()) await fake.api.registerCrd(crd);
    kubeconfig = writeKubeconfig(fake.url);
    // Each node runs this DaemonSet's agent pod (it tolerates every taint): a node with pods is a node.
    for (let k = 1; k <= NODES; k++)
      await fake.api.createPod({
        metadata: { namespace: 'lan-reflector', name: `lan-reflector-node${k}` },
        spec: { nodeName: `node${k}`, containers: [{ name: 'agent', image: 'i' }] },
      });
    for (let k = 1; k <= NODES; k++) agents.push(await startNode(k));
  });
  after(async () => {
    for (const a of agents) await a?.stop().catch(() => {});
    await fake?.stop();
    kubeconfig?.remove();
    for (const a of agents) a?.remove();
    await bed?.teardown();
  });

  it(`never hands out an address twice over ${OPS} concurrent ADDs and DELs from ${NODES} nodes, GC running, pod watches late`, async () => {
    // The agents see new pods only 3 s late: their annotation lookups fall back to GET, and GC
    // (2 s grace) must not take a live pod for a gone one.
    await fake.api.delayWatch('pods', 3000);
    const t0 = performance.now();
    const worker = async (k: number, j: number, budget: number, viaShim: boolean) => {
      const pod = podArgs(await makePod(k, `w${k}-${j}`));
      const mine: string[] = [];
      let done = 0;
      // Every socket worker of a node first takes HOLD addresses and waits for the others: 42 live
      // at once on each node, more than one /27 block holds, so every node claims a second block.
      if (!viaShim) {
        for (; done < HOLD; done++) mine.push(await add(k, `n${k}w${j}c${++seq}`, pod));
        await filled[k - 1].arrive();
      }
      while (done < budget) {
        if (mine.length < HOLD && (mine.length === 0 || Math.random() < 0.55)) {
          mine.push(await add(k, `n${k}w${j}c${++seq}`, pod, viaShim));
        } else {
          const at = Math.floor(Math.random() * mine.length);
          await del(k, mine.splice(at, 1)[0], pod, viaShim);
        }
        done++;
      }
      return mine;
    };
    const perWorker = Math.ceil(OPS / (NODES * WORKERS));
    const filled = Array.from({ length: NODES }, () => barrier(WORKERS));
    const kept = await Promise.all(
      Array.from({ length: NODES }, (_, i) => i + 1).flatMap((k) => [
        ...Array.from({ length: WORKERS }, (_, j) => worker(k, j, perWorker, false)),
        worker(k, WORKERS, SHIM_OPS, true),
      ]),
    );
    const seconds = (performance.now() - t0) / 1000;
    await fake.api.delayWatch('pods', 0);
    console.log(
      `      ${ops} CNI calls (${shimOps} through the shim) in ${seconds.toFixed(1)} s, ${live.size} live`,
    );
    assert.deepEqual(duplicates, []);
    assert.ok(ops >= OPS, `${ops} operations`);
    assert.equal(kept.flat().length, live.size);

    // GC ran all along with a 2 s grace: every live attachment still has its allocation, and the
    // API holds nothing else.
    await sleep(4000);
    const inApi = await apiAllocations();
    assert.deepEqual(
      inApi.map((a) => `${a.spec.address} ${a.spec.node} ${a.spec.containerId}`).sort(),
      [...live].map(([address, l]) => `${address} node${l.node} ${l.containerId}`).sort(),
    );
    // Nodes held more than one /27 each at times: they claimed more blocks, never the same one.
    const blocks = await apiBlocks();
    assert.equal(new Set(blocks.map((b) => b.spec.cidr)).size, blocks.length);
    for (let k = 1; k <= NODES; k++)
      assert.ok(
        blocks.filter((b) => b.spec.node === `node${k}`).length >= 2,
        `node${k} claimed a second block`,
      );

    // `ipam list` on any node shows the cluster: every block with its node and counts, every allocation.
    const json = await run(CLI(['ipam', 'list', '--json', '--control-socket', agents[0].controlSocket]));
    const listed = JSON.parse(json.stdout) as {
      cluster: {
        blocks: Array<{ cidr: string; node: string; used: number; free: number }>;
        allocations: unknown[];
      };
    };
    const usedIn = (cidr: string) => {
      const first = toInt(cidr.split('/')[0]);
      return [...live.keys()].filter((a) => toInt(a) >= first && toInt(a) < first + 32).length;
    };
    // 198.18.5.255 is the /23's broadcast address: the last /27 has 31 usable addresses.
    const usable = (cidr: string) => (cidr === '198.18.5.224/27' ? 31 : 32);
    const byAddress = (x: { cidr: string }, y: { cidr: string }) =>
      toInt(x.cidr.split('/')[0]) - toInt(y.cidr.split('/')[0]);
    assert.deepEqual(
      listed.cluster.blocks.map((b) => `${b.cidr} ${b.node} used ${b.used} free ${b.free}`),
      blocks
        .map((b) => b.spec)
        .sort(byAddress)
        .map((b) => `${b.cidr} ${b.node} used ${usedIn(b.cidr)} free ${usable(b.cidr) - usedIn(b.cidr)}`),
    );
    assert.equal(listed.cluster.allocations.length, live.size);
    const text = (await run(CLI(['ipam', 'list', '--control-socket', agents[0].controlSocket]))).stdout;
    assert.match(text, /BLOCK +NODE +USED +HELD +FREE/);
    assert.match(text, new RegExp(`${live.size} addresses allocated across the cluster`));
  });

  it('collects every orphan of an agent killed mid-claim, and keeps every live address', async () => {
    // A burst of new pods on node2; the agent is killed while their ADDs are in flight.
    const pods = await Promise.all(Array.from({ length: 24 }, (_, i) => makePod(2, `burst-${i}`)));
    const before = new Set(live.keys());
    const burst = pods.map((p, i) =>
      add(2, `burst-c${i}`, podArgs(p)).then(
        (address) => ({ address }),
        () => ({ address: undefined }),
      ),
    );
    await sleep(40);
    await agents[1].kill9();
    const outcomes = await Promise.all(burst);
    const answered = outcomes.filter((o) => o.address).map((o) => o.address!);
    const orphansBefore = (await apiAllocations()).filter((a) =>
      a.spec.containerId.startsWith('burst-'),
    ).length;
    console.log(
      `      killed mid-burst: ${answered.length} of ${pods.length} ADDs answered, ${orphansBefore} burst allocations in the API`,
    );
    // The runtime never got an answer for the rest; those pods are deleted (their sandboxes never
    // started), and so, to be strict, are the answered ones: none of the burst is alive any more.
    for (const address of answered) live.delete(address);
    for (const p of pods) await fake.api.deletePod(p.namespace, p.name);
    agents[1] = await agents[1].restart();
    const deadline = Date.now() + 30_000;
    const want = [...live].map(([address, l]) => `${address} node${l.node} ${l.containerId}`).sort();
    let got: string[] = [];
    while (Date.now() < deadline) {
      got = (await apiAllocations())
        .map((a) => `${a.spec.address} ${a.spec.node} ${a.spec.containerId}`)
        .sort();
      if (JSON.stringify(got) === JSON.stringify(want)) break;
      await sleep(500);
    }
    assert.deepEqual(got, want, 'the burst’s allocations, answered or not, are collected; nothing else is');
    assert.deepEqual(
      [...before].filter((a) => !live.has(a)),
      [],
      'no live address was lost',
    );
    // And the restarted agent serves again, never a live address.
    const p = podArgs(await makePod(2, 'after-restart'));
    const address = await add(2, 'after-restart-c', p);
    assert.deepEqual(duplicates, []);
    await del(2, address, p);
  });

  it('returns the blocks of a node that left the cluster once its pods are gone', async () => {
    const node3 = (await apiBlocks()).filter((b) => b.spec.node === 'node3').map((b) => b.spec.cidr);
    assert.ok(node3.length > 0);
    await agents[2].stop();
    // Deleting a Node object makes the pod GC controller delete the pods bound to it.
    for (const p of (await fake.api.list('pods')) as Array<{
      metadata: { namespace: string; name: string };
      spec: { nodeName: string };
    }>)
      if (p.spec.nodeName === 'node3') await fake.api.deletePod(p.metadata.namespace, p.metadata.name);
    for (const [address, l] of live) if (l.node === 3) live.delete(address);
    const deadline = Date.now() + 30_000;
    let left: string[] = node3;
    while (Date.now() < deadline && left.length) {
      await sleep(500);
      left = (await apiBlocks()).filter((b) => b.spec.node === 'node3').map((b) => b.spec.cidr);
    }
    assert.deepEqual(left, [], 'node3’s blocks are returned');
    assert.equal((await apiAllocations()).filter((a) => a.spec.node === 'node3').length, 0);
    // The other nodes' live addresses are untouched.
    const inApi = new Set((await apiAllocations()).map((a) => a.spec.address));
    assert.deepEqual(
      [...live.keys()].filter((a) => !inApi.has(a)),
      [],
    );
  });
});
