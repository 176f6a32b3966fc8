// mDNS edits for the `node` source mode, where a pod's packet leaves from the node's address.
import dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';

const QU_BIT = 0x8000;

/** Skips a DNS name at `off` (labels or a compression pointer); returns the offset after it. */
function skipName(buf: Buffer, off: number): number {
  for (let guard = 0; guard < 128; guard++) {
    if (off >= buf.length) throw new Error('Cannot decode name (out of bounds)');
    const len = buf[off];
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2;
    off += len + 1;
  }
  throw new Error('Cannot decode name (too many labels)');
}

/** Returns a copy with every question's unicast-response bit cleared. RFC 6762 5.4: a QU question
 *  asks for a unicast reply to the querier, which would reach the node, not the pod; cleared, the
 *  answers are multicast and relayed back into the pod. */
export function clearQuBits(payload: Buffer): Buffer {
  const out = Buffer.from(payload);
  const qdcount = out.readUInt16BE(4);
  let off = 12;
  for (let i = 0; i < qdcount; i++) {
    off = skipName(out, off);
    if (off + 4 > out.length) throw new Error('Cannot decode question (truncated)');
    out.writeUInt16BE(out.readUInt16BE(off + 2) & ~QU_BIT, off + 2);
    off += 4;
  }
  return out;
}

const isLinkLocal = (ip: string) => ip.startsWith('169.254.');

/** In a pod's mDNS response, A records naming the pod (unreachable from the LAN) or a link-local
 *  address are rewritten to the node's address or stripped. Returns the payload unchanged when
 *  nothing matches, so ordinary packets are not re-encoded. */
export function rewriteAddressRecords(
  payload: Buffer,
  podAddresses: readonly string[],
  nodeAddress: string,
  mode: 'rewrite' | 'strip',
): Buffer {
  const p: Packet = dnsPacket.decode(payload);
  const hit = (a: Answer) => a.type === 'A' && (podAddresses.includes(a.data) || isLinkLocal(a.data));
  const lists = [p.answers, p.authorities, p.additionals];
  if (!lists.some((l) => l?.some(hit))) return payload;
  const edit = (l?: Answer[]) =>
    mode === 'strip'
      ? l?.filter((a) => !hit(a))
      : l?.map((a) => (hit(a) ? ({ ...a, data: nodeAddress } as Answer) : a));
  return dnsPacket.encode({
    ...p,
    answers: edit(p.answers),
    authorities: edit(p.authorities),
    additionals: edit(p.additionals),
  });
}
