// The kinds of malformed mDNS traffic a hostile or broken LAN host sends, as payloads. Shared by the
// malformed-cost experiment, the bench's malformed-traffic section and the tests.
import { randomBytes } from 'node:crypto';
import dnsPacket from 'dns-packet';

export type JunkKind = 'valid' | 'huge-counts' | 'random' | 'pointer-loop' | 'truncated';
export const JUNK_KINDS: readonly JunkKind[] = ['huge-counts', 'random', 'pointer-loop', 'truncated'];

const header = (flags: number, qd: number, an: number, ns: number, ar: number) => {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(flags, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ns, 8);
  b.writeUInt16BE(ar, 10);
  return b;
};

/** A payload of `kind`; `i` makes each one different (the dedupe window must not hide the cost). */
export function junk(kind: JunkKind, i: number): Buffer {
  switch (kind) {
    case 'valid':
      return dnsPacket.encode({
        type: 'response',
        id: i & 0xffff,
        answers: [{ type: 'TXT', name: `bench${i}._demo._tcp.local`, ttl: 120, data: [`seq=${i}`] }],
      });
    case 'huge-counts': // 12 bytes claiming 65,535 records per section (issue 13)
      return Buffer.concat([header(0x8400, 0xffff, 0xffff, 0xffff, 0xffff), Buffer.from([i & 255])]);
    case 'random':
      return randomBytes(12 + (i % 500));
    case 'pointer-loop': // an answer whose name points at itself
      return Buffer.concat([
        header(0x8400, 0, 1, 0, i & 0xff),
        Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0x78, 0, 4]),
      ]);
    case 'truncated': // promises five questions, ends mid-name
      return Buffer.concat([header(i & 0xffff, 5, 0, 0, 0), Buffer.from('\x07_device\x04_tc')]);
  }
}
