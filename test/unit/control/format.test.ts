import assert from 'node:assert/strict';
import { buildStatus } from '../../../src/control/status.js';
import { clockTime, formatPacketLine, formatStatus } from '../../../src/control/format.js';
import { DecodedEvent, jsonSafe } from '../../../src/control/packet-view.js';
import type { LinkView } from '../../../src/control/types.js';
import { castQuery, event, hapResponse, TestSource } from './helpers.js';

describe('what tail and status print', function () {
  const source = new TestSource();
  const view = (e: ReturnType<typeof hapResponse>) =>
    new DecodedEvent(e, (n) => source.protocols.get(n)).view();

  it('prints a relayed packet as time, protocol, direction, source -> targets and its summary', () => {
    const line = formatPacketLine(view(hapResponse()));
    assert.equal(
      line,
      `${clockTime('2025-05-01T08:12:01.123Z')} mdns lan-to-pod 192.168.4.10 -> home/home-assistant  ` +
        'response | A: PTR _hap._tcp.local = Bridge._hap._tcp.local, SRV Bridge._hap._tcp.local = bridge.local:51826, ' +
        'A bridge.local = 192.168.4.10, TXT Bridge._hap._tcp.local = [2 strings]',
    );
  });

  it('names the pod a packet came from and ends a drop with its reason', () => {
    const line = formatPacketLine(view(castQuery({ targets: [], drop: 'rate-limited' })));
    assert.match(
      line,
      / mdns pod-to-lan 10\.42\.0\.17 \(home\/home-assistant\) -> -  query \| Q: PTR _googlecast\._tcp\.local  DROP rate-limited$/,
    );
  });

  it('says the port and size of a broadcast', () => {
    const e = event({
      protocol: 'broadcast',
      dst: '255.255.255.255',
      dstPort: 38899,
      payload: Buffer.from('{"method":"getPilot"}'),
    });
    const v = view(e);
    assert.equal(v.summary, '255.255.255.255:38899 21 bytes');
    assert.deepEqual(v.decoded, { size: 21 });
  });

  it('makes decoded values JSON-safe', () => {
    assert.deepEqual(
      jsonSafe({ a: Buffer.from('md=Bridge'), b: Buffer.from([0, 255]), c: 5n, d: undefined, e: [NaN] }),
      {
        a: 'md=Bridge',
        b: 'hex:00ff',
        c: '5',
        e: ['NaN'],
      },
    );
  });

  it('prints the status with pods, their links and problems, interfaces, and counters', () => {
    source.counters.receive('mdns', 'lan-to-pod');
    source.counters.relay('mdns', 'lan-to-pod', 1);
    source.counters.drop('mdns', 'duplicate');
    const text = formatStatus(buildStatus(source, 2, source.startedAt + 65_000));
    assert.match(text, /^agent: ready, up 1m5s/);
    assert.match(text, /LAN interface: eth0 \(192\.168\.4\.2\/24\)   source mode: auto/);
    assert.match(
      text,
      /home\/home-assistant\s+10\.42\.0\.17\s+cali1a2b3c\s+preserve\s+mdns,ssdp,broadcast\s+both\s+_hap\._tcp\.local/,
    );
    assert.match(text, /! media\/plex: no route to 10\.42\.0\.40/);
    assert.match(text, /eth0\s+lan\s+2\s+1500\s+120\s+14\s+0\s+224\.0\.0\.251,239\.255\.255\.250/);
    assert.match(text, /mdns\s+lan-to-pod\s+1\s+1\s+1/);
    assert.match(text, /mdns\s+duplicate\s+1/);
  });

  it('shows each link’s socket kind, kernel filter ports, IPv6 state and the addon’s counters', () => {
    const src = new TestSource();
    const drops = { 'send-queue-full': 3, 'too-big': 0, closed: 0, 'no-buffer-space': 0 };
    const counters = (received: number, batches: number) => ({
      received,
      sent: 2,
      sendErrors: 0,
      batches,
      sendQueued: 4,
      sendDropped: 3,
      sendDropReasons: drops,
      queueDepth: 0,
      truncated: 1,
    });
    const links = src.links.links as Map<string, LinkView>;
    links.set('eth0', {
      index: 2,
      mtu: 1500,
      groups: new Set(['224.0.0.251']),
      stats: counters(120, 30),
      kind: 'ipv4-udp',
      receive: true,
      filterPorts: [1900, 5353, 38899],
    });
    links.set('veth9', {
      index: 12,
      mtu: 1500,
      groups: new Set(),
      stats: counters(0, 0),
      receive: false,
      filterPorts: [],
    });
    const six = new Map([
      ['eth0', { state: 'on', open: true, groups: ['ff02::fb'] }],
      [
        'veth9',
        { state: 'disabled', open: false, groups: [], detail: 'net.ipv6.conf.veth9.disable_ipv6 = 1' },
      ],
    ]);
    const status = buildStatus(Object.assign(src, { links6: { status: () => six } }), 0);
    const eth0 = status.interfaces.find((i) => i.name === 'eth0')!;
    assert.deepEqual(eth0.socket.filterPorts, [1900, 5353, 38899]);
    assert.equal(eth0.socket.batches, 30);
    assert.equal(eth0.socket.sendDropReasons['send-queue-full'], 3);
    assert.equal(eth0.ipv6?.state, 'on');
    const text = formatStatus(status);
    assert.match(text, /eth0\s+lan\s+2\s+1500\s+120\s.*ipv4-udp\s+udp 1900,5353,38899\s+on/);
    assert.match(text, /veth9\s+pod\s+12\s.*ipv4-udp send-only\s+-\s+disabled/);
    assert.match(text, /! veth9 IPv6: net\.ipv6\.conf\.veth9\.disable_ipv6 = 1/);
    assert.match(text, /! eth0: sends dropped: send-queue-full 3/);
    assert.match(text, /sockets: 120 received in 30 batches, 8 sends waited, 6 sends dropped, 2 truncated/);
  });

  it('says a link’s socket takes every UDP packet when it has no filter, and shows no IPv6 column data without IPv6', () => {
    const text = formatStatus(buildStatus(new TestSource(), 0));
    assert.match(text, /eth0\s+lan\s+2\s.*ipv4-udp\s+all udp\s+-/);
  });
});
