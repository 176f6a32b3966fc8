import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { ControlServer, ControlServerError } from '../../../src/control/server.js';
import type { StatusReply } from '../../../src/control/types.js';
import {
  castQuery,
  hapResponse,
  LineClient,
  settle,
  ssdpNotify,
  tempSocketPath,
  TestSource,
} from './helpers.js';

describe('ControlServer', function () {
  let source: TestSource;
  let server: ControlServer;
  let path: string;
  const clients: LineClient[] = [];

  async function start(opts: Partial<ConstructorParameters<typeof ControlServer>[1]> = {}) {
    server = new ControlServer(source, { path, ...opts });
    await server.listen();
  }
  async function tail(filter: Record<string, unknown> = {}) {
    const c = await LineClient.tail(path, filter);
    clients.push(c);
    return c;
  }

  beforeEach(() => {
    source = new TestSource();
    path = tempSocketPath();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server?.close();
  });

  describe('the socket file', function () {
    it('is created 0600 in a parent directory it creates 0700', async () => {
      await start();
      const sock = statSync(path);
      assert.ok(sock.isSocket());
      assert.equal(sock.mode & 0o777, 0o600);
      assert.equal(statSync(dirname(path)).mode & 0o777, 0o700);
    });

    it('replaces a stale socket left by an agent that was killed', async () => {
      // A real stale socket: another process listens on the path and dies by SIGKILL.
      await start();
      await server.close();
      const child = spawn(process.execPath, [
        '-e',
        `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
      ]);
      await new Promise((r) => child.stdout.once('data', r));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      assert.ok(statSync(path).isSocket(), 'the dead process left its socket file');
      server = new ControlServer(source, { path });
      await server.listen();
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const c = await LineClient.open(path, { cmd: 'status' });
      await c.until(() => c.closed);
      assert.equal(c.lines[0].type, 'status');
    });

    it('refuses to take the socket of an agent that still answers on it', async () => {
      await start();
      const second = new ControlServer(source, { path });
      await assert.rejects(second.listen(), (err: Error) => {
        assert.ok(err instanceof ControlServerError);
        assert.match(err.message, /another lan-reflector agent is serving/);
        return true;
      });
    });

    it('refuses to remove a file that is not a socket', async () => {
      await start();
      await server.close();
      writeFileSync(path, 'not a socket');
      server = new ControlServer(source, { path });
      await assert.rejects(server.listen(), /exists and is not a socket/);
    });
  });

  describe('status', function () {
    it('answers with pods, links, options, interfaces, groups, source mode and counters, then closes', async () => {
      source.counters.receive('mdns', 'lan-to-pod');
      source.counters.receive('mdns', 'lan-to-pod');
      source.counters.relay('mdns', 'lan-to-pod', 2);
      source.counters.drop('ssdp', 'rate-limited');
      await start();
      const c = await LineClient.open(path, { cmd: 'status' });
      await c.until(() => c.closed);
      assert.equal(c.lines.length, 1);
      const s = c.lines[0] as unknown as StatusReply;
      assert.equal(s.type, 'status');
      assert.equal(s.ready, true);
      assert.equal(s.lanInterface, 'eth0');
      assert.equal(s.lanAddress, '192.168.4.2/24');
      assert.equal(s.sourceMode, 'auto');
      assert.ok(s.uptimeSeconds >= 65);
      assert.deepEqual(
        s.pods.map((p) => [p.name, p.link, p.problem]),
        [
          ['home/home-assistant', 'cali1a2b3c', null],
          ['media/plex', null, 'no route to 10.42.0.40 on this node (is the pod running here?)'],
          ['media/sonos-ctl', 'cali4d5e6f', null],
        ],
      );
      assert.deepEqual(s.pods[0].options.services, ['_hap._tcp.local']);
      assert.equal(s.pods[2].options.direction, 'lan-to-pod');
      assert.deepEqual(
        s.interfaces.map((i) => [i.name, i.role, i.pods]),
        [
          ['eth0', 'lan', []],
          ['cali1a2b3c', 'pod', ['home/home-assistant']],
          ['cali4d5e6f', 'pod', ['media/sonos-ctl']],
        ],
      );
      assert.deepEqual(s.interfaces[0].groups, ['224.0.0.251', '239.255.255.250']);
      assert.equal(s.interfaces[0].received, 120);
      assert.deepEqual(s.packets.mdns?.['lan-to-pod'], { received: 2, relayed: 1, emitted: 2 });
      assert.deepEqual(s.packets.mdns?.['pod-to-lan'], { received: 0, relayed: 0, emitted: 0 });
      assert.deepEqual(s.dropped, { ssdp: { 'rate-limited': 1 } });
      assert.equal(s.sessions, 0);
    });

    it('reports the session table size once one exists, and the number of tail clients', async () => {
      source.sessions = { size: 3 };
      await start();
      await tail();
      const c = await LineClient.open(path, { cmd: 'status' });
      await c.until(() => c.closed);
      assert.equal(c.lines[0].sessions, 3);
      assert.equal(c.lines[0].tailClients, 1);
    });
  });

  describe('bad requests', function () {
    for (const [what, line, message] of [
      ['an unknown command', '{"cmd":"reboot"}', /unknown cmd "reboot"/],
      ['a line that is not JSON', 'status', /not JSON/],
      [
        'a filter with an unknown field',
        '{"cmd":"tail","filter":{"ip":"1.2.3.4"}}',
        /filter\.ip is not known/,
      ],
      [
        'a filter with a bad direction',
        '{"cmd":"tail","filter":{"direction":"up"}}',
        /filter\.direction must be/,
      ],
    ] as const) {
      it(`answers ${what} with an error line and closes`, async () => {
        await start();
        const s = net.connect(path);
        let text = '';
        s.setEncoding('utf8');
        s.on('data', (d: string) => (text += d));
        s.write(line + '\n');
        await new Promise((r) => s.on('close', r));
        const reply = JSON.parse(text) as { type: string; message: string };
        assert.equal(reply.type, 'error');
        assert.match(reply.message, message);
      });
    }
  });

  describe('tail', function () {
    it('streams a relayed mDNS response with its answers decoded', async () => {
      await start();
      const c = await tail();
      source.bus.publish(hapResponse());
      await c.until(() => c.packets().length === 1);
      const p = c.packets()[0];
      assert.equal(p.time, '2025-05-01T08:12:01.123Z');
      assert.equal(p.protocol, 'mdns');
      assert.equal(p.direction, 'lan-to-pod');
      assert.equal(p.ingress, 'eth0');
      assert.equal(p.src, '192.168.4.10');
      assert.equal(p.srcPort, 5353);
      assert.equal(p.dst, '224.0.0.251');
      assert.equal(p.pod, null);
      assert.deepEqual(p.targets, ['home/home-assistant']);
      assert.equal(p.drop, null);
      assert.equal(p.kind, 'response');
      assert.deepEqual(p.questions, []);
      assert.deepEqual(p.answers, [
        { name: '_hap._tcp.local', type: 'PTR', data: 'Bridge._hap._tcp.local' },
        {
          name: 'Bridge._hap._tcp.local',
          type: 'SRV',
          data: { priority: 0, weight: 0, port: 51826, target: 'bridge.local' },
        },
        { name: 'bridge.local', type: 'A', data: '192.168.4.10' },
        { name: 'Bridge._hap._tcp.local', type: 'TXT', data: ['c#=2', 'md=Bridge'] },
      ]);
      assert.match(String(p.summary), /^response \| A: PTR _hap\._tcp\.local = Bridge\._hap\._tcp\.local/);
      assert.equal(typeof p.size, 'number');
    });

    it('streams an mDNS query from a pod with its questions', async () => {
      await start();
      const c = await tail();
      source.bus.publish(castQuery());
      await c.until(() => c.packets().length === 1);
      const p = c.packets()[0];
      assert.equal(p.pod, 'home/home-assistant');
      assert.equal(p.kind, 'query');
      assert.deepEqual(p.questions, [{ name: '_googlecast._tcp.local', type: 'PTR' }]);
      assert.equal(p.summary, 'query | Q: PTR _googlecast._tcp.local');
    });

    it('streams SSDP with its decoded headers and a drop with its reason', async () => {
      await start();
      const c = await tail();
      source.bus.publish(ssdpNotify());
      source.bus.publish(ssdpNotify({ targets: [], drop: 'rate-limited' }));
      await c.until(() => c.packets().length === 2);
      const [relayed, dropped] = c.packets();
      assert.match(
        String(relayed.summary),
        /^NOTIFY ssdp:alive NT=urn:schemas-upnp-org:device:ZonePlayer:1 LOCATION=http/,
      );
      const decoded = relayed.decoded as { method: string; headers: Record<string, string> };
      assert.equal(decoded.method, 'NOTIFY');
      assert.equal(decoded.headers.USN, 'uuid:RINCON_000E58::urn:schemas-upnp-org:device:ZonePlayer:1');
      assert.equal(dropped.drop, 'rate-limited');
      assert.deepEqual(dropped.targets, []);
    });

    it('shows a malformed drop with the decoder’s message', async () => {
      await start();
      const c = await tail({ drops: true });
      source.bus.publish(
        hapResponse({
          payload: Buffer.from([1, 2, 3]),
          drop: 'malformed',
          detail: 'Cannot decode mDNS packet (shorter than a DNS header)',
        }),
      );
      await c.until(() => c.packets().length === 1);
      const p = c.packets()[0];
      assert.equal(p.drop, 'malformed');
      assert.match(String(p.summary), /not decodable: Cannot decode mDNS packet/);
      assert.equal(p.answers, undefined);
    });

    describe('filters in the agent', function () {
      const all = () => [
        hapResponse(), // LAN -> home-assistant, mdns
        castQuery(), // home-assistant -> LAN, mdns
        ssdpNotify(), // LAN -> sonos-ctl, ssdp
        ssdpNotify({ src: '192.168.4.31', targets: [], drop: 'duplicate' }),
        hapResponse({ src: '192.168.4.99', targets: [], drop: 'filtered' }),
      ];
      const cases: Array<[string, Record<string, unknown>, string[]]> = [
        ['by protocol', { protocols: ['ssdp'] }, ['192.168.4.30', '192.168.4.31']],
        ['by pod name with namespace', { pod: 'home/home-assistant' }, ['192.168.4.10', '10.42.0.17']],
        ['by the name part of a pod', { pod: 'sonos-ctl' }, ['192.168.4.30']],
        ['by a target pod’s address', { pod: '10.42.0.23' }, ['192.168.4.30']],
        ['by a source address', { pod: '192.168.4.99' }, ['192.168.4.99']],
        ['to drops only', { drops: true }, ['192.168.4.31', '192.168.4.99']],
        ['by direction', { direction: 'pod-to-lan' }, ['10.42.0.17']],
        ['by mDNS service type', { service: '_hap._tcp' }, ['192.168.4.10', '192.168.4.99']],
        ['by several fields at once', { service: '_hap._tcp.local.', drops: true }, ['192.168.4.99']],
      ];
      for (const [what, filter, sources] of cases) {
        it(`filters ${what}`, async () => {
          await start();
          const c = await tail(filter);
          for (const e of all()) source.bus.publish(e);
          await settle();
          assert.deepEqual(
            c.packets().map((p) => p.src),
            sources,
          );
        });
      }

      it('decodes no packet that every client’s cheaper filters already reject', async () => {
        await start();
        await tail({ protocols: ['ssdp'] });
        for (let i = 0; i < 10; i++) source.bus.publish(hapResponse());
        await settle();
        assert.equal(source.decodes, 0);
      });
    });

    it('gives every packet to two clients at once, decoding each packet once', async () => {
      await start();
      const a = await tail();
      const b = await tail({ service: '_hap._tcp' });
      for (let i = 0; i < 50; i++) source.bus.publish(hapResponse({ srcPort: 10000 + i }));
      await a.until(() => a.packets().length === 50 && b.packets().length === 50);
      assert.deepEqual(
        a.packets().map((p) => p.srcPort),
        b.packets().map((p) => p.srcPort),
      );
      assert.equal(source.decodes, 50);
    });

    it('lets a stalled client lose lines and tells it how many, while others get everything and publish stays fast', async function () {
      this.timeout(20_000);
      await start({ maxQueuedBytes: 64 * 1024 });
      const reader = await tail();
      const stalled = await tail();
      stalled.socket.pause();
      const total = 10_000;
      let slowest = 0n;
      let spent = 0n;
      for (let i = 0; i < total; i++) {
        const e = hapResponse({ srcPort: i });
        const t0 = process.hrtime.bigint();
        source.bus.publish(e);
        const dt = process.hrtime.bigint() - t0;
        spent += dt;
        if (dt > slowest) slowest = dt;
        // Packets arrive in bursts between turns of the event loop, as from the packet path's sockets.
        if (i % 50 === 49) await new Promise((r) => setTimeout(r, 1));
      }
      await reader.until(() => reader.packets().length === total, 15_000);
      assert.deepEqual(
        reader.packets().map((p) => p.srcPort),
        Array.from({ length: total }, (_, i) => i),
      );
      assert.ok(!reader.lines.some((l) => l.type === 'lost'), 'the reading client lost nothing');
      // A publish call never waits for a client: microseconds on average, no stall at its slowest.
      const meanUs = Number(spent / BigInt(total)) / 1000;
      assert.ok(meanUs < 50, `a publish took ${meanUs} µs on average`);
      assert.ok(slowest < 20_000_000n, `the slowest publish took ${Number(slowest) / 1e6} ms`);

      stalled.socket.resume();
      await stalled.until(() => stalled.lines.some((l) => l.type === 'lost'), 5000);
      await settle(100);
      const got = stalled.packets().length;
      const lost = stalled.lines.filter((l) => l.type === 'lost').reduce((n, l) => n + Number(l.count), 0);
      assert.ok(got < total, 'the stalled client did not get every line');
      assert.ok(got > 0, 'the stalled client got the lines that fitted in its queue');
      assert.equal(got + lost, total, 'received plus reported lost is every packet');
    });

    it('listens to the bus only while a tail client is connected', async () => {
      await start();
      assert.equal(source.bus.active, false);
      const c = await tail();
      assert.equal(source.bus.active, true);
      c.close();
      await settle();
      assert.equal(source.bus.active, false);
    });

    it('ends tail streams when the agent stops', async () => {
      await start();
      const c = await tail();
      await server.close();
      await c.until(() => c.closed);
      assert.equal(source.bus.active, false);
    });
  });
});
