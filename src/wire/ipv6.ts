// Pure IPv6 + UDP helpers: addresses as text and bytes, prefixes, the UDP checksum over the IPv6
// pseudo-header, and what an `ipv6-udp` socket hands over (UDP header + payload, with the source,
// destination and hop limit from ancillary data) turned into a datagram the engine can use.
// No sockets here.

export type IPv6Address = string;

const UDP_HEADER = 8;
export const IPPROTO_UDP = 17;

/** RFC 4291 2.5.6: fe80::/10. Such an address names a host only on its own link. */
export function isLinkLocal6(ip: string): boolean {
  if (ip.length < 4) return false;
  const first = parseInt(ip.slice(0, 4), 16);
  return ip[4] === ':' && (first & 0xffc0) === 0xfe80;
}

export function isMulticast6(ip: string): boolean {
  return /^ff[0-9a-f]{2}:/i.test(ip);
}

/** Whether a string is an IPv6 address (with or without a %zone); cheap test for the hot path. */
export const isV6 = (ip: string): boolean => ip.includes(':');

/** Drops a `%zone` suffix (`fe80::1%eth0`): zones are per host, never part of the address. */
export const stripZone = (ip: string): string => {
  const i = ip.indexOf('%');
  return i === -1 ? ip : ip.slice(0, i);
};

/** Parses an IPv6 address (RFC 4291 2.2 text forms, embedded IPv4 included) into 16 bytes;
 *  throws on anything else. */
export function ipv6ToBytes(text: string, out: Buffer = Buffer.alloc(16), off = 0): Buffer {
  const ip = stripZone(text);
  const bad = () => new Error(`not an IPv6 address: ${JSON.stringify(text)}`);
  const halves = ip.split('::');
  if (halves.length > 2) throw bad();
  const groups = (s: string): number[] => {
    if (s === '') return [];
    const parts = s.split(':');
    const words: number[] = [];
    parts.forEach((p, i) => {
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = p.split('.').map(Number);
        if (v4.length !== 4 || v4.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) throw bad();
        words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-f]{1,4}$/i.test(p)) throw bad();
        words.push(parseInt(p, 16));
      }
    });
    return words;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) throw bad();
  const words = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(words[i], off + 2 * i);
  return out;
}

/** 16 bytes -> RFC 5952 text (lower case, the longest run of two or more zero groups as `::`). */
export function bytesToIPv6(buf: Buffer, off = 0): IPv6Address {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(buf.readUInt16BE(off + 2 * i));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (best === -1) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/** The canonical text of an address (RFC 5952), so equal addresses compare equal as strings. */
export const canonical6 = (ip: string): IPv6Address => bytesToIPv6(ipv6ToBytes(ip));

/** Whether `ip` lies in `cidr` (`2001:db8::/32`; a bare address is a /128). */
export function inPrefix6(ip: string, cidr: string): boolean {
  const [net, lenText] = cidr.split('/');
  const len = lenText === undefined ? 128 : Number(lenText);
  const a = ipv6ToBytes(ip);
  const b = ipv6ToBytes(net);
  const whole = len >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = len & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole] & mask) === (b[whole] & mask);
}

/** Prefix length of the longest match of `ip` in `cidr`, or -1. `default` is ::/0. */
export function matchLength6(ip: string, cidr: string): number {
  if (cidr === 'default') return 0;
  const len = cidr.includes('/') ? Number(cidr.split('/')[1]) : 128;
  return inPrefix6(ip, cidr) ? len : -1;
}

function sum16(buf: Buffer, start: number, end: number, acc: number): number {
  let i = start;
  for (; i + 1 < end; i += 2) acc += (buf[i] << 8) | buf[i + 1];
  if (i < end) acc += buf[i] << 8;
  return acc;
}

/** Bytes of an address, cached: the same few sources and groups recur on every packet. */
const bytesCache = new Map<string, Buffer>();
function addressBytes(ip: string): Buffer {
  let b = bytesCache.get(ip);
  if (!b) {
    b = ipv6ToBytes(ip);
    if (bytesCache.size > 4096) bytesCache.clear();
    bytesCache.set(ip, b);
  }
  return b;
}

/** RFC 8200 8.1: the UDP checksum over the pseudo-header (source, destination, upper-layer length,
 *  next header 17) and the segment. Unlike IPv4 it is mandatory: a zero checksum is dropped by
 *  receivers (RFC 8200 8.1, RFC 768's "0 means none" does not apply), so a computed 0 goes out as
 *  0xffff. The received one cannot be reused: a pod's packet through a veth carries only a partial
 *  checksum (CHECKSUM_PARTIAL), as in IPv4 (wire/ipv4.ts). */
export function udp6Checksum(src: string, dst: string, segment: Buffer): number {
  let acc = sum16(addressBytes(src), 0, 16, 0);
  acc = sum16(addressBytes(dst), 0, 16, acc);
  acc += (segment.length >>> 16) + (segment.length & 0xffff) + IPPROTO_UDP;
  // the checksum field itself counts as zero
  acc = sum16(segment, 0, 6, acc);
  acc = sum16(segment, 8, segment.length, acc);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  const csum = ~acc & 0xffff;
  return csum === 0 ? 0xffff : csum;
}

/** A copy of `segment` (UDP header + payload) with its checksum set for `src` -> `dst`. */
export function withUdp6Checksum(src: string, dst: string, segment: Buffer): Buffer {
  const out = Buffer.from(segment);
  out.writeUInt16BE(udp6Checksum(src, dst, out), 6);
  return out;
}

/** Whether a received segment's checksum verifies (tests and diagnostics; the relay recomputes). */
export function verifyUdp6Checksum(src: string, dst: string, segment: Buffer): boolean {
  return segment.length >= UDP_HEADER && segment.readUInt16BE(6) === udp6Checksum(src, dst, segment);
}

/** What an `ipv6-udp` socket reports for one message (src/wire/native.ts `Received`). */
export interface Received6 {
  data: Buffer;
  src?: string;
  dst?: string;
  hopLimit?: number;
  scope?: number;
  ifindex?: number;
}

export interface Udp6Datagram {
  family: 6;
  src: IPv6Address;
  dst: IPv6Address;
  /** The hop limit it arrived with (IPV6_HOPLIMIT); named `ttl` as in the IPv4 datagram. */
  ttl: number;
  srcPort: number;
  dstPort: number;
  /** UDP header + payload as received. */
  segment: Buffer;
  payload: Buffer;
}

export type Parse6Result = { ok: true; datagram: Udp6Datagram } | { ok: false; reason: string };

/** Turns one received message into a datagram. Never throws: a bad one gives a reason. A raw
 *  IPv6 socket gets no IP header (RFC 3542 3): addresses and hop limit come from ancillary data,
 *  and a message without them cannot be relayed faithfully. */
export function parseUdp6(m: Received6): Parse6Result {
  const seg = m.data;
  if (!m.src || !m.dst) return { ok: false, reason: 'no source or destination (IPV6_PKTINFO)' };
  if (m.hopLimit === undefined) return { ok: false, reason: 'no hop limit (IPV6_HOPLIMIT)' };
  if (seg.length < UDP_HEADER) return { ok: false, reason: 'truncated UDP header' };
  const udpLen = seg.readUInt16BE(4);
  // RFC 2675 jumbograms (length 0) never carry discovery traffic.
  if (udpLen < UDP_HEADER || udpLen > seg.length) return { ok: false, reason: 'bad UDP length' };
  const segment = seg.subarray(0, udpLen);
  return {
    ok: true,
    datagram: {
      family: 6,
      src: stripZone(m.src),
      dst: stripZone(m.dst),
      ttl: m.hopLimit,
      srcPort: segment.readUInt16BE(0),
      dstPort: segment.readUInt16BE(2),
      segment,
      payload: segment.subarray(UDP_HEADER),
    },
  };
}

/** A UDP segment for `payload`, checksummed for `src` -> `dst`. */
export function buildUdp6(
  src: string,
  dst: string,
  srcPort: number,
  dstPort: number,
  payload: Buffer,
): Buffer {
  const seg = Buffer.allocUnsafe(UDP_HEADER + payload.length);
  seg.writeUInt16BE(srcPort, 0);
  seg.writeUInt16BE(dstPort, 2);
  seg.writeUInt16BE(seg.length, 4);
  seg.writeUInt16BE(0, 6);
  payload.copy(seg, UDP_HEADER);
  seg.writeUInt16BE(udp6Checksum(src, dst, seg), 6);
  return seg;
}

export const IPV6_HEADER = 40;

/** A whole IPv6 packet (RFC 8200 3: version 6, no traffic class or flow label, next header UDP)
 *  around a UDP segment. The `ipv6-udp` socket sends only the segment; the header carries source,
 *  destination and hop limit from the engine to the link set in one buffer (readIPv6Frame), the
 *  same shape a packet socket would need. The UDP checksum is left as it is: the socket's kernel
 *  fills it (IPV6_CHECKSUM); withUdp6Checksum() is there for a sender that cannot. */
export function buildIPv6Frame(src: string, dst: string, hopLimit: number, segment: Buffer): Buffer {
  const pkt = Buffer.allocUnsafe(IPV6_HEADER + segment.length);
  built.set(pkt, { src, dst, hopLimit, segment: pkt.subarray(IPV6_HEADER) });
  pkt.writeUInt32BE(0x60000000, 0);
  pkt.writeUInt16BE(segment.length, 4);
  pkt[6] = IPPROTO_UDP;
  pkt[7] = hopLimit;
  addressBytes(src).copy(pkt, 8);
  addressBytes(dst).copy(pkt, 24);
  segment.copy(pkt, IPV6_HEADER);
  return pkt;
}

export interface IPv6Frame {
  src: IPv6Address;
  dst: IPv6Address;
  hopLimit: number;
  segment: Buffer;
}

/** Frames built here, with their parts as text: reading them back costs no address formatting
 *  (the hot path of every IPv6 copy). */
const built = new WeakMap<Buffer, IPv6Frame>();

/** The parts of a buildIPv6Frame() packet; undefined for anything else. */
export function readIPv6Frame(pkt: Buffer): IPv6Frame | undefined {
  const known = built.get(pkt);
  if (known) return known;
  if (pkt.length < IPV6_HEADER || pkt[0] >> 4 !== 6 || pkt[6] !== IPPROTO_UDP) return undefined;
  return {
    src: bytesToIPv6(pkt, 8),
    dst: bytesToIPv6(pkt, 24),
    hopLimit: pkt[7],
    segment: pkt.subarray(IPV6_HEADER, IPV6_HEADER + pkt.readUInt16BE(4)),
  };
}
