// SSDP (UPnP Device Architecture 1.1, 1.1-1.3): HTTP-over-UDP on 239.255.255.250:1900.
import { isLinkLocal6 } from '../wire/ipv6.js';
import type { ProtocolHandler } from './types.js';

export const SSDP_GROUP = '239.255.255.250';
export const SSDP_PORT = 1900;
/** UPnP 1.1 Annex A: SSDP's IPv6 link-local scope group. */
export const SSDP_GROUP6 = 'ff02::c';
/** UPnP 1.1 1.1.2: "the TTL for the IP packet SHOULD default to 2"; Annex A keeps section 1's
 *  rules for IPv6, so the hop limit is 2 as well. */
export const SSDP_TTL = 2;
const MAX_HEADERS = 64;

export interface SsdpMessage {
  /** M-SEARCH or NOTIFY for requests, the status code ('200') for responses. */
  method: string;
  headers: Record<string, string>;
}

const REQUEST = /^(M-SEARCH|NOTIFY) \* HTTP\/1\.[01]$/;
const RESPONSE = /^HTTP\/1\.[01] (\d{3})( .*)?$/;

export function decodeSsdp(payload: Buffer): SsdpMessage {
  const text = payload.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const lines = head.split(/\r?\n/);
  const start = lines[0] ?? '';
  const req = REQUEST.exec(start);
  const res = req ? null : RESPONSE.exec(start);
  if (!req && !res) throw new Error('Cannot decode SSDP message (bad start line)');
  if (lines.length - 1 > MAX_HEADERS) throw new Error('Cannot decode SSDP message (too many headers)');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error('Cannot decode SSDP message (bad header line)');
    headers[line.slice(0, colon).trim().toUpperCase()] = line.slice(colon + 1).trim();
  }
  // UPnP 1.1 1.2.2 / 1.3.2: NOTIFY carries NT and NTS, M-SEARCH carries MAN and ST.
  const method = req ? req[1] : res![1];
  if (method === 'NOTIFY' && (!headers.NT || !headers.NTS))
    throw new Error('Cannot decode SSDP message (NOTIFY without NT/NTS)');
  if (method === 'M-SEARCH' && (!headers.ST || !headers.MAN))
    throw new Error('Cannot decode SSDP message (M-SEARCH without ST/MAN)');
  return { method, headers };
}

export const ssdp: ProtocolHandler<SsdpMessage> = {
  name: 'ssdp',
  groups: [SSDP_GROUP],
  groups6: [SSDP_GROUP6],
  matches: (dst, dstPort) => dstPort === SSDP_PORT && (dst === SSDP_GROUP || dst === SSDP_GROUP6),
  // An M-SEARCH is answered by unicast to the searcher (UPnP 1.1 1.3.3); from a link-local source
  // that answer cannot come back across links. NOTIFY announcements are multicast and cross.
  acrossLinks: (d) =>
    d.family === 6 && isLinkLocal6(d.src) && d.payload.subarray(0, 9).toString('latin1') === 'M-SEARCH '
      ? { refuse: 'M-SEARCH from a link-local source: its unicast responses cannot cross links' }
      : undefined,
  check(payload) {
    try {
      decodeSsdp(payload);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  },
  emitTtl: () => SSDP_TTL,
  replyTtl: 64,
  decode: decodeSsdp,
  names: () => [],
  summarize(m) {
    const h = m.headers;
    const parts = [m.method === 'NOTIFY' ? `NOTIFY ${h.NTS ?? ''}` : m.method];
    if (h.ST) parts.push(`ST=${h.ST}`);
    if (h.NT) parts.push(`NT=${h.NT}`);
    if (h.LOCATION) parts.push(`LOCATION=${h.LOCATION}`);
    if (h.USN) parts.push(`USN=${h.USN}`);
    return parts.join(' ');
  },
};
