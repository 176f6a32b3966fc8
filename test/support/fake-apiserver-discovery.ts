// Discovery documents for the fake API server, so that real kubectl (which maps `get pods` to a
// path through /api and /apis before it asks) can talk to it. Only the core resources the tests
// name: kubectl's plugin test looks up pods by name and by label and field selector.

const CORE: Array<{ name: string; kind: string; namespaced: boolean; shortNames?: string[] }> = [
  { name: 'pods', kind: 'Pod', namespaced: true, shortNames: ['po'] },
  { name: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'] },
  { name: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'] },
  { name: 'nodes', kind: 'Node', namespaced: false, shortNames: ['no'] },
];
const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

/** The discovery document for a GET of `path`, or undefined when `path` is not a discovery path. */
export function discoveryDocument(path: string): object | undefined {
  if (path === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
  if (path === '/api/v1')
    return {
      kind: 'APIResourceList',
      groupVersion: 'v1',
      resources: CORE.map((r) => ({ ...r, singularName: r.kind.toLowerCase(), verbs: VERBS })),
    };
  if (path === '/apis') return { kind: 'APIGroupList', apiVersion: 'v1', groups: [] };
  return undefined;
}
