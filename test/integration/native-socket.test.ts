/**
 * The socket addon against the real kernel and real peers, one kind at a time, in two namespaces
 * joined by a veth (`a`:v0 198.18.9.1, 2001:db8:9::1 — `b`:v1 198.18.9.2, 2001:db8:9::2). Each
 * NativeSocket runs in test/support/native-probe.ts inside a namespace; the peers are python3
 * sockets, arping and the kernel's own ARP and rtnetlink.
 */
import { strict as assert } from 'node:assert';
import { fileURLToPath } from 'node:url';
import { udpPortFilter } from '../../src/wire/bpf.js';
import { buildIPv4, buildUdp } from '../../src/wire/ipv4.js';
import { Bed, type Proc } from '../support/netns.js';
import type { ProbeSpec } from '../support/native-probe.js';
import { describeAsRoot } from '../support/root.js';

const PROBE = fileURLToPath(new URL('../support/native-probe.js', import.meta.url));
const SOL_SOCKET = 1;
const SO_RCVBUFFORCE = 33;
const SO_SNDBUFFORCE = 32;
const IPPROTO_IP = 0;
const IP_HDRINCL = 3;
const IPPROTO_IPV6 = 41;
const IPV6_MULTICAST_LOOP = 19;
const IPV6_ADD_MEMBERSHIP = 20;

interface Msg {
  hex: string;
  src?: string;
  dst?: string;
  scope?: number;
  hopLimit?: number;
  ifindex?: number;
  pktType?: number;
  protocol?: number;
}
interface Stats {
  received: number;
  sent: number;
  sendDropped: number;
  sendErrors: number;
  batches: number;
}

/** ipv6_mreq: the group's 16 bytes, then the ifindex (host order, little-endian here). */
function mreq6(group: string, ifindex: number): string {
  const b = Buffer.alloc(20);
  const [head, tail] = group.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 2 * i));
  b.writeInt32LE(ifindex, 16);
  return b.toString('hex');
}

describeAsRoot('the native socket addon in network namespaces', function () {
  const bed = new Bed();
  let ifA = 0;
  let ifB = 0;
  let macA = '';
  let macB = '';
  let ll6A = '';

  const probe = async (ns: string, spec: ProbeSpec): Promise<Proc> => {
    const p = bed.spawn(ns, [process.execPath, PROBE, JSON.stringify(spec)]);
    await p.waitForLine(/"ready":true/);
    return p;
  };
  const finish = async (p: Proc): Promise<{ msgs: Msg[]; stats: Stats }> => {
    p.signal('SIGTERM');
    await p.waitForLine(/"done":true/);
    const lines = p.json<{ msg?: Msg; done?: boolean; stats?: Stats; error?: string }>();
    assert.deepEqual(
      lines.filter((l) => l.error),
      [],
      'no socket errors',
    );
    return { msgs: lines.filter((l) => l.msg).map((l) => l.msg!), stats: lines.find((l) => l.done)!.stats! };
  };
  const link = async (ns: string, dev: string) =>
    (
      JSON.parse((await bed.ip(ns, ['-j', 'link', 'show', 'dev', dev])).stdout) as {
        ifindex: number;
        address: string;
      }[]
    )[0];
  const py = (ns: string, code: string) => bed.exec(ns, ['python3', '-c', code], { timeoutMs: 15_000 });

  before(async function () {
    for (const ns of ['a', 'b']) {
      await bed.addNs(ns);
      await bed.sysctl(ns, { 'net.ipv6.conf.all.accept_dad': 0, 'net.ipv6.conf.default.accept_dad': 0 });
    }
    await bed.ip('a', ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1', 'netns', bed.ns('b')]);
    await bed.ip('a', ['addr', 'add', '198.18.9.1/24', 'dev', 'v0']);
    await bed.ip('b', ['addr', 'add', '198.18.9.2/24', 'dev', 'v1']);
    await bed.ip('a', ['addr', 'add', '2001:db8:9::1/64', 'dev', 'v0', 'nodad']);
    await bed.ip('b', ['addr', 'add', '2001:db8:9::2/64', 'dev', 'v1', 'nodad']);
    await bed.ip('a', ['link', 'set', 'v0', 'up']);
    await bed.ip('b', ['link', 'set', 'v1', 'up']);
    ({ ifindex: ifA, address: macA } = await link('a', 'v0'));
    ({ ifindex: ifB, address: macB } = await link('b', 'v1'));
    const addrs = JSON.parse((await bed.ip('a', ['-j', '-6', 'addr', 'show', 'dev', 'v0'])).stdout) as {
      addr_info: { local: string; scope: string }[];
    }[];
    ll6A = addrs[0].addr_info.find((a) => a.scope === 'link')!.local;
  });

  after(() => bed.teardown());

  describe('ipv4-udp', function () {
    it('sends a 3,000-packet burst through the bounded queue and receives it in batches', async function () {
      const count = 3000;
      const rx = await probe('b', {
        open: { kind: 'ipv4-udp', link: 'v1' },
        options: [[SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20]], // as RawLink does: the burst fits
        quiet: true,
      });
      const packet = buildIPv4('198.18.9.1', '198.18.9.2', 64, buildUdp(40000, 40001, Buffer.from('burst')));
      const tx = await probe('a', {
        open: { kind: 'ipv4-udp', link: 'v0', receive: false },
        options: [[IPPROTO_IP, IP_HDRINCL, 1]],
        send: [{ hex: packet.toString('hex'), count }],
      });
      await tx.waitForLine(/"sent":true/);
      const sent = (await finish(tx)).stats;
      await new Promise((r) => setTimeout(r, 300));
      const got = (await finish(rx)).stats;
      assert.equal(sent.sent + sent.sendDropped, count, 'every packet is sent or counted as dropped');
      assert.equal(sent.sendErrors, 0);
      assert.ok(sent.sent >= count * 0.99, `sent ${sent.sent} of ${count}`);
      assert.equal(got.received, sent.sent, 'the raw receive socket saw every packet that left');
      assert.ok(got.batches < got.received, `${got.received} packets in ${got.batches} batches`);
    });
    it('queues what a blocked socket cannot take, sends it once writable, and drops the overflow by name', async function () {
      // A slow link (tbf, 1 Mbit/s) and the smallest send buffer: the socket blocks within a few
      // packets, and a 1,000-packet burst made in one go overflows the 64-slot queue.
      await bed.exec('a', [
        'tc',
        'qdisc',
        'add',
        'dev',
        'v0',
        'root',
        'tbf',
        'rate',
        '1mbit',
        'burst',
        '32kbit',
        'latency',
        '2s',
      ]);
      try {
        const rx = await probe('b', { open: { kind: 'ipv4-udp', link: 'v1' }, quiet: true });
        const packet = buildIPv4('198.18.9.1', '198.18.9.2', 64, buildUdp(40000, 40002, Buffer.alloc(100)));
        const tx = await probe('a', {
          open: { kind: 'ipv4-udp', link: 'v0', receive: false, sendQueue: 64 },
          options: [
            [IPPROTO_IP, IP_HDRINCL, 1],
            [SOL_SOCKET, SO_SNDBUFFORCE, 4096],
          ],
          send: [{ hex: packet.toString('hex'), count: 1000 }],
        });
        await tx.waitForLine(/"sent":true/);
        await new Promise((r) => setTimeout(r, 1500)); // 1 Mbit/s: ~1,000 packets of 128 bytes a second
        const lines = tx.json<{
          dropped?: string;
          stats?: Stats & { sendQueued: number; sendDropReasons: Record<string, number>; queueDepth: number };
        }>();
        const { stats } = await finish(tx);
        const s = stats as Stats & {
          sendQueued: number;
          sendDropReasons: Record<string, number>;
          queueDepth: number;
        };
        await new Promise((r) => setTimeout(r, 300));
        const got = (await finish(rx)).stats;
        const dropped = lines.filter((l) => l.dropped === 'send-queue-full').length;
        assert.ok(s.sendQueued > 0, `packets waited for UV_WRITABLE: ${s.sendQueued}`);
        assert.ok(dropped > 0, 'the overflow was dropped');
        assert.equal(
          s.sendDropReasons['send-queue-full'],
          dropped,
          'and counted under its reason, once each',
        );
        assert.equal(s.sent + s.sendDropped, 1000, 'every packet is sent or counted');
        assert.equal(s.queueDepth, 0, 'the queue drained once the socket was writable');
        assert.equal(got.received, s.sent, 'what was sent arrived');
      } finally {
        await bed.exec('a', ['tc', 'qdisc', 'del', 'dev', 'v0', 'root'], { check: false });
      }
    });
  });

  describe('classic BPF filters, as the kernel runs them', function () {
    const hex = (b: Buffer) => b.toString('hex');
    /** An IPv4 UDP packet a -> b; with `options`, an IHL > 5 header (IP checksum left to the kernel). */
    const packet = (port: number, options?: Buffer) => {
      const p = buildIPv4('198.18.9.1', '198.18.9.2', 64, buildUdp(40000, port, Buffer.from('x')));
      if (!options) return p;
      const out = Buffer.concat([p.subarray(0, 20), options, p.subarray(20)]);
      out[0] = 0x40 | ((20 + options.length) / 4);
      out.writeUInt16BE(out.length, 2);
      out.writeUInt16BE(0, 10);
      return out;
    };
    const dports = (msgs: Msg[]) =>
      msgs.map((m) => {
        const b = Buffer.from(m.hex, 'hex');
        return b.readUInt16BE((b[0] & 0xf) * 4 + 2);
      });

    it('on ipv4-udp pass only the listed ports (IP options too), and setFilter swaps the list', async function () {
      const rx = await probe('b', {
        open: {
          kind: 'ipv4-udp',
          link: 'v1',
          filterHex: hex(udpPortFilter({ family: 4, ports: [5353, 1900] })),
        },
        refilterHex: hex(udpPortFilter({ family: 4, ports: [8472] })),
      });
      const routerAlert = Buffer.from([0x94, 0x04, 0x00, 0x00]);
      const burst = [
        { hex: hex(packet(8472)), count: 200 },
        { hex: hex(packet(5353)), count: 3 },
        { hex: hex(packet(4789)), count: 50 },
        { hex: hex(packet(1900, routerAlert)), count: 2 },
        { hex: hex(packet(8472, routerAlert)), count: 20 },
      ];
      const send = async () => {
        const tx = await probe('a', {
          open: { kind: 'ipv4-udp', link: 'v0', receive: false },
          options: [[IPPROTO_IP, IP_HDRINCL, 1]],
          send: burst,
        });
        await tx.waitForLine(/"sent":true/);
        return (await finish(tx)).stats;
      };
      assert.equal((await send()).sent, 275);
      await new Promise((r) => setTimeout(r, 200));
      rx.signal('SIGUSR2');
      await rx.waitForLine(/"refiltered":true/);
      await send();
      await new Promise((r) => setTimeout(r, 200));
      const { msgs, stats } = await finish(rx);
      const ports = dports(msgs);
      const before = ports.slice(0, 5);
      assert.deepEqual(before.sort(), [1900, 1900, 5353, 5353, 5353]);
      assert.deepEqual([...new Set(ports.slice(5))], [8472], 'after setFilter: only 8472');
      assert.equal(ports.length, 5 + 220);
      assert.equal(stats.received, ports.length);
    });

    it('on ipv6-udp see the UDP header first: ports pass or drop on this kernel', async function () {
      const rx = await probe('b', {
        open: { kind: 'ipv6-udp', link: 'v1', filterHex: hex(udpPortFilter({ family: 6, ports: [5353] })) },
        options: [[IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, mreq6('ff02::fb', ifB)]],
      });
      await py(
        'a',
        `import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range(20):
    s.sendto(b'foreign', ('ff02::fb', 8472, 0, ${ifA}))
    s.sendto(b'foreign', ('2001:db8:9::2', 4789))
s.sendto(b'wanted', ('ff02::fb', 5353, 0, ${ifA}))
s.sendto(b'wanted', ('2001:db8:9::2', 5353))`,
      );
      await rx.waitForLine(/"msg"/);
      await new Promise((r) => setTimeout(r, 200));
      const { msgs } = await finish(rx);
      const got = msgs.map((m) => [Buffer.from(m.hex, 'hex').readUInt16BE(2), m.dst]);
      assert.deepEqual(got.sort(), [
        [5353, '2001:db8:9::2'],
        [5353, 'ff02::fb'],
      ]);
    });
  });

  describe('ipv6-udp', function () {
    it('reports a real sender’s link-local source with its scope, the group, the hop limit and the link', async function () {
      const rx = await probe('b', {
        open: { kind: 'ipv6-udp', link: 'v1' },
        options: [
          [IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0],
          [IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, mreq6('ff02::fb', ifB)],
        ],
      });
      await py(
        'a',
        `import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.bind(('::', 5353))
s.sendto(b'hello6', ('ff02::fb', 5353, 0, ${ifA}))`,
      );
      await rx.waitForLine(/"msg"/);
      const { msgs } = await finish(rx);
      const m = msgs.find((x) => x.hex.endsWith(Buffer.from('hello6').toString('hex')));
      assert.ok(m, `the datagram arrived: ${JSON.stringify(msgs)}`);
      assert.equal(m.src, ll6A);
      assert.equal(m.scope, ifB);
      assert.equal(m.dst, 'ff02::fb');
      assert.equal(m.hopLimit, 255);
      assert.equal(m.ifindex, ifB);
      const udp = Buffer.from(m.hex, 'hex');
      assert.equal(udp.readUInt16BE(0), 5353, 'data starts at the UDP header');
      assert.equal(udp.readUInt16BE(2), 5353);
      assert.equal(udp.readUInt16BE(4), udp.length);
    });

    it('sends from an address the host does not own, with its hop limit and a checksum a kernel socket accepts', async function () {
      const listener = bed.spawn('b', [
        'python3',
        '-u',
        '-c',
        `import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
s.bind(('::', 5353))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, socket.inet_pton(socket.AF_INET6, 'ff02::fb') + struct.pack('@I', ${ifB}))
print('listening', flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(2048, 64)
    hop = [struct.unpack('@i', d)[0] for (l, t, d) in anc if t == socket.IPV6_HOPLIMIT]
    print(addr[0], hop[0] if hop else -1, data.decode(), flush=True)`,
      ]);
      await listener.waitForLine(/listening/);
      const payload = Buffer.from('from-afar');
      const udp = Buffer.alloc(8 + payload.length);
      udp.writeUInt16BE(5353, 0);
      udp.writeUInt16BE(5353, 2);
      udp.writeUInt16BE(udp.length, 4); // checksum left 0: IPV6_CHECKSUM makes the kernel fill it
      payload.copy(udp, 8);
      const tx = await probe('a', {
        open: { kind: 'ipv6-udp', link: 'v0', receive: false },
        options: [[IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0]],
        send: [
          { hex: udp.toString('hex'), to: { address: 'ff02::fb', source: '2001:db8:99::50', hopLimit: 255 } },
        ],
      });
      const line = await listener.waitForLine(/^(\S+) (\S+) from-afar$/);
      assert.equal(line[1], '2001:db8:99::50', 'the source we chose');
      assert.equal(line[2], '255', 'the hop limit we chose');
      const { stats } = await finish(tx);
      assert.equal(stats.sent, 1);
      assert.equal(stats.sendErrors, 0);
      await listener.stop();
    });
  });

  describe('packet', function () {
    it('sends a whole ARP frame the peer kernel learns from', async function () {
      await bed.sysctl('b', { 'net.ipv4.conf.v1.arp_accept': 1 });
      const mac = (s: string) => Buffer.from(s.replace(/:/g, ''), 'hex');
      const ip = (s: string) => Buffer.from(s.split('.').map(Number));
      const fake = '02:00:00:00:00:77';
      // RFC 826 reply, unsolicited: "198.18.9.77 is at 02:00:00:00:00:77", to b's MAC.
      const frame = Buffer.concat([
        mac(macB),
        mac(macA),
        Buffer.from([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]),
        mac(fake),
        ip('198.18.9.77'),
        mac(macB),
        ip('198.18.9.2'),
      ]);
      const tx = await probe('a', {
        open: { kind: 'packet', link: 'v0', ethertype: 0x0806, receive: false },
        send: [{ hex: frame.toString('hex') }],
      });
      await tx.waitForLine(/"sent":true/);
      const { stats } = await finish(tx);
      assert.equal(stats.sent, 1);
      let neigh = '';
      for (let i = 0; i < 20 && !neigh.includes(fake); i++) {
        neigh = (await bed.ip('b', ['neigh', 'show', '198.18.9.77', 'dev', 'v1'])).stdout;
        if (!neigh.includes(fake)) await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(neigh, new RegExp(`198\\.18\\.9\\.77 lladdr ${fake}`));
    });

    it('receives whole frames with the sender’s MAC and the link, and not its own', async function () {
      const rx = await probe('a', { open: { kind: 'packet', link: 'v0', ethertype: 0x0806 } });
      await bed.exec('a', ['arping', '-c', '2', '-w', '3', '-I', 'v0', '198.18.9.2'], { check: false });
      const { msgs } = await finish(rx);
      const replies = msgs.filter((m) => Buffer.from(m.hex, 'hex').readUInt16BE(20) === 2);
      assert.ok(replies.length >= 2, `ARP replies seen: ${replies.length}`);
      // b's kernel may also ask for a's address; a's own frames (arping's requests) never show.
      for (const m of msgs) {
        const f = Buffer.from(m.hex, 'hex');
        assert.equal(m.src, macB, 'every frame came from b: outgoing ones are ignored');
        assert.equal(f.subarray(6, 12).toString('hex'), macB.replace(/:/g, ''), 'with its Ethernet header');
        assert.equal(f.readUInt16BE(12), 0x0806);
        assert.equal(m.ifindex, ifA);
        assert.equal(m.protocol, 0x0806);
      }
      for (const m of replies) assert.equal(m.pktType, 0, 'a reply to us is PACKET_HOST');
    });
  });

  describe('netlink', function () {
    /** Each rtnetlink message in a datagram: [type, ifname when it is a link message]. */
    const parse = (hex: string): Array<[number, string | undefined]> => {
      const b = Buffer.from(hex, 'hex');
      const out: Array<[number, string | undefined]> = [];
      for (let off = 0; off + 16 <= b.length;) {
        const len = b.readUInt32LE(off);
        const type = b.readUInt16LE(off + 4);
        let name: string | undefined;
        if (type === 16) {
          // struct ifinfomsg is 16 bytes; then rtattrs: IFLA_IFNAME = 3
          for (let a = off + 32; a + 4 <= off + len;) {
            const alen = b.readUInt16LE(a);
            if (alen < 4) break;
            if (b.readUInt16LE(a + 2) === 3)
              name = b.toString('latin1', a + 4, a + alen).replace(/\0.*$/, '');
            a += (alen + 3) & ~3;
          }
        }
        out.push([type, name]);
        if (len < 16) break;
        off += (len + 3) & ~3;
      }
      return out;
    };

    it('hears RTMGRP_LINK notifications and answers a dump request sent to the kernel', async function () {
      // RTM_GETLINK (18), NLM_F_REQUEST|NLM_F_DUMP, seq 1, then an empty struct ifinfomsg.
      const req = Buffer.alloc(32);
      req.writeUInt32LE(32, 0);
      req.writeUInt16LE(18, 4);
      req.writeUInt16LE(0x301, 6);
      req.writeUInt32LE(1, 8);
      const nl = await probe('a', {
        open: { kind: 'netlink', link: '', groups: 1 },
        send: [{ hex: req.toString('hex') }],
        sendAfterMs: 200,
      });
      await bed.ip('a', ['link', 'add', 'dum0', 'type', 'veth', 'peer', 'name', 'dum1']);
      await nl.waitForLine(/"sent":true/);
      await new Promise((r) => setTimeout(r, 300));
      const { msgs } = await finish(nl);
      const all = msgs.flatMap((m) => parse(m.hex));
      assert.ok(
        all.some(([t, n]) => t === 16 && n === 'dum0'),
        'RTM_NEWLINK for dum0 arrived as a notification',
      );
      const names = all.filter(([t]) => t === 16).map(([, n]) => n);
      assert.ok(names.includes('lo') && names.includes('v0'), `dump listed lo and v0: ${names.join(',')}`);
      assert.ok(
        all.some(([t]) => t === 3),
        'the dump ended with NLMSG_DONE',
      );
    });
  });
});
