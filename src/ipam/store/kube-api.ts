// The few API calls the Kubernetes store makes, through the real @kubernetes/client-node, each with a
// deadline (an ADD must fail fast when the API server is unreachable, not hang in a TCP connect), and
// their failures sorted into what the store must tell apart.
import {
  CoreV1Api,
  CustomObjectsApi,
  Observable,
  type ConfigurationOptions,
  type KubeConfig,
  type RequestContext,
  type ResponseContext,
  type V1Pod,
} from '@kubernetes/client-node';
import {
  ALLOCATIONS,
  BLOCKS,
  GROUP,
  VERSION,
  type AllocationObject,
  type BlockObject,
} from './kube-objects.js';

/** Why a call failed: the store acts differently on each (kubernetes.io API conventions, "HTTP status codes"). */
export type ApiFailure =
  | 'already-exists' // 409 AlreadyExists on create: someone holds the name
  | 'conflict' // 409 Conflict: our resourceVersion is stale
  | 'not-found' // 404
  | 'invalid' // 400/422: our own bug, never retried
  | 'forbidden' // 401/403: RBAC
  | 'unavailable'; // no answer, a cut connection, a timeout, 429 or 5xx: maybe done, maybe not

export class KubeApiError extends Error {
  constructor(
    readonly failure: ApiFailure,
    message: string,
    readonly status?: number,
    /** No answer within the deadline (as opposed to a refused or cut connection). */
    readonly timedOut = false,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export const failureOf = (err: unknown): ApiFailure | undefined =>
  err instanceof KubeApiError ? err.failure : undefined;

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

/** What the store and its garbage collector need from the API; tests may wrap it to count calls. */
export interface IpamApi {
  createBlock(o: BlockObject): Promise<BlockObject>;
  getBlock(name: string): Promise<BlockObject>;
  listBlocks(labelSelector?: string): Promise<ListResult<BlockObject>>;
  replaceBlock(o: BlockObject): Promise<BlockObject>;
  deleteBlock(name: string, resourceVersion?: string): Promise<void>;
  createAllocation(o: AllocationObject): Promise<AllocationObject>;
  getAllocation(name: string): Promise<AllocationObject>;
  listAllocations(labelSelector?: string): Promise<ListResult<AllocationObject>>;
  replaceAllocation(o: AllocationObject): Promise<AllocationObject>;
  deleteAllocation(name: string, resourceVersion?: string): Promise<void>;
  /** Read from the API itself, never a cache: garbage collection's second look. */
  getPod(namespace: string, name: string): Promise<V1Pod>;
  listPods(fieldSelector?: string): Promise<ListResult<V1Pod>>;
}

/** Default deadline of one call: an ADD then fails well within the shim's own 2 s budget. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 1500;

export function clientIpamApi(kc: KubeConfig, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): IpamApi {
  const objs = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  // client-node 2.x builds a new undici dispatcher for every request (so a new TCP, and on a real
  // cluster TLS, connection each time). The store's requests all go to one server with one set of
  // TLS options: keep the first dispatcher and its kept-alive connections.
  let shared: ReturnType<RequestContext['getDispatcher']>;
  // A fresh deadline per request, set on the request itself (client-node 2.x middleware).
  const opts = (): ConfigurationOptions => ({
    middleware: [
      {
        pre: (ctx: RequestContext) => {
          shared ??= ctx.getDispatcher();
          if (shared) ctx.setDispatcher(shared);
          ctx.setSignal(AbortSignal.timeout(timeoutMs));
          return new Observable(Promise.resolve(ctx));
        },
        post: (ctx: ResponseContext) => new Observable(Promise.resolve(ctx)),
      },
    ],
    middlewareMergeStrategy: 'append',
  });
  const base = { group: GROUP, version: VERSION };
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw classify(what, err);
    }
  };
  const list = async <T>(plural: string, labelSelector?: string): Promise<ListResult<T>> => {
    const r = await call(`list ${plural}`, () =>
      objs.listClusterCustomObject({ ...base, plural, labelSelector }, opts()),
    );
    return { items: r.items ?? [], resourceVersion: r.metadata?.resourceVersion ?? '' };
  };
  const del = async (plural: string, name: string, resourceVersion?: string): Promise<void> => {
    const body = resourceVersion ? { preconditions: { resourceVersion } } : undefined;
    await call(`delete ${plural}/${name}`, () =>
      objs.deleteClusterCustomObject({ ...base, plural, name, body }, opts()),
    );
  };
  return {
    createBlock: (o) =>
      call(`create ipblock ${o.metadata.name}`, () =>
        objs.createClusterCustomObject({ ...base, plural: BLOCKS.plural, body: o }, opts()),
      ),
    getBlock: (name) =>
      call(`get ipblock ${name}`, () =>
        objs.getClusterCustomObject({ ...base, plural: BLOCKS.plural, name }, opts()),
      ),
    listBlocks: (sel) => list(BLOCKS.plural, sel),
    replaceBlock: (o) =>
      call(`update ipblock ${o.metadata.name}`, () =>
        objs.replaceClusterCustomObject(
          { ...base, plural: BLOCKS.plural, name: o.metadata.name, body: o },
          opts(),
        ),
      ),
    deleteBlock: (name, rv) => del(BLOCKS.plural, name, rv),
    createAllocation: (o) =>
      call(`create ipallocation ${o.metadata.name}`, () =>
        objs.createClusterCustomObject({ ...base, plural: ALLOCATIONS.plural, body: o }, opts()),
      ),
    getAllocation: (name) =>
      call(`get ipallocation ${name}`, () =>
        objs.getClusterCustomObject({ ...base, plural: ALLOCATIONS.plural, name }, opts()),
      ),
    listAllocations: (sel) => list(ALLOCATIONS.plural, sel),
    replaceAllocation: (o) =>
      call(`update ipallocation ${o.metadata.name}`, () =>
        objs.replaceClusterCustomObject(
          { ...base, plural: ALLOCATIONS.plural, name: o.metadata.name, body: o },
          opts(),
        ),
      ),
    deleteAllocation: (name, rv) => del(ALLOCATIONS.plural, name, rv),
    getPod: (namespace, name) =>
      call(`get pod ${namespace}/${name}`, () => core.readNamespacedPod({ namespace, name }, opts())),
    listPods: async (fieldSelector) => {
      const r = await call('list pods', () => core.listPodForAllNamespaces({ fieldSelector }, opts()));
      return { items: r.items, resourceVersion: r.metadata?.resourceVersion ?? '' };
    },
  };
}

/** client-node throws ApiException with `code` and a JSON Status `body`; fetch failures carry no code. */
export function classify(what: string, err: unknown): KubeApiError {
  const e = err as { code?: unknown; body?: unknown; message?: string; cause?: { code?: string } };
  const status = typeof e?.code === 'number' ? e.code : undefined;
  let reason: string | undefined;
  let message = e?.message ?? String(err);
  if (status !== undefined) {
    try {
      const body = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
      reason = body?.reason;
      message = body?.message ?? message;
    } catch {
      // a non-JSON body (a proxy's error page): the status alone decides
    }
  }
  const failure: ApiFailure =
    status === 409
      ? reason === 'AlreadyExists'
        ? 'already-exists'
        : 'conflict'
      : status === 404
        ? 'not-found'
        : status === 400 || status === 422
          ? 'invalid'
          : status === 401 || status === 403
            ? 'forbidden'
            : 'unavailable';
  const detail = status ?? e?.cause?.code ?? (e as Error)?.name;
  const timedOut = [(e as Error)?.name, (e?.cause as Error | undefined)?.name].includes('TimeoutError');
  return new KubeApiError(failure, `${what}: ${message}${detail ? ` (${detail})` : ''}`, status, timedOut);
}
