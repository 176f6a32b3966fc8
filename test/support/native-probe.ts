// A small program the native-socket tests run inside a namespace (`ip netns exec NS node
// dist/test/support/native-probe.js JSON`): it opens one NativeSocket as the JSON says, prints one
// JSON line per received message (or only counts them), sends what it is told to, and on SIGTERM
// (or after `ms`) prints {"done":true, stats} and exits. The first line is {"ready":true,"ifindex":N}.
import { NativeSocket, type OpenOptions, type Received } from '../../src/wire/native.js';

export interface ProbeSpec {
  open: Omit<OpenOptions, 'filter'> & { filterHex?: string };
  /** [level, name, value] with value a number or a hex string (a Buffer). */
  options?: Array<[number, number, number | string]>;
  /** Messages to send after opening: data as hex, `to` as NativeSocket.send's. */
  send?: Array<{ hex: string; to?: Record<string, string | number>; count?: number }>;
  /** Print every message (default), or only count them. */
  quiet?: boolean;
  /** Exit after this long (default: run until SIGTERM). */
  ms?: number;
  /** The filter SIGUSR2 swaps in. */
  refilterHex?: string;
  /** Wait this long after opening before sending. */
  sendAfterMs?: number;
}

const spec = JSON.parse(process.argv[2]) as ProbeSpec;
const out = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

const view = (m: Received) => ({
  hex: m.data.toString('hex'),
  src: m.src,
  dst: m.dst,
  scope: m.scope,
  hopLimit: m.hopLimit,
  ifindex: m.ifindex,
  truncated: m.truncated,
  pktType: m.pktType,
  protocol: m.protocol,
});

const { filterHex, ...open } = spec.open;
const sock = NativeSocket.open(
  { ...open, filter: filterHex !== undefined ? Buffer.from(filterHex, 'hex') : undefined },
  (msgs) => {
    if (!spec.quiet) for (const m of msgs) out({ msg: view(m) });
  },
  (e) => out({ error: e.message, code: (e as NodeJS.ErrnoException).code }),
);
for (const [level, name, value] of spec.options ?? [])
  sock.setOption(level, name, typeof value === 'string' ? Buffer.from(value, 'hex') : value);
out({ ready: true, ifindex: sock.ifindex });

function finish(): void {
  sock.flush();
  out({ done: true, stats: sock.stats });
  sock.close();
  process.exit(0);
}
process.on('SIGTERM', finish);
// SIGUSR1 prints the stats; SIGUSR2 replaces the filter with `refilterHex` (a config reload).
process.on('SIGUSR1', () => out({ stats: sock.stats }));
process.on('SIGUSR2', () => {
  sock.setFilter(Buffer.from(spec.refilterHex ?? '', 'hex'));
  out({ refiltered: true });
});

setTimeout(() => {
  for (const s of spec.send ?? []) {
    const data = Buffer.from(s.hex, 'hex');
    for (let i = 0; i < (s.count ?? 1); i++) {
      const r = sock.send(data, s.to);
      if (r) out({ dropped: r });
    }
  }
  sock.flush();
  out({ sent: true, stats: sock.stats });
}, spec.sendAfterMs ?? 0);
if (spec.ms !== undefined) setTimeout(finish, spec.ms);
// A send-only socket does not keep the event loop alive; the probe lives until told to finish.
setInterval(() => undefined, 1 << 30);
