// The fake API server as a process inside a bed's node namespace (fake-apiserver-process.ts), driven
// over its unix control socket. It listens on loopback, or on a test-LAN address so agents in other
// node namespaces reach it as nodes reach a control plane.
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { FakeApiRpc } from './fake-apiserver-process.js';
import type { Bed, Proc } from './netns.js';

const PROCESS_SCRIPT = fileURLToPath(new URL('./fake-apiserver-process.js', import.meta.url));

export type Rpc = {
  [M in keyof FakeApiRpc]: (...p: Parameters<FakeApiRpc[M]>) => Promise<ReturnType<FakeApiRpc[M]>>;
};

export class FakeApiProcess {
  /** Calls into the fake's store and controls; each resolves once the fake has done it. */
  readonly api: Rpc;

  private constructor(
    readonly proc: Proc,
    readonly url: string,
    private readonly socket: string,
  ) {
    this.api = new Proxy({} as Rpc, {
      get:
        (_t, method: string) =>
        (...params: unknown[]) =>
          this.call(method, params),
    });
  }

  static async start(bed: Bed, node: string, host = '127.0.0.1'): Promise<FakeApiProcess> {
    const socket = `/tmp/${bed.ns(node)}-fake-api-${randomBytes(3).toString('hex')}.sock`;
    const proc = bed.spawn(node, [process.execPath, PROCESS_SCRIPT, socket, '0', host]);
    const m = await proc.waitForLine(/^\{"event":"(ready|error)"/, { timeoutMs: 15_000 });
    const line = JSON.parse(m.input!) as { event: string; url?: string; message?: string };
    if (line.event !== 'ready') throw new Error(`fake API server did not start: ${line.message}`);
    return new FakeApiProcess(proc, line.url!, socket);
  }

  private call(method: string, params: unknown[]): Promise<any> {
    const body = JSON.stringify({ method, params });
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socket, method: 'POST', path: '/' }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => {
          const reply = JSON.parse(text) as { result?: unknown; error?: string };
          if (reply.error !== undefined) reject(new Error(`fake API ${method}: ${reply.error}`));
          else resolve(reply.result);
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  async stop(): Promise<void> {
    await this.proc.stop();
  }
}
