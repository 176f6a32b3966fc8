// Linux socket option numbers and values for the native socket layer (from <linux/in.h>,
// <asm-generic/socket.h>). They are ABI: identical on x86_64 and arm64.
export const SOL_SOCKET = 1;
export const SO_BROADCAST = 6;
export const SO_RCVBUF = 8;
export const SO_BINDTODEVICE = 25;

export const IPPROTO_IP = 0;
export const IP_HDRINCL = 3;
export const IP_MULTICAST_IF = 32;
export const IP_MULTICAST_LOOP = 34;
export const IP_ADD_MEMBERSHIP = 35;
export const IP_DROP_MEMBERSHIP = 36;
export const IP_MULTICAST_ALL = 49;

import { ipToInt } from './ipv4.js';

/** struct ip_mreqn { in_addr multiaddr; in_addr address; int ifindex; }: joins by interface index,
 *  which works on links with no IPv4 address (Calico's host-side veths; DESIGN.md decision 2). */
export function ipMreqn(group: string, ifindex: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(ipToInt(group), 0);
  b.writeUInt32BE(0, 4);
  b.writeInt32LE(ifindex, 8); // host byte order; both supported architectures are little-endian
  return b;
}

export function deviceName(name: string): Buffer {
  return Buffer.from(name + '\0', 'latin1');
}
