// Turns a packet event into the line `tail` shows: decoded with the protocol's own handler, summarized,
// made JSON-safe. Runs off the packet path, once per event, only for events a client wants.
import type { ProtocolName } from '../config/types.js';
import type { PacketEvent } from '../events/bus.js';
import type { ProtocolHandler } from '../protocols/types.js';
import type { MdnsQuestionView, MdnsRecordView, PacketLine } from './types.js';

/** Protocols whose handlers only measure the payload. */
const PAYLOAD_ONLY = new Set<string>(['broadcast', 'multicast']);

export type HandlerLookup = (name: ProtocolName) => ProtocolHandler | undefined;

/** An event decoded at most once, however many clients look at it. */
export class DecodedEvent {
  private decodedOnce = false;
  private value: unknown;
  private error?: string;
  private lineOnce?: string;

  constructor(
    readonly event: PacketEvent,
    private readonly handlers: HandlerLookup,
  ) {}

  private get handler(): ProtocolHandler | undefined {
    return this.handlers(this.event.protocol);
  }

  /** The decoded payload, or undefined when it does not decode (the error is kept for the summary). */
  decoded(): unknown {
    if (!this.decodedOnce) {
      this.decodedOnce = true;
      const h = this.handler;
      if (h) {
        try {
          this.value = h.decode(this.event.payload);
        } catch (err) {
          this.error = (err as Error).message;
        }
      }
    }
    return this.value;
  }

  /** Names a service filter matches (mDNS owner names); empty when not decodable. */
  names(): string[] {
    const d = this.decoded();
    const h = this.handler;
    if (d === undefined || !h) return [];
    try {
      return h.names(d);
    } catch {
      return [];
    }
  }

  /** The JSON line, built once. */
  line(): string {
    this.lineOnce ??= JSON.stringify(this.view()) + '\n';
    return this.lineOnce;
  }

  view(): PacketLine {
    const e = this.event;
    const d = this.decoded();
    const line: PacketLine = {
      type: 'packet',
      time: new Date(e.time).toISOString(),
      protocol: e.protocol,
      direction: e.flow,
      ingress: e.ingress,
      src: e.src,
      srcPort: e.srcPort,
      dst: e.dst,
      dstPort: e.dstPort,
      size: e.size,
      pod: e.pod ?? null,
      targets: e.targets,
      drop: e.drop ?? null,
      detail: e.detail ?? null,
      summary: this.summary(d),
    };
    if (d !== undefined) {
      if (e.protocol === 'mdns') Object.assign(line, mdnsFields(d));
      else line.decoded = jsonSafe(d);
    }
    return line;
  }

  private summary(d: unknown): string {
    const e = this.event;
    const h = this.handler;
    if (d !== undefined && h) {
      try {
        const text = h.summarize(d);
        // Vendor payloads say little; the port says which vendor (38899 WiZ, 9999 Kasa...).
        return PAYLOAD_ONLY.has(e.protocol) ? `${e.dst}:${e.dstPort} ${text}` : text;
      } catch {
        // fall through to the plain summary
      }
    }
    const plain = `${e.dst}:${e.dstPort} ${e.size} bytes`;
    if (this.error) return `${plain}, not decodable: ${this.error}`;
    return plain;
  }
}

interface DnsLike {
  type?: string;
  questions?: Array<{ name: string; type: string }>;
  answers?: Array<{ name: string; type: string; data?: unknown }>;
  authorities?: Array<{ name: string; type: string; data?: unknown }>;
  additionals?: Array<{ name: string; type: string; data?: unknown }>;
}

function records(list: DnsLike['answers']): MdnsRecordView[] {
  return (list ?? []).map((r) => ({ name: r.name, type: r.type, data: jsonSafe(r.data ?? null) }));
}

/** mDNS fields of a packet line: the DNS sections with names, types and record data. */
export function mdnsFields(
  decoded: unknown,
): Pick<PacketLine, 'kind' | 'questions' | 'answers' | 'authorities' | 'additionals'> {
  const p = decoded as DnsLike;
  const questions: MdnsQuestionView[] = (p.questions ?? []).map((q) => ({ name: q.name, type: q.type }));
  return {
    kind: p.type === 'response' ? 'response' : 'query',
    questions,
    answers: records(p.answers),
    authorities: records(p.authorities),
    additionals: records(p.additionals),
  };
}

const PRINTABLE = /^[\x20-\x7e\t\r\n]*$/;

/**
 * A value JSON.stringify can write faithfully: Buffers become text (or `hex:` when not printable),
 * bigints strings, Maps and Sets objects and lists; cycles and very deep values are cut.
 */
export function jsonSafe(v: unknown, depth = 0): unknown {
  if (depth > 8) return '…';
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'bigint':
      return v.toString();
    case 'function':
    case 'symbol':
      return null;
  }
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
    const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    const text = b.toString('utf8');
    return PRINTABLE.test(text) ? text : 'hex:' + b.toString('hex');
  }
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map((x) => jsonSafe(x, depth + 1));
  if (v instanceof Map)
    return Object.fromEntries([...v].map(([k, x]) => [String(k), jsonSafe(x, depth + 1)]));
  if (v instanceof Set) return [...v].map((x) => jsonSafe(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined || typeof x === 'function') continue;
    out[k] = jsonSafe(x, depth + 1);
  }
  return out;
}
