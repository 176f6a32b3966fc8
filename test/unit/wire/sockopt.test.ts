import assert from 'node:assert/strict';
import { deviceName, ipMreqn } from '../../../src/wire/sockopt.js';

describe('ipMreqn', () => {
  it('is the 12-byte struct ip_mreqn: group, any address, interface index', () => {
    const b = ipMreqn('224.0.0.251', 7);
    assert.equal(b.length, 12);
    assert.deepEqual([...b.subarray(0, 4)], [224, 0, 0, 251], 'group in network byte order');
    assert.deepEqual([...b.subarray(4, 8)], [0, 0, 0, 0], 'INADDR_ANY: the index names the link');
    assert.deepEqual([...b.subarray(8, 12)], [7, 0, 0, 0], 'ifindex in host (little-endian) order');
  });

  it('writes an interface index above 255 across the little-endian bytes', () => {
    const b = ipMreqn('239.255.255.250', 0x01020304);
    assert.deepEqual([...b.subarray(0, 4)], [239, 255, 255, 250]);
    assert.equal(b.readInt32LE(8), 0x01020304);
    assert.deepEqual([...b.subarray(8, 12)], [4, 3, 2, 1]);
  });
});

describe('deviceName', () => {
  it('is the interface name followed by one NUL, as SO_BINDTODEVICE wants', () => {
    const b = deviceName('cali1a2b3c4d5e6');
    assert.equal(b.length, 16);
    assert.equal(b.subarray(0, 15).toString('latin1'), 'cali1a2b3c4d5e6');
    assert.equal(b[15], 0);
  });

  it('keeps the punctuation Linux allows in names (dots, dashes, at signs)', () => {
    assert.deepEqual(deviceName('eth0.10'), Buffer.from('eth0.10\0', 'latin1'));
    assert.deepEqual(deviceName('veth-a@if3'), Buffer.from('veth-a@if3\0', 'latin1'));
  });
});
