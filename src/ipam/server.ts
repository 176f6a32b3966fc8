// The agent's end of the shim's unix socket: one connection per CNI call. Reads the request until
// the shim half-closes, hands it to the CNI verbs, writes the reply, closes.
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Reply } from './cni/verbs.js';
import { decodeRequest, encodeReply, type ShimRequest } from './shim-protocol.js';

/** No CNI config comes close; a peer that sends more is not the shim. */
const MAX_REQUEST = 4 << 20;
/** A shim that connects and never finishes its request must not hold a connection forever. */
const REQUEST_TIMEOUT_MS = 10_000;

export type CniHandler = (req: ShimRequest) => Promise<Reply>;

export class IpamServer {
  private server?: Server;
  private readonly open = new Set<Socket>();

  constructor(
    private readonly path: string,
    private readonly handler: CniHandler,
    private readonly onError: (message: string, err: unknown) => void = () => {},
  ) {}

  async listen(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o755 });
    // A socket file left by an agent that was killed: nobody answers on it any more.
    await unlink(this.path).catch(() => {});
    // allowHalfOpen: the shim half-closes after its request and still reads the reply.
    const server = createServer({ allowHalfOpen: true }, (sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The shim keeps connecting through a burst of ADDs: a deep backlog, so few see EAGAIN.
      server.listen({ path: this.path, backlog: 1024 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.onError('ipam socket error', err));
    // Only root (the runtime runs plugins as root) may ask for addresses.
    await chmod(this.path, 0o600);
    this.server = server;
  }

  private serve(sock: Socket): void {
    this.open.add(sock);
    const chunks: Buffer[] = [];
    let size = 0;
    sock.setTimeout(REQUEST_TIMEOUT_MS, () => sock.destroy());
    sock.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_REQUEST) sock.destroy();
      else chunks.push(d);
    });
    sock.on('error', () => {}); // the shim gave up (timeout): nothing to answer
    sock.on('close', () => this.open.delete(sock));
    sock.on('end', () => {
      sock.setTimeout(0);
      const req = decodeRequest(Buffer.concat(chunks));
      if (typeof req === 'string') {
        sock.destroy();
        return;
      }
      this.handler(req).then(
        (reply) => sock.end(encodeReply(reply)),
        (err) => {
          this.onError('CNI call failed', err);
          sock.destroy(); // the shim then answers as if the agent were down (ADD: code 11; DEL: spool)
        },
      );
    });
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    for (const sock of this.open) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
