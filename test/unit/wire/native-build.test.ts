// The socket addon as `npm run build` leaves it: an ELF shared object for this machine that this
// Node loads, whose errors name the link and the errno, and a build script that says what is
// missing instead of failing obscurely.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NativeSocket, formatIPv6 } from '../../../src/wire/native.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const ADDON = `${ROOT}dist/native/lan_reflector.node`;
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 }; // EM_X86_64, EM_AARCH64

describe('the socket addon build', function () {
  it('is a 64-bit little-endian ELF object for this CPU', function () {
    const fd = openSync(ADDON, 'r');
    const h = Buffer.alloc(20);
    readSync(fd, h, 0, 20, 0);
    closeSync(fd);
    assert.deepEqual([...h.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
    assert.equal(h[4], 2, 'ELFCLASS64');
    assert.equal(h[5], 1, 'little-endian');
    assert.equal(h.readUInt16LE(16), 3, 'ET_DYN');
    assert.equal(h.readUInt16LE(18), ELF_MACHINE[process.arch]);
  });

  it('loads, and refuses a link this host does not have with ENODEV naming it', function () {
    assert.throws(
      () =>
        NativeSocket.open(
          { kind: 'ipv4-udp', link: 'nosuchlink0' },
          () => {},
          () => {},
        ),
      (e: NodeJS.ErrnoException) => e.code === 'ENODEV' && /nosuchlink0/.test(e.message),
    );
  });

  it('names the missing compiler and exits 1 when there is none', function () {
    const r = spawnSync(process.execPath, [`${ROOT}scripts/build-native.mjs`], {
      env: { ...process.env, CC: '/nonexistent/cc' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /^build-native: no C compiler \(\/nonexistent\/cc\): install one, e\.g\. apt-get install gcc libc6-dev\n$/,
    );
  });
});

describe('formatIPv6', function () {
  const fmt = (groups: number[]) => {
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(g, 2 * i));
    return formatIPv6(b);
  };
  it('writes RFC 5952 text: lower case, the longest zero run as ::, no leading zeros', function () {
    assert.equal(fmt([0xff02, 0, 0, 0, 0, 0, 0, 0xfb]), 'ff02::fb');
    assert.equal(fmt([0xfe80, 0, 0, 0, 0x0a0b, 0xc, 0, 0x1]), 'fe80::a0b:c:0:1');
    assert.equal(fmt([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), '2001:db8::1:0:0:1'); // RFC 5952 4.2.3: the first of equal runs
    assert.equal(fmt([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), '2001:db8:0:1:1:1:1:1'); // 4.2.2: one zero group stays
    assert.equal(fmt([0, 0, 0, 0, 0, 0, 0, 0]), '::');
    assert.equal(fmt([0, 0, 0, 0, 0, 0, 0, 1]), '::1');
    assert.equal(fmt([0, 0, 0, 0, 0, 0xffff, 0xc612, 0x0401]), '::ffff:198.18.4.1');
  });
});
