// Pure builders and parsers for the rtnetlink neighbour messages the IPAM needs (rtnetlink(7),
// linux/neighbour.h): proxy entries (RTM_NEWNEIGH/RTM_DELNEIGH with NTF_PROXY), neighbour dumps
// (RTM_GETNEIGH), and the per-link ARP parameter proxy_delay (RTM_SETNEIGHTBL/RTM_GETNEIGHTBL),
// which the agent must set through netlink because /proc/sys is read-only in a container.
import type { IPv4Address } from '../config/types.js';
import { ipToInt, ipToString } from '../wire/ipv4.js';
import { readMac, type MacAddress } from './arp.js';
import {
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  cString,
  decodeAttrs,
  encodeAttrs,
  encodeMessage,
  readCString,
  readU32,
  readU64,
  u32,
  u64,
  u8,
  type NetlinkMessage,
} from './netlink.js';

export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
export const RTM_NEWNEIGHTBL = 64;
export const RTM_GETNEIGHTBL = 66;
export const RTM_SETNEIGHTBL = 67;

const AF_INET = 2;
const NDMSG_LEN = 12;
const NDTMSG_LEN = 4;

const NDA_DST = 1;
const NDA_LLADDR = 2;
const NDA_PROTOCOL = 12;
const NDTA_NAME = 1;
const NDTA_PARMS = 6;
const NDTPA_IFINDEX = 1;
const NDTPA_PROXY_DELAY = 13;

export const NTF_PROXY = 0x08;
export const NUD_INCOMPLETE = 0x01;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;

/** IPv4's neighbour table in the kernel. */
export const ARP_TABLE = 'arp_cache';

/** The `protocol` our proxy entries carry (`ip neigh show proxy` prints `proto 76`), so that at
 *  start the agent removes stale entries it made and never one an administrator made. 76 is 'L'. */
export const LAN_REFLECTOR_PROTOCOL = 76;

export interface Neighbour {
  ifindex: number;
  address: IPv4Address;
  /** NUD_* bits; proxy entries report 0 or NUD_NONE. */
  state: number;
  flags: number;
  proxy: boolean;
  lladdr?: MacAddress;
  protocol?: number;
}

function ndmsg(ifindex: number, state: number, flags: number): Buffer {
  const b = Buffer.alloc(NDMSG_LEN);
  b[0] = AF_INET;
  b.writeInt32LE(ifindex, 4);
  b.writeUInt16LE(state, 8);
  b[10] = flags;
  return b;
}

function ipBytes(ip: IPv4Address): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ipToInt(ip), 0); // addresses are in network order inside netlink
  return b;
}

export interface ProxyEntry {
  ifindex: number;
  address: IPv4Address;
  protocol?: number;
}

/** `ip neigh replace proxy ADDR dev LINK protocol 76`: the kernel creates the entry or updates it. */
export function addProxyMessage(e: ProxyEntry, seq: number): Buffer {
  const attrs = [{ type: NDA_DST, value: ipBytes(e.address) }];
  if (e.protocol !== undefined) attrs.push({ type: NDA_PROTOCOL, value: u8(e.protocol) });
  const body = Buffer.concat([ndmsg(e.ifindex, NUD_PERMANENT, NTF_PROXY), encodeAttrs(attrs)]);
  return encodeMessage(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, seq, body);
}

/** `ip neigh del proxy ADDR dev LINK`; the kernel answers ENOENT when there is none. */
export function deleteProxyMessage(e: ProxyEntry, seq: number): Buffer {
  const body = Buffer.concat([
    ndmsg(e.ifindex, 0, NTF_PROXY),
    encodeAttrs([{ type: NDA_DST, value: ipBytes(e.address) }]),
  ]);
  return encodeMessage(RTM_DELNEIGH, NLM_F_REQUEST | NLM_F_ACK, seq, body);
}

/** A dump of the IPv4 neighbour table, or (proxy) of its proxy entries: the kernel keeps those in a
 *  separate table and dumps it only when the request's ndm_flags is exactly NTF_PROXY. */
export function dumpNeighboursMessage(seq: number, opts: { proxy: boolean }): Buffer {
  return encodeMessage(
    RTM_GETNEIGH,
    NLM_F_REQUEST | NLM_F_DUMP,
    seq,
    ndmsg(0, 0, opts.proxy ? NTF_PROXY : 0),
  );
}

/** Parses one RTM_NEWNEIGH (dump entry or notification); undefined for another family. */
export function decodeNeighbour(m: NetlinkMessage): Neighbour | undefined {
  if (m.type !== RTM_NEWNEIGH && m.type !== RTM_DELNEIGH) return undefined;
  const p = m.payload;
  if (p.length < NDMSG_LEN) throw new Error('Cannot decode neighbour (truncated)');
  if (p[0] !== AF_INET) return undefined;
  const attrs = decodeAttrs(p.subarray(NDMSG_LEN));
  const dst = attrs.get(NDA_DST);
  if (!dst || dst.length !== 4) return undefined;
  const ll = attrs.get(NDA_LLADDR);
  const proto = attrs.get(NDA_PROTOCOL);
  const flags = p[10];
  return {
    ifindex: p.readInt32LE(4),
    address: ipToString(dst, 0),
    state: p.readUInt16LE(8),
    flags,
    proxy: (flags & NTF_PROXY) !== 0,
    lladdr: ll && ll.length === 6 ? readMac(ll, 0) : undefined,
    protocol: proto && proto.length >= 1 ? proto[0] : undefined,
  };
}

/** Whether a (non-proxy) neighbour entry says a host answers at the address: anything but an
 *  unanswered resolution (INCOMPLETE, FAILED). */
export function isLiveNeighbour(n: Neighbour): boolean {
  if (n.proxy) return false;
  if (n.state & (NUD_INCOMPLETE | NUD_FAILED)) return false;
  return n.state !== 0;
}

/** `ip ntable change name arp_cache dev LINK proxy_delay MS`. */
export function setProxyDelayMessage(ifindex: number, delayMs: number, seq: number): Buffer {
  const body = Buffer.concat([
    Buffer.alloc(NDTMSG_LEN, 0).fill(AF_INET, 0, 1),
    encodeAttrs([
      { type: NDTA_NAME, value: cString(ARP_TABLE) },
      {
        type: NDTA_PARMS,
        value: [
          { type: NDTPA_IFINDEX, value: u32(ifindex) },
          { type: NDTPA_PROXY_DELAY, value: u64(delayMs) },
        ],
      },
    ]),
  ]);
  return encodeMessage(RTM_SETNEIGHTBL, NLM_F_REQUEST | NLM_F_ACK, seq, body);
}

export function dumpNeighbourTablesMessage(seq: number): Buffer {
  const body = Buffer.alloc(NDTMSG_LEN, 0).fill(AF_INET, 0, 1);
  return encodeMessage(RTM_GETNEIGHTBL, NLM_F_REQUEST | NLM_F_DUMP, seq, body);
}

export interface NeighbourTableParms {
  table: string;
  /** Undefined for the table's defaults; the link's index for per-link parameters. */
  ifindex?: number;
  proxyDelayMs?: number;
}

/** Parses one RTM_NEWNEIGHTBL of a table dump (one message per table, then one per link). */
export function decodeNeighbourTable(m: NetlinkMessage): NeighbourTableParms | undefined {
  if (m.type !== RTM_NEWNEIGHTBL) return undefined;
  if (m.payload.length < NDTMSG_LEN) throw new Error('Cannot decode neighbour table (truncated)');
  if (m.payload[0] !== AF_INET) return undefined;
  const attrs = decodeAttrs(m.payload.subarray(NDTMSG_LEN));
  const table = readCString(attrs.get(NDTA_NAME));
  if (table === undefined) return undefined;
  const parmsAttr = attrs.get(NDTA_PARMS);
  const parms = parmsAttr ? decodeAttrs(parmsAttr) : new Map<number, Buffer>();
  const ifindex = readU32(parms.get(NDTPA_IFINDEX));
  return {
    table,
    ifindex: ifindex === 0 ? undefined : ifindex,
    proxyDelayMs: readU64(parms.get(NDTPA_PROXY_DELAY)),
  };
}
