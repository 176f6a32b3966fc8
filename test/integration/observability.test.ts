/**
 * What an operator sees of the real agent: `tail` (JSON and text, from the node's namespace and from
 * the root namespace), `status`, and the Prometheus endpoint, checked against real traffic in a
 * Calico-style bed: python3-zeroconf peers, a raw-socket mDNS sender on a LAN device and a counting
 * receiver in the pod.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { requestStatus } from '../../src/control/client.js';
import type { PacketLine, StatusReply } from '../../src/control/types.js';
import { CLI, startAgent, type RunningAgent } from '../support/agent.js';
import { type CalicoBed, type Device, type Pod, type Proc, calicoBed, run } from '../support/netns.js';
import { browse, publish, PYTHON } from '../support/peers.js';
import { describeAsRoot } from '../support/root.js';

const POD_NAME = 'ha/home-assistant';
const MDNS_GROUP = '224.0.0.251';
const METRICS_PORT = 19412;
/** The README at the repository root, from test/integration or dist/test/integration. */
const README = ((): string => {
  for (const up of ['../../README.md', '../../../README.md']) {
    const path = fileURLToPath(new URL(up, import.meta.url));
    try {
      readFileSync(path);
      return path;
    } catch {
      // try the next one
    }
  }
  throw new Error('README.md not found');
})();

/**
 * Sends `count` mDNS packets from `src` to 224.0.0.251:5353, paced at `pps`. `valid`: distinct
 * responses (an A and a TXT record named `<marker>-<i>.local`, the TXT padded so tail lines are large);
 * `malformed`: a DNS header announcing one answer followed by a name that never ends, which
 * dns-packet cannot decode. Every packet differs, so the agent's dedupe window never drops one.
 */
const SENDER = String.raw`
import json, socket, struct, sys, time
src, count, pps, kind, marker = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
s.bind((src, 5353))
def name(*labels):
    return b''.join(bytes([len(l)]) + l for l in labels) + b'\0'
def valid(i):
    n = name(('%s-%d' % (marker, i)).encode(), b'local')
    a = n + struct.pack('!HHIH', 1, 0x8001, 120, 4) + socket.inet_aton(src)
    strings = [('seq=%d' % i).encode(), b'pad=' + b'x' * 200]
    txt = b''.join(bytes([len(t)]) + t for t in strings)
    t = n + struct.pack('!HHIH', 16, 0x8001, 120, len(txt)) + txt
    return struct.pack('!HHHHHH', 0, 0x8400, 0, 2, 0, 0) + a + t
def malformed(i):
    return struct.pack('!HHHHHH', i & 0xffff, 0x8400, 0, 1, 0, 0) + b'\x05' + marker.encode()[:5].ljust(5, b'x')
build = valid if kind == 'valid' else malformed
start = time.monotonic()
for i in range(count):
    wait = start + i / pps - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    s.sendto(build(i), ('224.0.0.251', 5353))
print(json.dumps({'event': 'sent', 'count': count, 'seconds': round(time.monotonic() - start, 3)}), flush=True)
`;

/**
 * Joins 224.0.0.251 on `addr` and counts the packets carrying `marker` until none came for `idle`
 * seconds (after the first) or `limit` seconds passed; prints what it got.
 */
const RECEIVER = String.raw`
import json, socket, sys, time
addr, marker, idle, limit = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(('0.0.0.0', 5353))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton('224.0.0.251') + socket.inet_aton(addr))
s.settimeout(0.1)
print(json.dumps({'event': 'ready'}), flush=True)
count, unique, sources, last = 0, set(), set(), None
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    try:
        data, peer = s.recvfrom(9000)
    except socket.timeout:
        if last is not None and time.monotonic() - last > idle:
            break
        continue
    if marker in data:
        count += 1
        unique.add(data)
        sources.add(peer[0])
        last = time.monotonic()
print(json.dumps({'event': 'done', 'count': count, 'unique': len(unique), 'sources': sorted(sources)}), flush=True)
`;

interface RecordView {
  name: string;
  type: string;
  data: unknown;
}

const lower = (s: unknown): string => String(s).toLowerCase().replace(/\.$/, '');

function packetLines(proc: Proc): PacketLine[] {
  return proc.json<PacketLine | { type: string }>().filter((l): l is PacketLine => l.type === 'packet');
}

/** `name{a="x",b="y"} value` lines of a Prometheus text exposition. */
function parseMetrics(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

describeAsRoot('observability of the real agent: tail, status and metrics', function () {
  this.timeout(60_000);
  let bed: CalicoBed;
  let dev: Device;
  let pod: Pod;
  let agent: RunningAgent;
  let controlSocket: string;
  let configPath: string;

  /** The agent on node1, relaying mDNS for the one pod, rate limits off, on our fixed control socket. */
  async function startTheAgent(): Promise<RunningAgent> {
    return startAgent(bed, 'node1', {
      // A later --control-socket wins over the private one startAgent adds: a restart keeps the path.
      args: [
        '--config',
        configPath,
        '--control-socket',
        controlSocket,
        '--metrics-address',
        `127.0.0.1:${METRICS_PORT}`,
      ],
      pods: 1,
    });
  }

  async function status(): Promise<StatusReply> {
    return requestStatus(controlSocket);
  }

  /** Waits until the agent counts `n` tail clients: from then on a client sees every packet. */
  async function tailClients(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let seen = -1;
    while (Date.now() < deadline) {
      seen = (await status()).tailClients;
      if (seen === n) return;
      await sleep(50);
    }
    throw new Error(`the agent has ${seen} tail clients, expected ${n}`);
  }

  /** A `tail` CLI process inside the node's namespace. */
  function spawnTail(args: string[]): Proc {
    return bed.spawn('node1', CLI(['tail', '--control-socket', controlSocket, ...args]));
  }

  async function send(kind: 'valid' | 'malformed', count: number, pps: number, marker: string) {
    const r = await bed.exec(
      dev.ns,
      [PYTHON, '-c', SENDER, dev.address, String(count), String(pps), kind, marker],
      {
        timeoutMs: 10_000 + (count / pps) * 1000,
      },
    );
    const sent = JSON.parse(r.stdout.trim().split('\n').pop()!) as { count: number };
    assert.equal(sent.count, count);
  }

  const metricsUrl = `http://127.0.0.1:${METRICS_PORT}`;

  async function scrape(): Promise<ReturnType<typeof parseMetrics>> {
    const r = await bed.exec('node1', ['curl', '-sS', '--fail', '--max-time', '5', `${metricsUrl}/metrics`]);
    return parseMetrics(r.stdout);
  }

  /** Command lines of python3-zeroconf peers still running in any of the bed's namespaces. */
  async function peersRunning(): Promise<string[]> {
    const found: string[] = [];
    for (const ns of bed.created) {
      const { stdout } = await run(['ip', 'netns', 'pids', ns], { check: false });
      for (const pid of stdout.split(/\s+/).filter(Boolean)) {
        let cmd = '';
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        } catch {
          continue; // gone meanwhile
        }
        if (/zc_(publish|browse)\.py/.test(cmd)) found.push(`${ns}: ${cmd}`);
      }
    }
    return found;
  }

  function metric(
    all: ReturnType<typeof parseMetrics>,
    name: string,
    labels: { [k: string]: string },
  ): number {
    const found = all.filter(
      (m) => m.name === name && Object.entries(labels).every(([k, v]) => m.labels[k] === v),
    );
    assert.equal(found.length, 1, `${name}${JSON.stringify(labels)}: ${found.length} series`);
    return found[0].value;
  }

  before(async function () {
    this.timeout(60_000);
    bed = await calicoBed({ podsPerNode: 1, devices: 1, podAddressing: 'lan' });
    [dev] = bed.devices;
    [pod] = bed.nodes[0].pods;
    controlSocket = `/tmp/${bed.prefix}observability.sock`;
    configPath = `/tmp/${bed.prefix}observability.yaml`;
    writeFileSync(
      configPath,
      [
        'pods:',
        `  - address: ${pod.address}`,
        `    name: ${POD_NAME}`,
        'rateLimit: {perSourcePps: 0, perPodPps: 0, perSourceBurst: 1, perPodBurst: 1}',
        '',
      ].join('\n'),
    );
    agent = await startTheAgent();
  });

  after(async function () {
    this.timeout(30_000);
    try {
      await bed?.teardown();
    } finally {
      if (configPath) rmSync(configPath, { force: true });
      if (controlSocket) rmSync(controlSocket, { force: true });
    }
  });

  it('tail --json shows a real zeroconf discovery: the pod’s queries to the LAN and the device’s answers, decoded', async function () {
    const tail = spawnTail(['--json']);
    let published: Awaited<ReturnType<typeof publish>> | undefined;
    try {
      await tailClients(1);
      published = await publish(bed, dev.ns, { name: 'Kitchen', port: 8080, address: dev.address });
      const found = await browse(bed, pod.ns, { address: pod.address, count: 1, timeoutS: 10 });
      assert.equal(found.length, 1, 'the pod did not resolve the device’s service through the agent');
      assert.deepEqual(found[0].addresses, [dev.address]);
      await sleep(300); // the last lines on their way through tail
    } finally {
      await published?.stop();
      await tail.stop();
    }
    const instance = lower(published!.name); // kitchen._demo._tcp.local
    const lines = packetLines(tail);
    assert.ok(
      lines.every((l) => l.protocol === 'mdns' && l.drop === null),
      tail.stdout,
    );

    const fromDevice = lines.filter((l) => l.direction === 'lan-to-pod' && l.src === dev.address);
    assert.ok(fromDevice.length > 0, `no lan-to-pod line from ${dev.address}:\n${tail.stdout}`);
    for (const l of fromDevice) {
      assert.deepEqual(l.targets, [POD_NAME]);
      assert.equal(l.ingress, 'lan0');
      assert.equal(l.pod, null);
      assert.equal(l.dst, MDNS_GROUP);
      assert.equal(l.dstPort, 5353);
    }
    const records = (l: PacketLine): RecordView[] => [...(l.answers ?? []), ...(l.additionals ?? [])];
    const namesInstance = (r: RecordView) =>
      lower(r.name) === instance || (r.type === 'PTR' && lower(r.data) === instance);
    const deviceA = (r: RecordView) => r.type === 'A' && r.data === dev.address;
    const answer = fromDevice.find(
      (l) => l.kind === 'response' && (l.answers ?? []).some(namesInstance) && records(l).some(deviceA),
    );
    assert.ok(
      answer,
      `no response from the device naming ${instance} and its A record ${dev.address}:\n` +
        fromDevice.map((l) => JSON.stringify(l)).join('\n'),
    );
    assert.ok(
      answer.answers!.some((r) => r.type === 'PTR' && lower(r.name) === '_demo._tcp.local'),
      JSON.stringify(answer),
    );
    assert.match(answer.summary, /^response \| /);
    assert.ok(answer.summary.toLowerCase().includes(instance), answer.summary);

    const fromPod = lines.filter((l) => l.direction === 'pod-to-lan');
    const query = fromPod.find(
      (l) =>
        l.kind === 'query' &&
        (l.questions ?? []).some((q) => lower(q.name) === '_demo._tcp.local' && q.type === 'PTR'),
    );
    assert.ok(query, `no pod-to-lan query for _demo._tcp:\n${tail.stdout}`);
    for (const l of fromPod) {
      assert.equal(l.src, pod.address);
      assert.equal(l.pod, POD_NAME);
      assert.equal(l.ingress, pod.hostIf);
      assert.deepEqual(l.targets, ['lan']);
    }
  });

  it('tail --drops (run from the root namespace) shows malformed mDNS from a device as a drop, and the agent keeps relaying', async function () {
    // The control socket is a path on the shared filesystem: tail needs no namespace to reach it.
    const tailing = run(
      CLI([
        'tail',
        '--drops',
        '--json',
        '--count',
        '3',
        '--pod',
        dev.address,
        '--control-socket',
        controlSocket,
      ]),
      { timeoutMs: 15_000 },
    );
    await tailClients(1);
    await send('malformed', 3, 20, 'bad01');
    const { stdout } = await tailing;
    const drops = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as PacketLine);
    assert.equal(drops.length, 3, stdout);
    for (const d of drops) {
      assert.equal(d.type, 'packet');
      assert.equal(d.protocol, 'mdns');
      assert.equal(d.direction, 'lan-to-pod');
      assert.equal(d.src, dev.address);
      assert.equal(d.drop, 'malformed');
      assert.deepEqual(d.targets, []);
      assert.equal(d.size, 18);
      assert.match(d.detail ?? '', /Cannot decode mDNS packet/);
      assert.match(d.summary, /not decodable/);
      assert.equal(d.answers, undefined);
    }

    assert.equal(agent.proc.status, undefined, `the agent exited:\n${agent.proc.stderr}`);
    const published = await publish(bed, dev.ns, { name: 'After Garbage', port: 8081, address: dev.address });
    try {
      const found = await browse(bed, pod.ns, { address: pod.address, count: 1, timeoutS: 10 });
      assert.deepEqual(
        found.map((f) => f.name),
        [published.name],
      );
    } finally {
      await published.stop();
    }
  });

  it('a tail client that stops reading costs no relayed packet, and is told how many lines it lost', async function () {
    const BURST = 2000;
    const stalled = net.connect(controlSocket);
    try {
      await new Promise<void>((resolve, reject) => {
        stalled.once('connect', resolve).once('error', reject);
      });
      stalled.setEncoding('utf8');
      stalled.write(JSON.stringify({ cmd: 'tail', filter: { pod: dev.address } }) + '\n');
      let buf = '';
      await new Promise<void>((resolve) => {
        const onData = (chunk: string) => {
          buf += chunk;
          if (buf.includes('\n')) {
            stalled.off('data', onData);
            resolve();
          }
        };
        stalled.on('data', onData);
      });
      assert.match(buf, /^\{"type":"subscribed"/);
      buf = buf.slice(buf.indexOf('\n') + 1);
      stalled.pause();

      const receiver = bed.spawn(pod.ns, [PYTHON, '-c', RECEIVER, pod.address, 'burst', '1.5', '30']);
      await receiver.waitForLine(/"event": "ready"/);
      await send('valid', BURST, 1000, 'burst');
      await receiver.exited;
      const got = receiver
        .json<{ event: string; count: number; unique: number; sources: string[] }>()
        .find((e) => e.event === 'done');
      assert.deepEqual(
        got,
        { event: 'done', count: BURST, unique: BURST, sources: [dev.address] },
        'the pod did not receive the whole burst while a tail client was stalled',
      );
      assert.equal((await status()).tailClients, 1);

      // Resumed, the client reads what was queued, then the notice of what it lost.
      let packets = 0;
      let lost = 0;
      const lines: string[] = [];
      const counted = new Promise<void>((resolve) => {
        const take = (text: string) => {
          buf += text;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const msg = JSON.parse(line) as { type: string; count?: number };
            if (msg.type === 'packet') packets++;
            else if (msg.type === 'lost') lost += msg.count ?? 0;
            else lines.push(line);
            if (lost > 0 && packets + lost >= BURST) resolve();
          }
        };
        stalled.on('data', take);
        take('');
      });
      stalled.resume();
      await Promise.race([
        counted,
        sleep(15_000).then(() => {
          throw new Error(
            `after resuming: ${packets} packet lines, ${lost} lost, other: ${lines.join('\n')}`,
          );
        }),
      ]);
      assert.ok(lost > 0, 'the stalled client lost nothing: the burst was too small to fill its socket');
      assert.ok(packets > 0);
      await sleep(200);
      assert.equal(packets + lost, BURST, `${packets} lines + ${lost} lost`);
      assert.deepEqual(lines, []);
    } finally {
      stalled.destroy();
    }
  });

  it('the metrics count exactly the packets sent: N relayed into the pod, N malformed dropped', async function () {
    const N = 50;
    const relayed = { protocol: 'mdns', direction: 'lan-to-pod' };
    const malformed = { protocol: 'mdns', reason: 'malformed' };
    const read = async () => {
      const m = await scrape();
      return {
        received: metric(m, 'lan_reflector_packets_received_total', relayed),
        relayed: metric(m, 'lan_reflector_packets_relayed_total', relayed),
        emitted: metric(m, 'lan_reflector_packets_emitted_total', relayed),
        malformed: metric(m, 'lan_reflector_packets_dropped_total', malformed),
        duplicate: metric(m, 'lan_reflector_packets_dropped_total', {
          protocol: 'mdns',
          reason: 'duplicate',
        }),
        rateLimited: metric(m, 'lan_reflector_packets_dropped_total', {
          protocol: 'mdns',
          reason: 'rate-limited',
        }),
        latencyCount: metric(m, 'lan_reflector_relay_latency_seconds_count', {}),
      };
    };
    /** Polls until `key` reaches `value` (or a little past the time it should take), then settles. */
    const until = async (key: keyof Awaited<ReturnType<typeof read>>, value: number) => {
      const deadline = Date.now() + 5000;
      let now = await read();
      while (now[key] < value && Date.now() < deadline) {
        await sleep(100);
        now = await read();
      }
      await sleep(300);
      return read();
    };

    // No zeroconf peer runs now (the earlier tests stopped theirs), so the counters hold still.
    assert.deepEqual(await peersRunning(), []);
    let base = await read();
    for (let stable = false, tries = 0; !stable; tries++) {
      assert.ok(tries < 10, 'the mDNS counters keep moving: something else sends mDNS');
      await sleep(500);
      const again = await read();
      stable = JSON.stringify(again) === JSON.stringify(base);
      base = again;
    }
    const m0 = await scrape();
    assert.equal(metric(m0, 'lan_reflector_opted_in_pods', {}), 1);
    assert.equal(metric(m0, 'lan_reflector_ready', {}), 1);

    await send('valid', N, 200, 'metric');
    const afterValid = await until('relayed', base.relayed + N);
    assert.deepEqual(
      {
        received: afterValid.received - base.received,
        relayed: afterValid.relayed - base.relayed,
        emitted: afterValid.emitted - base.emitted,
        malformed: afterValid.malformed - base.malformed,
        latencyCount: afterValid.latencyCount - base.latencyCount,
      },
      { received: N, relayed: N, emitted: N, malformed: 0, latencyCount: N },
    );

    await send('malformed', N, 200, 'junk2');
    const afterBad = await until('malformed', afterValid.malformed + N);
    assert.deepEqual(
      {
        received: afterBad.received - afterValid.received,
        relayed: afterBad.relayed - afterValid.relayed,
        malformed: afterBad.malformed - afterValid.malformed,
        duplicate: afterBad.duplicate - afterValid.duplicate,
        rateLimited: afterBad.rateLimited - afterValid.rateLimited,
        latencyCount: afterBad.latencyCount - afterValid.latencyCount,
      },
      { received: N, relayed: 0, malformed: N, duplicate: 0, rateLimited: 0, latencyCount: 0 },
    );
    assert.deepEqual(await peersRunning(), []);

    // `status` reads the same counters.
    const s = await status();
    assert.equal(s.packets.mdns['lan-to-pod']?.relayed, afterBad.relayed);
    assert.equal(s.dropped.mdns?.malformed, afterBad.malformed);

    // The probes beside it, and labels that never carry an address.
    const probe = async (path: string) =>
      (
        await bed.exec('node1', [
          'curl',
          '-sS',
          '--max-time',
          '5',
          '-w',
          ' %{http_code}',
          `${metricsUrl}${path}`,
        ])
      ).stdout;
    assert.equal(await probe('/healthz'), 'ok\n 200');
    assert.equal(await probe('/readyz'), 'ready\n 200');
    for (const m of await scrape())
      for (const v of Object.values(m.labels)) assert.doesNotMatch(v, /^\d+\.\d+\.\d+\.\d+$/, m.name);
  });

  it('/metrics serves exactly the README’s always-served metrics, and none of the IPAM’s without an ipam: section', async function () {
    const readme = readFileSync(README, 'utf8');
    const start = readme.indexOf('\n## Metrics');
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    // The section has one table per "### …" heading: the reflector's first, then the IPAM's and DHCP's.
    const tables = section
      .split('\n### ')
      .map((t) => [...t.matchAll(/^\| `(lan_reflector_\w+)` \|/gm)].map((m) => m[1]));
    const [always, ...onlyWithIpam] = tables.slice(1);
    assert.ok(always.length >= 5, section);
    const ipamOnly = onlyWithIpam.flat();
    assert.ok(ipamOnly.length >= 5, 'the IPAM and DHCP tables');
    const text = (await bed.exec('node1', ['curl', '-sS', '--max-time', '5', `${metricsUrl}/metrics`]))
      .stdout;
    const served = text
      .split('\n')
      .filter((l) => l.startsWith('# TYPE lan_reflector_'))
      .map((l) => l.split(' ')[2]);
    assert.deepEqual(
      {
        documentedButNotServed: always.filter((n) => !served.includes(n)),
        servedButNotDocumented: served.filter((n) => !always.includes(n)),
      },
      { documentedButNotServed: [], servedButNotDocumented: [] },
    );
  });

  it('status --json lists the pod with its link and the LAN link’s membership of 224.0.0.251; status is readable text', async function () {
    const json = await bed.exec('node1', CLI(['status', '--json', '--control-socket', controlSocket]));
    const s = JSON.parse(json.stdout) as StatusReply;
    assert.equal(s.type, 'status');
    assert.equal(s.ready, true);
    assert.equal(s.pid, agent.proc.child.pid);
    assert.equal(s.lanInterface, 'lan0');
    assert.equal(s.lanAddress, `${bed.nodes[0].address}/24`);
    assert.deepEqual(s.protocols, ['mdns']);
    assert.deepEqual(
      s.pods.map((p) => ({ ...p, options: undefined })),
      [
        {
          name: POD_NAME,
          key: pod.address,
          addresses: [pod.address],
          link: pod.hostIf,
          port: pod.hostIf,
          sourceMode: 'preserve',
          options: undefined,
          problem: null,
        },
      ],
    );
    assert.deepEqual(s.pods[0].options, {
      protocols: ['mdns'],
      direction: 'both',
      services: [],
      broadcastPorts: [],
    });

    const lan = s.interfaces.find((i) => i.name === 'lan0');
    assert.ok(lan, JSON.stringify(s.interfaces));
    assert.equal(lan.role, 'lan');
    assert.deepEqual(lan.groups, [MDNS_GROUP]);
    assert.ok(lan.received > 0);
    const podLink = s.interfaces.find((i) => i.name === pod.hostIf);
    assert.ok(podLink, JSON.stringify(s.interfaces));
    assert.equal(podLink.role, 'pod');
    assert.deepEqual(podLink.groups, [MDNS_GROUP]);
    assert.deepEqual(podLink.pods, [POD_NAME]);
    assert.ok(podLink.sent > 0);
    // The kernel agrees: lan0 is a member of the mDNS group.
    const maddr = await bed.ip('node1', ['maddr', 'show', 'dev', 'lan0']);
    assert.match(maddr.stdout, /inet\s+224\.0\.0\.251\b/);

    const text = await bed.exec('node1', CLI(['status', '--control-socket', controlSocket]));
    const out = text.stdout;
    assert.match(out, /^agent: ready, up \S+ \(since .+\), pid \d+$/m);
    assert.match(
      out,
      new RegExp(
        `^LAN interface: lan0 \\(${bed.nodes[0].address}/24\\)\\s+source mode: auto\\s+protocols: mdns$`,
        'm',
      ),
    );
    assert.match(out, /^Pods \(1 opted in\):$/m);
    assert.match(
      out,
      new RegExp(
        `^\\s+${POD_NAME}\\s+${pod.address.replace(/\./g, '\\.')}\\s+${pod.hostIf}\\s+preserve\\s+mdns\\s+both\\s+all\\s+agent default$`,
        'm',
      ),
    );
    // ... then the socket's kind, its kernel filter's ports, and IPv6 on the link.
    assert.match(
      out,
      /^\s+lan0\s+lan\s+\d+\s+\d+\s+\d+\s+\d+\s+0\s+224\.0\.0\.251\s+ipv4-udp\s+udp 5353\s+\S+$/m,
    );
    assert.match(
      out,
      new RegExp(
        `^\\s+${pod.hostIf}\\s+pod\\s+.*224\\.0\\.0\\.251\\s+${POD_NAME}\\s+ipv4-udp\\s+udp 5353\\s+\\S+$`,
        'm',
      ),
    );
    assert.match(out, /^\s+mdns\s+lan-to-pod\s+\d+\s+\d+\s+\d+$/m);
    assert.match(out, /^\s+mdns\s+malformed\s+\d+$/m);
    assert.doesNotMatch(out, /undefined|NaN|\[object Object\]|null/);
    assert.ok(
      out.split('\n').every((l) => l.length <= 160),
      out,
    );
  });

  it('tail follows the agent across a restart on the same control socket, saying so on stderr', async function () {
    const tail = spawnTail([]);
    try {
      await tailClients(1);
      await send('valid', 2, 20, 'before');
      await tail.waitForLine(/before-1\.local/);

      await agent.stop();
      await tail.waitForLine(/agent went away/, { stream: 'stderr' });
      await tail.waitForLine(/waiting for the agent to come back/, { stream: 'stderr' });
      assert.equal(tail.status, undefined, 'tail exited when the agent stopped');

      agent = await startTheAgent();
      await tail.waitForLine(/reconnected to the agent at /, { stream: 'stderr', timeoutMs: 10_000 });
      await send('valid', 3, 20, 'after');
      const last = await tail.waitForLine(/after-2\.local/);
      const shown = tail.lines().filter((l) => /(before|after)-\d\.local/.test(l));
      assert.equal(shown.length, 5, tail.stdout);
      assert.match(
        last.input ?? '',
        new RegExp(
          `^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} mdns lan-to-pod ${dev.address.replace(/\./g, '\\.')} -> ${POD_NAME}  response \\| A: A after-2\\.local = ${dev.address.replace(/\./g, '\\.')}, TXT after-2\\.local`,
        ),
      );
      assert.match(tail.stderr, new RegExp(`reconnected to the agent at ${controlSocket}`));
    } finally {
      await tail.stop();
    }
  });
});
