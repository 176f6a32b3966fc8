import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { ConfigError } from '../../../src/config/errors.js';
import { DEFAULT_IPAM_SOCKET, DEFAULT_IPAM_STORE, loadIpamConfig } from '../../../src/config/ipam.js';
import type { IpamConfig } from '../../../src/config/types.js';

interface Case {
  desc: string;
  yaml: string;
  want?: Partial<IpamConfig>;
  mustFail?: RegExp;
}

const BASE = 'subnet: 192.168.2.0/23\nranges: [192.168.3.0/24]\n';

const cases: Case[] = [
  {
    desc: 'takes the defaults the write-up needs: gateway node, a default route, probe on, file store',
    yaml: BASE,
    want: {
      mode: 'pool',
      subnet: { network: '192.168.2.0', prefix: 23, text: '192.168.2.0/23' },
      ranges: [{ start: '192.168.3.0', end: '192.168.3.255', text: '192.168.3.0/24' }],
      exclude: [],
      gateway: 'node',
      routes: [{ dst: '0.0.0.0/0' }],
      pinned: [],
      probe: { enabled: true, timeoutMs: 200, holdBackMs: 600_000 },
      store: { kind: 'file', directory: DEFAULT_IPAM_STORE },
      socket: DEFAULT_IPAM_SOCKET,
      delegate: undefined,
      reclaimAfterMs: 600_000,
    },
  },
  {
    desc: 'refuses a pin that an A-B range allows but a CIDR exclusion covers',
    yaml: `${BASE.replace('[192.168.3.0/24]', '["192.168.3.10 - 192.168.3.20"]')}exclude: [192.168.3.15, 192.168.3.16/31]
pinned: [{pod: home/hass, address: 192.168.3.17}]
delegate: {type: host-local, ranges: [[{subnet: 10.42.0.0/24}]]}
probe: false
store: /var/lib/x
socket: /run/x.sock`,
    mustFail: /ipam\.pinned\[0\]\.address: 192\.168\.3\.17 is in ipam\.exclude \(192\.168\.3\.16\/31\)/,
  },
  {
    desc: 'keeps a delegate section whole and a probe switched off',
    yaml: `${BASE}probe: false\ndelegate: {type: host-local, ranges: [[{subnet: 10.42.0.0/24}]]}\nstore: kubernetes`,
    want: {
      probe: { enabled: false, timeoutMs: 200, holdBackMs: 600_000 },
      delegate: { type: 'host-local', ranges: [[{ subnet: '10.42.0.0/24' }]] },
      store: { kind: 'kubernetes', blockSize: 26 },
    },
  },
  { desc: 'requires a subnet', yaml: 'ranges: [192.168.3.0/24]', mustFail: /^ipam\.subnet: is required/ },
  {
    desc: 'refuses host bits in the subnet',
    yaml: 'subnet: 192.168.3.0/23\nranges: [192.168.3.0/24]',
    mustFail: /^ipam\.subnet: .*host bits set \(the network is 192\.168\.2\.0\/23\)/,
  },
  {
    desc: 'refuses a range outside the subnet',
    yaml: 'subnet: 192.168.2.0/23\nranges: [192.168.4.0/24]',
    mustFail: /^ipam\.ranges\[0\]: .*not inside ipam\.subnet/,
  },
  {
    desc: 'refuses overlapping ranges',
    yaml: 'subnet: 192.168.2.0/23\nranges: [192.168.3.0/25, 192.168.3.100-192.168.3.200]',
    mustFail: /^ipam\.ranges\[1\]: .*overlaps ipam\.ranges\[0\]/,
  },
  {
    desc: 'refuses a range that ends before it starts',
    yaml: 'subnet: 192.168.2.0/23\nranges: [192.168.3.9-192.168.3.1]',
    mustFail: /^ipam\.ranges\[0\]: .*ends \(192\.168\.3\.1\) before/,
  },
  {
    desc: 'refuses a pool without ranges',
    yaml: 'subnet: 192.168.2.0/23',
    mustFail: /^ipam\.ranges: is required with mode pool/,
  },
  {
    desc: 'allows dhcp mode without ranges',
    yaml: 'mode: dhcp\nsubnet: 192.168.2.0/23',
    want: { mode: 'dhcp', ranges: [] },
  },
  {
    desc: 'refuses a gateway outside the subnet (ptp cannot reach it)',
    yaml: `${BASE}gateway: 169.254.1.1`,
    mustFail: /^ipam\.gateway: 169\.254\.1\.1 is outside ipam\.subnet/,
  },
  {
    desc: 'refuses a gateway inside the ranges',
    yaml: `${BASE}gateway: 192.168.3.1`,
    mustFail: /^ipam\.gateway: .*inside ipam\.ranges/,
  },
  {
    desc: 'refuses an unknown key with a hint',
    yaml: `${BASE}exclusions: []`,
    mustFail: /^ipam\.exclusions: unknown setting/,
  },
  {
    desc: 'refuses a pin that is not NAMESPACE/NAME',
    yaml: `${BASE}pinned: [{pod: hass, address: 192.168.3.5}]`,
    mustFail: /^ipam\.pinned\[0\]\.pod: "hass" is not NAMESPACE\/NAME/,
  },
  {
    desc: 'refuses one address pinned twice',
    yaml: `${BASE}pinned: [{pod: a/b, address: 192.168.3.5}, {pod: a/c, address: 192.168.3.5}]`,
    mustFail: /^ipam\.pinned\[1\]\.address: 192\.168\.3\.5 is pinned twice/,
  },
  {
    desc: 'refuses a delegate that is ourselves',
    yaml: `${BASE}delegate: {type: lan-reflector-ipam}`,
    mustFail: /^ipam\.delegate\.type: is lan-reflector-ipam itself/,
  },
  {
    desc: 'refuses a delegate without a type',
    yaml: `${BASE}delegate: {ranges: []}`,
    mustFail: /^ipam\.delegate\.type: /,
  },
  {
    desc: 'refuses a probe timeout of a second or more',
    yaml: `${BASE}probe: {timeoutMs: 1000}`,
    mustFail: /^ipam\.probe\.timeoutMs: 1000 is not a whole number from 10 to 900/,
  },
  {
    desc: 'takes ipam.reclaimAfterSeconds in seconds',
    yaml: `${BASE}reclaimAfterSeconds: 90`,
    want: { reclaimAfterMs: 90_000 },
  },
  {
    desc: 'refuses a reclaim grace of zero (an ADD in flight has no route yet)',
    yaml: `${BASE}reclaimAfterSeconds: 0`,
    mustFail: /^ipam\.reclaimAfterSeconds: 0 is not a whole number from 1 to 604800/,
  },
  {
    desc: 'refuses a relative store directory',
    yaml: `${BASE}store: data/ipam`,
    mustFail: /^ipam\.store: "data\/ipam" is not an absolute directory/,
  },
  {
    desc: 'refuses a socket path too long for sockaddr_un',
    yaml: `${BASE}socket: /${'x'.repeat(120)}`,
    mustFail: /^ipam\.socket: is 121 bytes long/,
  },
  {
    desc: 'refuses a route whose dst is no CIDR',
    yaml: `${BASE}routes: [{dst: default}]`,
    mustFail: /^ipam\.routes\[0\]\.dst: "default" is not a CIDR/,
  },
];

describe('ipam config', () => {
  for (const c of cases) {
    it(c.desc, () => {
      const raw: unknown = parse(c.yaml);
      if (c.mustFail) {
        assert.throws(
          () => loadIpamConfig(raw),
          (e: unknown) => e instanceof ConfigError && c.mustFail!.test(e.message),
        );
        return;
      }
      const got = loadIpamConfig(raw)!;
      for (const [k, want] of Object.entries(c.want ?? {}))
        assert.deepEqual(got[k as keyof IpamConfig], want, k);
    });
  }

  it('is absent when the file has no ipam section', () => {
    assert.equal(loadIpamConfig(undefined), undefined);
  });
});
