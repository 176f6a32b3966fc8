// Builds the packet a link socket sends for one copy, by IP family. IPv4 sockets take a whole
// packet (IP_HDRINCL); the IPv6 framing is added with IPv6 support (src/wire/ipv6.ts).
import type { IPAddress } from '../config/types.js';
import type { Family } from '../reflect/types.js';
import { buildIPv4 } from './ipv4.js';

export function framePacket(
  family: Family,
  src: IPAddress,
  dst: IPAddress,
  ttl: number,
  segment: Buffer,
): Buffer {
  if (family === 4) return buildIPv4(src, dst, ttl, segment);
  throw new Error('IPv6 framing is not available yet');
}
