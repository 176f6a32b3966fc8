// Cheap, allocation-free reading of DNS wire format (RFC 1035 4.1) for the packet path: a structural
// check that runs before anything decodes a packet, and the owner names a service filter needs.
// A full decode (dns-packet) sizes arrays from the header's counts and builds an object per record:
// a 12-byte header claiming 65,535 records cost 1.8 ms to reject. This walks the bytes once, bounded
// by the packet's length, and keeps dns-packet for `tail` and the node-mode rewrite.

const HEADER = 12;
/** The smallest question: the root name (1 byte), type and class (RFC 1035 4.1.2). */
const MIN_QUESTION = 5;
/** The smallest resource record: root name, type, class, TTL, RDLENGTH (RFC 1035 4.1.3). */
const MIN_RECORD = 11;
/** RFC 1035 2.3.4: a name is at most 255 octets; dns-packet refuses more than 254 label bytes. */
const MAX_NAME = 254;
const TYPE_PTR = 12;
/** Where a name sits in the RDATA of the types that carry one (RFC 1035 3.3, RFC 2782, RFC 4034):
 *  NS, CNAME, PTR, DNAME at 0, SRV after priority/weight/port, NSEC's next domain at 0. These names
 *  are checked too, so what passes decodes for `tail` and the node-mode rewrite. */
const RDATA_NAME_AT: Record<number, number> = { 2: 0, 5: 0, 12: 0, 39: 0, 33: 6, 47: 0 };

/** Error messages, stable for `tail` and tests. */
export const DNS_ERRORS = {
  header: 'shorter than a DNS header',
  counts: 'section counts exceed the packet',
  name: 'bad name',
  pointer: 'bad name pointer',
  longName: 'name too long',
  question: 'truncated question',
  record: 'truncated record',
} as const;

/** Why the last skipName() returned -1: a module variable, so the hot path allocates nothing. */
let lastNameError: string = DNS_ERRORS.name;

/** The offset after the name at `off` (after its first pointer, if it has one), or -1. Pointers
 *  must point strictly backwards, so a chain of them always ends; labels total at most MAX_NAME. */
function skipName(buf: Buffer, off: number): number {
  const start = off;
  let limit = start; // a pointer must go strictly backwards (RFC 1035 4.1.4: "a prior occurrence")
  let total = 0;
  let end = -1; // where the name ends in the record (after its first pointer, if any)
  for (;;) {
    if (off >= buf.length) return ((lastNameError = DNS_ERRORS.name), -1);
    const len = buf[off];
    if (len === 0) return end === -1 ? off + 1 : end;
    const kind = len & 0xc0;
    if (kind === 0) {
      if (off + 1 + len > buf.length) return ((lastNameError = DNS_ERRORS.name), -1);
      total += len + 1;
      if (total > MAX_NAME) return ((lastNameError = DNS_ERRORS.longName), -1);
      off += len + 1;
    } else if (kind === 0xc0) {
      if (off + 2 > buf.length) return ((lastNameError = DNS_ERRORS.pointer), -1);
      const target = ((len & 0x3f) << 8) | buf[off + 1];
      if (target >= limit) return ((lastNameError = DNS_ERRORS.pointer), -1);
      if (end === -1) end = off + 2;
      limit = target;
      off = target;
    } else {
      return ((lastNameError = DNS_ERRORS.name), -1); // 0x40/0x80: extended label types (RFC 6891)
    }
  }
}

/** Undefined when `payload` is a structurally sound DNS message, else why not. Counts are checked
 *  against the remaining length before any record is read; every label and pointer is bounded. */
export function checkDns(payload: Buffer): string | undefined {
  const len = payload.length;
  if (len < HEADER) return DNS_ERRORS.header;
  const qd = payload.readUInt16BE(4);
  const rr = payload.readUInt16BE(6) + payload.readUInt16BE(8) + payload.readUInt16BE(10);
  if (HEADER + qd * MIN_QUESTION + rr * MIN_RECORD > len) return DNS_ERRORS.counts;
  let off = HEADER;
  for (let i = 0; i < qd; i++) {
    off = skipName(payload, off);
    if (off < 0) return lastNameError;
    off += 4;
    if (off > len) return DNS_ERRORS.question;
  }
  for (let i = 0; i < rr; i++) {
    off = skipName(payload, off);
    if (off < 0) return lastNameError;
    if (off + 10 > len) return DNS_ERRORS.record;
    const type = payload.readUInt16BE(off);
    const rdlength = payload.readUInt16BE(off + 8);
    off += 10;
    if (off + rdlength > len) return DNS_ERRORS.record;
    const at = RDATA_NAME_AT[type];
    if (at !== undefined) {
      const end = skipName(payload, off + at);
      if (end < 0) return lastNameError;
      if (end > off + rdlength) return DNS_ERRORS.record;
    }
    off += rdlength;
  }
  return undefined;
}

/** The name at `off`, lower case, labels joined by dots (as dns-packet reads it). Only for payloads
 *  checkDns accepted: bounds are not re-checked beyond what keeps it from looping. */
function readName(buf: Buffer, off: number): string {
  let out = '';
  for (let hops = 0; hops < 128; hops++) {
    const len = buf[off];
    if (len === 0 || len === undefined) break;
    if ((len & 0xc0) === 0xc0) {
      off = ((len & 0x3f) << 8) | buf[off + 1];
      continue;
    }
    if (out !== '') out += '.';
    out += buf.toString('utf8', off + 1, off + 1 + len).toLowerCase();
    off += len + 1;
  }
  return out;
}

/** The names a service filter reads (RFC 6763): question names, record owner names and PTR targets,
 *  lower case. Only for payloads checkDns accepted. */
export function dnsNames(payload: Buffer): string[] {
  const out: string[] = [];
  const qd = payload.readUInt16BE(4);
  const rr = payload.readUInt16BE(6) + payload.readUInt16BE(8) + payload.readUInt16BE(10);
  let off = HEADER;
  for (let i = 0; i < qd; i++) {
    out.push(readName(payload, off));
    off = skipName(payload, off) + 4;
  }
  for (let i = 0; i < rr; i++) {
    out.push(readName(payload, off));
    off = skipName(payload, off);
    const type = payload.readUInt16BE(off);
    const rdlength = payload.readUInt16BE(off + 8);
    off += 10;
    if (type === TYPE_PTR) out.push(readName(payload, off));
    off += rdlength;
  }
  return out;
}
