// Pure IPv4 + UDP codec for the raw sockets: parse what a raw IPPROTO_UDP socket delivers (IP header
// included) and build the header we emit with IP_HDRINCL. No sockets here.
import type { IPv4Address } from '../config/types.js';
import type { Datagram } from '../reflect/types.js';

export const IPPROTO_UDP = 17;
const IPV4_HEADER = 20;
const UDP_HEADER = 8;

/** A datagram the IPv4 codec parsed: the engine's family-neutral Datagram, family 4. */
export interface UdpDatagram extends Datagram {
  family: 4;
}

export type ParseResult = { ok: true; datagram: UdpDatagram } | { ok: false; reason: string };

export function ipToString(buf: Buffer, off: number): IPv4Address {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

export function ipToInt(ip: IPv4Address): number {
  const p = ip.split('.');
  return ((+p[0] << 24) | (+p[1] << 16) | (+p[2] << 8) | +p[3]) >>> 0;
}

export function intToIp(n: number): IPv4Address {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function writeIp(buf: Buffer, off: number, ip: IPv4Address): void {
  buf.writeUInt32BE(ipToInt(ip), off);
}

/** Parses an IPv4 packet carrying UDP. Never throws: a bad packet gives a reason. */
export function parseIPv4Udp(buf: Buffer): ParseResult {
  if (buf.length < IPV4_HEADER) return { ok: false, reason: 'truncated IPv4 header' };
  if (buf[0] >> 4 !== 4) return { ok: false, reason: 'not IPv4' };
  const ihl = (buf[0] & 0x0f) * 4;
  if (ihl < IPV4_HEADER || buf.length < ihl + UDP_HEADER)
    return { ok: false, reason: 'truncated UDP header' };
  if (buf[9] !== IPPROTO_UDP) return { ok: false, reason: 'not UDP' };
  // Fragments cannot be relayed piecewise; discovery packets are never fragmented in practice.
  const frag = buf.readUInt16BE(6);
  if ((frag & 0x2000) !== 0 || (frag & 0x1fff) !== 0) return { ok: false, reason: 'fragment' };
  const totalLen = Math.min(buf.readUInt16BE(2), buf.length);
  const udpLen = buf.readUInt16BE(ihl + 4);
  if (udpLen < UDP_HEADER || ihl + udpLen > totalLen) return { ok: false, reason: 'bad UDP length' };
  const segment = buf.subarray(ihl, ihl + udpLen);
  return {
    ok: true,
    datagram: {
      family: 4,
      src: ipToString(buf, 12),
      dst: ipToString(buf, 16),
      ttl: buf[8],
      srcPort: segment.readUInt16BE(0),
      dstPort: segment.readUInt16BE(2),
      segment,
      payload: segment.subarray(UDP_HEADER),
    },
  };
}

function sum16(buf: Buffer, start: number, end: number, acc: number): number {
  let i = start;
  for (; i + 1 < end; i += 2) acc += (buf[i] << 8) | buf[i + 1];
  if (i < end) acc += buf[i] << 8;
  return acc;
}

/** Builds an IPv4 packet around a UDP segment and recomputes the UDP checksum. The kernel fills the
 *  IP checksum, and the identification when it is 0 (raw(7), IP_HDRINCL).
 *  The received checksum cannot be trusted: a packet sent by a local socket through a veth (every
 *  pod, every test namespace) carries CHECKSUM_PARTIAL, i.e. only the pseudo-header sum, and
 *  receivers drop it once it leaves through a raw socket. */
export function buildIPv4(src: IPv4Address, dst: IPv4Address, ttl: number, segment: Buffer): Buffer {
  const pkt = Buffer.allocUnsafe(IPV4_HEADER + segment.length);
  pkt[0] = 0x45;
  pkt[1] = 0;
  pkt.writeUInt16BE(pkt.length, 2);
  pkt.writeUInt32BE(0, 4); // id 0 (kernel picks), no flags, offset 0
  pkt[8] = ttl;
  pkt[9] = IPPROTO_UDP;
  pkt.writeUInt16BE(0, 10);
  writeIp(pkt, 12, src);
  writeIp(pkt, 16, dst);
  segment.copy(pkt, IPV4_HEADER);
  writeUdpChecksum(pkt, IPV4_HEADER);
  return pkt;
}

/** Computes the UDP checksum of the segment at `off` in an IPv4 packet whose addresses are set. */
function writeUdpChecksum(pkt: Buffer, off: number): void {
  pkt.writeUInt16BE(0, off + 6);
  const len = pkt.length - off;
  // pseudo-header: source, destination, zero, protocol, UDP length
  let acc = sum16(pkt, 12, 20, IPPROTO_UDP + len);
  acc = sum16(pkt, off, pkt.length, acc);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  let csum = ~acc & 0xffff;
  if (csum === 0) csum = 0xffff; // RFC 768: a computed 0 is sent as all ones
  pkt.writeUInt16BE(csum, off + 6);
}

/** Builds a UDP segment for a payload whose addresses or ports we change; buildIPv4 fills its checksum. */
export function buildUdp(srcPort: number, dstPort: number, payload: Buffer): Buffer {
  const seg = Buffer.allocUnsafe(UDP_HEADER + payload.length);
  seg.writeUInt16BE(srcPort, 0);
  seg.writeUInt16BE(dstPort, 2);
  seg.writeUInt16BE(seg.length, 4);
  seg.writeUInt16BE(0, 6);
  payload.copy(seg, UDP_HEADER);
  return seg;
}

export function isMulticast(ip: IPv4Address): boolean {
  const first = +ip.slice(0, ip.indexOf('.'));
  return first >= 224 && first <= 239;
}
