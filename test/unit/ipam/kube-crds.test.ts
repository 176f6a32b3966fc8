// The IPAM's CRDs (manifests/crds/) as a real API server would judge them: apiextensions.k8s.io/v1
// needs a structural schema (every node typed), printer columns must point at fields the schema
// keeps (pruning drops the rest), and the ClusterRole grants exactly these resources.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ipamCrds } from '../../support/ipam-crds.js';
import type { Schema } from '../../support/fake-apiserver-crd.js';

const base = fileURLToPath(new URL('../../../../manifests', import.meta.url));

function untyped(s: Schema, path: string, out: string[]): string[] {
  if (!s.type && !s['x-kubernetes-preserve-unknown-fields']) out.push(path);
  for (const [k, v] of Object.entries(s.properties ?? {})) untyped(v, `${path}.${k}`, out);
  if (s.items) untyped(s.items, `${path}[]`, out);
  if (typeof s.additionalProperties === 'object') untyped(s.additionalProperties, `${path}{}`, out);
  return out;
}

function schemaAt(s: Schema, jsonPath: string): Schema | undefined {
  const [first, ...rest] = jsonPath.split('.').filter(Boolean);
  if (first === 'metadata') return { type: 'object' }; // the server's own ObjectMeta
  return [first, ...rest].reduce<Schema | undefined>((at, key) => at?.properties?.[key], s);
}

describe('the IPAM CRDs', function () {
  this.timeout(30_000);
  const crds = ipamCrds();

  it('are IPBlock and IPAllocation in ipam.lan-reflector.io, cluster-scoped (a pool spans the cluster)', () => {
    assert.deepEqual(
      crds.map((c) => [c.metadata!.name, c.spec.names.kind, c.spec.scope]),
      [
        ['ipblocks.ipam.lan-reflector.io', 'IPBlock', 'Cluster'],
        ['ipallocations.ipam.lan-reflector.io', 'IPAllocation', 'Cluster'],
      ],
    );
  });

  it('have structural schemas: every field typed', () => {
    for (const c of crds)
      for (const v of c.spec.versions)
        assert.deepEqual(untyped(v.schema.openAPIV3Schema, c.spec.names.kind, []), [], c.metadata!.name);
  });

  it('print columns that exist in the schema, the Age column included', () => {
    for (const c of crds)
      for (const v of c.spec.versions) {
        const cols = v.additionalPrinterColumns as Array<{ name: string; jsonPath: string; type: string }>;
        assert.ok(cols.some((col) => col.name === 'Age' && col.jsonPath === '.metadata.creationTimestamp'));
        for (const col of cols)
          assert.ok(
            schemaAt(v.schema.openAPIV3Schema, col.jsonPath),
            `${c.spec.names.kind} column ${col.name}: ${col.jsonPath}`,
          );
      }
    const alloc = crds[1].spec.versions[0].additionalPrinterColumns.map((c: { name: string }) => c.name);
    assert.deepEqual(alloc, ['Address', 'Node', 'Namespace', 'Pod', 'Container', 'Source', 'Age']);
  });

  it('are what the ClusterRole grants, with no verb beyond get/list/create/update/delete (no watch: the store lists)', () => {
    const rendered = execFileSync('kubectl', ['kustomize', base], { encoding: 'utf8' });
    const role = parseAllDocuments(rendered)
      .map((d) => d.toJS())
      .find((o) => o?.kind === 'ClusterRole');
    const rule = role.rules.find((r: { apiGroups: string[] }) =>
      r.apiGroups.includes('ipam.lan-reflector.io'),
    );
    assert.deepEqual([...rule.resources].sort(), crds.map((c) => c.spec.names.plural).sort());
    assert.deepEqual([...rule.verbs].sort(), ['create', 'delete', 'get', 'list', 'update']);
  });
});
