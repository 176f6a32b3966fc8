// Builds the CNI plugin shim (src/ipam/shim/*.c) into dist/lan-reflector-ipam with the system C
// compiler, linked statically: the host that runs it may have no Node.js, no shell and another libc.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src/ipam/shim');
const out = join(root, 'dist/lan-reflector-ipam');
const cc = process.env.CC || 'cc';
const sources = readdirSync(src)
  .filter((f) => f.endsWith('.c'))
  .map((f) => join(src, f));

mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.tmp-${process.pid}`;
const args = ['-static', '-s', '-O2', '-std=c11', '-Wall', '-Wextra', '-Werror', '-o', tmp, ...sources];
const r = spawnSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
if (r.error?.code === 'ENOENT') {
  console.error(`build-shim: no C compiler (${cc}): install one, e.g. apt-get install gcc libc6-dev`);
  process.exit(1);
}
if (r.status !== 0) {
  console.error(
    `build-shim: ${cc} ${args.join(' ')} failed; a static build needs the C library's static archive (apt-get install libc6-dev)`,
  );
  process.exit(1);
}
// Rename into place: a running test never sees a half-written plugin.
renameSync(tmp, out);
