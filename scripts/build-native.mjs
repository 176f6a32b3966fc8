#!/usr/bin/env node
// Builds the N-API socket addon (src/wire/native/*.c) into dist/native/lan_reflector.node with the
// system C compiler and the running Node's headers. Plain N-API: the one binary serves every Node
// version on this architecture, so nothing is downloaded at install and Node 24 needs no prebuild.
// Prints one line naming what is missing and exits 1 when it cannot build.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sources = join(root, 'src', 'wire', 'native');
const outDir = join(root, 'dist', 'native');
const out = join(outDir, 'lan_reflector.node');

function fail(message) {
  process.stderr.write(`build-native: ${message}\n`);
  process.exit(1);
}

if (process.platform !== 'linux') fail(`the socket addon is Linux only (this is ${process.platform})`);

const cc = process.env.CC || 'cc';
if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0)
  fail(`no C compiler (${cc}): install one, e.g. apt-get install gcc libc6-dev`);

// Node's own include/node first (official builds and the node:22 image: /usr/local/include/node),
// then the pinned dev dependency's (node_modules/node ships the binary without headers beside it).
const arch = { x64: 'x64', arm64: 'arm64' }[process.arch] ?? process.arch;
const candidates = [
  process.env.NODE_INCLUDE_DIR,
  resolve(dirname(process.execPath), '..', 'include', 'node'),
  join(root, 'node_modules', 'node', 'node_modules', `node-linux-${arch}`, 'include', 'node'),
  '/usr/local/include/node',
  '/usr/include/node',
].filter(Boolean);
const include = candidates.find((d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'uv.h')));
if (!include)
  fail(
    `Node's headers (node_api.h, uv.h) not found in: ${candidates.join(', ')}; ` +
      'set NODE_INCLUDE_DIR, or use a Node.js build that ships include/node',
  );

const files = readdirSync(sources)
  .filter((f) => f.endsWith('.c'))
  .map((f) => join(sources, f));
mkdirSync(outDir, { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
const args = [
  '-shared',
  '-fPIC',
  '-O2',
  '-std=c11',
  '-Wall',
  '-Wextra',
  '-fvisibility=hidden',
  '-DNAPI_VERSION=8',
  '-DNODE_GYP_MODULE_NAME=lan_reflector',
  `-I${include}`,
  ...files,
  '-o',
  tmp,
];
const r = spawnSync(cc, args, { encoding: 'utf8' });
if (r.status !== 0) {
  process.stderr.write(r.stderr ?? '');
  const noLibc = /sys\/socket\.h|stdlib\.h|No such file/.test(r.stderr ?? '');
  fail(noLibc ? 'the C library headers are missing: apt-get install libc6-dev' : `${cc} failed (above)`);
}
renameSync(tmp, out);
const version = execFileSync(cc, ['-dumpfullversion', '-dumpversion'], { encoding: 'utf8' }).trim();
process.stdout.write(`build-native: ${out} (${cc} ${version}, headers ${include})\n`);
