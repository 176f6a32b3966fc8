// Builds the packet a link socket sends for one copy, by IP family. IPv4 sockets take a whole
// packet (IP_HDRINCL); IPv6 ones take the UDP segment with source and hop limit beside it, which an
// IPv6 header carries from here to the link set (src/wire/ipv6.ts buildIPv6Frame).
import type { IPAddress } from '../config/types.js';
import type { Family } from '../reflect/types.js';
import { buildIPv4 } from './ipv4.js';
import { buildIPv6Frame } from './ipv6.js';

export function framePacket(
  family: Family,
  src: IPAddress,
  dst: IPAddress,
  ttl: number,
  segment: Buffer,
): Buffer {
  if (family === 4) return buildIPv4(src, dst, ttl, segment);
  return buildIPv6Frame(src, dst, ttl, segment);
}
