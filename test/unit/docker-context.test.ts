// What can be checked of the container image without a Docker engine: the Dockerfile is parsed
// stage by stage, and every file it copies is traced to the build context (the repository, less
// .dockerignore) or to the stage that makes it. (Our socket addon is compiled from source on the
// target platform; test/unit/wire/native-build.test.ts checks the binary.)

import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOCKERFILE = join(ROOT, 'docker', 'Dockerfile');

// ---------------------------------------------------------------------------------------------
// A small Dockerfile reader: enough of the syntax for this Dockerfile, strict where it matters.

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Copy {
  from?: string;
  sources: string[];
  /** Absolute paths the copy creates in its stage. */
  creates: string[];
  line: number;
}

interface Stage {
  index: number;
  name?: string;
  image: string;
  platform?: string;
  workdir: string;
  copies: Copy[];
  runs: string[];
  /** Absolute paths that RUN commands of this stage make (node_modules, the tsc outDir). */
  made: string[];
  entrypoint?: unknown;
  cmd?: unknown;
  user?: string;
}

function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buffer = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    if (/^\s*#/.test(raw)) return; // comments (and parser directives), also inside continuations
    if (buffer === '' && raw.trim() === '') return;
    if (buffer === '') start = i + 1;
    if (/\\\s*$/.test(raw)) {
      buffer += raw.replace(/\\\s*$/, ' ');
      return;
    }
    buffer += raw;
    const m = /^\s*(\S+)\s*(.*)$/.exec(buffer);
    assert.ok(m, `Dockerfile line ${start} parses`);
    out.push({ keyword: m[1].toUpperCase(), args: m[2].trim(), line: start });
    buffer = '';
  });
  assert.equal(buffer, '', 'the Dockerfile does not end inside a continuation');
  return out;
}

function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest);
    if (!m) break;
    flags[m[1]] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

function substitute(value: string, args: Record<string, string>): string {
  return value.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (whole, name: string) => args[name] ?? whole);
}

function tsconfigOutDir(): string {
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as {
    compilerOptions: { outDir: string };
  };
  return tsconfig.compilerOptions.outDir.replace(/^\.\//, '').replace(/\/$/, '');
}

function readDockerfile(): Stage[] {
  const stages: Stage[] = [];
  const globalArgs: Record<string, string> = {};
  for (const ins of instructions(readFileSync(DOCKERFILE, 'utf8'))) {
    const stage = stages[stages.length - 1];
    switch (ins.keyword) {
      case 'ARG': {
        const [name, value] = ins.args.split('=');
        if (!stage && value !== undefined) globalArgs[name] = value;
        break;
      }
      case 'FROM': {
        const { flags, rest } = splitFlags(ins.args);
        const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
        assert.ok(m, `FROM at line ${ins.line} is "image [AS name]"`);
        stages.push({
          index: stages.length,
          name: m[2],
          image: substitute(m[1], globalArgs),
          platform: flags.platform,
          workdir: '/',
          copies: [],
          runs: [],
          made: [],
        });
        break;
      }
      case 'WORKDIR':
        assert.ok(stage, 'WORKDIR inside a stage');
        stage.workdir = posix.resolve(stage.workdir, ins.args);
        break;
      case 'ADD':
        assert.fail(`line ${ins.line}: ADD is not used (COPY is explicit about what it copies)`);
        break;
      case 'COPY': {
        assert.ok(stage, 'COPY inside a stage');
        const { flags, rest } = splitFlags(ins.args);
        const parts: string[] = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
        assert.ok(parts.length >= 2, `COPY at line ${ins.line} has a source and a destination`);
        const dest = parts[parts.length - 1];
        const sources = parts.slice(0, -1);
        const destAbs = posix.resolve(stage.workdir, dest);
        const intoDir = dest.endsWith('/') || sources.length > 1;
        stage.copies.push({
          from: flags.from,
          sources,
          creates: sources.map((s) => (intoDir ? posix.join(destAbs, posix.basename(s)) : destAbs)),
          line: ins.line,
        });
        break;
      }
      case 'RUN':
        assert.ok(stage, 'RUN inside a stage');
        stage.runs.push(ins.args);
        if (/\bnpm ci\b/.test(ins.args)) stage.made.push(posix.join(stage.workdir, 'node_modules'));
        if (/\bnpm run build\b/.test(ins.args)) stage.made.push(posix.join(stage.workdir, tsconfigOutDir()));
        break;
      case 'ENTRYPOINT':
        assert.ok(stage);
        stage.entrypoint = JSON.parse(ins.args);
        break;
      case 'CMD':
        assert.ok(stage);
        stage.cmd = JSON.parse(ins.args);
        break;
      case 'USER':
        assert.ok(stage);
        stage.user = ins.args;
        break;
      default:
        break;
    }
  }
  return stages;
}

function stageByRef(stages: Stage[], ref: string, before: number): Stage {
  const found = stages.find((s) => s.name === ref || String(s.index) === ref);
  assert.ok(found, `a stage named ${ref} exists`);
  assert.ok(found.index < before, `stage ${ref} comes before the one that copies from it`);
  return found;
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

// ---------------------------------------------------------------------------------------------
// .dockerignore, with Docker's rules: patterns relative to the context root, `*`, `?` and `**`,
// `!` re-includes, the last matching pattern wins, and a pattern that matches a folder excludes
// everything in it.

interface IgnorePattern {
  negate: boolean;
  regex: RegExp;
}

function globToRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function readDockerignore(): IgnorePattern[] {
  const path = join(ROOT, '.dockerignore');
  assert.ok(existsSync(path), '.dockerignore exists at the root of the build context');
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/$/, '');
      return { negate, regex: globToRegex(pattern) };
    });
}

function isIgnored(patterns: IgnorePattern[], file: string): boolean {
  const segments = file.split('/');
  const candidates = segments.map((_, i) => segments.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const p of patterns) {
    if (candidates.some((c) => p.regex.test(c))) ignored = !p.negate;
  }
  return ignored;
}

function filesUnder(rel: string): string[] {
  const abs = join(ROOT, rel);
  if (!statSync(abs).isDirectory()) return [rel];
  return readdirSync(abs).flatMap((entry) => filesUnder(posix.join(rel, entry)));
}

// ---------------------------------------------------------------------------------------------

describe('the Docker build context (docker/Dockerfile, .dockerignore)', function () {
  let stages: Stage[];
  let final: Stage;
  let ignore: IgnorePattern[];

  before(function () {
    stages = readDockerfile();
    final = stages[stages.length - 1];
    ignore = readDockerignore();
  });

  it('builds every stage from node:22-bookworm-slim, the Node major the project develops on', function () {
    assert.ok(stages.length >= 2, 'a multi-stage build');
    for (const s of stages) assert.equal(s.image, 'node:22-bookworm-slim', `stage ${s.name ?? s.index}`);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
      engines?: { node?: string };
    };
    assert.match(pkg.devDependencies.node, /^\^22\./, 'the node@22 dev dependency');
    if (pkg.engines?.node !== undefined) assert.match(pkg.engines.node, /\b22\b/);
  });

  it('copies from the build context only files that exist in the repository and that .dockerignore keeps', function () {
    const fromContext = stages.flatMap((s) => s.copies.filter((c) => c.from === undefined));
    assert.ok(fromContext.length > 0);
    for (const copy of fromContext) {
      for (const source of copy.sources) {
        assert.ok(
          !posix.isAbsolute(source) && !source.startsWith('..'),
          `line ${copy.line}: ${source} is inside the context`,
        );
        assert.ok(existsSync(join(ROOT, source)), `line ${copy.line}: ${source} exists in the repository`);
        const dropped = filesUnder(source).filter((f) => isIgnored(ignore, f));
        assert.deepEqual(dropped, [], `line ${copy.line}: .dockerignore keeps everything under ${source}`);
      }
    }
  });

  it('copies from other stages only paths that an earlier stage copied in or made', function () {
    const fromStages = stages.flatMap((s) =>
      s.copies.filter((c) => c.from !== undefined).map((c) => ({ s, c })),
    );
    assert.ok(fromStages.length >= 2);
    for (const { s, c } of fromStages) {
      const source = stageByRef(stages, c.from!, s.index);
      for (const path of c.sources) {
        assert.ok(posix.isAbsolute(path), `line ${c.line}: ${path} is an absolute path in stage ${c.from}`);
        const present = [...source.made, ...source.copies.flatMap((x) => x.creates)];
        assert.ok(
          present.some((p) => isUnder(path, p)),
          `line ${c.line}: stage ${c.from} makes ${path} (it has ${present.join(', ')})`,
        );
      }
    }
  });

  it('installs node_modules on the target platform, with install scripts and without dev dependencies', function () {
    const copy = final.copies.find((c) => c.creates.includes('/app/node_modules'));
    assert.ok(copy?.from, 'the final stage copies /app/node_modules from another stage');
    const deps = stageByRef(stages, copy.from, final.index);
    assert.equal(
      deps.platform,
      undefined,
      'the node_modules stage has no --platform: it runs as the target arch',
    );
    const install = deps.runs.find((r) => /\bnpm ci\b/.test(r));
    assert.ok(install, 'node_modules comes from npm ci');
    assert.match(install, /npm ci --omit=dev\b/);
    for (const s of stages) {
      for (const r of s.runs)
        assert.doesNotMatch(r, /--ignore-scripts/, 'install scripts run (node-gyp-build)');
    }
  });

  it('uses $BUILDPLATFORM only for the stage whose output is JavaScript (the tsc outDir)', function () {
    const outDir = tsconfigOutDir();
    for (const s of stages.filter((x) => x.platform !== undefined)) {
      assert.equal(s.platform, '$BUILDPLATFORM');
      assert.ok(
        s.runs.some((r) => /\bnpm run build\b/.test(r)),
        'it compiles',
      );
      const uses = stages.flatMap((t) =>
        t.copies.filter((c) => c.from === s.name || c.from === String(s.index)),
      );
      assert.ok(uses.length > 0);
      for (const c of uses) {
        for (const path of c.sources)
          assert.ok(isUnder(path, posix.join(s.workdir, outDir)), `${path} is compiled output`);
      }
    }
  });

  it('keeps node_modules, dist and .git out of the build context', function () {
    for (const path of [
      'node_modules',
      'node_modules/yaml/package.json',
      'dist',
      'dist/src/cli/main.js',
      '.git',
      '.git/HEAD',
    ]) {
      assert.equal(isIgnored(ignore, path), true, `${path} is ignored`);
    }
    for (const path of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'bin/lan-reflector.js',
      'src/cli/main.ts',
    ]) {
      assert.equal(isIgnored(ignore, path), false, `${path} is sent`);
    }
  });

  it('ends in a stage whose entrypoint is the lan-reflector CLI, running the agent by default', function () {
    assert.deepEqual(final.entrypoint, ['lan-reflector']);
    assert.deepEqual(final.cmd, ['agent', '--config', '/etc/lan-reflector/config.yaml']);
    assert.ok(
      final.user === undefined || final.user === 'root' || final.user === '0',
      'root, with capabilities cut by the DaemonSet',
    );
    assert.ok(
      final.runs.some((r) =>
        /\bln -s \/app\/bin\/lan-reflector\.js \/usr\/local\/bin\/lan-reflector\b/.test(r),
      ),
      'the CLI is linked onto PATH',
    );
    const launcherInImage = '/app/bin/lan-reflector.js';
    const binCopy = final.copies.find(
      (c) => c.from === undefined && c.creates.some((p) => isUnder(launcherInImage, p)),
    );
    assert.ok(binCopy, 'the launcher is copied from the repository');
    assert.deepEqual(binCopy.sources, ['bin']);
  });

  it('ships the compiled CLI where the launcher imports it from', function () {
    const launcher = readFileSync(join(ROOT, 'bin', 'lan-reflector.js'), 'utf8');
    assert.match(launcher, /^#!\/usr\/bin\/env node\n/);
    const imported = /\bimport\s*\(?\s*'([^']+)'/.exec(launcher)?.[1];
    assert.equal(imported, '../dist/src/cli/main.js');
    const inImage = posix.resolve('/app/bin', imported); // /app/dist/src/cli/main.js

    const distCopy = final.copies.find(
      (c) => c.from !== undefined && c.creates.some((p) => isUnder(inImage, p)),
    );
    assert.ok(distCopy, `the final stage copies ${inImage} from a build stage`);
    const build = stageByRef(stages, distCopy.from!, final.index);
    const target = distCopy.creates.find((p) => isUnder(inImage, p))!;
    const inBuild = posix.join(distCopy.sources[0], posix.relative(target, inImage)); // /src/dist/src/cli/main.js
    const relToBuild = posix.relative(build.workdir, inBuild);
    assert.equal(relToBuild, `${tsconfigOutDir()}/src/cli/main.js`);

    // tsc (rootDir ".") compiles src/cli/main.ts to that path: the source must be in the repo and copied in.
    const source = 'src/cli/main.ts';
    assert.ok(existsSync(join(ROOT, source)), `${source} exists`);
    assert.ok(
      build.copies.some(
        (c) => c.from === undefined && c.creates.some((p) => isUnder(posix.join(build.workdir, source), p)),
      ),
      `${source} is copied into the build stage`,
    );
  });

  it('installs iproute2 and nothing else from apt in the final stage', function () {
    const installs = final.runs.flatMap((r) =>
      [...r.matchAll(/apt-get install ([^&;|]+)/g)].flatMap((m) =>
        m[1]
          .trim()
          .split(/\s+/)
          .filter((w) => !w.startsWith('-')),
      ),
    );
    assert.deepEqual(installs, ['iproute2']);
    assert.ok(final.runs.some((r) => /--no-install-recommends/.test(r)));
    for (const s of stages.slice(0, -1)) {
      assert.ok(!s.runs.some((r) => /apt-get install/.test(r)), `build stage ${s.name} needs no compiler`);
    }
  });

  it('explains in the Dockerfile why the agent runs as root with only two capabilities', function () {
    const text = readFileSync(DOCKERFILE, 'utf8');
    assert.match(text, /ambient/i);
    assert.match(text, /NET_RAW/);
    assert.match(text, /NET_ADMIN/);
  });
});
