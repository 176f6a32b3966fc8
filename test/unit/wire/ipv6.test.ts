import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import {
  buildIPv6Frame,
  buildUdp6,
  readIPv6Frame,
  bytesToIPv6,
  canonical6,
  inPrefix6,
  ipv6ToBytes,
  isLinkLocal6,
  isMulticast6,
  matchLength6,
  parseUdp6,
  stripZone,
  udp6Checksum,
  verifyUdp6Checksum,
  withUdp6Checksum,
} from '../../../src/wire/ipv6.js';

/** An mDNS response (one A record for test.local), as a Linux host sent it from 2001:db8::1 to
 *  2001:db8::2, port 5353 both ways; captured with tcpdump between two namespaces. The checksum
 *  field of the capture held the veth's partial sum, so it is zero here and the full checksum was
 *  worked out separately (Python, RFC 1071 over pseudo-header + segment): 0x91ef. */
const SEGMENT = Buffer.from(
  '14e914e9002e0000' +
    '00008400000000010000000004746573' +
    '74056c6f63616c000001800100000078' +
    '0004c612040b',
  'hex',
);
const CAPTURED_SUM = 0x91ef;

/** The receiver's check, written independently of src/: the one's-complement sum of pseudo-header
 *  and segment, checksum included, is 0xffff. */
function receiverSum(src: string, dst: string, seg: Buffer): number {
  const hex = (ip: string) => {
    const [h, t = ''] = ip.split('::');
    const a = h ? h.split(':') : [];
    const b = t ? t.split(':') : [];
    const words = [...a, ...Array(8 - a.length - b.length).fill('0'), ...b];
    return Buffer.from(words.map((w) => w.padStart(4, '0')).join(''), 'hex');
  };
  const ph = Buffer.alloc(40);
  hex(src).copy(ph, 0);
  hex(dst).copy(ph, 16);
  ph.writeUInt32BE(seg.length, 32);
  ph[39] = 17;
  const all = Buffer.concat([ph, seg, Buffer.alloc(seg.length % 2)]);
  let s = 0;
  for (let i = 0; i < all.length; i += 2) s += all.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

describe('wire/ipv6', () => {
  describe('addresses', () => {
    const cases: Array<[string, string]> = [
      ['2001:db8::1', '2001:db8::1'],
      ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['fe80::ecee:eeff:feee:eeee', 'fe80::ecee:eeff:feee:eeee'],
      ['ff02::fb', 'ff02::fb'],
      ['::', '::'],
      ['::1', '::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // RFC 5952 4.2.3: the first of equal runs
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // 4.2.2: a single zero group stays
      ['::ffff:198.18.4.11', '::ffff:c612:40b'],
      ['fe80::1%eth0', 'fe80::1'],
    ];
    for (const [text, want] of cases)
      it(`reads ${text} and writes it as ${want}`, () => assert.equal(canonical6(text), want));

    it('refuses what is not an IPv6 address', () => {
      for (const bad of ['', '1.2.3.4', '2001:db8::1::2', '2001:db8:1:2:3:4:5:6:7', '12345::', 'g::1', ':'])
        assert.throws(() => ipv6ToBytes(bad), /not an IPv6 address/, bad);
    });

    it('round-trips random addresses the same way node:net reads them', () => {
      for (let i = 0; i < 200; i++) {
        const b = Buffer.alloc(16);
        for (let j = 0; j < 16; j++) b[j] = Math.random() < 0.4 ? 0 : Math.floor(Math.random() * 256);
        const text = bytesToIPv6(b);
        assert.ok(isIPv6(text), text);
        assert.deepEqual(ipv6ToBytes(text), b);
      }
    });

    it('knows link-local (fe80::/10) and multicast addresses', () => {
      assert.ok(isLinkLocal6('fe80::1'));
      assert.ok(isLinkLocal6('febf::1'));
      assert.ok(!isLinkLocal6('fec0::1'));
      assert.ok(!isLinkLocal6('2001:db8::1'));
      assert.ok(!isLinkLocal6('198.18.4.1'));
      assert.ok(isMulticast6('ff02::fb') && isMulticast6('FF02::C'));
      assert.ok(!isMulticast6('fe80::1'));
      assert.equal(stripZone('fe80::1%cali1'), 'fe80::1');
    });

    it('matches prefixes, including ones that end inside a byte', () => {
      assert.ok(inPrefix6('2001:db8:4::11', '2001:db8:4::/64'));
      assert.ok(!inPrefix6('2001:db8:5::11', '2001:db8:4::/64'));
      assert.ok(inPrefix6('2001:db8:ff::1', '2001:db8:f0::/44'));
      assert.ok(!inPrefix6('2001:db8:10f::1', '2001:db8:f0::/44'));
      assert.ok(inPrefix6('2001:db8::5', '2001:db8::5'));
      assert.equal(matchLength6('2001:db8::5', 'default'), 0);
      assert.equal(matchLength6('2001:db8::5', '2001:db8::/32'), 32);
      assert.equal(matchLength6('2001:db8::5', '2001:db8::5'), 128);
      assert.equal(matchLength6('2001:db9::5', '2001:db8::/32'), -1);
    });
  });

  describe('UDP checksum (RFC 8200 8.1)', () => {
    it('matches the checksum of a packet a Linux host sent', () => {
      assert.equal(udp6Checksum('2001:db8::1', '2001:db8::2', SEGMENT), CAPTURED_SUM);
    });

    it('ignores whatever the checksum field held (a partial sum from a veth)', () => {
      const partial = Buffer.from(SEGMENT);
      partial.writeUInt16BE(0x5bb4, 6);
      assert.equal(udp6Checksum('2001:db8::1', '2001:db8::2', partial), CAPTURED_SUM);
    });

    it('verifies at the receiver for link-local and multicast pairs, odd lengths included', () => {
      for (const [src, dst] of [
        ['fe80::ecee:eeff:feee:eeee', 'ff02::fb'],
        ['2001:db8:4::11', 'ff02::c'],
      ]) {
        for (const len of [0, 1, 37, 1200]) {
          const seg = buildUdp6(src, dst, 5353, 5353, Buffer.alloc(len, 0xa5));
          assert.equal(receiverSum(src, dst, seg), 0xffff, `${src} -> ${dst}, ${len} bytes`);
          assert.ok(verifyUdp6Checksum(src, dst, seg));
          assert.ok(!verifyUdp6Checksum('fe80::2', dst, seg), 'the source is part of the sum');
        }
      }
    });

    it('never sends 0 (IPv6 has no "no checksum"): a sum of 0 goes out as 0xffff', () => {
      // Find a payload word that makes the computed checksum 0, then check it is written as 0xffff.
      const base = buildUdp6('2001:db8::1', 'ff02::fb', 5353, 5353, Buffer.alloc(2));
      const c = base.readUInt16BE(6);
      const seg = Buffer.from(base);
      seg.writeUInt16BE(c === 0xffff ? 0 : c, 8); // adding c to the sum turns ~sum into 0
      const out = withUdp6Checksum('2001:db8::1', 'ff02::fb', seg);
      assert.equal(out.readUInt16BE(6), 0xffff);
      assert.equal(receiverSum('2001:db8::1', 'ff02::fb', out), 0xffff);
    });
  });

  describe('parseUdp6 (what an ipv6-udp socket delivers)', () => {
    const msg = (data: Buffer, extra: object = {}) => ({
      data,
      src: 'fe80::11%3',
      dst: 'ff02::fb',
      hopLimit: 255,
      ifindex: 3,
      ...extra,
    });

    it('gives the addresses without zone, the hop limit and the ports', () => {
      const r = parseUdp6(msg(SEGMENT));
      assert.ok(r.ok);
      const d = r.datagram;
      assert.equal(d.family, 6);
      assert.equal(d.src, 'fe80::11');
      assert.equal(d.dst, 'ff02::fb');
      assert.equal(d.ttl, 255);
      assert.equal(d.srcPort, 5353);
      assert.equal(d.dstPort, 5353);
      assert.equal(d.payload.length, SEGMENT.length - 8);
    });

    it('cuts trailing bytes beyond the UDP length', () => {
      const r = parseUdp6(msg(Buffer.concat([SEGMENT, Buffer.alloc(5)])));
      assert.ok(r.ok);
      assert.equal(r.datagram.segment.length, SEGMENT.length);
    });

    it('refuses truncated segments, bad lengths and messages without ancillary data', () => {
      const bad: Array<[object, RegExp]> = [
        [msg(SEGMENT.subarray(0, 7)), /truncated/],
        [msg(Buffer.from(SEGMENT).fill(0, 4, 6)), /bad UDP length/],
        [msg(SEGMENT.subarray(0, 20)), /bad UDP length/],
        [msg(SEGMENT, { src: undefined }), /IPV6_PKTINFO/],
        [msg(SEGMENT, { hopLimit: undefined }), /IPV6_HOPLIMIT/],
      ];
      for (const [m, re] of bad) {
        const r = parseUdp6(m as Parameters<typeof parseUdp6>[0]);
        assert.ok(!r.ok);
        assert.match(r.reason, re);
      }
    });
  });

  describe('IPv6 frames (engine -> link set)', () => {
    it('writes an RFC 8200 header a receiver reads: version 6, payload length, UDP, hop limit, addresses', () => {
      const f = buildIPv6Frame('fe80::11', 'ff02::fb', 255, SEGMENT);
      assert.equal(f.length, 40 + SEGMENT.length);
      assert.equal(f[0] >> 4, 6);
      assert.equal(f.readUInt16BE(4), SEGMENT.length);
      assert.equal(f[6], 17);
      assert.equal(f[7], 255);
      assert.equal(f.subarray(8, 24).toString('hex'), 'fe800000000000000000000000000011');
      assert.equal(f.subarray(24, 40).toString('hex'), 'ff0200000000000000000000000000fb');
      assert.deepEqual(f.subarray(40), SEGMENT);
    });

    it('reads back what it built, and nothing else', () => {
      const frame = buildIPv6Frame('2001:db8:4::11', 'ff02::c', 2, SEGMENT);
      const want = { src: '2001:db8:4::11', dst: 'ff02::c', hopLimit: 2, segment: SEGMENT };
      assert.deepEqual(readIPv6Frame(frame), want);
      assert.deepEqual(readIPv6Frame(Buffer.from(frame)), want, 'from the bytes alone, too');
      assert.equal(readIPv6Frame(Buffer.alloc(40)), undefined);
      assert.equal(readIPv6Frame(Buffer.from('45000000', 'hex')), undefined);
    });
  });
});
