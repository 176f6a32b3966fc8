import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readIpv6State } from '../../../src/links/ipv6-state.js';

describe('readIpv6State', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'lr-ipv6-state-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const link = (name: string, disable: string) => {
    mkdirSync(join(root, 'conf', name), { recursive: true });
    writeFileSync(join(root, 'conf', name, 'disable_ipv6'), disable);
  };

  it('says on for a link whose disable_ipv6 is 0', () => {
    link('cali1', '0\n');
    assert.deepEqual(readIpv6State('cali1', root), { state: 'on' });
  });

  it('says disabled, naming the sysctl, for a link whose disable_ipv6 is 1', () => {
    link('cali2', '1\n');
    const s = readIpv6State('cali2', root);
    assert.equal(s.state, 'disabled');
    assert.match(s.detail!, /net\.ipv6\.conf\.cali2\.disable_ipv6 = 1/);
  });

  it('says unsupported for a kernel without IPv6, and for a link that is gone', () => {
    assert.equal(readIpv6State('eth0', join(root, 'nothing')).state, 'unsupported');
    assert.match(readIpv6State('eth0', join(root, 'nothing')).detail!, /ipv6\.disable=1/);
    mkdirSync(join(root, 'conf'), { recursive: true });
    assert.equal(readIpv6State('gone0', root).state, 'unsupported');
  });
});
