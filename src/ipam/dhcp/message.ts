// Pure DHCPv4 message codec (RFC 2131 §2 layout, RFC 2132 options, RFC 3396 long options).
// No sockets here; malformed input gives a stable reason, never an exception.
import type { IPv4Address } from '../../config/types.js';
import {
  BOOTREPLY,
  BOOTREQUEST,
  HTYPE_ETHERNET,
  MAGIC_COOKIE,
  Option,
  messageTypeName,
  type MessageTypeCode,
} from './constants.js';

export type MacAddress = string;

export interface DhcpMessage {
  op: typeof BOOTREQUEST | typeof BOOTREPLY;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: IPv4Address;
  yiaddr: IPv4Address;
  siaddr: IPv4Address;
  giaddr: IPv4Address;
  /** The client hardware address (Ethernet only: htype 1, hlen 6). */
  chaddr: MacAddress;
  /** Option 53. */
  type: MessageTypeCode;
  /** Every other option by code, its data concatenated across repeats (RFC 3396 §7). */
  options: Map<number, Buffer>;
}

export type DecodeResult = { ok: true; message: DhcpMessage } | { ok: false; reason: string };

const FIXED = 236; // op .. file (RFC 2131 figure 1)
const OFF_CHADDR = 28;
const OFF_SNAME = 44;
const OFF_FILE = 108;
const OFF_OPTIONS = FIXED + 4;
/** RFC 2131 §2: a client must be ready to receive 576-byte messages; we pad ours to the BOOTP minimum. */
const BOOTP_MIN = 300;

export const ZERO = '0.0.0.0';

function readIp(buf: Buffer, off: number): IPv4Address {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

export function ipBytes(ip: IPv4Address): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new Error(`not an IPv4 address: ${ip}`);
  return Buffer.from(parts);
}

export function macBytes(mac: MacAddress): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p)))
    throw new Error(`not a MAC address: ${mac}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function macString(buf: Buffer, off = 0): MacAddress {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push(buf[off + i].toString(16).padStart(2, '0'));
  return out.join(':');
}

/** Walks one options area, appending to `into`; returns a reason on malformed input. */
function readOptions(buf: Buffer, start: number, end: number, into: Map<number, Buffer[]>): string | null {
  let i = start;
  while (i < end) {
    const code = buf[i];
    if (code === Option.PAD) {
      i++;
      continue;
    }
    if (code === Option.END) return null;
    if (i + 1 >= end) return 'truncated option';
    const len = buf[i + 1];
    if (i + 2 + len > end) return `option ${code} overruns the message`;
    const parts = into.get(code) ?? [];
    parts.push(buf.subarray(i + 2, i + 2 + len));
    into.set(code, parts);
    i += 2 + len;
  }
  // RFC 2131 §4.1 wants an END option; servers always send it, but a missing one loses nothing.
  return null;
}

/** Decodes a BOOTP/DHCP message (the UDP payload). */
export function decodeMessage(buf: Buffer): DecodeResult {
  if (buf.length < OFF_OPTIONS) return { ok: false, reason: 'truncated BOOTP header' };
  const op = buf[0];
  if (op !== BOOTREQUEST && op !== BOOTREPLY) return { ok: false, reason: 'bad op' };
  if (buf[1] !== HTYPE_ETHERNET || buf[2] !== 6) return { ok: false, reason: 'not Ethernet hardware' };
  if (buf.readUInt32BE(FIXED) !== MAGIC_COOKIE) return { ok: false, reason: 'no DHCP magic cookie' };
  const parts = new Map<number, Buffer[]>();
  const bad = readOptions(buf, OFF_OPTIONS, buf.length, parts);
  if (bad) return { ok: false, reason: bad };
  // RFC 2132 §9.3: option overload moves more options into `file` (1), `sname` (2) or both (3).
  const overload = parts.get(Option.OVERLOAD)?.[0]?.[0] ?? 0;
  if (overload & 1) {
    const r = readOptions(buf, OFF_FILE, OFF_FILE + 128, parts);
    if (r) return { ok: false, reason: `${r} (file)` };
  }
  if (overload & 2) {
    const r = readOptions(buf, OFF_SNAME, OFF_SNAME + 64, parts);
    if (r) return { ok: false, reason: `${r} (sname)` };
  }
  const options = new Map<number, Buffer>();
  for (const [code, list] of parts) options.set(code, list.length === 1 ? list[0] : Buffer.concat(list));
  const typeOpt = options.get(Option.MESSAGE_TYPE);
  if (!typeOpt || typeOpt.length !== 1) return { ok: false, reason: 'no DHCP message type' };
  if (!messageTypeName(typeOpt[0])) return { ok: false, reason: `unknown DHCP message type ${typeOpt[0]}` };
  options.delete(Option.MESSAGE_TYPE);
  options.delete(Option.OVERLOAD);
  return {
    ok: true,
    message: {
      op,
      xid: buf.readUInt32BE(4),
      secs: buf.readUInt16BE(8),
      flags: buf.readUInt16BE(10),
      ciaddr: readIp(buf, 12),
      yiaddr: readIp(buf, 16),
      siaddr: readIp(buf, 20),
      giaddr: readIp(buf, 24),
      chaddr: macString(buf, OFF_CHADDR),
      type: typeOpt[0] as MessageTypeCode,
      options,
    },
  };
}

/** Encodes a message; options go in the order given (message type first, END last). */
export function encodeMessage(m: DhcpMessage): Buffer {
  const opts: Buffer[] = [Buffer.from([Option.MESSAGE_TYPE, 1, m.type])];
  for (const [code, data] of m.options) {
    if (code === Option.MESSAGE_TYPE || code === Option.PAD || code === Option.END) continue;
    // RFC 3396 §7: data longer than 255 bytes is split across repeats of the option.
    for (let off = 0; off < data.length || off === 0; off += 255) {
      const chunk = data.subarray(off, off + 255);
      opts.push(Buffer.from([code, chunk.length]), chunk);
      if (data.length === 0) break;
    }
  }
  opts.push(Buffer.from([Option.END]));
  const body = Buffer.concat(opts);
  const buf = Buffer.alloc(Math.max(BOOTP_MIN, OFF_OPTIONS + body.length));
  buf[0] = m.op;
  buf[1] = HTYPE_ETHERNET;
  buf[2] = 6;
  buf[3] = 0; // hops
  buf.writeUInt32BE(m.xid >>> 0, 4);
  buf.writeUInt16BE(m.secs, 8);
  buf.writeUInt16BE(m.flags, 10);
  ipBytes(m.ciaddr).copy(buf, 12);
  ipBytes(m.yiaddr).copy(buf, 16);
  ipBytes(m.siaddr).copy(buf, 20);
  ipBytes(m.giaddr).copy(buf, 24);
  macBytes(m.chaddr).copy(buf, OFF_CHADDR);
  buf.writeUInt32BE(MAGIC_COOKIE, FIXED);
  body.copy(buf, OFF_OPTIONS);
  return buf;
}

// --- typed option accessors ------------------------------------------------------------------------

export function optionIp(m: DhcpMessage, code: number): IPv4Address | undefined {
  const v = m.options.get(code);
  return v && v.length >= 4 ? readIp(v, 0) : undefined;
}

export function optionU32(m: DhcpMessage, code: number): number | undefined {
  const v = m.options.get(code);
  return v && v.length === 4 ? v.readUInt32BE(0) : undefined;
}

export function optionText(m: DhcpMessage, code: number): string | undefined {
  const v = m.options.get(code);
  // Some servers NUL-terminate strings (RFC 2132 §2 says they should not).
  return v ? v.toString('utf8').replace(/\0+$/, '') : undefined;
}

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};
