import assert from 'node:assert/strict';
import { Readiness } from '../../../src/agent/readiness.js';
import { relayedAttachments, wantedLinks } from '../../../src/agent/wanted-links.js';
import { attached, LAN } from '../reflect/helpers.js';

const GROUPS = ['224.0.0.251', '239.255.255.250'];
const calico = attached('ha', '10.1.0.1', 'cali-ha');
const b1 = attached('b1', '10.244.0.2', 'cni0', {}, 'veth-b1');
const b2 = attached('b2', '10.244.0.3', 'cni0', {}, 'veth-b2');

describe('wantedLinks', () => {
  it('wants only the LAN link, joined to the groups, when no pod is attached', () => {
    assert.deepEqual([...wantedLinks(LAN, [], GROUPS)], [[LAN, { groups: GROUPS, receive: true }]]);
  });

  it('receives on a Calico pod’s veth, which is also where its copies go', () => {
    const w = wantedLinks(LAN, [calico], GROUPS);
    assert.deepEqual(w.get('cali-ha'), { groups: GROUPS, receive: true });
    assert.equal(w.size, 2);
  });

  it('receives on a bridge once, and opens each bridged pod’s port send-only, joined to nothing', () => {
    const w = wantedLinks(LAN, [b1, b2], GROUPS);
    assert.deepEqual(w.get('cni0'), { groups: GROUPS, receive: true });
    assert.deepEqual(w.get('veth-b1'), { groups: [], receive: false });
    assert.deepEqual(w.get('veth-b2'), { groups: [], receive: false });
    assert.equal(w.size, 4);
  });
});

describe('relayedAttachments', () => {
  it('relays for a pod only once both its link and its port are open', () => {
    const open = new Set([LAN, 'cni0', 'veth-b2', 'cali-ha']);
    assert.deepEqual(
      relayedAttachments([calico, b1, b2], (l) => open.has(l)).map((a) => a.pod.name),
      ['home/ha', 'home/b2'],
    );
  });
});

describe('Readiness', () => {
  const input = { started: true, lanOpen: true, sourcesSynced: true, generation: 3 };

  it('is not ready before start, without the LAN socket, or while a source has not synced', () => {
    const r = new Readiness();
    r.scanned(3);
    assert.equal(r.ready({ ...input, started: false }), false);
    assert.equal(r.ready({ ...input, lanOpen: false }), false);
    assert.equal(r.ready({ ...input, sourcesSynced: false }), false);
    assert.equal(r.ready(input), true);
  });

  it('waits for a scan that has seen what the sources listed when they synced', () => {
    const r = new Readiness();
    r.scanned(1); // a scan before the Kubernetes source listed its pods
    assert.equal(r.ready({ ...input, generation: 3 }), false, 'synced at generation 3, scanned 1');
    r.scanned(3);
    assert.equal(r.ready({ ...input, generation: 3 }), true);
  });

  it('stays ready when pods change after sync: later changes wait for the next scan, not readiness', () => {
    const r = new Readiness();
    r.scanned(3);
    assert.equal(r.ready(input), true);
    assert.equal(r.ready({ ...input, generation: 9 }), true);
  });
});
