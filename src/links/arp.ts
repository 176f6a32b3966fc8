// Pure ARP-over-Ethernet codec (RFC 826) and the three frames the IPAM sends: the RFC 5227 probe,
// the RFC 5227 announcement (a gratuitous ARP) and nothing else — the kernel's proxy entries answer
// requests. No sockets here: a frame is a Buffer, as an AF_PACKET socket delivers it.
import type { IPv4Address } from '../config/types.js';
import { ipToInt, ipToString } from '../wire/ipv4.js';

export type MacAddress = string; // 'aa:bb:cc:dd:ee:ff', lower case

export const ETH_P_ARP = 0x0806;
const ETH_P_IP = 0x0800;
const ARPHRD_ETHER = 1;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;

const ETH_HEADER = 14;
const ARP_BODY = 28;
/** Ethernet's minimum frame without the FCS: shorter frames are padded with zeros. */
const ETH_MIN_FRAME = 60;

export const BROADCAST_MAC: MacAddress = 'ff:ff:ff:ff:ff:ff';
export const ZERO_MAC: MacAddress = '00:00:00:00:00:00';
export const ANY_ADDRESS: IPv4Address = '0.0.0.0';

export interface ArpFrame {
  /** Ethernet destination and source. */
  ethDst: MacAddress;
  ethSrc: MacAddress;
  op: typeof ARPOP_REQUEST | typeof ARPOP_REPLY;
  senderMac: MacAddress;
  senderIp: IPv4Address;
  targetMac: MacAddress;
  targetIp: IPv4Address;
}

export type ArpDecodeResult = { ok: true; frame: ArpFrame } | { ok: false; reason: string };

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function isMac(s: string): boolean {
  return MAC_RE.test(s.toLowerCase());
}

function writeMac(buf: Buffer, off: number, mac: MacAddress): void {
  if (!isMac(mac)) throw new Error(`Cannot encode MAC address "${mac}"`);
  for (const [i, part] of mac.split(':').entries()) buf[off + i] = parseInt(part, 16);
}

export function readMac(buf: Buffer, off: number): MacAddress {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(buf[off + i].toString(16).padStart(2, '0'));
  return parts.join(':');
}

export function encodeArp(f: ArpFrame): Buffer {
  const buf = Buffer.alloc(ETH_MIN_FRAME);
  writeMac(buf, 0, f.ethDst);
  writeMac(buf, 6, f.ethSrc);
  buf.writeUInt16BE(ETH_P_ARP, 12);
  const a = ETH_HEADER;
  buf.writeUInt16BE(ARPHRD_ETHER, a);
  buf.writeUInt16BE(ETH_P_IP, a + 2);
  buf[a + 4] = 6; // hardware address length
  buf[a + 5] = 4; // protocol address length
  buf.writeUInt16BE(f.op, a + 6);
  writeMac(buf, a + 8, f.senderMac);
  buf.writeUInt32BE(ipToInt(f.senderIp), a + 14);
  writeMac(buf, a + 18, f.targetMac);
  buf.writeUInt32BE(ipToInt(f.targetIp), a + 24);
  return buf;
}

/** Decodes an Ethernet frame carrying IPv4-over-Ethernet ARP. Never throws. */
export function decodeArp(buf: Buffer): ArpDecodeResult {
  if (buf.length < ETH_HEADER + ARP_BODY) return { ok: false, reason: 'ARP frame truncated' };
  if (buf.readUInt16BE(12) !== ETH_P_ARP) return { ok: false, reason: 'not an ARP frame' };
  const a = ETH_HEADER;
  if (buf.readUInt16BE(a) !== ARPHRD_ETHER || buf.readUInt16BE(a + 2) !== ETH_P_IP)
    return { ok: false, reason: 'ARP for another hardware or protocol type' };
  if (buf[a + 4] !== 6 || buf[a + 5] !== 4) return { ok: false, reason: 'ARP address lengths are not 6/4' };
  const op = buf.readUInt16BE(a + 6);
  if (op !== ARPOP_REQUEST && op !== ARPOP_REPLY) return { ok: false, reason: `ARP operation ${op}` };
  return {
    ok: true,
    frame: {
      ethDst: readMac(buf, 0),
      ethSrc: readMac(buf, 6),
      op,
      senderMac: readMac(buf, a + 8),
      senderIp: ipToString(buf, a + 14),
      targetMac: readMac(buf, a + 18),
      targetIp: ipToString(buf, a + 24),
    },
  };
}

/** RFC 5227 2.1.1: "an ARP Request packet, broadcast on the local link, with the 'sender hardware
 *  address' field set to the hardware address of the interface sending the packet, the 'sender IP
 *  address' field set to all zeroes [...], and the 'target hardware address' field [...] ignored
 *  and SHOULD be set to all zeroes. The 'target IP address' field MUST be set to the address being
 *  probed." All zeroes as sender keeps a probe from polluting other hosts' ARP caches. */
export function arpProbe(ownMac: MacAddress, address: IPv4Address): ArpFrame {
  return {
    ethDst: BROADCAST_MAC,
    ethSrc: ownMac,
    op: ARPOP_REQUEST,
    senderMac: ownMac,
    senderIp: ANY_ADDRESS,
    targetMac: ZERO_MAC,
    targetIp: address,
  };
}

/** RFC 5227 2.3: an ARP Announcement is a request with sender and target IP both the announced
 *  address; hosts that hold the address in their cache update it to `ownMac` (a gratuitous ARP). */
export function arpAnnouncement(ownMac: MacAddress, address: IPv4Address): ArpFrame {
  return {
    ethDst: BROADCAST_MAC,
    ethSrc: ownMac,
    op: ARPOP_REQUEST,
    senderMac: ownMac,
    senderIp: address,
    targetMac: ZERO_MAC,
    targetIp: address,
  };
}

/** One line for logs and `tail`. */
export function describeArp(f: ArpFrame): string {
  if (f.op === ARPOP_REPLY) return `reply ${f.senderIp} is-at ${f.senderMac}`;
  if (f.senderIp === ANY_ADDRESS) return `probe who-has ${f.targetIp} (from ${f.senderMac})`;
  if (f.senderIp === f.targetIp) return `announce ${f.senderIp} is-at ${f.senderMac}`;
  return `request who-has ${f.targetIp} tell ${f.senderIp} (${f.senderMac})`;
}
