/**
 * Bench receiver (runs in a pod namespace): a plain 0.0.0.0:5353 socket joined to 224.0.0.251, as a
 * pod's mDNS stack has. Counts the unique records of `--step` and their latency (receive time minus
 * the send time inside the record; both are CLOCK_MONOTONIC, one clock for every namespace). Prints
 * `ready` once joined and one JSON summary line on SIGTERM.
 *
 * It also reports the kernel's UDP counters of its namespace (/proc/net/snmp is per network
 * namespace): receive-buffer drops are the receiver's loss, not the reflector's, and checksum errors
 * mean a reflector emitted bad packets.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import dnsPacket from 'dns-packet';
import { forEachRecord } from './load-packet.js';

const { values } = parseArgs({
  options: { step: { type: 'string', default: '0' }, family: { type: 'string', default: '4' } },
});
const step = Number(values.step);
/** --family 6: a [::]:5353 socket joined to ff02::fb on eth0 instead. */
const v6 = values.family === '6';

/** Growable bitmap of seen sequence numbers. */
let seen = new Uint8Array(1 << 16);
function markSeen(seq: number): boolean {
  const byte = seq >>> 3;
  if (byte >= seen.length) {
    let size = seen.length;
    while (size <= byte) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(seen);
    seen = bigger;
  }
  const bit = 1 << (seq & 7);
  if (seen[byte] & bit) return false;
  seen[byte] |= bit;
  return true;
}

let latencies = new Float64Array(1 << 16); // µs
let nLat = 0;
function addLatency(us: number): void {
  if (nLat === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[nLat++] = us;
}

const stats = {
  datagrams: 0,
  records: 0,
  unique: 0,
  duplicates: 0,
  otherStep: 0,
  notOurs: 0,
  decodeChecked: 0,
  decodeErrors: 0,
  maxSeq: -1,
  firstNs: 0,
  lastNs: 0,
};

function udpCounters(): Record<string, number> {
  if (v6) {
    // /proc/net/snmp6: `Udp6InDatagrams 12` per line; the same names without the prefix.
    const out: Record<string, number> = {};
    for (const l of readFileSync('/proc/net/snmp6', 'utf8').split('\n')) {
      const m = /^Udp6(\w+)\s+(\d+)/.exec(l);
      if (m) out[m[1]] = Number(m[2]);
    }
    return out;
  }
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const [names, nums] = lines.map((l) => l.split(/\s+/).slice(1));
  const out: Record<string, number> = {};
  names?.forEach((n, i) => (out[n] = Number(nums?.[i] ?? 0)));
  return out;
}

const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', reuseAddr: true });
socket.on('message', (msg) => {
  const nowNs = Number(process.hrtime.bigint());
  stats.datagrams++;
  const found = forEachRecord(msg, (r) => {
    stats.records++;
    if (r.step !== step) {
      stats.otherStep++;
      return;
    }
    if (!markSeen(r.seq)) {
      stats.duplicates++;
      return;
    }
    stats.unique++;
    if (r.seq > stats.maxSeq) stats.maxSeq = r.seq;
    addLatency((nowNs - r.sentNs) / 1000);
    if (!stats.firstNs) stats.firstNs = nowNs;
    stats.lastNs = nowNs;
  });
  if (found === 0) stats.notOurs++;
  // Whatever arrives must still be a valid mDNS response: decode a sample fully.
  if (stats.datagrams % 64 === 1) {
    stats.decodeChecked++;
    try {
      const p = dnsPacket.decode(msg);
      if (p.type !== 'response') stats.decodeErrors++;
    } catch {
      stats.decodeErrors++;
    }
  }
});

let before: Record<string, number> = {};
socket.bind(5353, () => {
  if (v6) socket.addMembership('ff02::fb', '::%eth0');
  else socket.addMembership('224.0.0.251');
  socket.setRecvBufferSize(4 * 1024 * 1024);
  before = udpCounters();
  process.stdout.write('ready\n');
});

function percentile(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

process.on('SIGTERM', () => {
  const after = udpCounters();
  const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
  const lat = latencies.slice(0, nLat).sort();
  const summary = {
    step,
    ...stats,
    latencyUs: {
      n: nLat,
      p50: percentile(lat, 50),
      p90: percentile(lat, 90),
      p99: percentile(lat, 99),
      max: nLat ? lat[nLat - 1] : null,
    },
    kernel: {
      rcvbufErrors: delta('RcvbufErrors'),
      inErrors: delta('InErrors'),
      inCsumErrors: delta('InCsumErrors'),
    },
    recvBufferBytes: socket.getRecvBufferSize(),
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
  process.exit(0);
});
