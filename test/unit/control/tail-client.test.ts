import assert from 'node:assert/strict';
import { ControlClientError, EXIT_UNREACHABLE } from '../../../src/control/client.js';
import { ControlServer } from '../../../src/control/server.js';
import { TailFollower } from '../../../src/control/tail-client.js';
import type { PacketLine } from '../../../src/control/types.js';
import { hapResponse, settle, ssdpNotify, tempSocketPath, TestSource, waitFor } from './helpers.js';

describe('TailFollower', function () {
  let path: string;
  let follower: TailFollower | undefined;
  const servers: ControlServer[] = [];

  async function agent(source = new TestSource()): Promise<TestSource> {
    const s = new ControlServer(source, { path });
    await s.listen();
    servers.push(s);
    return source;
  }

  function follow(opts: { waitAtStart?: boolean; filter?: Record<string, unknown> } = {}) {
    const packets: PacketLine[] = [];
    const notices: string[] = [];
    const lost: number[] = [];
    follower = new TailFollower({
      path,
      filter: opts.filter ?? {},
      waitAtStart: opts.waitAtStart,
      retryMs: 20,
      onPacket: (p) => packets.push(p),
      onLost: (n) => lost.push(n),
      onNotice: (m) => notices.push(m),
    });
    return { packets, notices, lost };
  }

  beforeEach(() => {
    path = tempSocketPath();
  });
  afterEach(async () => {
    follower?.stop();
    follower = undefined;
    for (const s of servers.splice(0)) await s.close();
  });

  it('fails at once, saying what to do, when no agent is there', async () => {
    follow();
    await assert.rejects(follower!.done, (err: Error) => {
      assert.ok(err instanceof ControlClientError);
      assert.equal(err.exitCode, EXIT_UNREACHABLE);
      assert.match(err.message, /is the agent running\? the control socket was not found at .*control\.sock/);
      return true;
    });
  });

  it('follows the agent across a restart, saying so, and carries on streaming', async () => {
    const first = await agent();
    const t = follow();
    await waitFor(() => first.bus.active);
    first.bus.publish(hapResponse());
    await waitFor(() => t.packets.length === 1);

    await servers.shift()!.close();
    await waitFor(() => t.notices.some((n) => /waiting for the agent to come back/.test(n)));
    assert.match(t.notices[0], /the agent went away/);

    const second = await agent();
    await waitFor(() => second.bus.active && t.notices.length === 3);
    assert.match(t.notices[2], /^reconnected to the agent at /);
    second.bus.publish(ssdpNotify());
    await waitFor(() => t.packets.length === 2);
    assert.deepEqual(
      t.packets.map((p) => p.protocol),
      ['mdns', 'ssdp'],
    );
  });

  it('waits for an agent that is not up yet when asked to', async () => {
    const t = follow({ waitAtStart: true, filter: { protocols: ['ssdp'] } });
    await waitFor(() => t.notices.length === 1);
    assert.match(t.notices[0], /waiting for the agent at /);
    const source = await agent();
    await waitFor(() => source.bus.active);
    source.bus.publish(hapResponse());
    source.bus.publish(ssdpNotify());
    await waitFor(() => t.packets.length === 1);
    await settle();
    assert.equal(t.packets[0].protocol, 'ssdp');
  });

  it('stops for good when the agent refuses the filter', async () => {
    await agent();
    follow({ filter: { direction: 'sideways' } });
    await assert.rejects(follower!.done, /the agent refused the request: filter\.direction must be one of/);
  });
});
