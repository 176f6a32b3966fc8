// Pure rtnetlink framing (netlink(7), rtnetlink(7)): message headers, attributes (TLVs, 4-byte
// aligned, nestable), acknowledgements and errors. Netlink is in host byte order; every machine this
// runs on (x86-64, arm64) is little-endian, and `assertLittleEndian` refuses any other at start.
import { endianness } from 'node:os';

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300; // NLM_F_ROOT | NLM_F_MATCH
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

const NLMSG_HDRLEN = 16;
const NLA_HDRLEN = 4;
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

export function assertLittleEndian(): void {
  if (endianness() !== 'LE') throw new Error('netlink codec supports little-endian hosts only');
}

const align4 = (n: number): number => (n + 3) & ~3;

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Everything after the 16-byte header. */
  payload: Buffer;
}

/** One attribute to encode: a buffer, or nested attributes. */
export interface Attr {
  type: number;
  value: Buffer | Attr[];
}

export function encodeAttrs(attrs: Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    const nested = Array.isArray(a.value);
    const value = Array.isArray(a.value) ? encodeAttrs(a.value) : a.value;
    const head = Buffer.alloc(NLA_HDRLEN);
    head.writeUInt16LE(NLA_HDRLEN + value.length, 0);
    head.writeUInt16LE(a.type | (nested ? NLA_F_NESTED : 0), 2);
    parts.push(head, value, Buffer.alloc(align4(value.length) - value.length));
  }
  return Buffer.concat(parts);
}

/** Decodes a run of attributes into type → value (the last of a repeated type wins). Throws with a
 *  stable message on a length that overruns its buffer. */
export function decodeAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN || off + len > buf.length)
      throw new Error('Cannot decode netlink attribute (bad length)');
    out.set(type, buf.subarray(off + NLA_HDRLEN, off + len));
    off += align4(len);
  }
  return out;
}

export function encodeMessage(type: number, flags: number, seq: number, body: Buffer): Buffer {
  const head = Buffer.alloc(NLMSG_HDRLEN);
  head.writeUInt32LE(NLMSG_HDRLEN + body.length, 0);
  head.writeUInt16LE(type, 4);
  head.writeUInt16LE(flags, 6);
  head.writeUInt32LE(seq, 8);
  head.writeUInt32LE(0, 12); // nl_pid 0: the kernel assigns our port
  return Buffer.concat([head, body]);
}

/** Splits one datagram into its messages (a dump packs many into one). Throws on a bad length. */
export function decodeMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length)
      throw new Error('Cannot decode netlink message (bad length)');
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** NLMSG_ERROR carries a negative errno (0 is an acknowledgement) and the request's header. */
export function decodeError(m: NetlinkMessage): number {
  if (m.payload.length < 4) throw new Error('Cannot decode netlink error (truncated)');
  return -m.payload.readInt32LE(0);
}

export const u8 = (n: number): Buffer => Buffer.from([n & 0xff]);
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}
export function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n), 0);
  return b;
}
export const cString = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]);
export function readU64(b: Buffer | undefined): number | undefined {
  return b && b.length >= 8 ? Number(b.readBigUInt64LE(0)) : undefined;
}
export function readU32(b: Buffer | undefined): number | undefined {
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}
export function readCString(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}
