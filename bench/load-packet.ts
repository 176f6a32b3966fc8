/**
 * The bench's offered load: real mDNS responses (encoded once with dns-packet) carrying one TXT record
 * whose first label names the step, a sequence number and the send time:
 *
 *   lrb SSS q NNNNNNNNN t TTTTTTTTTTTTTTTTTTT ._lrbench._udp.local  TXT "txtvers=1" ...
 *       step  sequence    send time, ns of CLOCK_MONOTONIC (process.hrtime), shared by every process
 *
 * The label has a fixed width, so each packet is the template with its digits overwritten: no
 * per-packet encoding in the sender. Receivers find every such label in a datagram (a reflector that
 * re-assembles records, as avahi does, may pack several into one packet), so they count records.
 */
import dnsPacket from 'dns-packet';

const LABEL_LEN = 36; // 'lrb' + 3 + 'q' + 9 + 't' + 19
/** Length byte + 'lrb': where a label starts in the wire format. */
const MARKER = Buffer.from([LABEL_LEN, 0x6c, 0x72, 0x62]);
const STEP_AT = 4; // offsets from the length byte
const SEQ_AT = 8;
const TIME_AT = 18;
export const MAX_SEQ = 999_999_999;

export interface LoadTemplate {
  bytes: Buffer;
  /** Offset of the label's length byte. */
  labelAt: number;
}

/** The response template: one TXT answer with a few realistic key=value strings (~190 bytes). */
export function loadTemplate(): LoadTemplate {
  const label = 'lrb000q000000000t' + '0'.repeat(19);
  const bytes = dnsPacket.encode({
    type: 'response',
    id: 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    answers: [
      {
        type: 'TXT',
        class: 'IN',
        name: `${label}._lrbench._udp.local`,
        ttl: 120,
        data: ['txtvers=1', 'model=lan-reflector-bench', 'id=00:11:22:33:44:55', 'features=0x5A7FFFF7,0x1E'],
      },
    ],
  });
  const labelAt = bytes.indexOf(MARKER);
  if (labelAt < 0) throw new Error('bench template: label not found after encoding');
  return { bytes, labelAt };
}

function writeDigits(buf: Buffer, off: number, width: number, value: number): void {
  for (let i = width - 1; i >= 0; i--) {
    buf[off + i] = 0x30 + (value % 10);
    value = Math.floor(value / 10);
  }
}

/** A fresh packet for (step, seq) stamped with `nowNs` (process.hrtime.bigint()). */
export function stamp(t: LoadTemplate, step: number, seq: number, nowNs: bigint): Buffer {
  const buf = Buffer.allocUnsafe(t.bytes.length);
  t.bytes.copy(buf);
  writeDigits(buf, t.labelAt + STEP_AT, 3, step);
  writeDigits(buf, t.labelAt + SEQ_AT, 9, seq);
  buf.write(nowNs.toString().padStart(19, '0'), t.labelAt + TIME_AT, 'latin1');
  return buf;
}

function readDigits(buf: Buffer, off: number, width: number): number {
  let v = 0;
  for (let i = 0; i < width; i++) {
    const d = buf[off + i] - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

export interface StampedRecord {
  step: number;
  seq: number;
  /** Send time, ns of CLOCK_MONOTONIC (exact below 2^53 ns, i.e. ~104 days of uptime). */
  sentNs: number;
}

/** Every bench record in a datagram, in order; `visit` is called once per record found. */
export function forEachRecord(buf: Buffer, visit: (r: StampedRecord) => void): number {
  let n = 0;
  let at = buf.indexOf(MARKER);
  while (at >= 0 && at + 1 + LABEL_LEN <= buf.length) {
    const step = readDigits(buf, at + STEP_AT, 3);
    const seq = readDigits(buf, at + SEQ_AT, 9);
    const sentNs = readDigits(buf, at + TIME_AT, 19);
    if (step >= 0 && seq >= 0 && sentNs >= 0 && buf[at + SEQ_AT - 1] === 0x71) {
      visit({ step, seq, sentNs });
      n++;
    }
    at = buf.indexOf(MARKER, at + 1 + LABEL_LEN);
  }
  return n;
}
