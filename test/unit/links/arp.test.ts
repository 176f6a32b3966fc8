import assert from 'node:assert/strict';
import {
  arpAnnouncement,
  arpProbe,
  decodeArp,
  describeArp,
  encodeArp,
  type ArpFrame,
} from '../../../src/links/arp.js';
import { claimVerdict, probeConflict, probeDefence } from '../../../src/links/arp-rules.js';

/** Frames captured with tcpdump -xx between two namespaces (02:..:0a is 198.18.4.10, 02:..:0b is .11). */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const CAPTURED_PROBE = hex(`
  ffff ffff ffff 0200 0000 000a 0806 0001 0800 0604 0001 0200 0000 000a 0000 0000
  0000 0000 0000 c612 040b 0000 0000 0000 0000 0000 0000 0000 0000`); // arping -0: who-has .11 tell 0.0.0.0
const CAPTURED_PROBE_REPLY = hex(`
  0200 0000 000a 0200 0000 000b 0806 0001 0800 0604 0002 0200 0000 000b c612 040b
  0200 0000 000a 0000 0000`); // the Linux kernel's answer to it: .11 is-at 02:..:0b, target 0.0.0.0
const CAPTURED_REQUEST = hex(`
  ffff ffff ffff 0200 0000 000a 0806 0001 0800 0604 0001 0200 0000 000a c612 040a
  0000 0000 0000 c612 040b 0000 0000 0000 0000 0000 0000 0000 0000`); // who-has .11 tell .10

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const OWN = '02:00:00:00:00:01';

describe('ARP codec', () => {
  it('decodes a probe captured from arping -0', () => {
    const r = decodeArp(CAPTURED_PROBE);
    assert.ok(r.ok);
    assert.deepEqual(r.frame, {
      ethDst: 'ff:ff:ff:ff:ff:ff',
      ethSrc: A,
      op: 1,
      senderMac: A,
      senderIp: '0.0.0.0',
      targetMac: '00:00:00:00:00:00',
      targetIp: '198.18.4.11',
    });
    assert.equal(describeArp(r.frame), `probe who-has 198.18.4.11 (from ${A})`);
  });

  it('builds an RFC 5227 probe byte for byte as arping sends it', () => {
    const out = encodeArp(arpProbe(A, '198.18.4.11'));
    assert.deepEqual(out.subarray(0, 42), CAPTURED_PROBE.subarray(0, 42)); // arping pads to 58 bytes, we to 60
    assert.ok(out.subarray(42).every((b) => b === 0));
  });

  it('builds the answer to a probe byte for byte as the kernel does, padded to 60 bytes', () => {
    const out = encodeArp(probeDefence(B, '198.18.4.11', A));
    assert.equal(out.length, 60);
    assert.deepEqual(out.subarray(0, 42), CAPTURED_PROBE_REPLY);
    assert.ok(out.subarray(42).every((b) => b === 0));
  });

  it('builds an announcement: a broadcast request whose sender and target IP are the address', () => {
    const r = decodeArp(encodeArp(arpAnnouncement(OWN, '198.18.4.101')));
    assert.ok(r.ok);
    assert.equal(r.frame.senderIp, '198.18.4.101');
    assert.equal(r.frame.targetIp, '198.18.4.101');
    assert.equal(r.frame.senderMac, OWN);
    assert.equal(r.frame.ethDst, 'ff:ff:ff:ff:ff:ff');
    assert.equal(r.frame.op, 1);
    assert.equal(describeArp(r.frame), `announce 198.18.4.101 is-at ${OWN}`);
  });

  it('round-trips every frame kind it builds', () => {
    const frames: ArpFrame[] = [
      arpProbe(OWN, '198.18.4.7'),
      arpAnnouncement(OWN, '198.18.4.7'),
      probeDefence(OWN, '198.18.4.7', A),
    ];
    for (const f of frames) {
      const r = decodeArp(encodeArp(f));
      assert.ok(r.ok);
      assert.deepEqual(r.frame, f);
      assert.deepEqual(encodeArp(r.frame), encodeArp(f));
    }
  });

  it('refuses truncated frames, other ethertypes and other address types with stable reasons', () => {
    assert.deepEqual(decodeArp(CAPTURED_PROBE.subarray(0, 41)), { ok: false, reason: 'ARP frame truncated' });
    const ip = Buffer.from(CAPTURED_PROBE);
    ip.writeUInt16BE(0x0800, 12);
    assert.deepEqual(decodeArp(ip), { ok: false, reason: 'not an ARP frame' });
    const hw = Buffer.from(CAPTURED_PROBE);
    hw.writeUInt16BE(6, 14);
    assert.deepEqual(decodeArp(hw), { ok: false, reason: 'ARP for another hardware or protocol type' });
    const op = Buffer.from(CAPTURED_PROBE);
    op.writeUInt16BE(9, 20);
    assert.deepEqual(decodeArp(op), { ok: false, reason: 'ARP operation 9' });
  });

  it('refuses to encode a malformed MAC address', () => {
    assert.throws(() => encodeArp(arpProbe('02:00:00:00:00', '198.18.4.1')), /Cannot encode MAC address/);
  });
});

describe('ARP rules: probing (RFC 5227 2.1.1)', () => {
  const frame = (b: Buffer): ArpFrame => {
    const r = decodeArp(b);
    assert.ok(r.ok);
    return r.frame;
  };

  it('a reply from another host for the probed address is a conflict naming its MAC', () => {
    assert.deepEqual(probeConflict(frame(CAPTURED_PROBE_REPLY), '198.18.4.11', A), { by: B, kind: 'in-use' });
  });

  it('a request whose sender is the probed address is a conflict too', () => {
    assert.deepEqual(probeConflict(frame(CAPTURED_REQUEST), '198.18.4.10', OWN), { by: A, kind: 'in-use' });
  });

  it('another host probing the same address at the same time is a conflict', () => {
    assert.deepEqual(probeConflict(frame(CAPTURED_PROBE), '198.18.4.11', OWN), { by: A, kind: 'probing' });
  });

  it('our own probe, and this node answering for its own pod, are no conflict', () => {
    assert.equal(probeConflict(frame(CAPTURED_PROBE), '198.18.4.11', A), undefined);
    assert.equal(probeConflict(frame(CAPTURED_PROBE_REPLY), '198.18.4.11', B), undefined);
  });

  it('traffic about other addresses is no conflict', () => {
    assert.equal(probeConflict(frame(CAPTURED_REQUEST), '198.18.4.11', OWN), undefined);
    assert.equal(probeConflict(frame(CAPTURED_PROBE_REPLY), '198.18.4.12', OWN), undefined);
  });
});

describe('ARP rules: addresses this node holds (RFC 5227 2.4)', () => {
  const pods = new Set(['198.18.4.10', '198.18.4.11']);
  const isPod = (a: string) => pods.has(a);
  const frame = (f: ArpFrame) => f;

  it('another MAC announcing or asking from a pod address is a conflict', () => {
    assert.deepEqual(claimVerdict(frame(arpAnnouncement(A, '198.18.4.11')), OWN, isPod), {
      kind: 'conflict',
      address: '198.18.4.11',
      by: A,
    });
    const d = decodeArp(CAPTURED_REQUEST);
    assert.ok(d.ok);
    assert.deepEqual(claimVerdict(d.frame, OWN, isPod), { kind: 'conflict', address: '198.18.4.10', by: A });
  });

  it('another host probing a pod address is to be answered (the kernel proxy entry does not)', () => {
    const d = decodeArp(CAPTURED_PROBE);
    assert.ok(d.ok);
    assert.deepEqual(claimVerdict(d.frame, OWN, isPod), {
      kind: 'defend',
      address: '198.18.4.11',
      prober: A,
    });
  });

  it('our own announcements and requests about other addresses are ignored', () => {
    assert.equal(claimVerdict(arpAnnouncement(OWN, '198.18.4.11'), OWN, isPod), undefined);
    assert.equal(claimVerdict(arpAnnouncement(A, '198.18.4.99'), OWN, isPod), undefined);
    assert.equal(claimVerdict(arpProbe(A, '198.18.4.99'), OWN, isPod), undefined);
  });
});
