import assert from 'node:assert/strict';
import { PacketTransport } from '../../../../src/ipam/dhcp/packet-transport.js';
import { buildClientFrame, type ReceivedReply } from '../../../../src/ipam/dhcp/frame.js';
import { encodeMessage, type DhcpMessage } from '../../../../src/ipam/dhcp/message.js';

const NODE_MAC = '02:00:00:00:00:02';

const message = (op: 1 | 2, xid: number, type: DhcpMessage['type']): DhcpMessage => ({
  op,
  xid,
  secs: 0,
  flags: 0x8000,
  ciaddr: '0.0.0.0',
  yiaddr: op === 2 ? '198.18.4.150' : '0.0.0.0',
  siaddr: '0.0.0.0',
  giaddr: '0.0.0.0',
  chaddr: NODE_MAC,
  type,
  options: new Map([[54, Buffer.from([198, 18, 4, 1])]]),
});

/** A server frame: the client builder with its ports swapped to 67 → 68. */
function serverFrame(m: DhcpMessage): Buffer {
  const f = buildClientFrame(encodeMessage(m), {
    srcMac: '02:00:00:00:00:01',
    dstMac: 'ff:ff:ff:ff:ff:ff',
    srcIp: '198.18.4.1',
    dstIp: '255.255.255.255',
  });
  f.writeUInt16BE(67, 34);
  f.writeUInt16BE(68, 36);
  return f;
}

describe('dhcp packet transport', () => {
  it('frames broadcasts to ff:ff:ff:ff:ff:ff / 255.255.255.255 and unicasts to the server MAC and IP', () => {
    const frames: Buffer[] = [];
    const t = new PacketTransport({ mac: NODE_MAC, send: (f) => void frames.push(f) });
    t.send(message(1, 1, 1), '0.0.0.0', { kind: 'broadcast' });
    t.send(message(1, 2, 3), '198.18.4.150', { kind: 'unicast', ip: '198.18.4.1', mac: '02:00:00:00:00:01' });
    assert.equal(frames[0].subarray(0, 6).toString('hex'), 'ffffffffffff');
    assert.equal(frames[0].subarray(6, 12).toString('hex'), '020000000002');
    assert.deepEqual([...frames[0].subarray(14 + 12, 14 + 20)], [0, 0, 0, 0, 255, 255, 255, 255]);
    assert.equal(frames[1].subarray(0, 6).toString('hex'), '020000000001');
    assert.deepEqual([...frames[1].subarray(14 + 12, 14 + 20)], [198, 18, 4, 150, 198, 18, 4, 1]);
    assert.equal(t.counters.sent, 2);
  });

  it("hands a reply to its transaction only; other xids (the node's own client) are counted and dropped", () => {
    const t = new PacketTransport({ mac: NODE_MAC, send: () => {} });
    const got: ReceivedReply[] = [];
    const stop = t.listen(7, (r) => void got.push(r));
    const f = serverFrame(message(2, 7, 2));
    t.receive(f);
    f.fill(0, 14 + 28); // the caller's buffer is reused after the callback
    t.receive(serverFrame(message(2, 8, 2)));
    t.receive(Buffer.from('garbage'));
    assert.equal(got.length, 1);
    assert.equal(got[0].message.xid, 7);
    assert.deepEqual([...got[0].message.options.get(54)!], [198, 18, 4, 1], 'options were copied');
    assert.deepEqual(t.counters, { sent: 0, sendErrors: 0, received: 3, notDhcp: 1, unmatched: 1 });
    stop();
    t.receive(serverFrame(message(2, 7, 2)));
    assert.equal(got.length, 1);
  });

  it('counts a send error instead of throwing (the state machine retransmits)', () => {
    const t = new PacketTransport({
      mac: NODE_MAC,
      send: () => {
        throw new Error('ENETDOWN');
      },
    });
    t.send(message(1, 1, 1), '0.0.0.0', { kind: 'broadcast' });
    assert.equal(t.counters.sendErrors, 1);
  });
});
