import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { BinDirError, installCni } from '../../../src/cli/ipam-command.js';

describe('install-cni', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'lr-install-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('puts an executable copy in the bin directory, replacing an older one, and leaves no temporary file', async () => {
    const src = join(dir, 'built');
    writeFileSync(src, 'new plugin');
    const bin = join(dir, 'opt', 'cni', 'bin');
    mkdirSync(bin, { recursive: true });
    await installCni(bin, src);
    writeFileSync(src, 'newer plugin');
    const dest = await installCni(bin, src);
    assert.equal(dest, join(bin, 'lan-reflector-ipam'));
    assert.equal(readFileSync(dest, 'utf8'), 'newer plugin');
    assert.equal(statSync(dest).mode & 0o777, 0o755);
    assert.deepEqual(readdirSync(bin), ['lan-reflector-ipam']);
  });

  it('refuses a bin directory that does not exist, naming it and where plugins live, and creates nothing', async () => {
    const src = join(dir, 'built');
    writeFileSync(src, 'plugin');
    const bin = join(dir, 'var', 'lib', 'rancher', 'k3s', 'data', 'cni');
    await assert.rejects(installCni(bin, src), (err: Error) => {
      assert.ok(err instanceof BinDirError);
      assert.match(err.message, new RegExp(`--bin-dir ${bin}: does not exist; .*/opt/cni/bin`));
      return true;
    });
    assert.deepEqual(readdirSync(dir), ['built']);
    await assert.rejects(installCni(src, src), /is not a directory/);
  });

  it('keeps the old plugin and no temporary file when the copy fails', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    await installCni(bin, (writeFileSync(join(dir, 'ok'), 'old'), join(dir, 'ok')));
    await assert.rejects(installCni(bin, join(dir, 'missing')));
    assert.deepEqual(readdirSync(bin), ['lan-reflector-ipam']);
    assert.equal(readFileSync(join(bin, 'lan-reflector-ipam'), 'utf8'), 'old');
  });
});
