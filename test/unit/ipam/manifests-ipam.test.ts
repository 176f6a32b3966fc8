// manifests/components/ipam rendered on top of the base with `kubectl kustomize` (offline) and the
// DaemonSet validated against the Kubernetes schema: the init container installs the CNI plugin
// into the host's CNI bin directory, the agent keeps its mounts and gains the file store's.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { V1DaemonSet } from '@kubernetes/client-node';
import { DaemonSet } from 'kubernetes-models/apps/v1';

const root = fileURLToPath(new URL('../../../..', import.meta.url));

describe('manifests/components/ipam', () => {
  let ds: V1DaemonSet;
  before(function () {
    this.timeout(30_000);
    // kustomize takes only relative paths to other roots: the overlay lives in dist/.
    const dir = mkdtempSync(join(root, 'dist', 'kz-ipam-'));
    try {
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        `resources:\n  - ${relative(dir, join(root, 'manifests'))}\ncomponents:\n  - ${relative(dir, join(root, 'manifests/components/ipam'))}\n`,
      );
      const out = execFileSync('kubectl', ['kustomize', dir], {
        encoding: 'utf8',
      });
      ds = parseAllDocuments(out)
        .map((d) => d.toJS() as { kind?: string })
        .find((o) => o.kind === 'DaemonSet') as V1DaemonSet;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('renders a DaemonSet the Kubernetes schema accepts', () => {
    new DaemonSet(ds as never).validate();
  });

  it('installs lan-reflector-ipam from an init container into the host CNI bin directory', () => {
    const spec = ds.spec!.template.spec!;
    const init = spec.initContainers?.find((c) => c.name === 'install-cni');
    assert.deepEqual(init?.command, ['lan-reflector', 'install-cni', '--bin-dir', '/host/cni-bin']);
    assert.equal(init?.volumeMounts?.[0].mountPath, '/host/cni-bin');
    assert.deepEqual(init?.securityContext?.capabilities?.drop, ['ALL']);
    const vol = spec.volumes?.find((v) => v.name === 'cni-bin');
    assert.equal(vol?.hostPath?.path, '/opt/cni/bin');
  });

  it("keeps the agent's mounts and adds the file store on the node", () => {
    const agent = ds.spec!.template.spec!.containers.find((c) => c.name === 'agent')!;
    const mounts = agent.volumeMounts!.map((m) => m.mountPath).sort();
    assert.deepEqual(mounts, ['/etc/lan-reflector', '/run/lan-reflector', '/tmp', '/var/lib/lan-reflector']);
    const vol = ds.spec!.template.spec!.volumes!.find((v) => v.name === 'ipam-store');
    assert.equal(vol?.hostPath?.path, '/var/lib/lan-reflector');
  });
});
