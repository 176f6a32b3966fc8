import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { podToSpec } from '../../../src/pods/kube/pod-to-spec.js';
import { DEFAULTS, pod } from './helpers.js';

const on = { 'lan-reflector.io/enabled': 'true' };

function skipOf(p: V1Pod): string | undefined {
  const d = podToSpec(p, DEFAULTS);
  return 'skip' in d ? d.skip : undefined;
}

describe('podToSpec', () => {
  it('serves an opted-in running pod under namespace/name with its IPv4 address', () => {
    const d = podToSpec(pod('ha', { annotations: on, ip: '10.1.2.3' }), DEFAULTS);
    assert.deepEqual(d, { key: 'home/ha', name: 'home/ha', addresses: ['10.1.2.3'], options: DEFAULTS });
  });

  it('keeps both addresses of a dual-stack pod, IPv4 first, IPv6 in canonical form', () => {
    const p = pod('ha', { annotations: on, ip: '2001:0db8::0005' });
    p.status!.podIPs = [{ ip: '2001:0db8::0005' }, { ip: '10.1.2.4' }];
    assert.deepEqual(podToSpec(p, DEFAULTS), {
      key: 'home/ha',
      name: 'home/ha',
      addresses: ['10.1.2.4', '2001:db8::5'],
      options: DEFAULTS,
    });
  });

  it('serves an IPv6-only pod', () => {
    const d = podToSpec(pod('v6', { annotations: on, ip: 'fd00::9' }), DEFAULTS);
    assert.deepEqual(d, { key: 'home/v6', name: 'home/v6', addresses: ['fd00::9'], options: DEFAULTS });
  });

  it('skips a pod that did not opt in', () => assert.equal(skipOf(pod('x')), 'not-opted-in'));

  it('skips a pod that has no address yet', () =>
    assert.equal(skipOf(pod('x', { annotations: on, ip: '' })), 'no-address'));

  it('skips a hostNetwork pod, whose address is the node’s', () => {
    const p = pod('x', { annotations: on });
    p.spec!.hostNetwork = true;
    assert.equal(skipOf(p), 'host-network');
  });

  for (const phase of ['Succeeded', 'Failed']) {
    it(`skips a pod in phase ${phase}`, () => {
      const p = pod('x', { annotations: on });
      p.status!.phase = phase;
      assert.equal(skipOf(p), 'finished');
    });
  }

  it('skips a pod being deleted', () => {
    const p = pod('x', { annotations: on });
    p.metadata!.deletionTimestamp = new Date();
    assert.equal(skipOf(p), 'terminating');
  });

  it('skips a pod with a bad annotation and says what is wrong', () => {
    const d = podToSpec(pod('x', { annotations: { ...on, 'lan-reflector.io/direction': 'up' } }), DEFAULTS);
    assert.deepEqual(d, {
      skip: 'invalid-annotation',
      errors: ['lan-reflector.io/direction: "up" is not one of both, lan-to-pod, pod-to-lan'],
    });
  });
});
