// Ethernet framing of DHCP messages for a packet socket (AF_PACKET, ethertype IPv4). The agent never
// binds UDP 68 — the node's own DHCP client may hold it —, so it sends whole frames and reads replies
// off the link before IP: unicast replies addressed to a pod's leased address (not yet, or never, a
// local address of the node) are seen too. Pure code.
import type { IPv4Address } from '../../config/types.js';
import { buildIPv4, buildUdp, parseIPv4Udp } from '../../wire/ipv4.js';
import { CLIENT_PORT, SERVER_PORT } from './constants.js';
import { decodeMessage, macBytes, macString, type DhcpMessage, type MacAddress } from './message.js';

export const ETHERTYPE_IPV4 = 0x0800;
export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
const ETH_HEADER = 14;

export interface FrameAddress {
  srcMac: MacAddress;
  dstMac: MacAddress;
  srcIp: IPv4Address;
  dstIp: IPv4Address;
}

/** Client → server: UDP 68 → 67 in IPv4 (TTL 64: RFC 1700 default; relays need >1) in Ethernet. */
export function buildClientFrame(payload: Buffer, a: FrameAddress): Buffer {
  const ip = buildIPv4(a.srcIp, a.dstIp, 64, buildUdp(CLIENT_PORT, SERVER_PORT, payload));
  // A packet socket sends the frame as is: the kernel fills no IP checksum here (it does for IP_HDRINCL).
  ip.writeUInt16BE(ipHeaderChecksum(ip), 10);
  const frame = Buffer.allocUnsafe(ETH_HEADER + ip.length);
  macBytes(a.dstMac).copy(frame, 0);
  macBytes(a.srcMac).copy(frame, 6);
  frame.writeUInt16BE(ETHERTYPE_IPV4, 12);
  ip.copy(frame, ETH_HEADER);
  return frame;
}

export function ipHeaderChecksum(ip: Buffer): number {
  const ihl = (ip[0] & 0x0f) * 4;
  let acc = 0;
  for (let i = 0; i < ihl; i += 2) if (i !== 10) acc += (ip[i] << 8) | ip[i + 1];
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

export interface ReceivedReply {
  message: DhcpMessage;
  srcMac: MacAddress;
  srcIp: IPv4Address;
  dstIp: IPv4Address;
}

export type FrameResult = { ok: true; reply: ReceivedReply } | { ok: false; reason: string };

/** Parses a frame the packet socket delivered; only server → client DHCP (UDP 67 → 68) passes. */
export function parseServerFrame(frame: Buffer): FrameResult {
  if (frame.length < ETH_HEADER) return { ok: false, reason: 'truncated Ethernet header' };
  if (frame.readUInt16BE(12) !== ETHERTYPE_IPV4) return { ok: false, reason: 'not IPv4' };
  const udp = parseIPv4Udp(frame.subarray(ETH_HEADER));
  if (!udp.ok) return udp;
  const d = udp.datagram;
  if (d.dstPort !== CLIENT_PORT || d.srcPort !== SERVER_PORT)
    return { ok: false, reason: 'not DHCP 67 → 68' };
  const m = decodeMessage(d.payload);
  if (!m.ok) return m;
  return { ok: true, reply: { message: m.message, srcMac: macString(frame, 6), srcIp: d.src, dstIp: d.dst } };
}
