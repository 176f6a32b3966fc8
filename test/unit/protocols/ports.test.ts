import { strict as assert } from 'node:assert';
import { discoveryPorts } from '../../../src/protocols/ports.js';

describe('discoveryPorts (what the receive sockets’ kernel filter passes)', function () {
  const none = { broadcastPorts: [], multicastGroups: [] };
  it('is 5353 for mDNS and 1900 for SSDP', function () {
    assert.deepEqual(discoveryPorts({ ...none, protocols: ['mdns'] }), [5353]);
    assert.deepEqual(discoveryPorts({ ...none, protocols: ['mdns', 'ssdp'] }), [1900, 5353]);
  });
  it('adds the broadcast ports and the extra groups’ ports only when their protocol is on, each once', function () {
    const s = {
      broadcastPorts: [38899, 9999, 6666, 6667],
      multicastGroups: [
        { group: '239.255.255.250', port: 1982 },
        { group: '239.255.255.251', port: 1982 },
      ],
    };
    assert.deepEqual(discoveryPorts({ ...s, protocols: ['mdns'] }), [5353]);
    assert.deepEqual(
      discoveryPorts({ ...s, protocols: ['broadcast', 'multicast', 'ssdp'] }),
      [1900, 1982, 6666, 6667, 9999, 38899],
    );
  });
});
