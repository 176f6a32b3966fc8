import assert from 'node:assert/strict';
import { otherNodesInRanges } from '../../../src/ipam/overlap-check.js';

describe('otherNodesInRanges', () => {
  const ranges = [{ start: '192.168.3.0', end: '192.168.3.63', text: '192.168.3.0/26' }];
  it('names each other node holding an address of our ranges once, with a count', () => {
    const w = otherNodesInRanges(
      [
        { namespace: 'a', name: 'p1', node: 'n2', ips: ['192.168.3.5'] },
        { namespace: 'a', name: 'p2', node: 'n2', ips: ['192.168.3.6'] },
        { namespace: 'a', name: 'p3', node: 'n3', ips: ['192.168.3.64'] },
        { namespace: 'a', name: 'p4', node: 'n1', ips: ['192.168.3.7'] },
      ],
      ranges,
      'n1',
    );
    assert.deepEqual(w, [{ node: 'n2', example: 'a/p1', address: '192.168.3.5', count: 2 }]);
  });
});
