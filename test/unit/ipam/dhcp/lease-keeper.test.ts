import assert from 'node:assert/strict';
import type { ExchangeKind, ExchangeResult } from '../../../../src/ipam/dhcp/client.js';
import type { DhcpLease } from '../../../../src/ipam/dhcp/lease.js';
import { LeaseKeeper, type LeaseProblem } from '../../../../src/ipam/dhcp/lease-keeper.js';
import { FakeClock } from './helpers.js';

interface Call {
  how: ExchangeKind;
  at: number;
  wait: number;
}

/** A scripted client: `answer` decides each exchange's outcome. */
function scripted(clock: FakeClock, answer: (how: ExchangeKind, l: DhcpLease) => ExchangeResult | 'silent') {
  const calls: Call[] = [];
  return {
    calls,
    exchange(how: ExchangeKind, l: DhcpLease, wait: number): Promise<ExchangeResult> {
      calls.push({ how, at: clock.now(), wait });
      const a = answer(how, l);
      if (a === 'silent') return new Promise((r) => clock.setTimeout(() => r({ kind: 'timeout' }), wait));
      return new Promise((r) => clock.setTimeout(() => r(a), 5));
    },
  };
}

const S = 1000;

function setup(answer: Parameters<typeof scripted>[1]) {
  const clock = new FakeClock();
  const client = scripted(clock, answer);
  const problems: { problem: LeaseProblem; message: string; at: number }[] = [];
  const renewals: { how: ExchangeKind; lease: DhcpLease }[] = [];
  const keeper = new LeaseKeeper(
    client,
    clock,
    {
      renewed: async (_k, lease, how) => void renewals.push({ how, lease }),
      problem: (_k, _l, problem, message) => void problems.push({ problem, message, at: clock.now() }),
    },
    { minRetransmitMs: 60 * S },
  );
  const lease: DhcpLease = {
    address: '198.18.4.150',
    clientId: '00:6c',
    hostname: 'ha',
    serverId: '198.18.4.1',
    serverMac: '02:00:00:00:00:01',
    leaseSeconds: 3600,
    t1Seconds: 1800,
    t2Seconds: 3150,
    boundAt: clock.now(),
  };
  return { clock, client, keeper, lease, problems, renewals };
}

describe('dhcp lease keeper (RFC 2131 4.4.5)', () => {
  it('renews at T1, not before, and schedules the next renewal from the new lease', async () => {
    const t = setup((how, l) => ({ kind: 'ack', lease: { ...l, boundAt: t.clock.now() } }));
    t.keeper.keep('c1/eth0', t.lease);
    await t.clock.advance(1799 * S);
    assert.equal(t.client.calls.length, 0, 'nothing before T1');
    await t.clock.advance(2 * S);
    assert.deepEqual(
      t.client.calls.map((c) => c.how),
      ['renewing'],
    );
    assert.equal(t.renewals.length, 1);
    await t.clock.advance(1800 * S);
    assert.equal(t.client.calls.length, 2, 'the second renewal comes T1 after the first');
    assert.equal(t.problems.length, 0);
    t.keeper.stopAll();
  });

  it('retransmits to the silent server at half the time to T2 (at least 60 s), rebinds at T2 and reports it then', async () => {
    const t = setup(() => 'silent');
    t.keeper.keep('c1/eth0', t.lease);
    await t.clock.advance(3149 * S);
    const renewing = t.client.calls.filter((c) => c.how === 'renewing');
    // From T1 = 1800 s to T2 = 3150 s: waits of 675, 337.5, 168.75, 84.4, then 60-second floors.
    assert.deepEqual(
      renewing.slice(0, 4).map((c) => Math.round(c.wait / S)),
      [675, 338, 169, 84],
    );
    assert.ok(renewing.slice(4).every((c) => c.wait <= 60 * S));
    assert.equal(t.problems.length, 0);
    await t.clock.advance(2 * S);
    assert.equal(t.client.calls.at(-1)!.how, 'rebinding');
    assert.equal(t.problems.length, 1);
    assert.equal(t.problems[0].problem, 'not-renewed');
    assert.match(
      t.problems[0].message,
      /not renewed by T2: the server 198\.18\.4\.1 has not answered since T1; .* 450 s left/,
    );
    t.keeper.stopAll();
  });

  it('reports expiry once and keeps asking for the address back (INIT-REBOOT)', async () => {
    const t = setup(() => 'silent');
    t.keeper.keep('c1/eth0', t.lease);
    await t.clock.advance(3600 * S + 1);
    await t.clock.advance(200 * S);
    assert.deepEqual(
      t.problems.map((p) => p.problem),
      ['not-renewed', 'expired'],
    );
    assert.ok(t.client.calls.filter((c) => c.how === 'rebooting').length >= 3);
    t.keeper.stopAll();
  });

  it('a rebinding ACK clears the problem, so a later one is reported again', async () => {
    let silent = true;
    const t = setup((how, l) =>
      silent ? 'silent' : { kind: 'ack', lease: { ...l, boundAt: t.clock.now() } },
    );
    t.keeper.keep('k', t.lease);
    await t.clock.advance(3160 * S);
    silent = false;
    await t.clock.advance(300 * S);
    assert.equal(t.renewals.at(-1)!.how, 'rebinding');
    silent = true;
    await t.clock.advance(3200 * S);
    assert.deepEqual(
      t.problems.map((p) => p.problem),
      ['not-renewed', 'not-renewed'],
    );
    t.keeper.stopAll();
  });

  it('reports a NAK at once as a lost lease and stops keeping it', async () => {
    const t = setup(() => ({ kind: 'nak', server: '198.18.4.1', message: 'not yours' }));
    t.keeper.keep('k', t.lease);
    await t.clock.advance(1801 * S);
    assert.equal(t.problems.length, 1);
    assert.equal(t.problems[0].problem, 'lost');
    assert.ok(t.problems[0].at < 1802 * S + t.lease.boundAt);
    assert.match(t.problems[0].message, /DHCPNAK: not yours/);
    assert.deepEqual(t.keeper.keys(), []);
    await t.clock.advance(4000 * S);
    assert.equal(t.client.calls.length, 1);
  });

  it('after a restart, renews at once a lease already past T1', async () => {
    const t = setup((how, l) => ({ kind: 'ack', lease: { ...l, boundAt: t.clock.now() } }));
    t.keeper.keep('k', { ...t.lease, boundAt: t.clock.now() - 2000 * S });
    await t.clock.advance(1 * S);
    assert.deepEqual(
      t.client.calls.map((c) => c.how),
      ['renewing'],
    );
    t.keeper.stopAll();
  });

  it('drop stops all traffic for the lease', async () => {
    const t = setup(() => 'silent');
    t.keeper.keep('k', t.lease);
    await t.clock.advance(1900 * S);
    const n = t.client.calls.length;
    assert.equal(t.keeper.drop('k')?.address, '198.18.4.150');
    await t.clock.advance(5000 * S);
    assert.equal(t.client.calls.length, n);
    assert.equal(t.problems.length, 0);
  });
});
