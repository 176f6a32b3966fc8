/**
 * The agent's LinkSet on real links in a namespace: it opens what is wanted and skips what is not
 * there, closes what is no longer wanted, and says "no socket" (the engine's link-down) for a link
 * it has none for, instead of an MTU of 0 (which the engine counted as too-big).
 */
import { strict as assert } from 'node:assert';
import { fileURLToPath } from 'node:url';
import { Bed, type Proc } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';
import { buildIPv4, buildUdp } from '../../src/wire/ipv4.js';

const DRIVER = fileURLToPath(new URL('../support/link-set-driver.js', import.meta.url));

describeAsRoot('LinkSet on real links', function () {
  this.timeout(60_000);
  let bed: Bed;
  let driver: Proc;
  const seen = new Map<string, number>();

  async function ask<T = Record<string, unknown>>(cmd: unknown, event: string): Promise<T> {
    driver.child.stdin!.write(JSON.stringify(cmd) + '\n');
    const deadline = Date.now() + 5000;
    for (;;) {
      const hits = driver.json<{ event: string }>().filter((e) => e.event === event);
      if (hits.length > (seen.get(event) ?? 0)) {
        seen.set(event, hits.length);
        return hits.at(-1) as T;
      }
      assert.ok(Date.now() < deadline, `no ${event} from the driver:\n${driver.stdout}${driver.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  before(async () => {
    bed = new Bed();
    await bed.addNs('node');
    await bed.addNs('pod');
    await bed.ip('node', [
      'link',
      'add',
      'cali1',
      'mtu',
      '1400',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      bed.ns('pod'),
    ]);
    await bed.ip('node', ['link', 'set', 'cali1', 'up']);
    await bed.ip('pod', ['link', 'set', 'eth0', 'up']);
    driver = bed.spawn('node', [process.execPath, DRIVER], { stdin: true });
    await driver.waitForLine(/"ready"/, { timeoutMs: 10_000 });
  });
  after(async () => bed?.teardown());

  it('opens the wanted links that exist, skips one that does not, and reports each MTU', async () => {
    const r = await ask<{ open: string[] }>(
      {
        reconcile: {
          cali1: { groups: ['224.0.0.251'], receive: true },
          cali404: { groups: [], receive: true },
        },
      },
      'links',
    );
    assert.deepEqual(r.open, ['cali1']);
    assert.equal((await ask<{ mtu: number }>({ mtu: 'cali1' }, 'mtu')).mtu, 1400);
    assert.equal(
      (await ask<{ mtu: number | null }>({ mtu: 'cali404' }, 'mtu')).mtu,
      null,
      'no socket: no MTU',
    );
  });

  it('sends a whole IPv4 packet on an open link, and refuses one for a link it has no socket for', async () => {
    const pkt = buildIPv4('198.18.0.1', '224.0.0.251', 255, buildUdp(5353, 5353, Buffer.alloc(12))).toString(
      'hex',
    );
    assert.equal((await ask<{ ok: boolean }>({ send: 'cali1', hex: pkt }, 'sent')).ok, true);
    assert.equal((await ask<{ ok: boolean }>({ send: 'cali404', hex: pkt }, 'sent')).ok, false);
  });

  it('closes a link that is no longer wanted: from then on it has no MTU', async () => {
    assert.deepEqual((await ask<{ open: string[] }>({ reconcile: {} }, 'links')).open, []);
    assert.equal((await ask<{ mtu: number | null }>({ mtu: 'cali1' }, 'mtu')).mtu, null);
  });
});
