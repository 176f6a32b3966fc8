// The one stand-in for Kubernetes in this project (DESIGN.md, "How it is tested"): an in-process HTTP
// server that speaks the real list/watch protocol to the real @kubernetes/client-node. It keeps only
// what the protocol needs: a store with one global resourceVersion counter, a bounded event history
// (a watch from before it gets 410 Gone, as from etcd compaction), field/label selectors with the
// watch-side ADDED/DELETED transitions the real server makes, bookmarks, timeoutSeconds, 409s.
// Custom resources exist once their CRD is registered (POST to apiextensions.k8s.io, or registerCrd):
// scope, served versions and the structural schema's pruning and validation (fake-apiserver-crd.ts).
// Faults for the IPAM store's tests: requests refused, cut before or after they took effect, or
// answered late (`inject`), and watches that deliver late (`delayWatch`).
// Not modelled: paging (limit/continue), server-side apply, JSON patch, graceful pod deletion.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type CoreV1Event, type V1Pod } from '@kubernetes/client-node';
import { crdInfo, pruneAndValidate, type CrdInfo } from './fake-apiserver-crd.js';
import { discoveryDocument } from './fake-apiserver-discovery.js';

/** Any stored object; `resource` names its collection the kubectl way: `pods`, `ipblocks.example.io`. */
export type KubeObject = { kind?: string; apiVersion?: string; metadata?: Record<string, any> } & Record<
  string,
  any
>;
type WatchType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface Change {
  rv: number;
  resource: string;
  type: WatchType;
  old?: KubeObject;
  obj: KubeObject;
}
interface Watcher {
  resource: string;
  namespace?: string;
  match: (o: KubeObject) => boolean;
  res: ServerResponse;
  bookmarks: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
  status(): KubeObject {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
  }
}

export interface FakeApiServerOptions {
  /** Changes kept for watches to resume from; older resourceVersions get 410 Gone. */
  historyLimit?: number;
  /** Send BOOKMARK events this often to watches that allow them; 0 sends only on `bookmark()`. */
  bookmarkIntervalMs?: number;
  /** Address to listen on (default 127.0.0.1); a test LAN address lets agents in other namespaces in. */
  host?: string;
}

/**
 * One injected fault, for the next `times` requests (default 1) whose `METHOD /path?query` matches
 * `match` (a regular expression source, so it crosses the fake's process RPC as a string):
 * - `status`: answered with this error instead (e.g. 500, 503, 429), nothing done;
 * - `drop`: the connection is cut before anything is done (a network blip, an API server restart);
 * - `drop-after`: the request takes effect, then the connection is cut before the answer (the
 *   client cannot tell whether its create happened: it must find out, not assume);
 * - `delayMs`: answered this much later (after taking effect at once).
 */
export interface Fault {
  match: string;
  times?: number;
  status?: number;
  drop?: 'before' | 'after';
  delayMs?: number;
}

/** Groups the fake serves without a CRD (the built-in ones the agent uses). */
const BUILTIN_GROUPS = new Set(['events.k8s.io', 'apiextensions.k8s.io']);
const CRD_RESOURCE = 'customresourcedefinitions.apiextensions.k8s.io';

export class FakeApiServer {
  /** `METHOD /path?query` of every request, in order. */
  readonly requests: string[] = [];
  private readonly objects = new Map<string, KubeObject>(); // `resource/namespace/name`
  private history: Change[] = [];
  private rv = 1;
  private compactedRv = 0; // watches from below this get 410
  private readonly watchers = new Set<Watcher>();
  private readonly kinds = new Map([
    ['pods', 'Pod'],
    ['events', 'Event'],
  ]);
  /** Registered CRDs by resource (`plural.group`). */
  private readonly crds = new Map<string, CrdInfo>();
  private faults: Array<Fault & { left: number; re: RegExp }> = [];
  private readonly watchDelays = new Map<string, number>();
  private readonly server: Server = createServer((req, res) => void this.handle(req, res)).on(
    'connection',
    () => this.connections++,
  );
  /** TCP connections accepted so far (a client that keeps connections alive opens few). */
  connections = 0;
  private bookmarkTimer?: NodeJS.Timeout;
  port = 0;

  private constructor(private readonly opts: FakeApiServerOptions) {}

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(opts);
    await s.resume();
    return s;
  }

  get url(): string {
    return `http://${this.opts.host ?? '127.0.0.1'}:${this.port}`;
  }

  /** client-node refuses plain HTTP unless the cluster says skipTLSVerify (DESIGN.md). */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake', token: 'fake-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return kc;
  }

  // --- outages -------------------------------------------------------------------------------

  /** Stops listening and cuts every connection, as an API server restart does; the store survives. */
  async pause(): Promise<void> {
    clearInterval(this.bookmarkTimer);
    const closed = new Promise<void>((ok) => this.server.close(() => ok()));
    this.server.closeAllConnections();
    this.watchers.clear();
    await closed;
  }

  /** Listens again, on the same port after a pause. */
  async resume(): Promise<void> {
    await new Promise<void>((ok) => this.server.listen(this.port, this.opts.host ?? '127.0.0.1', ok));
    this.port = (this.server.address() as AddressInfo).port;
    if (this.opts.bookmarkIntervalMs)
      this.bookmarkTimer = setInterval(() => this.bookmark(), this.opts.bookmarkIntervalMs);
  }

  close(): Promise<void> {
    return this.pause();
  }

  /** Cuts open watch connections mid-stream (a load balancer's idle timeout, a network blip). */
  dropWatches(): void {
    for (const w of this.watchers) w.res.socket?.destroy();
    this.watchers.clear();
  }

  /** Cuts every open connection, requests in flight included (keep-alive sockets too). */
  dropConnections(): void {
    this.server.closeAllConnections();
    this.watchers.clear();
  }

  /** Adds a fault for the next matching requests (see Fault). Faults apply in the order injected. */
  inject(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1, re: new RegExp(fault.match) });
  }

  /** Removes every injected fault that has not fired yet. */
  clearFaults(): void {
    this.faults = [];
  }

  /**
   * Watch events of `resource` reach watchers `ms` late (0 = on time again), as from a slow or
   * lagging watch cache; GET and LIST stay current, as they do when served from etcd.
   */
  delayWatch(resource: string, ms: number): void {
    if (ms > 0) this.watchDelays.set(resource, ms);
    else this.watchDelays.delete(resource);
  }

  /** Registers a CustomResourceDefinition (as `kubectl apply` of it would); its resource is served from now on. */
  registerCrd(crd: KubeObject): void {
    if (this.objects.has(`${CRD_RESOURCE}//${crd.metadata?.name}`)) return;
    this.create(CRD_RESOURCE, crd);
  }

  /** Forgets all history: a watch resuming from any earlier resourceVersion gets 410 Gone. */
  compact(): void {
    this.history = [];
    this.compactedRv = this.rv;
  }

  bookmark(): void {
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      const kind = this.kinds.get(w.resource);
      const apiVersion = this.apiVersionOf(w.resource);
      this.send(w, 'BOOKMARK', { kind, apiVersion, metadata: { resourceVersion: String(this.rv) } });
    }
  }

  // --- the store: what the HTTP verbs do, callable from tests too ------------------------------

  get(resource: string, namespace: string, name: string): KubeObject | undefined {
    const o = this.objects.get(`${resource}/${namespace}/${name}`);
    return o && structuredClone(o);
  }

  list(resource: string, namespace?: string): KubeObject[] {
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(namespace === undefined ? `${resource}/` : `${resource}/${namespace}/`))
      .map(([, o]) => structuredClone(o));
  }

  create(resource: string, input: KubeObject): KubeObject {
    const obj: KubeObject = JSON.parse(JSON.stringify(input));
    const m = (obj.metadata ??= {});
    m.name ??= m.generateName ? m.generateName + randomBytes(3).toString('hex').slice(0, 5) : undefined;
    if (!m.name) throw new ApiError(422, 'Invalid', 'metadata.name: Required value');
    // RFC 1123 subdomain, as the real server requires of most names (a '/' could not even be routed).
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(m.name))
      throw new ApiError(
        422,
        'Invalid',
        `metadata.name: Invalid value: "${m.name}": a lowercase RFC 1123 subdomain`,
      );
    this.admit(resource, obj);
    if (this.objects.has(this.key(resource, obj))) {
      throw new ApiError(409, 'AlreadyExists', `${resource} "${m.name}" already exists`);
    }
    if (obj.kind) this.kinds.set(resource, obj.kind);
    // Kubernetes timestamps are RFC 3339 at second precision.
    Object.assign(m, {
      uid: randomUUID(),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    if (resource === CRD_RESOURCE) {
      const info = crdInfo(obj);
      this.crds.set(`${info.plural}.${info.group}`, info);
      this.kinds.set(`${info.plural}.${info.group}`, info.kind);
    }
    return this.commit(resource, 'ADDED', obj);
  }

  /** PUT semantics: a resourceVersion in the object must be the current one (optimistic concurrency). */
  replace(resource: string, input: KubeObject): KubeObject {
    const obj: KubeObject = JSON.parse(JSON.stringify(input));
    const cur = this.current(resource, obj, obj.metadata?.resourceVersion);
    this.admit(resource, obj);
    obj.metadata = {
      ...obj.metadata,
      uid: cur.metadata?.uid,
      creationTimestamp: cur.metadata?.creationTimestamp,
    };
    return this.commit(resource, 'MODIFIED', obj, cur);
  }

  /** JSON merge patch (RFC 7386); strategic merge is treated the same, which holds for maps. */
  patch(resource: string, namespace: string, name: string, patch: KubeObject): KubeObject {
    const cur = this.current(resource, { metadata: { namespace, name } }, patch.metadata?.resourceVersion);
    const obj = mergePatch(structuredClone(cur), patch);
    this.admit(resource, obj);
    return this.commit(resource, 'MODIFIED', obj, cur);
  }

  remove(resource: string, namespace: string, name: string, precondition?: string): KubeObject {
    const cur = this.current(resource, { metadata: { namespace, name } }, precondition);
    return this.commit(resource, 'DELETED', structuredClone(cur), cur);
  }

  // --- pod and event helpers for tests ---------------------------------------------------------

  createPod(pod: V1Pod): V1Pod {
    return this.create('pods', { kind: 'Pod', apiVersion: 'v1', ...pod }) as V1Pod;
  }
  updatePod(namespace: string, name: string, mutate: (pod: V1Pod) => void): V1Pod {
    const pod = this.get('pods', namespace, name) as V1Pod;
    mutate(pod);
    return this.replace('pods', pod) as V1Pod;
  }
  deletePod(namespace: string, name: string): void {
    this.remove('pods', namespace, name);
  }
  events(): CoreV1Event[] {
    return this.list('events') as CoreV1Event[];
  }

  // --- internals -------------------------------------------------------------------------------

  /** For a custom resource: the apiVersion must be a served one; prune and validate against its schema. */
  private admit(resource: string, obj: KubeObject): void {
    const crd = this.crds.get(resource);
    if (!crd) return;
    const [group, version] = String(obj.apiVersion ?? '').split('/');
    if (group !== crd.group || !crd.versions.has(version ?? ''))
      throw new ApiError(400, 'BadRequest', `apiVersion "${obj.apiVersion}" is not served for ${resource}`);
    if (obj.kind !== crd.kind) throw new ApiError(400, 'BadRequest', `kind must be ${crd.kind}`);
    const errors = pruneAndValidate(obj, crd.versions.get(version!));
    if (errors.length)
      throw new ApiError(
        422,
        'Invalid',
        `${crd.kind}.${crd.group} "${obj.metadata?.name}" is invalid: ${errors.join(', ')}`,
      );
  }

  /** Custom resources need their CRD, at a served version and with a path of their scope (else 404). */
  private checkRoute(route: Route): void {
    if (!route.group || BUILTIN_GROUPS.has(route.group)) return;
    const crd = this.crds.get(route.resource);
    const scopeOk = crd && (crd.namespaced || route.namespace === undefined);
    if (!crd || !crd.versions.has(route.version!) || !scopeOk)
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }

  private apiVersionOf(resource: string, route?: Route): string {
    const crd = this.crds.get(resource);
    if (crd) return `${crd.group}/${route?.version ?? [...crd.versions.keys()][0]}`;
    return route?.group ? `${route.group}/${route.version}` : 'v1';
  }

  /** The first live fault matching this request, used up by one. */
  private takeFault(line: string): Fault | undefined {
    const f = this.faults.find((x) => x.left > 0 && x.re.test(line));
    if (!f) return undefined;
    if (--f.left === 0) this.faults = this.faults.filter((x) => x !== f);
    return f;
  }

  private key(resource: string, o: KubeObject): string {
    return `${resource}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  }

  private current(resource: string, o: KubeObject, expectedRv?: string): KubeObject {
    const cur = this.objects.get(this.key(resource, o));
    if (!cur) throw new ApiError(404, 'NotFound', `${resource} "${o.metadata?.name}" not found`);
    if (expectedRv && expectedRv !== cur.metadata?.resourceVersion) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${resource} "${o.metadata?.name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    return cur;
  }

  private commit(resource: string, type: WatchType, obj: KubeObject, old?: KubeObject): KubeObject {
    obj.metadata!.resourceVersion = String(++this.rv);
    if (type === 'DELETED') this.objects.delete(this.key(resource, obj));
    else this.objects.set(this.key(resource, obj), obj);
    const change: Change = { rv: this.rv, resource, type, old, obj };
    this.history.push(change);
    const limit = this.opts.historyLimit ?? 1000;
    if (this.history.length > limit)
      this.compactedRv = this.history.splice(0, this.history.length - limit).at(-1)!.rv;
    const delay = this.watchDelays.get(resource);
    for (const w of this.watchers) {
      if (delay) setTimeout(() => this.watchers.has(w) && this.deliver(w, change), delay).unref();
      else this.deliver(w, change);
    }
    return structuredClone(obj);
  }

  /** A selector-filtered watch sees an object enter as ADDED and leave as DELETED, as the real one does. */
  private deliver(w: Watcher, c: Change): void {
    if (c.resource !== w.resource) return;
    if (w.namespace !== undefined && c.obj.metadata?.namespace !== w.namespace) return;
    if (c.type === 'DELETED') return void (w.match(c.obj) && this.send(w, 'DELETED', c.obj));
    const was = c.type === 'MODIFIED' && w.match(c.old!);
    const is = w.match(c.obj);
    const type = was && is ? 'MODIFIED' : is ? 'ADDED' : was ? 'DELETED' : undefined;
    if (type) this.send(w, type, c.obj);
  }

  private send(w: Watcher, type: string, object: KubeObject): void {
    w.res.write(JSON.stringify({ type, object }) + '\n');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const line = `${req.method} ${req.url}`;
    this.requests.push(line);
    const url = new URL(req.url ?? '/', this.url);
    const fault = this.takeFault(line);
    if (fault?.drop === 'before') return void req.socket.destroy();
    if (fault?.status) {
      const err = new ApiError(
        fault.status,
        fault.status === 429 ? 'TooManyRequests' : 'InternalError',
        'injected fault',
      );
      return reply(res, fault.status, err.status());
    }
    if (fault?.drop === 'after') {
      res.writeHead = (() => res) as any; // take effect, then cut instead of answering
      res.end = (() => (req.socket.destroy(), res)) as any;
    } else if (fault?.delayMs) {
      const end = res.end.bind(res);
      res.end = ((...args: any[]) => (setTimeout(() => end(...args), fault.delayMs), res)) as any;
    }
    const discovery = req.method === 'GET' ? discoveryDocument(url.pathname) : undefined;
    if (discovery) return reply(res, 200, discovery); // for real kubectl (fake-apiserver-discovery.ts)
    try {
      const route = parsePath(url.pathname);
      this.checkRoute(route);
      const q = url.searchParams;
      const body = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(req.method ?? '')
        ? await readJson(req)
        : undefined;
      const { resource, namespace = '', name } = route;
      if (req.method === 'GET' && q.get('watch') === 'true') return this.watch(route, q, res);
      if (req.method === 'GET' && name)
        return reply(res, 200, this.get(resource, namespace, name) ?? notFound(resource, name));
      if (req.method === 'GET') return reply(res, 200, this.listResponse(route, q));
      if (req.method === 'POST') {
        const created = this.create(resource, {
          ...body,
          metadata: { ...body?.metadata, namespace: route.namespace },
        });
        return reply(res, 201, created);
      }
      if (!name) throw new ApiError(405, 'MethodNotAllowed', `${req.method} needs an object name`);
      if (req.method === 'PUT')
        return reply(
          res,
          200,
          this.replace(resource, { ...body, metadata: { ...body?.metadata, namespace, name } }),
        );
      if (req.method === 'PATCH') {
        if (req.headers['content-type']?.includes('json-patch'))
          throw new ApiError(
            415,
            'UnsupportedMediaType',
            'JSON patch is not supported by the fake API server',
          );
        return reply(res, 200, this.patch(resource, namespace, name, body ?? {}));
      }
      if (req.method === 'DELETE')
        return reply(res, 200, this.remove(resource, namespace, name, body?.preconditions?.resourceVersion));
      throw new ApiError(405, 'MethodNotAllowed', `${req.method} is not supported`);
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(500, 'InternalError', String(e));
      reply(res, err.code, err.status());
    }
  }

  private listResponse(route: Route, q: URLSearchParams): KubeObject {
    const match = selectorMatcher(q);
    const kind = this.kinds.get(route.resource) ?? 'Unknown';
    const items = this.list(route.resource, route.namespace).filter(match);
    const apiVersion = this.apiVersionOf(route.resource, route);
    return { kind: `${kind}List`, apiVersion, metadata: { resourceVersion: String(this.rv) }, items };
  }

  private watch(route: Route, q: URLSearchParams, res: ServerResponse): void {
    const w: Watcher = {
      resource: route.resource,
      namespace: route.namespace,
      match: selectorMatcher(q),
      res,
      bookmarks: q.get('allowWatchBookmarks') === 'true',
    };
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // the client treats the headers as "connected"
    const from = Number(q.get('resourceVersion') ?? '0');
    if (from > 0 && from < this.compactedRv) {
      const gone = new ApiError(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`);
      this.send(w, 'ERROR', gone.status());
      return void res.end(); // the real server ends the stream after a 410, too
    }
    if (from === 0)
      for (const o of this.list(w.resource, w.namespace).filter(w.match)) this.send(w, 'ADDED', o);
    else for (const c of this.history) if (c.rv > from) this.deliver(w, c);
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (timeout > 0) setTimeout(() => res.end(), timeout * 1000).unref();
  }
}

interface Route {
  resource: string;
  /** For `/apis/GROUP/VERSION/...`; undefined for the core group. */
  group?: string;
  version?: string;
  namespace?: string;
  name?: string;
}

/** `/api/v1/[namespaces/NS/]PLURAL[/NAME]` and `/apis/GROUP/VERSION/[namespaces/NS/]PLURAL[/NAME]`. */
function parsePath(path: string): Route {
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/([^/]+))\/(.+)$/.exec(path);
  if (!m) throw new ApiError(404, 'NotFound', `the server could not find the requested resource: ${path}`);
  const seg = m[3].split('/');
  const [namespace, plural, name] =
    seg[0] === 'namespaces' && seg.length >= 3 ? seg.slice(1) : [undefined, ...seg];
  return { resource: m[1] ? `${plural}.${m[1]}` : plural!, group: m[1], version: m[2], namespace, name };
}

/** fieldSelector and labelSelector, equality forms only (`a=b`, `a==b`, `a!=b`, comma means and). */
function selectorMatcher(q: URLSearchParams): (o: KubeObject) => boolean {
  const terms: Array<(o: KubeObject) => boolean> = [];
  for (const [param, lookup] of [
    ['fieldSelector', (o: KubeObject, k: string) => k.split('.').reduce<any>((v, p) => v?.[p], o)],
    ['labelSelector', (o: KubeObject, k: string) => o.metadata?.labels?.[k]],
  ] as const) {
    for (const term of (q.get(param) ?? '').split(',').filter(Boolean)) {
      const t = /^([^!=]+)(!=|==|=)(.*)$/.exec(term);
      if (!t) throw new ApiError(400, 'BadRequest', `${param}: unsupported term "${term}"`);
      const [, k, op, v] = t;
      terms.push((o) => (String(lookup(o, k) ?? '') === v) === (op !== '!='));
    }
  }
  return (o) => terms.every((t) => t(o));
}

function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target !== null && typeof target === 'object' && !Array.isArray(target) ? target : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function notFound(resource: string, name: string): never {
  throw new ApiError(404, 'NotFound', `${resource} "${name}" not found`);
}

async function readJson(req: IncomingMessage): Promise<any> {
  let text = '';
  for await (const chunk of req) text += chunk;
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, 'BadRequest', 'request body is not JSON');
  }
}

function reply(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}
