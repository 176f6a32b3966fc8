// The CRDs of `ipam.store: kubernetes`, read from manifests/crds/ as a user would apply them, for the
// fake API server (which then serves, prunes and validates exactly what the manifests say).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './fake-apiserver.js';

const dir = fileURLToPath(new URL('../../../manifests/crds/', import.meta.url));

export function ipamCrds(): KubeObject[] {
  return ['ipblocks.yaml', 'ipallocations.yaml'].flatMap((f) =>
    parseAllDocuments(readFileSync(dir + f, 'utf8')).map((d) => d.toJS() as KubeObject),
  );
}

export const BLOCKS_RESOURCE = 'ipblocks.ipam.lan-reflector.io';
export const ALLOCATIONS_RESOURCE = 'ipallocations.ipam.lan-reflector.io';
