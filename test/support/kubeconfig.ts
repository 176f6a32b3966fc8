// A kubeconfig file, as `kubectl config view --raw` writes one, for an agent started with KUBECONFIG.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface KubeconfigFile {
  path: string;
  /** Deletes the file and its directory. */
  remove(): void;
}

/**
 * Writes a kubeconfig naming one cluster at `server` with a bearer token. A plain-HTTP server needs
 * `insecure-skip-tls-verify: true`, or @kubernetes/client-node refuses it (DESIGN.md).
 */
export function writeKubeconfig(server: string, token = 'test-token'): KubeconfigFile {
  const dir = mkdtempSync(join(tmpdir(), 'lr-kubeconfig-'));
  const path = join(dir, 'config');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'lan-reflector', user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'lan-reflector' } }],
    'current-context': 'test',
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
