// The fake API server as a process inside a node namespace (fake-apiserver-process.ts), listening on
// a test-LAN address so agents in other node namespaces reach it as nodes reach a control plane;
// the test drives it over its unix control socket.
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { FakeApiRpc } from './fake-apiserver-process.js';
import type { Bed, Proc } from './netns.js';

const SCRIPT = fileURLToPath(new URL('./fake-apiserver-process.js', import.meta.url));

export type FakeApiCalls = {
  [M in keyof FakeApiRpc]: (...p: Parameters<FakeApiRpc[M]>) => Promise<ReturnType<FakeApiRpc[M]>>;
};

export interface FakeApiProcess {
  url: string;
  api: FakeApiCalls;
  proc: Proc;
  stop(): Promise<void>;
}

export async function startFakeApiProcess(
  bed: Bed,
  node: string,
  host = '127.0.0.1',
): Promise<FakeApiProcess> {
  const socket = `/tmp/${bed.ns(node)}-fake-api-${randomBytes(3).toString('hex')}.sock`;
  const proc = bed.spawn(node, [process.execPath, SCRIPT, socket, '0', host]);
  const m = await proc.waitForLine(/^\{"event":"(ready|error)"/, { timeoutMs: 15_000 });
  const line = JSON.parse(m.input!) as { event: string; url?: string; message?: string };
  if (line.event !== 'ready') throw new Error(`fake API server did not start: ${line.message}`);
  const call = (method: string, params: unknown[]): Promise<any> =>
    new Promise((resolve, reject) => {
      const req = request({ socketPath: socket, method: 'POST', path: '/' }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => {
          const reply = JSON.parse(text) as { result?: unknown; error?: string };
          if (reply.error !== undefined) reject(new Error(`fake API ${method}: ${reply.error}`));
          else resolve(reply.result);
        });
      });
      req.on('error', reject);
      req.end(JSON.stringify({ method, params }));
    });
  const api = new Proxy({} as FakeApiCalls, {
    get:
      (_t, method: string) =>
      (...params: unknown[]) =>
        call(method, params),
  });
  return { url: line.url!, api, proc, stop: async () => void (await proc.stop()) };
}
