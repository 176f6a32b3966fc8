import assert from 'node:assert/strict';
import { eui64LinkLocal, portsFromTables } from '../../../src/links/bridge-ports.js';

describe('bridge ports', () => {
  it('derives the default IPv6 link-local address from a MAC (modified EUI-64, RFC 4291 2.5.1)', () => {
    // What Linux gave a veth with this MAC in the test bed (addr_gen_mode 0).
    assert.equal(eui64LinkLocal('ee:ee:ee:ee:ee:ee'), 'fe80::ecee:eeff:feee:eeee');
    assert.equal(eui64LinkLocal('02:42:ac:11:00:02'), 'fe80::42:acff:fe11:2');
    assert.equal(eui64LinkLocal('not-a-mac'), undefined);
  });

  it('maps each pod address, and the link-local address its MAC gives, to its bridge port', () => {
    const ports = portsFromTables(
      [
        { dst: '10.244.0.2', lladdr: '0a:58:0a:f4:00:02', state: ['REACHABLE'] },
        { dst: '2001:db8:244::2', lladdr: '0a:58:0a:f4:00:02', state: ['STALE'] },
        { dst: '10.244.0.9', lladdr: '0a:58:0a:f4:00:09', state: ['FAILED'] },
      ],
      [
        { mac: '0a:58:0a:f4:00:02', ifname: 'veth1' },
        { mac: '0a:58:0a:f4:00:09', ifname: 'veth9' },
        { mac: '33:33:00:00:00:01', ifname: 'cni0', state: 'permanent' },
      ],
      'cni0',
    );
    assert.deepEqual(
      [...ports].sort(),
      [
        ['10.244.0.2', 'veth1'],
        ['2001:db8:244::2', 'veth1'],
        ['fe80::858:aff:fef4:2', 'veth1'],
      ].sort(),
    );
  });
});
