// Pure builders for the one kind of route the IPAM adds itself (rtnetlink(7), linux/rtnetlink.h):
// the node's `ADDR/32 dev BRIDGE scope link proto static` to a LAN-addressed pod on a bridge, which
// the bridge plugin does not install (ptp and Calico do their own). In-process, like the proxy
// entries: a burst of bridged ADDs forks no `ip`.
import type { IPv4Address } from '../config/types.js';
import { ipToInt } from '../wire/ipv4.js';
import {
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  encodeAttrs,
  encodeMessage,
  u32,
} from './netlink.js';

export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;

const AF_INET = 2;
const RT_TABLE_MAIN = 254;
const RTPROT_STATIC = 4;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_NOWHERE = 255;
const RTN_UNICAST = 1;
const RTA_DST = 1;
const RTA_OIF = 4;

export interface HostRoute {
  address: IPv4Address;
  ifindex: number;
}

function rtmsg(o: { protocol: number; scope: number; type: number }): Buffer {
  const b = Buffer.alloc(12);
  b[0] = AF_INET;
  b[1] = 32; // dst_len: a host route
  b[4] = RT_TABLE_MAIN;
  b[5] = o.protocol;
  b[6] = o.scope;
  b[7] = o.type;
  return b;
}

function attrs(r: HostRoute): Buffer {
  const dst = Buffer.alloc(4);
  dst.writeUInt32BE(ipToInt(r.address), 0);
  return encodeAttrs([
    { type: RTA_DST, value: dst },
    { type: RTA_OIF, value: u32(r.ifindex) },
  ]);
}

/** `ip route replace ADDR/32 dev LINK scope link proto static`. */
export function addHostRouteMessage(r: HostRoute, seq: number): Buffer {
  const body = Buffer.concat([
    rtmsg({ protocol: RTPROT_STATIC, scope: RT_SCOPE_LINK, type: RTN_UNICAST }),
    attrs(r),
  ]);
  return encodeMessage(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, seq, body);
}

/** `ip route del ADDR/32 dev LINK`; the kernel answers ESRCH when there is none. */
export function deleteHostRouteMessage(r: HostRoute, seq: number): Buffer {
  const body = Buffer.concat([rtmsg({ protocol: 0, scope: RT_SCOPE_NOWHERE, type: 0 }), attrs(r)]);
  return encodeMessage(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, seq, body);
}
