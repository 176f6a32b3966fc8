import assert from 'node:assert/strict';
import {
  buildIPv4,
  buildUdp,
  intToIp,
  ipToInt,
  isMulticast,
  parseIPv4Udp,
  type UdpDatagram,
} from '../../../src/wire/ipv4.js';

const PAYLOAD = Buffer.from('hello, mdns'); // odd length: exercises the checksum's padding byte

/** A well-formed packet: 192.168.1.50:5353 -> 224.0.0.251:5353, TTL 255. */
function packet(payload = PAYLOAD): Buffer {
  return buildIPv4('192.168.1.50', '224.0.0.251', 255, buildUdp(5353, 5353, payload));
}

/** A copy of `packet()` changed by `edit`. */
function edited(edit: (b: Buffer) => void): Buffer {
  const b = Buffer.from(packet());
  edit(b);
  return b;
}

/** The packet with `options` (a multiple of 4 bytes) inserted after the 20-byte header, IHL and length fixed. */
function withOptions(options: Buffer): Buffer {
  const p = packet();
  const b = Buffer.concat([p.subarray(0, 20), options, p.subarray(20)]);
  b[0] = 0x40 | ((20 + options.length) / 4);
  b.writeUInt16BE(b.length, 2);
  return b;
}

/**
 * The UDP checksum check a receiver does, written here independently of src/: the one's-complement
 * sum of the pseudo-header (source, destination, zero, protocol 17, UDP length) and the whole
 * segment, its checksum field included, is 0xffff when the checksum is right.
 */
function udpChecksumSum(pkt: Buffer): number {
  const ihl = (pkt[0] & 0x0f) * 4;
  const seg = pkt.subarray(ihl);
  const pseudo = Buffer.alloc(12);
  pkt.copy(pseudo, 0, 12, 20);
  pseudo[9] = 17;
  pseudo.writeUInt16BE(seg.length, 10);
  const all = Buffer.concat([pseudo, seg, Buffer.alloc(seg.length % 2)]);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) {
    sum += all.readUInt16BE(i);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return sum;
}

function parsed(buf: Buffer): UdpDatagram {
  const r = parseIPv4Udp(buf);
  assert.ok(r.ok, `expected the packet to parse, got ${r.ok ? '' : r.reason}`);
  return r.datagram;
}

/** Deterministic pseudo-random numbers (mulberry32), so a failing fuzz case can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('parseIPv4Udp', () => {
  it('returns the addresses, TTL, ports, segment and payload of a well-formed packet', () => {
    const d = parsed(packet());
    assert.equal(d.src, '192.168.1.50');
    assert.equal(d.dst, '224.0.0.251');
    assert.equal(d.ttl, 255);
    assert.equal(d.srcPort, 5353);
    assert.equal(d.dstPort, 5353);
    assert.equal(d.segment.length, 8 + PAYLOAD.length);
    assert.deepEqual(d.payload, PAYLOAD);
  });

  it('accepts a packet with the do-not-fragment flag set', () => {
    assert.ok(parseIPv4Udp(edited((b) => b.writeUInt16BE(0x4000, 6))).ok);
  });

  it('finds the UDP header after IP options (IHL above 5)', () => {
    const d = parsed(withOptions(Buffer.from([0x94, 0x04, 0, 0]))); // Router Alert, as IGMP uses
    assert.equal(d.srcPort, 5353);
    assert.deepEqual(d.payload, PAYLOAD);
  });

  it('ignores bytes past the UDP length, such as Ethernet padding', () => {
    const d = parsed(Buffer.concat([packet(), Buffer.alloc(6)]));
    assert.deepEqual(d.payload, PAYLOAD);
  });

  it('accepts an empty UDP payload', () => {
    assert.equal(parsed(packet(Buffer.alloc(0))).payload.length, 0);
  });

  const malformed: Array<{ desc: string; input: () => Buffer; want: string }> = [
    { desc: 'an empty buffer', input: () => Buffer.alloc(0), want: 'truncated IPv4 header' },
    {
      desc: 'a header cut at 19 bytes',
      input: () => packet().subarray(0, 19),
      want: 'truncated IPv4 header',
    },
    { desc: 'an IPv6 version nibble', input: () => edited((b) => (b[0] = 0x65)), want: 'not IPv4' },
    { desc: 'a zero version nibble', input: () => edited((b) => (b[0] = 0x05)), want: 'not IPv4' },
    { desc: 'an IHL below 5', input: () => edited((b) => (b[0] = 0x44)), want: 'truncated UDP header' },
    {
      desc: 'an IP header with no UDP header',
      input: () => packet().subarray(0, 20),
      want: 'truncated UDP header',
    },
    {
      desc: 'a UDP header cut at 7 bytes',
      input: () => packet().subarray(0, 27),
      want: 'truncated UDP header',
    },
    {
      desc: 'an IHL whose options run past the end',
      input: () => edited((b) => (b[0] = 0x4f)), // 60-byte header in a 39-byte packet
      want: 'truncated UDP header',
    },
    { desc: 'TCP (protocol 6)', input: () => edited((b) => (b[9] = 6)), want: 'not UDP' },
    { desc: 'ICMP (protocol 1)', input: () => edited((b) => (b[9] = 1)), want: 'not UDP' },
    {
      desc: 'a first fragment (more-fragments set)',
      input: () => edited((b) => b.writeUInt16BE(0x2000, 6)),
      want: 'fragment',
    },
    {
      desc: 'a later fragment (offset set)',
      input: () => edited((b) => b.writeUInt16BE(0x0010, 6)),
      want: 'fragment',
    },
    {
      desc: 'a UDP length below 8',
      input: () => edited((b) => b.writeUInt16BE(7, 24)),
      want: 'bad UDP length',
    },
    {
      desc: 'a UDP length past the end of the buffer',
      input: () => edited((b) => b.writeUInt16BE(b.length, 24)),
      want: 'bad UDP length',
    },
    {
      desc: 'a UDP length past the IP total length',
      input: () => edited((b) => b.writeUInt16BE(b.length - 4, 2)),
      want: 'bad UDP length',
    },
    {
      desc: 'a packet truncated inside its payload',
      input: () => packet().subarray(0, 30),
      want: 'bad UDP length',
    },
  ];
  for (const c of malformed) {
    it(`refuses ${c.desc} with the reason "${c.want}"`, () => {
      assert.deepEqual(parseIPv4Udp(c.input()), { ok: false, reason: c.want });
    });
  }

  it('never throws on 2000 random buffers, and gives a reason whenever it refuses', () => {
    const rand = rng(0x1ab5);
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.alloc(Math.floor(rand() * 80));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
      if (i % 2 === 0 && b.length > 9) {
        b[0] = 0x40 | (b[0] & 0x0f); // half of them look like IPv4 carrying UDP, to get further in
        b[9] = 17;
      }
      const r = parseIPv4Udp(b);
      if (!r.ok) assert.ok(r.reason.length > 0, `buffer #${i} refused without a reason`);
    }
  });

  it('never throws on any truncation of a valid packet, and accepts only the whole of it', () => {
    const whole = packet();
    for (let n = 0; n < whole.length; n++) {
      const r = parseIPv4Udp(whole.subarray(0, n));
      assert.equal(r.ok, false, `a packet cut at ${n} bytes was accepted`);
    }
    assert.ok(parseIPv4Udp(whole).ok);
  });

  it('never throws on random single-byte corruptions of a valid packet', () => {
    const rand = rng(0x5353);
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(packet());
      b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      const r = parseIPv4Udp(b.subarray(0, Math.floor(rand() * (b.length + 1))));
      if (!r.ok) assert.ok(r.reason.length > 0);
    }
  });
});

describe('buildIPv4', () => {
  it('round-trips: parsing what it builds gives back the source, destination, TTL, ports and payload', () => {
    const seg = buildUdp(40000, 1900, Buffer.from('M-SEARCH * HTTP/1.1\r\n\r\n'));
    const d = parsed(buildIPv4('10.1.0.5', '239.255.255.250', 4, seg));
    assert.deepEqual(
      {
        src: d.src,
        dst: d.dst,
        ttl: d.ttl,
        srcPort: d.srcPort,
        dstPort: d.dstPort,
        payload: d.payload.toString(),
      },
      {
        src: '10.1.0.5',
        dst: '239.255.255.250',
        ttl: 4,
        srcPort: 40000,
        dstPort: 1900,
        payload: 'M-SEARCH * HTTP/1.1\r\n\r\n',
      },
    );
  });

  it('writes a plain 20-byte header: version 4, IHL 5, total length, id 0, no fragment bits, protocol 17', () => {
    const p = packet();
    assert.equal(p[0], 0x45);
    assert.equal(p.readUInt16BE(2), p.length);
    assert.equal(p.readUInt32BE(4), 0);
    assert.equal(p[9], 17);
    assert.equal(p.readUInt16BE(10), 0, 'the kernel fills the IP header checksum');
  });

  it('re-emitting a parsed segment unchanged reproduces the original packet byte for byte', () => {
    const original = packet();
    const d = parsed(original);
    assert.deepEqual(buildIPv4(d.src, d.dst, d.ttl, d.segment), original);
  });

  const checksums: Array<{ desc: string; src: string; dst: string; payload: Buffer }> = [
    { desc: 'an odd-length payload', src: '192.168.1.50', dst: '224.0.0.251', payload: PAYLOAD },
    { desc: 'an even-length payload', src: '10.1.0.5', dst: '239.255.255.250', payload: Buffer.from('abcd') },
    { desc: 'an empty payload', src: '192.168.2.1', dst: '255.255.255.255', payload: Buffer.alloc(0) },
    {
      desc: 'high address bytes',
      src: '255.255.255.254',
      dst: '239.255.255.255',
      payload: Buffer.alloc(1400, 0xff),
    },
  ];
  for (const c of checksums) {
    it(`writes a UDP checksum a receiver accepts, for ${c.desc}`, () => {
      const p = buildIPv4(c.src, c.dst, 255, buildUdp(5353, 5353, c.payload));
      assert.notEqual(p.readUInt16BE(26), 0, 'a zero checksum means "none"');
      assert.equal(udpChecksumSum(p), 0xffff);
    });
  }

  it('recomputes the checksum rather than trusting the one it was given (CHECKSUM_PARTIAL from a veth)', () => {
    const seg = buildUdp(5353, 5353, PAYLOAD);
    seg.writeUInt16BE(0x1234, 6);
    assert.equal(udpChecksumSum(buildIPv4('10.1.0.5', '224.0.0.251', 255, seg)), 0xffff);
  });

  it('keeps the checksum valid when the source address changes', () => {
    const d = parsed(packet());
    assert.equal(udpChecksumSum(buildIPv4('192.168.1.2', d.dst, 255, d.segment)), 0xffff);
  });

  it('sends a checksum that computes to zero as 0xffff (RFC 768)', () => {
    // With a 2-byte payload equal to the checksum of the zero payload, the sum becomes all ones.
    const first = buildIPv4('10.0.0.1', '10.0.0.2', 64, buildUdp(1000, 2000, Buffer.alloc(2)));
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(first.readUInt16BE(26));
    const p = buildIPv4('10.0.0.1', '10.0.0.2', 64, buildUdp(1000, 2000, payload));
    assert.equal(p.readUInt16BE(26), 0xffff);
    assert.equal(udpChecksumSum(p), 0xffff);
  });
});

describe('buildUdp', () => {
  it('writes the ports and the UDP length, and buildIPv4 gives the changed ports a valid checksum', () => {
    const d = parsed(packet());
    const seg = buildUdp(49152, 5353, d.payload);
    assert.equal(seg.readUInt16BE(4), 8 + PAYLOAD.length);
    const p = buildIPv4('192.168.1.20', d.dst, 255, seg);
    const again = parsed(p);
    assert.equal(again.srcPort, 49152);
    assert.equal(again.dstPort, 5353);
    assert.equal(again.src, '192.168.1.20');
    assert.deepEqual(again.payload, PAYLOAD);
    assert.equal(udpChecksumSum(p), 0xffff);
  });
});

describe('IPv4 address helpers', () => {
  const addresses = ['0.0.0.0', '10.1.0.5', '127.0.0.1', '224.0.0.251', '255.255.255.255'];
  for (const a of addresses) {
    it(`turns ${a} into an unsigned number and back`, () => {
      const n = ipToInt(a);
      assert.ok(n >= 0 && n <= 0xffffffff);
      assert.equal(intToIp(n), a);
    });
  }

  it('orders addresses as unsigned numbers, so 224.x is above 10.x', () => {
    assert.equal(ipToInt('224.0.0.251'), 0xe00000fb);
    assert.ok(ipToInt('224.0.0.251') > ipToInt('10.0.0.1'));
  });

  const multicast: Array<{ input: string; want: boolean }> = [
    { input: '224.0.0.251', want: true },
    { input: '239.255.255.250', want: true },
    { input: '223.255.255.255', want: false },
    { input: '240.0.0.1', want: false },
    { input: '255.255.255.255', want: false },
    { input: '10.1.0.5', want: false },
  ];
  for (const c of multicast) {
    it(`says ${c.input} is ${c.want ? '' : 'not '}multicast`, () =>
      assert.equal(isMulticast(c.input), c.want));
  }
});
