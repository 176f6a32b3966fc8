import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { LanAddressGuard } from '../../../../src/ipam/lan/address-guard.js';
import { LanAnnouncer } from '../../../../src/ipam/lan/announcer.js';
import { ConflictReporter } from '../../../../src/ipam/lan/conflicts.js';
import { SeenAddresses } from '../../../../src/ipam/lan/seen-addresses.js';
import type { Neighbour } from '../../../../src/links/netlink-neigh.js';
import type { Logger } from '../../../../src/log/logger.js';
import type { Allocation } from '../../../../src/ipam/types.js';

const OWN = '02:00:00:00:00:01';
const DEVICE = '02:00:00:00:00:0d';

function quietLog(lines: string[] = []): Logger {
  const l = (level: string) => (msg: string, meta?: unknown) =>
    void lines.push(`${level} ${msg} ${JSON.stringify(meta ?? {})}`);
  const log = {
    error: l('error'),
    warn: l('warn'),
    info: l('info'),
    debug: l('debug'),
    child: () => log,
  } as unknown as Logger;
  return log;
}
const neigh = (address: string, state: number, lladdr?: string): Neighbour => ({
  ifindex: 3,
  address,
  state,
  flags: 0,
  proxy: false,
  lladdr,
});

describe('seen-in-discovery addresses', () => {
  it('remembers LAN sources and mDNS A records until their TTL', () => {
    let now = 1_000_000;
    const seen = new SeenAddresses({ ttlMs: 1000, now: () => now });
    const answer = dnsPacket.encode({
      type: 'response',
      answers: [{ type: 'A', name: 'printer.local', data: '198.18.4.140', ttl: 120 }],
    });
    seen.observe('198.18.4.11', 5353, answer);
    assert.equal(seen.lookup('198.18.4.11'), 'source');
    assert.equal(seen.lookup('198.18.4.140'), 'mdns-a-record');
    assert.equal(seen.lookup('198.18.4.141'), undefined);
    now += 1001;
    assert.equal(seen.lookup('198.18.4.140'), undefined);
  });

  it('ignores A records in queries, malformed answers, and other ports', () => {
    const seen = new SeenAddresses();
    const query = dnsPacket.encode({
      type: 'query',
      questions: [{ type: 'A', name: 'x.local' }],
      answers: [{ type: 'A', name: 'x.local', data: '198.18.4.150' }],
    });
    seen.observe('0.0.0.0', 5353, query);
    seen.observe('198.18.4.12', 1900, Buffer.from('NOTIFY * HTTP/1.1'));
    seen.observe('198.18.4.13', 5353, Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 9, 0, 0, 0, 0]));
    assert.equal(seen.lookup('198.18.4.150'), undefined); // known-answer in a query: not a claim
    assert.equal(seen.lookup('0.0.0.0'), undefined);
    assert.equal(seen.lookup('198.18.4.12'), 'source');
    assert.equal(seen.lookup('198.18.4.13'), 'source');
  });

  it('stays within its size bound, dropping the oldest sighting', () => {
    const seen = new SeenAddresses({ max: 3 });
    for (const a of ['198.18.4.1', '198.18.4.2', '198.18.4.3', '198.18.4.4'])
      seen.observe(a, 1900, Buffer.alloc(0));
    assert.equal(seen.size, 3);
    assert.equal(seen.lookup('198.18.4.1'), undefined);
    assert.equal(seen.lookup('198.18.4.4'), 'source');
  });
});

describe('LAN address guard', () => {
  const guard = (o: {
    seen?: SeenAddresses;
    table?: Neighbour[];
    probe?: (a: string) => 'free' | { by: string; kind: 'in-use' | 'probing' };
  }) => {
    let probes = 0;
    let dumps = 0;
    const g = new LanAddressGuard({
      seen: o.seen ?? new SeenAddresses(),
      neighbours: async () => (dumps++, o.table ?? []),
      probe: o.probe ? async (a) => (probes++, o.probe!(a)) : undefined,
      ownMac: OWN,
      waitMs: 200,
    });
    return { g, probes: () => probes, dumps: () => dumps };
  };

  it('refuses an address seen in discovery traffic without probing', async () => {
    const seen = new SeenAddresses();
    seen.observe('198.18.4.130', 5353, Buffer.alloc(12));
    const t = guard({ seen, probe: () => 'free' });
    assert.deepEqual(await t.g.inUse('198.18.4.130'), { by: 'seen as a discovery source on the LAN' });
    assert.equal(t.probes(), 0);
  });

  it('refuses an address with a live neighbour entry, but not a failed one or one with our own MAC', async () => {
    const t = guard({
      table: [
        neigh('198.18.4.131', 0x04, DEVICE),
        neigh('198.18.4.132', 0x20),
        neigh('198.18.4.133', 0x02, OWN),
      ],
      probe: () => 'free',
    });
    assert.deepEqual(await t.g.inUse('198.18.4.131'), { by: `neighbour table (${DEVICE})` });
    assert.equal(await t.g.inUse('198.18.4.132'), 'free');
    assert.equal(await t.g.inUse('198.18.4.133'), 'free');
  });

  it('refuses an address whose probe was answered, naming the MAC', async () => {
    const t = guard({ probe: (a) => (a === '198.18.4.134' ? { by: DEVICE, kind: 'in-use' } : 'free') });
    assert.deepEqual(await t.g.inUse('198.18.4.134'), { by: DEVICE });
    assert.equal(await t.g.inUse('198.18.4.135'), 'free');
    assert.equal(t.g.counters.probeAnswered, 1);
  });

  it('dumps the neighbour table once for a burst of ADDs', async () => {
    const t = guard({});
    await Promise.all(Array.from({ length: 50 }, (_, i) => t.g.inUse(`198.18.5.${i}`)));
    assert.equal(t.dumps(), 1);
  });
});

describe('LAN announcer', () => {
  function announcer(existing: Neighbour[] = []) {
    const added: string[] = [];
    const removed: string[] = [];
    const announced: string[] = [];
    const a = new LanAnnouncer({
      proxies: {
        add: async (x) => void added.push(x),
        remove: async (x) => (removed.push(x), true),
        list: async () => existing,
      },
      announce: (x) => void announced.push(x),
      log: quietLog(),
    });
    return { a, added, removed, announced };
  }
  const alloc = (address: string, name: string): Allocation => ({
    address,
    owner: { containerId: name, ifname: 'eth0' },
    network: 'lan',
    pod: { namespace: 'default', name },
    since: new Date(0).toISOString(),
    source: 'pool',
  });

  it('adds a proxy entry and announces on assignment; removes the entry on release', async () => {
    const t = announcer();
    await t.a.assigned('198.18.4.101', { namespace: 'home', name: 'ha' });
    assert.deepEqual(t.added, ['198.18.4.101']);
    assert.deepEqual(t.announced, ['198.18.4.101']);
    assert.ok(t.a.isLocal('198.18.4.101'));
    assert.deepEqual(t.a.podAt('198.18.4.101'), { namespace: 'home', name: 'ha' });
    await t.a.released('198.18.4.101');
    assert.deepEqual(t.removed, ['198.18.4.101']);
    assert.equal(t.a.isLocal('198.18.4.101'), false);
  });

  it("reconciles at start: adds the missing, removes its own stale entries, keeps an administrator's", async () => {
    const proxy = (address: string, protocol?: number): Neighbour => ({
      ifindex: 3,
      address,
      state: 0,
      flags: 8,
      proxy: true,
      protocol,
    });
    const t = announcer([proxy('198.18.4.101', 76), proxy('198.18.4.102', 76), proxy('198.18.4.200')]);
    await t.a.reconcile([alloc('198.18.4.101', 'a'), alloc('198.18.4.103', 'c')]);
    assert.deepEqual(t.added, ['198.18.4.103']);
    assert.deepEqual(t.removed, ['198.18.4.102']);
    assert.deepEqual(t.announced.sort(), ['198.18.4.101', '198.18.4.103']);
  });
});

describe('conflict reporter', () => {
  it('logs a conflict and posts one Warning event per address and MAC per quiet period', async () => {
    const lines: string[] = [];
    const events: string[] = [];
    let now = 0;
    const r = new ConflictReporter({
      log: quietLog(lines),
      podAt: () => ({ namespace: 'home', name: 'ha' }),
      warnPod: async (pod, reason, message) =>
        void events.push(`${pod.namespace}/${pod.name} ${reason} ${message}`),
      quietMs: 1000,
      now: () => now,
    });
    r.report('198.18.4.101', DEVICE, OWN);
    r.report('198.18.4.101', DEVICE, OWN);
    now = 1500;
    r.report('198.18.4.101', DEVICE, OWN);
    await new Promise((res) => setImmediate(res));
    assert.equal(r.total, 3);
    assert.equal(events.length, 2);
    assert.match(
      events[0],
      /^home\/ha LANAddressConflict another host \(02:00:00:00:00:0d\) claims 198\.18\.4\.101/,
    );
    assert.equal(lines.filter((l) => l.startsWith('warn LAN address conflict')).length, 2);
  });
});

describe('a guard that cannot tell (the probe could not be sent)', () => {
  it('fails the ADD as temporary and keeps nothing reserved; the retried ADD gets an address', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadIpamConfig } = await import('../../../../src/config/ipam.js');
    const { PoolProvider } = await import('../../../../src/ipam/pool-provider.js');
    const { FileStore } = await import('../../../../src/ipam/store/file-store.js');
    const { IpamError, NO_ANNOUNCER } = await import('../../../../src/ipam/types.js');
    const dir = mkdtempSync(join(tmpdir(), 'lr-guard-'));
    try {
      const store = await FileStore.open({ directory: dir, node: 'n1' });
      let down = true;
      const pool = new PoolProvider({
        config: loadIpamConfig({ subnet: '192.168.2.0/23', ranges: ['192.168.3.10-192.168.3.12'] })!,
        store,
        guard: {
          inUse: async () => {
            if (down) throw new Error('no ARP probe for 192.168.3.10 could be sent on the LAN link');
            return 'free';
          },
        },
        announcer: NO_ANNOUNCER,
        reserved: [],
      });
      const owner = { containerId: 'c1', ifname: 'eth0' };
      await assert.rejects(
        pool.assign({ owner, network: 'lan' }),
        (e: unknown) =>
          e instanceof IpamError && e.code === 11 && /cannot check whether 192\.168\.3\.10/.test(e.message),
      );
      assert.deepEqual(await store.list(), []);
      down = false;
      const a = await pool.assign({ owner, network: 'lan' });
      assert.match(a.address, /^192\.168\.3\.1[0-2]$/);
      assert.deepEqual(
        (await store.list()).map((x) => x.address),
        [a.address],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
