// `npm run demo` (as root): a LAN in network namespaces — a device publishing a service, a
// Calico-style pod that opted in, one that did not, and a node running the real agent — shows the
// pod discovering the device through the agent; then the agent's IPAM gives a new pod a LAN
// address through the real ptp plugin, and the device finds the pod's service and reaches it at
// that address. Removes everything it made.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { cniOk, netConf, ourIpam, podAddress } from '../test/support/cni.js';
import { calicoBed, macOf, neighbourMac, type CalicoBed } from '../test/support/netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const node = process.execPath;
const say = (s = '') => process.stdout.write(s + '\n');

async function browse(bed: CalicoBed, ns: string, address: string): Promise<string> {
  const p = bed.spawn(ns, [node, `${root}/dist/demo/mdns-browse.js`, address, '3000']);
  await p.exited;
  return p.stdout.trim();
}

function show(result: string, expectFrom?: string): string {
  if (result === 'none' || result === '') return 'no answer';
  const r = JSON.parse(result) as { service: string; address: string; port: number; from: string };
  const kept = expectFrom && r.from === expectFrom ? ' (its own source address, kept)' : '';
  return `found ${r.service} at ${r.address}:${r.port}, answer from ${r.from}${kept}`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    say('The demo creates network namespaces: run it as root (sudo npm run demo).');
    process.exit(1);
  }
  say('lan-reflector demo: building a LAN in network namespaces...');
  const bed = await calicoBed({ devices: 1, podsPerNode: 2, podAddressing: 'lan' });
  const dir = mkdtempSync(join(tmpdir(), 'lr-demo-'));
  try {
    const dev = bed.devices[0];
    const n = bed.nodes[0];
    const [pod, other] = n.pods;
    say(`  device ${dev.address} (${dev.ns}) publishes "Living Room Speaker._demo._tcp.local"`);
    say(`  node   ${n.address} (${n.ns}), LAN interface lan0`);
    say(`  pod    ${pod.address} (${pod.ns}), Calico-style /32 on ${pod.hostIf}, opted in`);
    say(`  pod    ${other.address} (${other.ns}), did not opt in`);
    const device = bed.spawn(dev.ns, [
      node,
      `${root}/dist/demo/mdns-device.js`,
      dev.address,
      'Living Room Speaker',
    ]);
    await device.waitForLine(/ready/, { timeoutMs: 5000 });

    say('\n1. Without the agent, the pod asks for _demo._tcp.local:');
    say(`   ${show(await browse(bed, pod.ns, pod.address))}`);

    // The namespaces share the host's /run: give the demo's agent a control socket of its own.
    const control = `/tmp/${bed.prefix}control.sock`;
    const args = ['agent', '--lan-interface', 'lan0', '--pod', pod.address, '--log-format', 'text'];
    args.push('--control-socket', control);
    say(`\n2. On the node: lan-reflector ${args.join(' ')}`);
    const agent = bed.spawn(n.ns, [node, `${root}/bin/lan-reflector.js`, ...args]);
    await agent.waitForLine(/link opened/, { timeoutMs: 10_000, stream: 'stderr' });
    say(`   the pod asks again: ${show(await browse(bed, pod.ns, pod.address), dev.address)}`);

    say('\n3. The pod that did not opt in asks:');
    say(`   ${show(await browse(bed, other.ns, other.address))}`);

    say("\nThe agent's log:");
    for (const line of agent.stderr.trim().split('\n')) say(`   ${line}`);
    await agent.stop();
    await device.stop(); // from here on the only _demo._tcp service is the pod's

    // Part 4 drives Debian's real ptp plugin, as a container runtime would.
    if (existsSync('/usr/lib/cni/ptp')) await lanAddresses(bed, dir);
    else
      say(
        '\n4. (LAN addresses for pods: skipped, it needs /usr/lib/cni/ptp: apt-get install containernetworking-plugins)',
      );
  } finally {
    say('\nCleaning up the namespaces...');
    await bed.teardown();
    rmSync(dir, { recursive: true, force: true });
    say('Done. Next: README "On Kubernetes", or `npx lan-reflector agent --help`.');
  }
}

/** Part 4: the IPAM gives a pod a LAN address; a device finds its service and reaches it there. */
async function lanAddresses(bed: CalicoBed, dir: string): Promise<void> {
  const dev = bed.devices[0];
  const n = bed.nodes[0];
  const socket = join(dir, 'ipam.sock');
  const config = join(dir, 'config.yaml');
  const ipam = {
    subnet: '198.18.4.0/24',
    ranges: ['198.18.4.150-198.18.4.199'],
    socket,
    store: join(dir, 'store'),
  };
  writeFileSync(config, stringify({ lanInterface: 'lan0', ipam }));
  say('\n4. LAN addresses for pods: the agent again, now with an ipam: section');
  say(
    `   (subnet ${ipam.subnet}, ranges ${ipam.ranges[0]}), and the real ptp plugin calling lan-reflector-ipam`,
  );
  const control = `/tmp/${bed.prefix}control2.sock`;
  const agent = bed.spawn(n.ns, [
    node,
    `${root}/bin/lan-reflector.js`,
    'agent',
    '--config',
    config,
    '--control-socket',
    control,
    '--log-format',
    'text',
  ]);
  await agent.waitForLine(/ipam listening/, { timeoutMs: 15_000, stream: 'stderr' });
  const pod = await bed.addNs('ha');
  const started = performance.now();
  await cniOk(bed, n.ns, {
    plugin: 'ptp',
    command: 'ADD',
    config: netConf('ptp', ourIpam(socket), { extra: { ipMasq: false } }),
    containerId: `${bed.prefix}ha`,
    netns: pod,
    ifname: 'eth0',
    args: { K8S_POD_NAMESPACE: 'home', K8S_POD_NAME: 'home-assistant' },
  });
  const a = await podAddress(bed, pod);
  const address = a!.local;
  say(
    `   ptp ADD (${(performance.now() - started).toFixed(0)} ms, the ARP probe included): the pod got ${address}/${a!.prefixlen}, broadcast ${a!.broadcast}`,
  );
  const proxy = (await bed.ip(n.ns, ['neigh', 'show', 'proxy', 'dev', 'lan0'])).stdout
    .trim()
    .split('\n')
    .find((l) => l.startsWith(`${address} `));
  say(
    `   the node answers ARP for it (the kernel, from a proxy entry the agent added): ip neigh show proxy -> ${proxy}`,
  );
  const http = bed.spawn(pod, [
    node,
    `${root}/dist/demo/tcp-hello.js`,
    'serve',
    address,
    '8080',
    'hello from Home Assistant, at its own LAN address',
  ]);
  const svc = bed.spawn(pod, [node, `${root}/dist/demo/mdns-device.js`, address, 'Home Assistant']);
  await Promise.all([http.waitForLine(/ready/), svc.waitForLine(/ready/)]);
  await agent.waitForLine(/pod link found/, { timeoutMs: 10_000, stream: 'stderr' });
  say('   the pod publishes "Home Assistant._demo._tcp.local"; the device asks for _demo._tcp.local:');
  say(`   ${show(await browse(bed, dev.ns, dev.address), address)}`);
  const get = bed.spawn(dev.ns, [node, `${root}/dist/demo/tcp-hello.js`, 'get', address, '8080']);
  await get.exited;
  say(`   the device connects to ${address}:8080 over TCP: "${get.stdout.trim()}"`);
  const mac = await neighbourMac(bed, dev.ns, address);
  const nodeMac = await macOf(bed, n.ns, 'lan0');
  say(
    `   the device's ARP entry for ${address}: ${mac}${mac === nodeMac ? " (the node's lan0, which forwards to the pod)" : ''}`,
  );
  await agent.stop();
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});
