// `npm run demo` (as root): a LAN in network namespaces — a device publishing a service, a
// Calico-style pod that opted in, one that did not, and a node running the real agent — shows the
// pod discovering the device through the agent, then removes everything it made.
import { fileURLToPath } from 'node:url';
import { calicoBed, type CalicoBed } from '../test/support/netns.js';

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
  const kept = expectFrom && r.from === expectFrom ? " (the device's own source address, kept)" : '';
  return `found ${r.service} at ${r.address}:${r.port}, answer from ${r.from}${kept}`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    say('The demo creates network namespaces: run it as root (sudo npm run demo).');
    process.exit(1);
  }
  say('lan-reflector demo: building a LAN in network namespaces...');
  const bed = await calicoBed({ devices: 1, podsPerNode: 2, podAddressing: 'lan' });
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
  } finally {
    say('\nCleaning up the namespaces...');
    await bed.teardown();
    say('Done. Next: README "On Kubernetes", or `npx lan-reflector agent --help`.');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});
