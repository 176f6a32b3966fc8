// The GitHub Actions workflows, read as data: what runs on a pull request, what a tag publishes and
// where, tied to the files it names (.ci/run, docker/Dockerfile, the manifests' image, the plugin).
// actionlint is not installable here (no Go proxy, no PyPI), so these are the structural checks.
import { strict as assert } from 'node:assert';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  'runs-on'?: string;
  uses?: string;
  needs?: string | string[];
  permissions?: Record<string, string>;
  container?: { image: string; options?: string };
  'timeout-minutes'?: number;
  steps?: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

const workflow = (name: string): Workflow =>
  parse(readFileSync(join(ROOT, '.github', 'workflows', name), 'utf8')) as Workflow;
const steps = (w: Workflow): Step[] => Object.values(w.jobs).flatMap((j) => j.steps ?? []);

describe('.github/workflows', function () {
  it('ci.yml runs .ci/run on pull requests, as root in a privileged Debian 12 container, within 90 minutes', function () {
    const ci = workflow('ci.yml');
    assert.ok('pull_request' in ci.on);
    assert.ok('workflow_call' in ci.on, 'the release reuses it');
    const job = ci.jobs.test;
    assert.equal(job.container?.image, 'debian:bookworm');
    assert.match(job.container?.options ?? '', /--privileged/);
    assert.ok((job['timeout-minutes'] ?? 360) <= 90);
    assert.ok(job.steps!.some((s) => s.run?.trim() === '.ci/run'));
    assert.ok(existsSync(join(ROOT, '.ci', 'run')));
    assert.deepEqual(ci.permissions, { contents: 'read' });
  });

  it('release.yml, on a v* tag, tests first, then pushes linux/amd64 + linux/arm64 from docker/Dockerfile to the manifests’ image', function () {
    const rel = workflow('release.yml');
    assert.deepEqual(rel.on, { push: { tags: ['v*'] } });
    assert.equal(rel.jobs.test.uses, './.github/workflows/ci.yml');
    const image = rel.jobs.image;
    assert.equal(image.needs, 'test');
    assert.equal(image.permissions?.packages, 'write');
    const build = image.steps!.find((s) => s.uses?.startsWith('docker/build-push-action@'));
    assert.ok(build?.with);
    assert.equal(build.with.file, 'docker/Dockerfile');
    assert.equal(build.with.platforms, 'linux/amd64,linux/arm64');
    assert.equal(build.with.push, true);
    const meta = image.steps!.find((s) => s.uses?.startsWith('docker/metadata-action@'));
    const kustomization = parse(readFileSync(join(ROOT, 'manifests', 'kustomization.yaml'), 'utf8')) as {
      images: Array<{ name: string; newName: string }>;
    };
    assert.equal(meta?.with?.images, kustomization.images[0].newName);
    assert.equal(meta?.with?.images, 'ghcr.io/lan-reflector/lan-reflector');
    assert.ok(
      image.steps!.some((s) => s.uses?.startsWith('docker/setup-qemu-action@')),
      'QEMU for the foreign arch',
    );
  });

  it('release.yml attaches the kubectl plugin, a file that exists and is executable', function () {
    const rel = workflow('release.yml');
    const run = rel.jobs.plugin.steps!.map((s) => s.run ?? '').join('\n');
    const m = /gh release create \S+ (bin\/kubectl-lan_reflector)/.exec(run);
    assert.ok(m, run);
    accessSync(join(ROOT, m[1]), constants.X_OK);
  });

  it('pins every action to a major version', function () {
    for (const name of ['ci.yml', 'release.yml'])
      for (const s of steps(workflow(name)))
        if (s.uses) assert.match(s.uses, /^[\w-]+\/[\w-]+@v\d+$/, `${name}: ${s.uses}`);
  });
});
