import assert from 'node:assert/strict';
import { arpAnnouncement, arpProbe, decodeArp, encodeArp, type ArpFrame } from '../../../src/links/arp.js';
import { ArpPort, type Conflict } from '../../../src/links/arp-port.js';

const OWN = '02:00:00:00:00:01';
const DEVICE = '02:00:00:00:00:0d';

function port(local: string[] = []) {
  const sent: ArpFrame[] = [];
  const conflicts: Conflict[] = [];
  const p = new ArpPort({
    ownMac: OWN,
    send: (b) => {
      const r = decodeArp(b);
      assert.ok(r.ok);
      sent.push(r.frame);
    },
    isLocalPod: (a) => local.includes(a),
    onConflict: (c) => conflicts.push(c),
  });
  return { p, sent, conflicts };
}
/** What a Linux host holding `ip` sends back to a probe. */
const reply = (ip: string, mac: string): Buffer =>
  encodeArp({
    ethDst: OWN,
    ethSrc: mac,
    op: 2,
    senderMac: mac,
    senderIp: ip,
    targetMac: OWN,
    targetIp: '0.0.0.0',
  });

describe('ARP port', () => {
  it('probes three times from 0.0.0.0 within the wait and reports the address free when nobody answers', async () => {
    const { p, sent } = port();
    const started = Date.now();
    assert.equal(await p.probe('198.18.4.120', 90), 'free');
    const took = Date.now() - started;
    assert.ok(took >= 85 && took < 400, `took ${took} ms`);
    assert.equal(sent.length, 3);
    for (const f of sent) assert.deepEqual(f, arpProbe(OWN, '198.18.4.120'));
  });

  it('stops at the first answer and names the MAC that answered', async () => {
    const { p, sent } = port();
    const pending = p.probe('198.18.4.120', 5000);
    p.receive(encodeArp(arpProbe(OWN, '198.18.4.120'))); // our own probe, seen by the socket: no conflict
    setTimeout(() => p.receive(reply('198.18.4.120', DEVICE)), 5);
    const started = Date.now();
    assert.deepEqual(await pending, { by: DEVICE, kind: 'in-use' });
    assert.ok(Date.now() - started < 1000);
    assert.equal(sent.length, 1);
  });

  it('keeps concurrent probes apart: an answer for one address does not end another', async () => {
    const { p } = port();
    const a = p.probe('198.18.4.120', 80);
    const b = p.probe('198.18.4.121', 80);
    p.receive(reply('198.18.4.121', DEVICE));
    assert.deepEqual(await b, { by: DEVICE, kind: 'in-use' });
    assert.equal(await a, 'free');
  });

  it('announces an address now and at each spacing, and stops once it is released', async () => {
    const local = ['198.18.4.101'];
    const { p, sent } = port(local);
    p.announce('198.18.4.101', [20, 200]);
    await new Promise((r) => setTimeout(r, 60));
    local.length = 0; // released
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(sent, [arpAnnouncement(OWN, '198.18.4.101'), arpAnnouncement(OWN, '198.18.4.101')]);
  });

  it('reports another MAC claiming a local pod address, and answers another host probing for one', () => {
    const { p, sent, conflicts } = port(['198.18.4.101']);
    p.receive(encodeArp(arpAnnouncement(DEVICE, '198.18.4.101')));
    assert.deepEqual(conflicts, [{ address: '198.18.4.101', by: DEVICE }]);
    // RFC 5227 2.4 (b): one announcement defends the address, and not again within 10 s.
    assert.deepEqual(sent, [arpAnnouncement(OWN, '198.18.4.101')]);
    p.receive(encodeArp(arpAnnouncement(DEVICE, '198.18.4.101')));
    assert.equal(conflicts.length, 2);
    assert.equal(sent.length, 1);
    sent.length = 0;
    p.receive(encodeArp(arpProbe(DEVICE, '198.18.4.101')));
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0], {
      ethDst: DEVICE,
      ethSrc: OWN,
      op: 2,
      senderMac: OWN,
      senderIp: '198.18.4.101',
      targetMac: DEVICE,
      targetIp: '0.0.0.0',
    });
    p.receive(encodeArp(arpProbe(DEVICE, '198.18.4.102'))); // not ours: no answer
    assert.equal(sent.length, 1);
  });

  it('fails a probe none of whose frames could be sent: silence then proves nothing', async () => {
    const p = new ArpPort({
      ownMac: OWN,
      send: () => {
        throw new Error('ENETDOWN');
      },
      isLocalPod: () => false,
      onConflict: () => undefined,
    });
    await assert.rejects(p.probe('198.18.4.120', 30), /no ARP probe for 198\.18\.4\.120 could be sent/);
    assert.equal(p.counters.sendErrors, 3);
  });

  it('counts a malformed frame and carries on', () => {
    const { p } = port();
    p.receive(Buffer.alloc(10));
    assert.equal(p.counters.malformed, 1);
  });
});
