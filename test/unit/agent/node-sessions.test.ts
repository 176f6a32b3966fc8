// The node-mode session table over real UDP sockets on loopback: replies come back to the pod that
// asked, each pod holds only its share, and a session whose bind fails settles instead of leaking.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { NodeSessions } from '../../../src/agent/node-relay.js';
import { createLogger } from '../../../src/log/logger.js';
import { ssdp } from '../../../src/protocols/ssdp.js';
import type { Datagram } from '../../../src/reflect/types.js';
import { attached } from '../reflect/helpers.js';

const log = createLogger('error', 'json');
const LOOPBACK = '127.0.0.1';
const podA = attached('a', '10.42.0.5', 'cali-a', {}, 'cali-a', 'unroutable');
const podB = attached('b', '10.42.0.6', 'cali-b', {}, 'cali-b', 'unroutable');

function msearch(srcPort: number, dstPort: number, dst = LOOPBACK): Datagram {
  const payload = Buffer.from('M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\nMAN: "ssdp:discover"\r\n\r\n');
  return { family: 4, src: '10.42.0.5', dst, ttl: 2, srcPort, dstPort, segment: payload, payload };
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

describe('NodeSessions', () => {
  let device: Socket;
  let port: number;
  const tables: NodeSessions[] = [];
  const table = (
    o: ConstructorParameters<typeof NodeSessions>[2],
    onReply: ConstructorParameters<typeof NodeSessions>[0] = () => {},
  ) => {
    const t = new NodeSessions(onReply, log, o);
    tables.push(t);
    return t;
  };

  beforeEach(async () => {
    // A "device" answering every M-SEARCH to the port it came from, as an SSDP responder does.
    device = createSocket('udp4');
    device.on('message', (m, r) => device.send(`HTTP/1.1 200 OK\r\nST: ssdp:all\r\n\r\n`, r.port, r.address));
    device.bind(0, LOOPBACK);
    await once(device, 'listening');
    port = device.address().port;
  });
  afterEach(() => {
    device.close();
    for (const t of tables.splice(0)) t.close();
  });

  it('sends from the node’s address and hands the device’s unicast reply to the pod that asked', async () => {
    const replies: Array<[string, string, number, number]> = [];
    const t = table({}, (to, _h, src, srcPort, podPort) =>
      replies.push([to.pod.name, src, srcPort, podPort]),
    );
    assert.equal(t.send(podA, ssdp, msearch(50000, port), 2, LOOPBACK), true);
    for (let i = 0; i < 50 && replies.length === 0; i++) await tick();
    assert.deepEqual(replies, [['home/a', LOOPBACK, port, 50000]]);
    assert.equal(t.size, 1);
  });

  it('gives each pod its own share: a pod past it is refused, another pod is not', () => {
    const t = table({ perPod: 4, maxSessions: 100 });
    for (let p = 0; p < 4; p++) assert.equal(t.send(podA, ssdp, msearch(51000 + p, port), 2, LOOPBACK), true);
    assert.equal(t.room(podA, ssdp, 52000), false, 'a fifth source port of pod A');
    assert.equal(t.send(podA, ssdp, msearch(52000, port), 2, LOOPBACK), false);
    assert.equal(t.room(podA, ssdp, 51000), true, 'an open session is always usable');
    assert.equal(t.room(podB, ssdp, 53000), true);
    assert.equal(t.sizeOf('home/a'), 4);
  });

  it('when the table is full, a pod below its fair share takes the flooding pod’s oldest session', () => {
    const t = table({ perPod: 8, maxSessions: 8 });
    for (let p = 0; p < 8; p++) t.send(podA, ssdp, msearch(51000 + p, port), 2, LOOPBACK);
    assert.equal(t.size, 8);
    assert.equal(t.room(podB, ssdp, 53000), true);
    assert.equal(t.send(podB, ssdp, msearch(53000, port), 2, LOOPBACK), true);
    assert.deepEqual([t.sizeOf('home/a'), t.sizeOf('home/b'), t.size], [7, 1, 8]);
    assert.equal(t.room(podA, ssdp, 51000), false, 'the oldest of A went');
    assert.equal(t.room(podA, ssdp, 51007), true);
  });

  it('settles a session whose bind fails: removed, its queued packets counted lost, no chain of copies', async () => {
    const lost: number[] = [];
    const failing = new NodeSessions(() => {}, log, { onLost: (_h, n) => lost.push(n) });
    tables.push(failing);
    // 198.18.0.99 is on no interface of this host: the bind fails with EADDRNOTAVAIL.
    for (let i = 0; i < 3; i++)
      assert.equal(failing.send(podA, ssdp, msearch(50000, port), 2, '198.18.0.99'), true);
    for (let i = 0; i < 50 && failing.size > 0; i++) await tick();
    assert.equal(failing.size, 0, 'the failed session is gone, not kept alive by later sends');
    assert.deepEqual(lost, [3]);
  });

  it('refuses more than a bounded number of packets while a bind is pending', () => {
    const t = table({});
    let accepted = 0;
    for (let i = 0; i < 100; i++) if (t.send(podA, ssdp, msearch(50000, port), 2, LOOPBACK)) accepted++;
    assert.ok(accepted < 100 && accepted >= 1, `accepted ${accepted} before the bind completed`);
  });

  it('drops sessions bound to an old node address when the address changes', async () => {
    const t = table({});
    t.send(podA, ssdp, msearch(50000, port), 2, LOOPBACK);
    await tick();
    t.rebind('127.0.0.2');
    assert.equal(t.size, 0);
  });

  it('expires a session ttlMs after its last use', async function () {
    this.timeout(6000);
    let now = 1000;
    const t = table({ ttlMs: 500, now: () => now });
    t.send(podA, ssdp, msearch(50000, port), 2, LOOPBACK);
    now += 400;
    t.send(podA, ssdp, msearch(50000, port), 2, LOOPBACK); // used again: lives on
    now += 400;
    await new Promise((r) => setTimeout(r, 1100)); // the sweeper runs each second
    assert.equal(t.size, 1);
    now += 200;
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(t.size, 0);
  });
});
