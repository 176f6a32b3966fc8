import assert from 'node:assert/strict';
import { parseAnnotations } from '../../../src/pods/kube/annotations.js';
import type { PodOptions } from '../../../src/config/types.js';
import { DEFAULTS } from './helpers.js';

const on = { 'lan-reflector.io/enabled': 'true' };

interface Case {
  desc: string;
  annotations: Record<string, string> | undefined;
  want?: { enabled: boolean; options?: Partial<PodOptions> };
  /** Each string must appear in one error message. */
  mustFail?: string[];
}

const cases: Case[] = [
  { desc: 'a pod without annotations is not opted in', annotations: undefined, want: { enabled: false } },
  {
    desc: 'enabled "false" opts out',
    annotations: { 'lan-reflector.io/enabled': 'false' },
    want: { enabled: false },
  },
  {
    desc: 'an opted-out pod is not judged on its other annotations',
    annotations: { 'lan-reflector.io/enabled': 'false', 'lan-reflector.io/direction': 'sideways' },
    want: { enabled: false },
  },
  { desc: 'enabled "true" alone takes every default', annotations: on, want: { enabled: true, options: {} } },
  {
    desc: 'enabled is read case-insensitively',
    annotations: { 'lan-reflector.io/enabled': ' True ' },
    want: { enabled: true, options: {} },
  },
  {
    desc: 'protocols narrow the defaults, in the order given and without duplicates',
    annotations: { ...on, 'lan-reflector.io/protocols': 'ssdp, MDNS,ssdp' },
    want: { enabled: true, options: { protocols: ['ssdp', 'mdns'] } },
  },
  {
    desc: 'direction is taken as given',
    annotations: { ...on, 'lan-reflector.io/direction': 'lan-to-pod' },
    want: { enabled: true, options: { direction: 'lan-to-pod' } },
  },
  {
    desc: 'service types get .local appended and a trailing dot dropped',
    annotations: {
      ...on,
      'lan-reflector.io/services': '_hap._tcp, _googlecast._tcp.local., _printer._sub._http._tcp',
    },
    want: {
      enabled: true,
      options: { services: ['_hap._tcp.local', '_googlecast._tcp.local', '_printer._sub._http._tcp.local'] },
    },
  },
  {
    desc: 'broadcast ports accept numbers and vendor presets, sorted',
    annotations: { ...on, 'lan-reflector.io/broadcast-ports': 'tuya, 38899, kasa, wiz' },
    want: { enabled: true, options: { broadcastPorts: [6666, 6667, 9999, 38899] } },
  },
  {
    desc: 'an enabled value other than true or false is refused',
    annotations: { 'lan-reflector.io/enabled': 'yes' },
    mustFail: ['lan-reflector.io/enabled: "yes" is not one of true, false'],
  },
  {
    desc: 'a misspelt direction is refused, naming the valid ones',
    annotations: { ...on, 'lan-reflector.io/direction': 'lan2pod' },
    mustFail: ['lan-reflector.io/direction: "lan2pod" is not one of both, lan-to-pod, pod-to-lan'],
  },
  {
    desc: 'an unknown protocol is refused even beside valid ones',
    annotations: { ...on, 'lan-reflector.io/protocols': 'mdns,upnp' },
    mustFail: ['lan-reflector.io/protocols: "upnp" is not one of mdns, ssdp, broadcast'],
  },
  {
    desc: 'an empty list is refused, since empty would mean all',
    annotations: { ...on, 'lan-reflector.io/services': ' , ' },
    mustFail: ['lan-reflector.io/services: " , " is empty'],
  },
  {
    desc: 'a service name that is not a service type is refused',
    annotations: { ...on, 'lan-reflector.io/services': 'homekit' },
    mustFail: ['lan-reflector.io/services: "homekit" is not an mDNS service type like _hap._tcp'],
  },
  {
    desc: 'a port out of range or an unknown preset is refused',
    annotations: { ...on, 'lan-reflector.io/broadcast-ports': '0, 65536, hue, constructor, 12.5' },
    mustFail: [
      '"0" is not a port 1-65535 or one of wiz, kasa, lifx, tuya',
      '"65536" is not a port',
      '"hue" is not a port',
      '"constructor" is not a port',
      '"12.5" is not a port',
    ],
  },
  {
    desc: 'a misspelt annotation key is refused, because its restriction would be lost',
    annotations: { ...on, 'lan-reflector.io/protocol': 'mdns' },
    mustFail: ['lan-reflector.io/protocol is not a known annotation'],
  },
  {
    desc: 'every bad annotation is reported, not only the first',
    annotations: { ...on, 'lan-reflector.io/direction': 'in', 'lan-reflector.io/protocols': 'dns' },
    mustFail: ['lan-reflector.io/direction: "in"', 'lan-reflector.io/protocols: "dns"'],
  },
];

describe('parseAnnotations', () => {
  for (const c of cases) {
    it(c.desc, () => {
      const got = parseAnnotations(c.annotations, DEFAULTS);
      if (c.mustFail) {
        assert.equal(got.options, undefined, 'a pod with a bad annotation gets no options');
        assert.equal(got.errors.length, c.mustFail.length, got.errors.join('\n'));
        for (const m of c.mustFail) {
          assert.ok(
            got.errors.some((e) => e.includes(m)),
            `no error contains ${m}:\n${got.errors.join('\n')}`,
          );
        }
        return;
      }
      assert.deepEqual(got.errors, []);
      assert.equal(got.enabled, c.want!.enabled);
      const want = c.want!.options && { ...DEFAULTS, ...c.want!.options };
      assert.deepEqual(got.options, want);
    });
  }

  it('does not share arrays with the defaults', () => {
    const got = parseAnnotations(on, DEFAULTS);
    got.options!.protocols.push('mdns');
    assert.deepEqual(DEFAULTS.protocols, ['mdns', 'ssdp', 'broadcast']);
  });
});
