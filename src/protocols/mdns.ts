// mDNS (RFC 6762): 224.0.0.251:5353. Decoding uses dns-packet, the codec multicast-dns is built on.
import dnsPacket from 'dns-packet';
import type { Answer, Packet, Question } from 'dns-packet';
import { checkDns, dnsNames } from './dns-wire.js';
import { clearQuBits, rewriteAddressRecords } from './mdns-rewrite.js';
import { mdnsAcrossLinks } from './mdns-link-local.js';
import type { ProtocolHandler } from './types.js';

export const MDNS_GROUP = '224.0.0.251';
/** RFC 6762 3: the IPv6 link-local scope group. */
export const MDNS_GROUP6 = 'ff02::fb';
export const MDNS_PORT = 5353;
/** RFC 6763 9: the meta-query that enumerates service types; a service filter lets it through. */
const SERVICE_ENUMERATION = '_services._dns-sd._udp.local';

function recordData(a: Answer): string {
  const d = (a as { data?: unknown }).data;
  if (typeof d === 'string') return d;
  if (d && typeof d === 'object' && 'target' in d) {
    const srv = d as { target: string; port: number };
    return `${srv.target}:${srv.port}`;
  }
  if (Array.isArray(d)) return `[${d.length} strings]`;
  return '';
}

/** What node source mode does to a pod's A records in its mDNS answers (config `mdnsAddressRecords`). */
export type AddressRecords = 'rewrite' | 'strip' | 'keep';

export function mdnsHandler(addressRecords: AddressRecords = 'rewrite'): ProtocolHandler<Packet, string[]> {
  return {
    name: 'mdns',
    groups: [MDNS_GROUP],
    groups6: [MDNS_GROUP6],
    matches: (dst, dstPort) => dstPort === MDNS_PORT && (dst === MDNS_GROUP || dst === MDNS_GROUP6),
    acrossLinks: mdnsAcrossLinks,
    check(payload) {
      const bad = checkDns(payload);
      return bad && `Cannot decode mDNS packet (${bad})`;
    },
    facts: dnsNames,
    // A services filter (annotation lan-reflector.io/services) limits what a pod sees and sends.
    admits: (options, _d, names) =>
      options.services.length === 0 || matchesServices(names(), options.services),
    // RFC 6762 5.4: a QU question asks for a unicast reply, which from a node-mode pod would reach the
    // device through the node's masquerade, past the A-record rewrite: clear it, answers come back
    // by multicast.
    forNodeModePod: clearQuBits,
    viaNode: {
      // From port 5353 (RFC 6762 6: a full responder/querier) answers come back by multicast to
      // every relayed pod on their own: no session. Other source ports are legacy unicast queriers
      // (RFC 6762 6.7), whose answers come back to that port: a session.
      direct: (d) => d.srcPort === MDNS_PORT,
      rewrite(payload, r) {
        const cleared = clearQuBits(payload);
        if (addressRecords === 'keep') return cleared;
        return rewriteAddressRecords(cleared, r.podAddresses, r.nodeAddress, addressRecords);
      },
    },
    // RFC 6762 11: "All Multicast DNS responses (including responses sent via unicast) SHOULD be
    // sent with IP TTL set to 255."
    emitTtl: () => 255,
    replyTtl: 255,
    decode(payload) {
      if (payload.length < 12) throw new Error('Cannot decode mDNS packet (shorter than a DNS header)');
      try {
        return dnsPacket.decode(payload);
      } catch (err) {
        throw new Error(`Cannot decode mDNS packet (${(err as Error).message})`);
      }
    },
    names(p) {
      const out: string[] = [];
      for (const q of p.questions ?? []) out.push(q.name.toLowerCase());
      for (const list of [p.answers, p.authorities, p.additionals]) {
        for (const a of list ?? []) {
          out.push(a.name.toLowerCase());
          if (a.type === 'PTR' && typeof a.data === 'string') out.push(a.data.toLowerCase());
        }
      }
      return out;
    },
    summarize(p) {
      const qs = (p.questions ?? []).map((q: Question) => `${q.type} ${q.name}`);
      const as = [...(p.answers ?? []), ...(p.additionals ?? [])].map(
        (a: Answer) => `${a.type} ${a.name}${recordData(a) ? ' = ' + recordData(a) : ''}`,
      );
      const kind = p.type === 'response' ? 'response' : 'query';
      const parts = [kind];
      if (qs.length) parts.push(`Q: ${qs.join(', ')}`);
      if (as.length) parts.push(`A: ${as.join(', ')}`);
      return parts.join(' | ');
    },
  };
}

/** The handler with the default node-mode A-record rewrite. */
export const mdns = mdnsHandler();

/** RFC 6763 7: `_service._tcp` or `_service._udp`, the service name at most 15 characters; a
 *  subtype (RFC 6763 7.1) reads `_sub-type._sub._service._tcp`. */
export const SERVICE_TYPE = /^(?:_[a-z0-9-]{1,63}\._sub\.)?_[a-z0-9-]{1,15}\._(?:tcp|udp)(?:\.local)?\.?$/i;

/** Service types are matched as fully qualified, lower-case names. */
export function normalizeServiceType(s: string): string {
  const t = s.toLowerCase().replace(/\.$/, '');
  return t.endsWith('.local') ? t : `${t}.local`;
}

/** Whether a packet's names fall under one of the service types (empty list: everything does). */
export function matchesServices(names: string[], services: string[]): boolean {
  if (services.length === 0) return true;
  return names.some((n) => n === SERVICE_ENUMERATION || services.some((s) => n === s || n.endsWith('.' + s)));
}
