// mDNS rules for crossing links. A relay always re-emits on another link than the packet came in on,
// and some mDNS content is only meaningful on its own link:
//
// - Link-local address records (AAAA fe80::/10, A 169.254/16). RFC 6762 6.2 (and 14: an address
//   record sent on an interface must be valid there) makes a responder send only addresses valid on
//   the interface it answers on; a device's fe80 address is not valid on a pod's link, nor a pod's
//   on the LAN: a peer that uses it reaches nobody (it looks the address up on its own link). avahi's
//   reflector drops them for the same reason ("patently useless link-local addresses on the wrong
//   interfaces", avahi-core/server.c: `avahi_record_is_link_local_address` before
//   `reflect_response`, and `reflect_cache_walk_callback` skips fe80 AAAA entries). We strip them
//   from every relayed packet, whatever family carries it: avahi publishes AAAA records over IPv4
//   too (publish-aaaa-on-ipv4).
// - QU questions (RFC 6762 5.4) ask for a unicast answer to the querier's source address. When that
//   source is link-local (IPv6 multicast to ff02::fb goes out from fe80:: by default, RFC 6724
//   rule 2), the answer cannot reach it from another link; the bit is cleared, so the answer is
//   multicast and relayed back. 5.4 lets a responder answer a QU question by multicast anyway, and
//   avahi's reflector re-posts every reflected question as QM for the same reason.
// - Legacy unicast queries (RFC 6762 6.7: source port not 5353) are answered only by unicast to the
//   querier's address and port. From a link-local source that answer cannot cross links at all (the
//   `link-local` detail of a `filtered` drop). avahi relays them through its own socket and slots;
//   over IPv6 we have no node-mode session yet (README, Limitations).
import dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import type { Datagram } from '../reflect/types.js';
import { isLinkLocal6 } from '../wire/ipv6.js';
import { clearQuBits } from './mdns-rewrite.js';
import type { AcrossLinks } from './types.js';

const MDNS_PORT = 5353;

const QU_BIT = 0x8000;

/** RFC 3927 (169.254/16) and RFC 4291 2.5.6 (fe80::/10). */
export function isLinkLocalAddress(ip: string): boolean {
  return ip.includes(':') ? isLinkLocal6(ip) : ip.startsWith('169.254.');
}

const linkLocalRecord = (a: Answer): boolean =>
  (a.type === 'AAAA' || a.type === 'A') && typeof a.data === 'string' && isLinkLocalAddress(a.data);

/** Whether a decoded packet carries a link-local address record anywhere. */
export function hasLinkLocalRecords(p: Packet): boolean {
  for (const list of [p.answers, p.authorities, p.additionals]) if (list?.some(linkLocalRecord)) return true;
  return false;
}

/** The payload without its link-local address records, re-encoded; `undefined` when a response has
 *  no answer left (an empty response is invalid, RFC 6762 18: receivers drop it). */
export function stripLinkLocalRecords(p: Packet): Buffer | undefined {
  const keep = (l?: Answer[]) => l?.filter((a) => !linkLocalRecord(a));
  const out: Packet = {
    ...p,
    answers: keep(p.answers),
    authorities: keep(p.authorities),
    additionals: keep(p.additionals),
  };
  if (p.type === 'response' && (out.answers?.length ?? 0) === 0) return undefined;
  return dnsPacket.encode(out);
}

/** RFC 6762 6.7: a query whose source port is not 5353 comes from a simple resolver. */
export const isLegacyUnicastQuery = (srcPort: number, p: Packet): boolean =>
  srcPort !== MDNS_PORT && p.type === 'query';

/** Skips a DNS name at `off` (labels or a compression pointer); returns the offset after it. */
function skipName(buf: Buffer, off: number): number {
  for (let guard = 0; guard < 128; guard++) {
    if (off >= buf.length) throw new Error('Cannot decode name (out of bounds)');
    const len = buf[off];
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2;
    off += len + 1;
  }
  throw new Error('Cannot decode name (too many labels)');
}

/** Whether any question asks for a unicast response (RFC 6762 5.4, the top bit of its class). */
export function hasQuQuestion(payload: Buffer): boolean {
  if (payload.length < 12) return false;
  const qdcount = payload.readUInt16BE(4);
  let off = 12;
  for (let i = 0; i < qdcount; i++) {
    off = skipName(payload, off);
    if (off + 4 > payload.length) throw new Error('Cannot decode question (truncated)');
    if (payload.readUInt16BE(off + 2) & QU_BIT) return true;
    off += 4;
  }
  return false;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;

/** Whether any record of a raw DNS message is a link-local A or AAAA record: a walk over the
 *  header counts and record headers, no decoding, so the common packet costs next to nothing. */
export function hasLinkLocalAddressRecord(payload: Buffer): boolean {
  if (payload.length < 12) return false;
  const qd = payload.readUInt16BE(4);
  const rr = payload.readUInt16BE(6) + payload.readUInt16BE(8) + payload.readUInt16BE(10);
  let off = 12;
  for (let i = 0; i < qd; i++) off = skipName(payload, off) + 4;
  for (let i = 0; i < rr; i++) {
    off = skipName(payload, off);
    if (off + 10 > payload.length) throw new Error('Cannot decode record (truncated)');
    const type = payload.readUInt16BE(off);
    const len = payload.readUInt16BE(off + 8);
    const data = off + 10;
    if (data + len > payload.length) throw new Error('Cannot decode record (truncated)');
    if (type === TYPE_AAAA && len === 16 && payload[data] === 0xfe && (payload[data + 1] & 0xc0) === 0x80)
      return true;
    if (type === TYPE_A && len === 4 && payload[data] === 169 && payload[data + 1] === 254) return true;
    off = data + len;
  }
  return false;
}

/** The mDNS handler's `acrossLinks` hook: the rules at the top of this file, in their order. */
export function mdnsAcrossLinks(d: Datagram): AcrossLinks | undefined {
  const fromLinkLocal = d.family === 6 && isLinkLocal6(d.src);
  const isQuery = d.payload.length >= 12 && (d.payload[2] & 0x80) === 0;
  if (fromLinkLocal && isQuery && d.srcPort !== MDNS_PORT)
    return { refuse: 'legacy unicast query from a link-local source: its unicast answer cannot cross links' };
  let payload = d.payload;
  if (hasLinkLocalAddressRecord(payload)) {
    const stripped = stripLinkLocalRecords(dnsPacket.decode(payload));
    if (!stripped) return { refuse: 'a response with only link-local address records' };
    payload = stripped;
  }
  if (fromLinkLocal && isQuery && hasQuQuestion(payload)) payload = clearQuBits(payload);
  return payload === d.payload ? undefined : { payload };
}
