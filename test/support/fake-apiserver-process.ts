// Runs the fake API server (fake-apiserver.ts, unchanged) as a process of its own, so that it can live
// inside a test bed's node namespace: the agent there reaches it at 127.0.0.1:PORT of that namespace,
// which the test process (in the root namespace) could not offer it.
//
// The test drives it over a unix socket (a pathname socket is a file, not bound to a network
// namespace): `POST /` with `{"method": M, "params": [...]}` answers `{"result": R}` or, with status
// 500, `{"error": "..."}`. Methods: see FakeApiRpc below.
//
// Usage: node fake-apiserver-process.js CONTROL_SOCKET [BOOKMARK_INTERVAL_MS] [LISTEN_HOST]
// LISTEN_HOST (default 127.0.0.1) lets agents in other node namespaces reach it over the test LAN.
// Prints one line `{"event":"ready","port":N,"url":"http://127.0.0.1:N"}` on stdout once both listen.
import { rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { FakeApiServer, type Fault, type KubeObject } from './fake-apiserver.js';

/** What the control socket offers: the fake's own test helpers, minus the ones that take callbacks. */
export interface FakeApiRpc {
  createPod(pod: V1Pod): V1Pod;
  /** JSON merge patch (null removes a key): the mutation updatePod() would take as a function. */
  patchPod(namespace: string, name: string, patch: KubeObject): V1Pod;
  deletePod(namespace: string, name: string): void;
  getPod(namespace: string, name: string): V1Pod | undefined;
  events(): CoreV1Event[];
  /** `METHOD /path?query` of every API request so far. */
  requests(): string[];
  pause(): void;
  resume(): void;
  dropWatches(): void;
  compact(): void;
  bookmark(): void;
  // Any resource (`ipallocations.ipam.lan-reflector.io`), for the IPAM store's tests.
  registerCrd(crd: KubeObject): void;
  create(resource: string, obj: KubeObject): KubeObject;
  get(resource: string, namespace: string, name: string): KubeObject | undefined;
  list(resource: string, namespace?: string): KubeObject[];
  remove(resource: string, namespace: string, name: string): KubeObject;
  inject(fault: Fault): void;
  clearFaults(): void;
  delayWatch(resource: string, ms: number): void;
  dropConnections(): void;
}

async function main(): Promise<void> {
  const [controlPath, bookmarkMs, host] = process.argv.slice(2);
  if (!controlPath) throw new Error('usage: fake-apiserver-process.js CONTROL_SOCKET [BOOKMARK_INTERVAL_MS]');
  const fake = await FakeApiServer.start({
    bookmarkIntervalMs: Number(bookmarkMs ?? 0) || undefined,
    host: host || undefined,
  });
  const methods: { [M in keyof FakeApiRpc]: (...args: any[]) => unknown } = {
    createPod: (pod: V1Pod) => fake.createPod(pod),
    patchPod: (ns: string, name: string, patch: KubeObject) => fake.patch('pods', ns, name, patch),
    deletePod: (ns: string, name: string) => fake.deletePod(ns, name),
    getPod: (ns: string, name: string) => fake.get('pods', ns, name),
    events: () => fake.events(),
    requests: () => fake.requests,
    pause: () => fake.pause(),
    resume: () => fake.resume(),
    dropWatches: () => fake.dropWatches(),
    compact: () => fake.compact(),
    bookmark: () => fake.bookmark(),
    registerCrd: (crd: KubeObject) => fake.registerCrd(crd),
    create: (resource: string, obj: KubeObject) => fake.create(resource, obj),
    get: (resource: string, ns: string, name: string) => fake.get(resource, ns, name),
    list: (resource: string, ns?: string) => fake.list(resource, ns ?? undefined),
    remove: (resource: string, ns: string, name: string) => fake.remove(resource, ns, name),
    inject: (fault: Fault) => fake.inject(fault),
    clearFaults: () => fake.clearFaults(),
    delayWatch: (resource: string, ms: number) => fake.delayWatch(resource, ms),
    dropConnections: () => fake.dropConnections(),
  };

  const control = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let status = 200;
    let body: unknown;
    try {
      let text = '';
      for await (const chunk of req) text += chunk;
      const { method, params = [] } = JSON.parse(text) as { method: string; params?: unknown[] };
      if (!Object.hasOwn(methods, method)) throw new Error(`unknown method ${method}`);
      body = { result: (await methods[method as keyof FakeApiRpc](...params)) ?? null };
    } catch (err) {
      status = 500;
      body = { error: err instanceof Error ? err.message : String(err) };
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  rmSync(controlPath, { force: true });
  await new Promise<void>((ok) => control.listen(controlPath, ok));
  const stop = async (): Promise<void> => {
    control.close();
    rmSync(controlPath, { force: true });
    await fake.close().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.stdout.write(JSON.stringify({ event: 'ready', port: fake.port, url: fake.url }) + '\n');
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ event: 'error', message: String(err) }) + '\n');
  process.exit(2);
});
