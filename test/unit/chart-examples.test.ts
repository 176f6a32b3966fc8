// The Home Assistant examples for the common Helm charts (manifests/examples/home-assistant/helm/)
// carry exactly the opt-in of the plain Deployment next to them, at the place each chart reads pod
// annotations from: bjw-s app-template `controllers.<name>.pod.annotations` (plain values and a Flux
// HelmRelease), the k8s-at-home chart's `podAnnotations`. Helm and the charts are not reachable here
// (no registry but npm's and Debian's), so the charts are not rendered; the values are read as data.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import type { V1Deployment } from '@kubernetes/client-node';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLE = join(ROOT, 'manifests', 'examples', 'home-assistant');
const HELM = join(EXAMPLE, 'helm');
const read = (file: string): any => parse(readFileSync(join(HELM, file), 'utf8'));

describe('manifests/examples/home-assistant/helm: the opt-in on the common charts’ pod templates', function () {
  this.timeout(30_000);
  let optIn: Record<string, string>;

  before(function () {
    const text = execFileSync('kubectl', ['kustomize', EXAMPLE], { encoding: 'utf8' });
    const deployment = parseAllDocuments(text)
      .map((d) => d.toJS() as V1Deployment)
      .find((o) => o.kind === 'Deployment')!;
    optIn = deployment.spec!.template.metadata!.annotations!;
    assert.equal(optIn['lan-reflector.io/enabled'], 'true');
  });

  it('bjw-s app-template: controllers.<name>.pod.annotations, strings, no hostNetwork', function () {
    const values = read('app-template-values.yaml');
    const controllers = Object.values(values.controllers) as any[];
    assert.equal(controllers.length, 1);
    assert.deepEqual(controllers[0].pod.annotations, optIn);
    for (const v of Object.values(controllers[0].pod.annotations)) assert.equal(typeof v, 'string');
    assert.equal(controllers[0].pod.hostNetwork, undefined);
    assert.equal(values.defaultPodOptions, undefined, 'not every pod of the release');
    assert.ok(controllers[0].annotations === undefined, 'on the pod, not the Deployment');
  });

  it('Flux HelmRelease: the same app-template values, on app-template 4.x from its OCI repository', function () {
    const docs = parseAllDocuments(readFileSync(join(HELM, 'helmrelease.yaml'), 'utf8')).map((d) => d.toJS());
    const repo = docs.find((d) => d.kind === 'OCIRepository');
    const release = docs.find((d) => d.kind === 'HelmRelease');
    assert.equal(repo.spec.url, 'oci://ghcr.io/bjw-s-labs/helm/app-template');
    assert.match(repo.spec.ref.semver, /^>=4\.0\.0 <5\.0\.0$/);
    assert.deepEqual(release.spec.chartRef, { kind: 'OCIRepository', name: repo.metadata.name });
    assert.deepEqual(release.spec.values, read('app-template-values.yaml'));
  });

  it('k8s-at-home chart: podAnnotations, with hostNetwork off', function () {
    const values = read('k8s-at-home-values.yaml');
    assert.deepEqual(values.podAnnotations, optIn);
    assert.equal(values.hostNetwork, false);
    assert.equal(values.dnsPolicy, 'ClusterFirst');
  });
});
