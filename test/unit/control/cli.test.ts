// The built CLI, run as a person would: its messages on stderr and its exit codes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ControlServer } from '../../../src/control/server.js';
import type { StatusReply } from '../../../src/control/types.js';
import { castQuery, hapResponse, ssdpNotify, tempSocketPath, TestSource, waitFor } from './helpers.js';

const MAIN = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(
  args: string[],
  opts: { prefix?: string[]; whileRunning?: () => Promise<void> } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const argv = [...(opts.prefix ?? []), process.execPath, MAIN, ...args];
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    opts.whileRunning?.().catch(reject);
  });
}

describe('the lan-reflector CLI', function () {
  this.timeout(30_000);
  let source: TestSource;
  let server: ControlServer | undefined;
  let path: string;

  async function agent(): Promise<void> {
    server = new ControlServer(source, { path });
    await server.listen();
  }

  beforeEach(() => {
    source = new TestSource();
    path = tempSocketPath();
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  for (const cmd of ['status', 'tail']) {
    it(`${cmd}: asks whether the agent runs when the control socket is not there, exit 3`, async () => {
      const r = await cli([cmd, '--control-socket', '/nonexistent']);
      assert.equal(r.code, 3);
      assert.equal(
        r.stderr,
        'lan-reflector: is the agent running? the control socket was not found at /nonexistent ' +
          '(start the agent, or give the path it uses with --control-socket)\n',
      );
      assert.equal(r.stdout, '');
    });
  }

  it('status: says to run as root when the socket is not the user’s to open, exit 4', async () => {
    await agent();
    // Make the socket someone else's. Root keeps its uid (so it can still read the checkout, wherever
    // CI cloned it) but loses the capabilities that bypass file permissions.
    const root = process.getuid?.() === 0;
    if (root) chownSync(path, 65534, 65534);
    else chmodSync(path, 0);
    const prefix = root ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--'] : [];
    const r = await cli(['status', '--control-socket', path], { prefix });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /^lan-reflector: permission denied on the control socket .*: run as root/);
  });

  it('status: prints pods, interfaces and counters for people', async () => {
    source.counters.receive('ssdp', 'lan-to-pod');
    await agent();
    const r = await cli(['status', '--control-socket', path]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^agent: ready, up /);
    assert.match(r.stdout, /Pods \(3 opted in\):/);
    assert.match(r.stdout, /media\/sonos-ctl\s+10\.42\.0\.23\s+cali4d5e6f\s+node\s+ssdp\s+lan-to-pod/);
    assert.match(r.stdout, /ssdp\s+lan-to-pod\s+1\s+0\s+0/);
  });

  it('status --json: prints the status reply as JSON', async () => {
    await agent();
    const r = await cli(['status', '--json', '--control-socket', path]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as StatusReply;
    assert.equal(s.type, 'status');
    assert.deepEqual(
      s.pods.map((p) => p.name),
      ['home/home-assistant', 'media/plex', 'media/sonos-ctl'],
    );
  });

  it('tail --json --count: prints filtered packets as JSON lines and stops', async () => {
    await agent();
    const r = await cli(['tail', '--json', '--count', '2', '--proto', 'mdns', '--control-socket', path], {
      whileRunning: async () => {
        await waitFor(() => source.bus.active, 10_000);
        source.bus.publish(ssdpNotify());
        source.bus.publish(hapResponse());
        source.bus.publish(castQuery());
        // Arrive in the same read as the last wanted line: still not printed.
        source.bus.publish(hapResponse());
        source.bus.publish(hapResponse());
      },
    });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((l) => [l.type, l.protocol, l.direction]),
      [
        ['packet', 'mdns', 'lan-to-pod'],
        ['packet', 'mdns', 'pod-to-lan'],
      ],
    );
  });

  it('tail: prints one readable line per packet, drops with their reason', async () => {
    await agent();
    const r = await cli(
      ['tail', '--count', '1', '--drops', '--pod', 'home-assistant', '--control-socket', path],
      {
        whileRunning: async () => {
          await waitFor(() => source.bus.active, 10_000);
          source.bus.publish(hapResponse());
          source.bus.publish(castQuery({ targets: [], drop: 'rate-limited' }));
        },
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^\d\d:\d\d:\d\d\.\d{3} mdns pod-to-lan 10\.42\.0\.17 \(home\/home-assistant\) -> -  query \| Q: PTR _googlecast\._tcp\.local  DROP rate-limited\n$/,
    );
  });

  it('tail: refuses an unknown protocol before connecting, exit 2', async () => {
    const r = await cli(['tail', '--proto', 'dns', '--control-socket', '/nonexistent']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /"dns" is not a protocol \(use mdns, ssdp, broadcast/);
  });

  for (const cmd of ['tail', 'status']) {
    it(`${cmd} --help: shows examples and exits 0`, async () => {
      const r = await cli([cmd, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /--control-socket <path>/);
      assert.match(r.stdout, /Examples:\n/);
      assert.match(r.stdout, /kubectl -n lan-reflector exec ds\/lan-reflector -- lan-reflector /);
    });
  }
});
