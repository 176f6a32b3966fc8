/**
 * Experiment: the engine's own JS cost per LAN -> pod mDNS packet, without sockets (a counting
 * emitter stands in for the raw links), and what each stage adds. Feeds Reflector.handle the exact
 * IPv4 packets a raw socket on the LAN link would deliver (one unique bench record each).
 *
 *   node dist/bench/experiments/engine-micro.js [--pods 1] [--packets 300000]
 */
import { parseArgs } from 'node:util';
import dnsPacket from 'dns-packet';
import { EventBus } from '../../src/events/bus.js';
import { protocolTable } from '../../src/protocols/registry.js';
import { checkDns } from '../../src/protocols/dns-wire.js';
import { Counters } from '../../src/reflect/counters.js';
import { DedupeWindow } from '../../src/reflect/dedupe.js';
import { Reflector, type Emitter } from '../../src/reflect/engine.js';
import { TokenBuckets } from '../../src/reflect/token-buckets.js';
import { buildTopology, type PodAttachment } from '../../src/reflect/types.js';
import { buildIPv4, buildUdp, parseIPv4Udp } from '../../src/wire/ipv4.js';
import { loadTemplate, stamp } from '../load-packet.js';

const { values } = parseArgs({
  options: { pods: { type: 'string', default: '1' }, packets: { type: 'string', default: '300000' } },
});
const nPods = Number(values.pods);
const N = Number(values.packets);

const template = loadTemplate();
const packets: Buffer[] = [];
for (let i = 0; i < 4096; i++) {
  const payload = stamp(template, 1, i, process.hrtime.bigint());
  packets.push(buildIPv4('198.18.4.11', '224.0.0.251', 255, buildUdp(5353, 5353, payload)));
}

const attachments: PodAttachment[] = Array.from({ length: nPods }, (_, i) => ({
  pod: {
    key: `198.18.4.${101 + i}`,
    name: `n1p${i + 1}`,
    addresses: [`198.18.4.${101 + i}`],
    options: { protocols: ['mdns'], direction: 'both', services: [], broadcastPorts: [] },
  },
  link: `cali${i}`,
  port: `cali${i}`,
  reach: 'lan-subnet',
}));
let emitted = 0;
const emitter: Emitter = { send: () => (emitted++, true), mtu: () => 1500 };
const reflector = new Reflector(
  {
    protocols: protocolTable({ protocols: ['mdns'], broadcastPorts: [], multicastGroups: [] }),
    emitter,
    dedupe: new DedupeWindow(30),
    perSource: new TokenBuckets(0, 1),
    perPod: new TokenBuckets(0, 1),
    bus: new EventBus(),
    counters: new Counters(),
  },
  buildTopology('lan0', attachments),
);

function time(label: string, fn: (p: Buffer, i: number) => void): number {
  for (let i = 0; i < 50_000; i++) fn(packets[i & 4095], i); // warm up the JIT
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(packets[i & 4095], i);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  process.stdout.write(`${label.padEnd(58)} ${ns.toFixed(0).padStart(6)} ns/packet\n`);
  return ns;
}

// Packets repeat every 4096 calls, within the 30 ms dedupe window at this speed: give each call a
// unique segment by rewriting its sequence digits.
const seqAt = packets[0].indexOf(Buffer.from('q000000000')) + 1;
const unique = (p: Buffer, i: number): Buffer => {
  p.write(String(i % 1e9).padStart(9, '0'), seqAt, 'latin1');
  return p;
};
process.stdout.write(
  `engine cost per LAN -> ${nPods} pod(s) mDNS packet (${packets[0].length} bytes), Node ${process.version}\n`,
);
const whole = time('Reflector.handle (parse, decide, dedupe, check, emit)', (p, i) =>
  reflector.handle(unique(p, i), 'lan0'),
);
time('  parseIPv4Udp', (p) => void parseIPv4Udp(p));
time(
  '  DedupeWindow.key (two FNV-1a passes)',
  (p, i) => void DedupeWindow.key('198.18.4.11', unique(p, i).subarray(20)),
);
const dd = new DedupeWindow(30);
time(
  '  DedupeWindow key + isDuplicate',
  (p, i) => void dd.isDuplicate(DedupeWindow.key('198.18.4.11', unique(p, i).subarray(20)), Date.now()),
);
time(
  '  dns-packet decode (now only for tail and the node-mode rewrite)',
  (p) => void dnsPacket.decode(p.subarray(28)),
);
time('  checkDns (the structural check every mDNS packet gets)', (p) => void checkDns(p.subarray(28)));
time(
  '  buildIPv4 (copy + UDP checksum in JS)',
  (p) => void buildIPv4('198.18.4.11', '224.0.0.251', 255, p.subarray(20)),
);
time('  unique() helper itself', (p, i) => void unique(p, i));
process.stdout.write(
  `(emitted ${emitted} copies; the whole path is ${((whole * 1e5) / 1e9).toFixed(3)} s of CPU per 100k packets)\n`,
);
