import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { clientIdFor, clientIdHex, hostNameFor } from '../../../../src/ipam/dhcp/client-id.js';
import { buildClientFrame, parseServerFrame } from '../../../../src/ipam/dhcp/frame.js';
import { decodeMessage, encodeMessage, type DhcpMessage } from '../../../../src/ipam/dhcp/message.js';

/** An OFFER laid out byte by byte from RFC 2131 figure 1, independent of the encoder. */
function handMadeOffer(opts: number[], o: { sname?: number[]; file?: number[] } = {}): Buffer {
  const b = Buffer.alloc(240 + opts.length);
  b[0] = 2; // BOOTREPLY
  b[1] = 1; // Ethernet
  b[2] = 6;
  b.writeUInt32BE(0xdeadbeef, 4); // xid
  b.writeUInt16BE(0x8000, 10); // broadcast
  Buffer.from([198, 18, 4, 150]).copy(b, 16); // yiaddr
  Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(b, 28); // chaddr
  if (o.sname) Buffer.from(o.sname).copy(b, 44);
  if (o.file) Buffer.from(o.file).copy(b, 108);
  Buffer.from([0x63, 0x82, 0x53, 0x63]).copy(b, 236);
  Buffer.from(opts).copy(b, 240);
  return b;
}

const sampleDiscover = (): DhcpMessage => ({
  op: 1,
  xid: 0x01020304,
  secs: 3,
  flags: 0x8000,
  ciaddr: '0.0.0.0',
  yiaddr: '0.0.0.0',
  siaddr: '0.0.0.0',
  giaddr: '0.0.0.0',
  chaddr: '02:aa:bb:cc:dd:ee',
  type: 1,
  options: new Map([
    [61, Buffer.from('\x00lan-reflector:home/ha', 'latin1')],
    [12, Buffer.from('ha')],
    [55, Buffer.from([1, 3, 51])],
  ]),
});

describe('dhcp codec', () => {
  it('decodes an OFFER laid out by hand: header fields, addresses and options', () => {
    const r = decodeMessage(
      handMadeOffer([53, 1, 2, 54, 4, 198, 18, 4, 1, 51, 4, 0, 0, 0x0e, 0x10, 1, 4, 255, 255, 255, 0, 255]),
    );
    assert.ok(r.ok, r.ok ? '' : r.reason);
    const m = r.message;
    assert.equal(m.op, 2);
    assert.equal(m.type, 2);
    assert.equal(m.xid, 0xdeadbeef);
    assert.equal(m.flags, 0x8000);
    assert.equal(m.yiaddr, '198.18.4.150');
    assert.equal(m.chaddr, '02:00:00:00:00:02');
    assert.deepEqual([...m.options.get(54)!], [198, 18, 4, 1]);
    assert.equal(m.options.get(51)!.readUInt32BE(0), 3600);
    assert.deepEqual([...m.options.get(1)!], [255, 255, 255, 0]);
    assert.equal(m.options.has(53), false, 'the message type is a field, not an option');
  });

  it('reads options moved into file and sname by option overload (RFC 2132 9.3)', () => {
    const r = decodeMessage(
      handMadeOffer([53, 1, 5, 52, 1, 3, 255], {
        file: [51, 4, 0, 0, 0, 60, 255],
        sname: [54, 4, 10, 0, 0, 1, 255],
      }),
    );
    assert.ok(r.ok);
    assert.equal(r.message.options.get(51)!.readUInt32BE(0), 60);
    assert.deepEqual([...r.message.options.get(54)!], [10, 0, 0, 1]);
  });

  it('joins repeated options (RFC 3396) and splits long ones when encoding', () => {
    const m = sampleDiscover();
    const long = Buffer.alloc(300, 0x41);
    m.options.set(77, long);
    const bytes = encodeMessage(m);
    // The long option appears as two pieces: 255 then 45 bytes.
    const at = bytes.indexOf(Buffer.from([77, 255]));
    assert.ok(at > 240);
    assert.deepEqual([...bytes.subarray(at + 257, at + 259)], [77, 45]);
    const back = decodeMessage(bytes);
    assert.ok(back.ok);
    assert.deepEqual(back.message.options.get(77), long);
  });

  it('round-trips encode → decode → encode', () => {
    const m = sampleDiscover();
    const once = encodeMessage(m);
    const d = decodeMessage(once);
    assert.ok(d.ok);
    assert.deepEqual(d.message, m);
    assert.deepEqual(encodeMessage(d.message), once);
    assert.ok(once.length >= 300, 'padded to the BOOTP minimum of 300 bytes');
    assert.equal(once.readUInt32BE(236), 0x63825363);
  });

  it('refuses malformed messages with stable reasons', () => {
    const cases: [Buffer, string][] = [
      [Buffer.alloc(100), 'truncated BOOTP header'],
      [handMadeOffer([53, 1, 2, 255]).fill(0, 236, 240), 'no DHCP magic cookie'],
      [handMadeOffer([53, 1, 2, 51, 9, 0, 0]), 'option 51 overruns the message'],
      [handMadeOffer([54, 4, 1, 2, 3, 4, 255]), 'no DHCP message type'],
      [handMadeOffer([53, 1, 99, 255]), 'unknown DHCP message type 99'],
      [handMadeOffer([53]), 'truncated option'],
    ];
    for (const [buf, reason] of cases) assert.deepEqual(decodeMessage(buf), { ok: false, reason });
    const notEth = handMadeOffer([53, 1, 2, 255]);
    notEth[1] = 6;
    assert.deepEqual(decodeMessage(notEth), { ok: false, reason: 'not Ethernet hardware' });
  });
});

/** RFC 1071 one's-complement sum of 16-bit words. */
function onesSum(b: Buffer): number {
  let acc = 0;
  for (let i = 0; i < b.length; i += 2) acc += (b[i] << 8) | (i + 1 < b.length ? b[i + 1] : 0);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

describe('dhcp framing', () => {
  const payload = encodeMessage(sampleDiscover());
  const frame = buildClientFrame(payload, {
    srcMac: '02:aa:bb:cc:dd:ee',
    dstMac: 'ff:ff:ff:ff:ff:ff',
    srcIp: '0.0.0.0',
    dstIp: '255.255.255.255',
  });

  it('builds an Ethernet/IPv4/UDP 68 → 67 frame whose checksums verify', () => {
    assert.equal(frame.subarray(0, 6).toString('hex'), 'ffffffffffff');
    assert.equal(frame.subarray(6, 12).toString('hex'), '02aabbccddee');
    assert.equal(frame.readUInt16BE(12), 0x0800);
    const ip = frame.subarray(14);
    assert.equal(ip[9], 17);
    assert.equal(onesSum(ip.subarray(0, 20)), 0xffff, 'IPv4 header checksum');
    const udp = ip.subarray(20);
    assert.equal(udp.readUInt16BE(0), 68);
    assert.equal(udp.readUInt16BE(2), 67);
    const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 17]), udp.subarray(4, 6)]);
    assert.equal(onesSum(Buffer.concat([pseudo, udp])), 0xffff, 'UDP checksum over the pseudo-header');
    assert.deepEqual(udp.subarray(8), payload);
  });

  it('takes only server → client frames (UDP 67 → 68) off the link', () => {
    assert.deepEqual(parseServerFrame(frame), { ok: false, reason: 'not DHCP 67 → 68' });
    const reply = Buffer.from(frame);
    reply.writeUInt16BE(67, 34);
    reply.writeUInt16BE(68, 36);
    const r = parseServerFrame(reply);
    assert.ok(r.ok);
    assert.equal(r.reply.srcMac, '02:aa:bb:cc:dd:ee');
    assert.equal(r.reply.message.xid, 0x01020304);
    const arp = Buffer.from(frame);
    arp.writeUInt16BE(0x0806, 12);
    assert.deepEqual(parseServerFrame(arp), { ok: false, reason: 'not IPv4' });
  });
});

describe('dhcp client identifier', () => {
  it('is type 0 then "lan-reflector:NAMESPACE/NAME" in ASCII, the same for the same pod', () => {
    const id = clientIdFor({ namespace: 'home', name: 'home-assistant-0' });
    assert.deepEqual(id, Buffer.from('\0lan-reflector:home/home-assistant-0', 'latin1'));
    assert.deepEqual(clientIdFor({ namespace: 'home', name: 'home-assistant-0' }), id);
    assert.notDeepEqual(clientIdFor({ namespace: 'home', name: 'home-assistant-1' }), id);
    assert.equal(clientIdHex(Buffer.from([0, 0x6c, 0x0a])), '00:6c:0a');
  });

  it('hashes NAMESPACE/NAME with SHA-256 when the text would not fit one option', () => {
    const name = 'a'.repeat(250);
    const id = clientIdFor({ namespace: 'ns', name });
    const digest = createHash('sha256').update(`ns/${name}`).digest('hex').slice(0, 32);
    assert.deepEqual(id, Buffer.from(`\0lan-reflector:sha256:${digest}`, 'latin1'));
    assert.ok(id.length <= 255);
  });

  it('uses the pod name as host name, made one RFC 1123 label', () => {
    assert.equal(hostNameFor({ namespace: 'x', name: 'home-assistant-0' }), 'home-assistant-0');
    assert.equal(hostNameFor({ namespace: 'x', name: 'web.v2' }), 'web-v2');
    assert.equal(hostNameFor({ namespace: 'x', name: 'b'.repeat(70) }).length, 63);
  });
});
