import assert from 'node:assert/strict';
import { NetlinkClient, NetlinkError, type NetlinkTransport } from '../../../src/links/netlink-client.js';
import { decodeAttrs, decodeMessages, encodeAttrs } from '../../../src/links/netlink.js';
import {
  addProxyMessage,
  decodeNeighbour,
  decodeNeighbourTable,
  deleteProxyMessage,
  dumpNeighboursMessage,
  isLiveNeighbour,
  setProxyDelayMessage,
} from '../../../src/links/netlink-neigh.js';
import { Neighbours } from '../../../src/links/neighbours.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Byte layouts written out by hand from linux/netlink.h (nlmsghdr: len u32, type u16, flags u16,
// seq u32, pid u32), linux/neighbour.h (ndmsg: family u8, pad u8, pad u16, ifindex s32, state u16,
// flags u8, type u8; ndtmsg: family u8, pad u8, pad u16) and rtattr (len u16, type u16, value, pad
// to 4), little-endian, addresses in network order. The lengths match what strace showed iproute2
// send for `ip neigh replace proxy ... protocol 76` (44), `ip neigh del proxy` (36) and
// `ip ntable change ... proxy_delay 0` (60).
const ADD_PROXY = hex(`
  2c000000 1c00 0505 07000000 00000000
  02 00 0000 03000000 8000 08 00
  0800 0100 c6120465
  0500 0c00 4c000000`);
const DEL_PROXY = hex(`
  24000000 1d00 0500 08000000 00000000
  02 00 0000 03000000 0000 08 00
  0800 0100 c6120465`);
const SET_PROXY_DELAY = hex(`
  3c000000 4300 0500 09000000 00000000
  02 00 0000
  0e00 0100 6172705f636163686500 0000
  1800 0680 0800 0100 03000000 0c00 0d00 0000000000000000`);
const DUMP_PROXIES = hex(`
  1c000000 1e00 0103 0a000000 00000000
  02 00 0000 00000000 0000 08 00`);

/** A neighbour entry as the kernel sends it in a dump (RTM_NEWNEIGH, NLM_F_MULTI). */
function kernelNeighbour(
  seq: number,
  o: { ip: string; state: number; flags: number; ll?: string; proto?: number },
): Buffer {
  const attrs = [{ type: 1, value: Buffer.from(o.ip.split('.').map(Number)) }];
  if (o.ll) attrs.push({ type: 2, value: Buffer.from(o.ll.split(':').map((x) => parseInt(x, 16))) });
  if (o.proto !== undefined) attrs.push({ type: 12, value: Buffer.from([o.proto]) });
  const body = Buffer.concat([
    hex(`02 00 0000 03000000`),
    Buffer.from([o.state & 0xff, o.state >> 8, o.flags, 0]),
    encodeAttrs(attrs),
  ]);
  const head = Buffer.alloc(16);
  head.writeUInt32LE(16 + body.length, 0);
  head.writeUInt16LE(28, 4);
  head.writeUInt16LE(2, 6);
  head.writeUInt32LE(seq, 8);
  return Buffer.concat([head, body]);
}
const done = (seq: number): Buffer => {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(20, 0);
  b.writeUInt16LE(3, 4);
  b.writeUInt16LE(2, 6);
  b.writeUInt32LE(seq, 8);
  return b;
};
const ack = (seq: number, errno = 0): Buffer => {
  const b = Buffer.alloc(36);
  b.writeUInt32LE(36, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt32LE(seq, 8);
  b.writeInt32LE(-errno, 16);
  return b;
};

describe('netlink codec', () => {
  it('builds the proxy-entry add and delete iproute2 sends', () => {
    assert.deepEqual(addProxyMessage({ ifindex: 3, address: '198.18.4.101', protocol: 76 }, 7), ADD_PROXY);
    assert.deepEqual(deleteProxyMessage({ ifindex: 3, address: '198.18.4.101' }, 8), DEL_PROXY);
  });

  it('builds RTM_SETNEIGHTBL for proxy_delay with the link in nested NDTA_PARMS', () => {
    assert.deepEqual(setProxyDelayMessage(3, 0, 9), SET_PROXY_DELAY);
  });

  it('asks for the proxy table with ndm_flags exactly NTF_PROXY', () => {
    assert.deepEqual(dumpNeighboursMessage(10, { proxy: true }), DUMP_PROXIES);
  });

  it('splits a datagram holding several messages and parses neighbour entries', () => {
    const dgram = Buffer.concat([
      kernelNeighbour(5, { ip: '198.18.4.11', state: 0x02, flags: 0, ll: '02:00:00:00:00:0b' }),
      kernelNeighbour(5, { ip: '198.18.4.101', state: 0, flags: 0x08, proto: 76 }),
      done(5),
    ]);
    const msgs = decodeMessages(dgram);
    assert.equal(msgs.length, 3);
    const a = decodeNeighbour(msgs[0]);
    assert.deepEqual(a, {
      ifindex: 3,
      address: '198.18.4.11',
      state: 2,
      flags: 0,
      proxy: false,
      lladdr: '02:00:00:00:00:0b',
      protocol: undefined,
    });
    assert.ok(isLiveNeighbour(a!));
    const b = decodeNeighbour(msgs[1]);
    assert.equal(b?.proxy, true);
    assert.equal(b?.protocol, 76);
    assert.equal(isLiveNeighbour(b!), false);
  });

  it('does not count an unanswered resolution (INCOMPLETE, FAILED) as a live neighbour', () => {
    for (const state of [0x01, 0x20]) {
      const n = decodeNeighbour(decodeMessages(kernelNeighbour(1, { ip: '198.18.4.9', state, flags: 0 }))[0]);
      assert.equal(isLiveNeighbour(n!), false);
    }
    for (const state of [0x04, 0x08, 0x10, 0x80]) {
      const n = decodeNeighbour(decodeMessages(kernelNeighbour(1, { ip: '198.18.4.9', state, flags: 0 }))[0]);
      assert.equal(isLiveNeighbour(n!), true, `state ${state}`);
    }
  });

  it('reads proxy_delay from a per-link table message', () => {
    const body = Buffer.concat([
      hex('02000000'),
      encodeAttrs([
        { type: 1, value: Buffer.from('arp_cache\0') },
        {
          type: 6,
          value: [
            { type: 1, value: hex('03000000') },
            { type: 13, value: hex('2003000000000000') },
          ],
        },
      ]),
    ]);
    const head = Buffer.alloc(16);
    head.writeUInt32LE(16 + body.length, 0);
    head.writeUInt16LE(64, 4);
    const [m] = decodeMessages(Buffer.concat([head, body]));
    assert.deepEqual(decodeNeighbourTable(m), { table: 'arp_cache', ifindex: 3, proxyDelayMs: 800 });
  });

  it('refuses lengths that overrun the buffer with stable messages', () => {
    assert.throws(
      () => decodeMessages(hex('ff000000 1c00 0000 00000000 00000000')),
      /Cannot decode netlink message \(bad length\)/,
    );
    assert.throws(() => decodeAttrs(hex('0900 0100 c612')), /Cannot decode netlink attribute \(bad length\)/);
  });
});

/** A kernel stand-in: answers each request through `answer`, asynchronously as a socket would. */
function fakeKernel(answer: (req: Buffer) => Buffer[]): {
  open: ConstructorParameters<typeof NetlinkClient>[0];
  sent: Buffer[];
} {
  const sent: Buffer[] = [];
  return {
    sent,
    open: (onDatagram) => {
      const t: NetlinkTransport = {
        send: (data) => {
          sent.push(data);
          for (const d of answer(data)) setImmediate(() => onDatagram(d));
        },
        close: () => undefined,
      };
      return t;
    },
  };
}
const seqOf = (b: Buffer) => b.readUInt32LE(8);

describe('netlink client', () => {
  it('resolves a change at its acknowledgement and rejects with the errno name', async () => {
    const k = fakeKernel((req) => [ack(seqOf(req), req.readUInt16LE(4) === 29 ? 2 : 0)]);
    const n = new Neighbours(new NetlinkClient(k.open));
    await n.addProxy(3, '198.18.4.101');
    assert.equal(await n.deleteProxy(3, '198.18.4.101'), false); // ENOENT: there was none
    const k2 = fakeKernel((req) => [ack(seqOf(req), 19)]);
    await assert.rejects(
      new Neighbours(new NetlinkClient(k2.open)).addProxy(99, '198.18.4.1'),
      (e: unknown) => e instanceof NetlinkError && e.code === 'ENODEV',
    );
  });

  it('collects a dump that spans datagrams until NLMSG_DONE, keeping the link asked for', async () => {
    const k = fakeKernel((req) => {
      const s = seqOf(req);
      return [
        kernelNeighbour(s, { ip: '198.18.4.101', state: 0, flags: 8, proto: 76 }),
        Buffer.concat([kernelNeighbour(s, { ip: '198.18.4.102', state: 0, flags: 8 }), done(s)]),
      ];
    });
    const list = await new Neighbours(new NetlinkClient(k.open)).proxies(3);
    assert.deepEqual(
      list.map((x) => [x.address, x.protocol]),
      [
        ['198.18.4.101', 76],
        ['198.18.4.102', undefined],
      ],
    );
    assert.deepEqual(await new Neighbours(new NetlinkClient(k.open)).proxies(4), []);
  });

  it('pipelines 200 changes on one socket, matching each answer by sequence number', async () => {
    const k = fakeKernel((req) => [ack(seqOf(req))]);
    const n = new Neighbours(new NetlinkClient(k.open));
    await Promise.all(Array.from({ length: 200 }, (_, i) => n.addProxy(3, `198.18.5.${i}`)));
    assert.equal(k.sent.length, 200);
    assert.equal(new Set(k.sent.map(seqOf)).size, 200);
  });

  it('runs one dump at a time (the kernel refuses a second with EBUSY)', async () => {
    let running = 0;
    let most = 0;
    const k = fakeKernel(() => []);
    let client!: NetlinkClient;
    const open: typeof k.open = (onDatagram, onError) => {
      const inner = k.open(onDatagram, onError);
      return {
        send: (d) => {
          running++;
          most = Math.max(most, running);
          setTimeout(() => {
            running--;
            onDatagram(done(seqOf(d)));
          }, 5);
        },
        close: inner.close,
      };
    };
    client = new NetlinkClient(open);
    const n = new Neighbours(client);
    await Promise.all([n.proxies(3), n.neighbours(3), n.proxies(3)]);
    assert.equal(most, 1);
  });

  it('gives up on a request the kernel never answers', async () => {
    const k = fakeKernel(() => []);
    await assert.rejects(
      new NetlinkClient(k.open, 30).request('nothing', (s) => dumpNeighboursMessage(s, { proxy: true })),
      /no answer from the kernel in 30 ms/,
    );
  });
});

describe('netlink host routes', () => {
  // Laid out by hand from linux/rtnetlink.h (rtmsg: family, dst_len, src_len, tos, table, protocol,
  // scope, type u8; flags u32) with RTA_DST and RTA_OIF; 44 bytes as strace showed iproute2 send
  // for `ip route replace 198.18.4.150/32 dev d0 scope link proto static` and `ip route del`.
  it('builds the /32 route to a bridged pod, and its removal, as iproute2 does', async () => {
    const { addHostRouteMessage, deleteHostRouteMessage } =
      await import('../../../src/links/netlink-route.js');
    assert.deepEqual(
      addHostRouteMessage({ address: '198.18.4.150', ifindex: 3 }, 11),
      hex(`2c000000 1800 0505 0b000000 00000000
           02 20 00 00 fe 04 fd 01 00000000
           0800 0100 c6120496  0800 0400 03000000`),
    );
    assert.deepEqual(
      deleteHostRouteMessage({ address: '198.18.4.150', ifindex: 3 }, 12),
      hex(`2c000000 1900 0500 0c000000 00000000
           02 20 00 00 fe 00 ff 00 00000000
           0800 0100 c6120496  0800 0400 03000000`),
    );
  });
});
