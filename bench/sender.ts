/**
 * Bench sender (runs in the LAN device namespace): offers `--rate` mDNS responses per second for
 * `--seconds`, from port 5353 with IP TTL 255 as RFC 6762 wants, to 224.0.0.251 (or a unicast address
 * for the no-reflector baseline; or, with --port 8472 --bind-port 0, foreign UDP to the node; or
 * ff02::fb over IPv6, `--iface` then naming the interface, e.g. `eth0`, and `--src` the address to
 * send from). Prints one JSON line with what it really sent.
 *
 * Pacing is a timer/busy hybrid against an absolute schedule (packet k is due at t0 + k/rate): when
 * the next packet is more than `--spin-us` away the sender sleeps on a timer (~1 ms) and then sends
 * every packet that came due; closer than that it spins on setImmediate. The default spin threshold
 * keeps the sender off the CPU the system under test needs (two cores in all): above ~1k pps packets
 * leave in 1 ms bursts of rate/1000, which any socket buffer on the path absorbs.
 */
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';
import { MAX_SEQ, loadTemplate, stamp } from './load-packet.js';

const { values } = parseArgs({
  options: {
    dst: { type: 'string', default: '224.0.0.251' },
    // The foreign-UDP row: the same packets to a port no discovery protocol uses (VXLAN 8472).
    port: { type: 'string', default: '5353' },
    'bind-port': { type: 'string', default: '5353' },
    iface: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    step: { type: 'string', default: '0' },
    'spin-us': { type: 'string', default: '0' },
    src: { type: 'string' },
  },
});
const v6 = values.dst!.includes(':');
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const step = Number(values.step);
const spinNs = Number(values['spin-us']) * 1000;
const dstPort = Number(values.port);
const bindPort = Number(values['bind-port']);
if (!(rate > 0) || !(seconds > 0) || !(step >= 0 && step <= 999)) {
  process.stderr.write('usage: sender --rate PPS --seconds S --step N [--dst ADDR] [--iface ADDR]\n');
  process.exit(2);
}
const total = Math.min(MAX_SEQ, Math.round(rate * seconds));
const intervalNs = 1e9 / rate;
const MAX_BURST = 2000; // yield to the event loop at least this often

const template = loadTemplate();
// A link-scoped IPv6 group needs its zone.
const dst =
  v6 && values.iface && values.dst!.startsWith('ff02') ? `${values.dst}%${values.iface}` : values.dst!;
const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', reuseAddr: true });
let sendErrors = 0;
socket.on('error', () => sendErrors++);
socket.on('message', () => {}); // whatever reaches 5353 on the LAN is not ours to read

socket.bind(bindPort, v6 ? (values.src ?? '::') : undefined, () => {
  socket.setMulticastTTL(255);
  socket.setMulticastLoopback(false);
  // IPv6 names the outgoing interface by zone: `::%eth0`.
  if (values.iface) socket.setMulticastInterface(v6 ? `::%${values.iface}` : values.iface);
  socket.setSendBufferSize(4 * 1024 * 1024);
  start();
});

function start(): void {
  const now = () => process.hrtime.bigint();
  const t0 = now();
  let seq = 0;
  let first = 0n;
  let last = 0n;
  let maxLagNs = 0;
  const tick = (): void => {
    const elapsed = Number(now() - t0);
    const due = Math.min(total, Math.floor(elapsed / intervalNs) + 1);
    if (due - seq > 1) maxLagNs = Math.max(maxLagNs, elapsed - seq * intervalNs);
    let burst = 0;
    while (seq < due && burst < MAX_BURST) {
      const t = now();
      if (seq === 0) first = t;
      last = t;
      socket.send(stamp(template, step, seq, t), dstPort, dst);
      seq++;
      burst++;
    }
    if (seq >= total) return finish(first, last, maxLagNs);
    const wait = seq * intervalNs - Number(now() - t0);
    if (burst >= MAX_BURST || wait <= spinNs) setImmediate(tick);
    else setTimeout(tick, Math.max(1, Math.floor(wait / 1e6)));
  };
  tick();
}

function finish(first: bigint, last: bigint, maxLagNs: number): void {
  // Let libuv flush anything it had to queue, then report.
  setTimeout(() => {
    const durationS = Number(last - first) / 1e9 + 1 / rate;
    const line = {
      sent: total,
      sendErrors,
      durationS,
      offeredPps: total / durationS,
      maxLagMs: maxLagNs / 1e6,
      payloadBytes: template.bytes.length,
    };
    process.stdout.write(JSON.stringify(line) + '\n');
    socket.close();
  }, 50);
}
