// Real pieces of the agent (EventBus, Counters, PodRegistry, the protocol table) behind the small
// ControlSource interface, real mDNS packets from dns-packet, and a line-reading socket client.
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import type { Answer, Question } from 'dns-packet';
import type { PodOptions, ProtocolName } from '../../../src/config/types.js';
import type { ControlSource, LinkView } from '../../../src/control/types.js';
import { EventBus, type PacketEvent } from '../../../src/events/bus.js';
import { PodRegistry } from '../../../src/pods/registry.js';
import type { PodSpec } from '../../../src/pods/types.js';
import { protocolTable, type ProtocolTable } from '../../../src/protocols/registry.js';
import type { ProtocolHandler } from '../../../src/protocols/types.js';
import { Counters } from '../../../src/reflect/counters.js';
import type { PodAttachment } from '../../../src/reflect/types.js';

export const OPTIONS: PodOptions = {
  protocols: ['mdns', 'ssdp', 'broadcast'],
  direction: 'both',
  services: [],
  broadcastPorts: [],
};

export const HA: PodSpec = {
  key: 'home/home-assistant',
  name: 'home/home-assistant',
  addresses: ['10.42.0.17'],
  options: { ...OPTIONS, services: ['_hap._tcp.local'] },
};
export const SONOS: PodSpec = {
  key: 'media/sonos-ctl',
  name: 'media/sonos-ctl',
  addresses: ['10.42.0.23'],
  options: { ...OPTIONS, protocols: ['ssdp'], direction: 'lan-to-pod' },
};
/** Opted in, but its link is not known yet. */
export const WAITING: PodSpec = {
  key: 'media/plex',
  name: 'media/plex',
  addresses: ['10.42.0.40'],
  options: OPTIONS,
};

export function link(
  index: number,
  groups: string[],
  stats = { received: 0, sent: 0, sendErrors: 0 },
): LinkView {
  return { index, mtu: 1500, groups: new Set(groups), stats };
}

/** The agent's observable surface made of its real parts; `decodes` counts decode calls. */
export class TestSource implements ControlSource {
  readonly bus = new EventBus();
  readonly counters = new Counters();
  readonly registry = new PodRegistry(() => {});
  readonly table: ProtocolTable = protocolTable({
    protocols: ['mdns', 'ssdp', 'broadcast'],
    broadcastPorts: [38899],
    multicastGroups: [],
  });
  readonly config = {
    lanInterface: 'eth0',
    protocols: ['mdns', 'ssdp', 'broadcast'] as ProtocolName[],
    sourceMode: 'auto' as const,
  };
  attachments: PodAttachment[] = [
    { pod: HA, link: 'cali1a2b3c', port: 'cali1a2b3c', reach: 'lan-subnet' },
    { pod: SONOS, link: 'cali4d5e6f', port: 'cali4d5e6f', reach: 'unroutable' },
  ];
  readonly links = {
    links: new Map<string, LinkView>([
      ['eth0', link(2, ['224.0.0.251', '239.255.255.250'], { received: 120, sent: 14, sendErrors: 0 })],
      ['cali1a2b3c', link(7, ['224.0.0.251', '239.255.255.250'])],
      ['cali4d5e6f', link(9, ['224.0.0.251', '239.255.255.250'])],
    ]),
  };
  readonly startedAt = Date.now() - 65_000;
  ready = true;
  sessions?: { size: number };
  lanAddress = { address: '192.168.4.2', prefixLength: 24 };
  decodes = 0;
  readonly protocols = {
    get: (name: ProtocolName): ProtocolHandler | undefined => {
      const h = this.table.get(name);
      if (!h) return undefined;
      return {
        ...h,
        decode: (payload: Buffer) => {
          this.decodes++;
          return h.decode(payload);
        },
      };
    },
  };

  constructor() {
    for (const p of [HA, SONOS, WAITING]) this.registry.upsert(p);
  }

  podProblems(): Map<string, string> {
    return new Map([['media/plex', 'no route to 10.42.0.40 on this node (is the pod running here?)']]);
  }
}

export function mdnsPayload(opts: {
  type?: 'query' | 'response';
  questions?: Question[];
  answers?: Answer[];
}): Buffer {
  return dnsPacket.encode({
    type: opts.type ?? 'query',
    id: 0,
    flags: opts.type === 'response' ? dnsPacket.AUTHORITATIVE_ANSWER : 0,
    questions: opts.questions ?? [],
    answers: opts.answers ?? [],
  });
}

/** A HomeKit bridge announcing itself from the LAN, relayed into Home Assistant's pod. */
export function hapResponse(over: Partial<PacketEvent> = {}): PacketEvent {
  return event({
    payload: mdnsPayload({
      type: 'response',
      answers: [
        { name: '_hap._tcp.local', type: 'PTR', ttl: 4500, data: 'Bridge._hap._tcp.local' },
        {
          name: 'Bridge._hap._tcp.local',
          type: 'SRV',
          ttl: 120,
          data: { target: 'bridge.local', port: 51826 },
        },
        { name: 'bridge.local', type: 'A', ttl: 120, data: '192.168.4.10' },
        { name: 'Bridge._hap._tcp.local', type: 'TXT', ttl: 4500, data: ['c#=2', 'md=Bridge'] },
      ],
    }),
    targets: ['home/home-assistant'],
    ...over,
  });
}

/** Home Assistant asking for Chromecasts from its pod. */
export function castQuery(over: Partial<PacketEvent> = {}): PacketEvent {
  return event({
    flow: 'pod-to-lan',
    ingress: 'cali1a2b3c',
    src: '10.42.0.17',
    pod: 'home/home-assistant',
    payload: mdnsPayload({ questions: [{ name: '_googlecast._tcp.local', type: 'PTR' }] }),
    targets: ['lan'],
    ...over,
  });
}

export function ssdpNotify(over: Partial<PacketEvent> = {}): PacketEvent {
  const text =
    'NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: urn:schemas-upnp-org:device:ZonePlayer:1\r\n' +
    'NTS: ssdp:alive\r\nLOCATION: http://192.168.4.30:1400/xml/device_description.xml\r\n' +
    'USN: uuid:RINCON_000E58::urn:schemas-upnp-org:device:ZonePlayer:1\r\n\r\n';
  return event({
    protocol: 'ssdp',
    src: '192.168.4.30',
    srcPort: 1900,
    dst: '239.255.255.250',
    dstPort: 1900,
    payload: Buffer.from(text, 'latin1'),
    targets: ['media/sonos-ctl'],
    ...over,
  });
}

export function event(over: Partial<PacketEvent> & { payload: Buffer }): PacketEvent {
  return {
    time: Date.parse('2025-05-01T08:12:01.123Z'),
    protocol: 'mdns',
    flow: 'lan-to-pod',
    ingress: 'eth0',
    src: '192.168.4.10',
    srcPort: 5353,
    dst: '224.0.0.251',
    dstPort: 5353,
    size: over.payload.length,
    targets: [],
    ...over,
  };
}

export function tempSocketPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'lr-ctl-')), 'run', 'control.sock');
}

/** A control-socket client that keeps every JSON line it receives. */
export class LineClient {
  readonly lines: Array<Record<string, unknown>> = [];
  closed = false;
  private buf = '';
  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      this.buf += c;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(JSON.parse(this.buf.slice(0, nl)) as Record<string, unknown>);
        this.buf = this.buf.slice(nl + 1);
      }
    });
    socket.on('close', () => (this.closed = true));
  }

  static async open(path: string, request: unknown): Promise<LineClient> {
    const s = net.connect(path);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    const c = new LineClient(s);
    s.write(JSON.stringify(request) + '\n');
    return c;
  }

  /** Opens a tail and waits for the agent's `subscribed` line. */
  static async tail(path: string, filter: Record<string, unknown> = {}): Promise<LineClient> {
    const c = await LineClient.open(path, { cmd: 'tail', filter });
    await c.until(() => c.lines.some((l) => l.type === 'subscribed'));
    return c;
  }

  packets(): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l.type === 'packet');
  }

  async until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
    await waitFor(cond, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

export async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Lets the hub flush (it writes on the next turn of the event loop) and the bytes cross the socket. */
export function settle(ms = 30): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
