// The control API: a unix socket, root-only, that `status` and `tail` talk to. Nothing of it listens
// on the network. One request line per connection (see ./types.ts for the protocol).
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../log/logger.js';
import { FilterError, parseFilter } from './filter.js';
import { DEFAULT_MAX_QUEUED_BYTES, LossyWriter } from './lossy-writer.js';
import { buildStatus } from './status.js';
import { DEFAULT_MAX_BACKLOG, TailHub } from './tail-hub.js';
import type { ControlSource, ErrorLine, SubscribedLine } from './types.js';

/** A request line longer than this is refused: requests are tiny. */
const MAX_REQUEST_BYTES = 64 * 1024;

export interface ControlServerOptions {
  path: string;
  log?: Logger;
  /** Per tail client: bytes waiting in its socket before lines are dropped. */
  maxQueuedBytes?: number;
  /** Events waiting to be decoded and written before the newest are dropped. */
  maxBacklog?: number;
  /** How long a client may take to send its request line. */
  requestTimeoutMs?: number;
  /** `ipam list`: the IPAM's allocations and free counts, when the agent runs one. */
  ipam?: () => Promise<unknown>;
}

export class ControlServerError extends Error {}

export class ControlServer {
  readonly hub: TailHub;
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly source: ControlSource,
    private readonly opts: ControlServerOptions,
  ) {
    this.hub = new TailHub(source, opts.maxBacklog ?? DEFAULT_MAX_BACKLOG);
  }

  get path(): string {
    return this.opts.path;
  }

  async listen(): Promise<void> {
    const path = this.opts.path;
    const dir = dirname(path);
    // Root-only: a directory we create is 0700, the socket 0600.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    await removeStaleSocket(path);
    // A client that ends its side has gone (a tail that stopped): our side ends with it.
    const server = net.createServer({ allowHalfOpen: false }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The socket file is created by bind(), synchronously inside listen(): a umask that leaves
      // only the owner's bits closes the window before the chmod below.
      const umask = trySetUmask(0o177);
      try {
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        if (umask !== undefined) trySetUmask(umask);
      }
    });
    chmodSync(path, 0o600);
    server.on('error', (err) => this.opts.log?.warn('control socket error', { error: err.message }));
    this.server = server;
    this.opts.log?.info('control socket listening', { path });
  }

  async close(): Promise<void> {
    this.hub.close();
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.end();
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    // Give clients a moment to read their last lines, then cut whoever is left.
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, 200);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    // A client that vanishes mid-write is normal (Ctrl-C on tail); never let it throw.
    socket.on('error', () => socket.destroy());
    let buffered = '';
    socket.setEncoding('utf8');
    const timeout = setTimeout(
      () => this.refuse(socket, 'no request received in time'),
      this.opts.requestTimeoutMs ?? 10_000,
    );
    const onData = (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl < 0) {
        if (buffered.length > MAX_REQUEST_BYTES) {
          socket.off('data', onData);
          clearTimeout(timeout);
          this.refuse(socket, 'request line too long');
        }
        return;
      }
      socket.off('data', onData);
      clearTimeout(timeout);
      // Nothing more is read: keep the stream flowing so an extra line never blocks the client.
      socket.resume();
      socket.on('data', () => {});
      try {
        this.handle(socket, buffered.slice(0, nl));
      } catch (err) {
        // A bug in answering one client must never take the agent down.
        this.opts.log?.warn('control request failed', { error: String(err) });
        this.refuse(socket, `the agent could not answer: ${(err as Error).message}`);
      }
    };
    socket.on('data', onData);
    socket.on('close', () => clearTimeout(timeout));
  }

  private handle(socket: net.Socket, line: string): void {
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      return this.refuse(socket, 'request is not JSON: send one line like {"cmd":"status"}');
    }
    const cmd = (req as { cmd?: unknown } | null)?.cmd;
    if (cmd === 'status') {
      socket.end(JSON.stringify(buildStatus(this.source, this.hub.size)) + '\n');
      return;
    }
    if (cmd === 'ipam') {
      const listing = this.opts.ipam;
      if (!listing) return this.refuse(socket, 'this agent runs no IPAM (its config has no ipam: section)');
      listing().then(
        (l) => socket.end(JSON.stringify({ type: 'ipam', ...(l as object) }) + '\n'),
        (err: Error) => this.refuse(socket, `the IPAM could not answer: ${err.message}`),
      );
      return;
    }
    if (cmd === 'tail') {
      let filter;
      try {
        filter = parseFilter((req as { filter?: unknown }).filter);
      } catch (err) {
        return this.refuse(socket, err instanceof FilterError ? err.message : String(err));
      }
      const hello: SubscribedLine = { type: 'subscribed', filter };
      socket.write(JSON.stringify(hello) + '\n');
      const writer = new LossyWriter(socket, this.opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES);
      const remove = this.hub.add(filter, writer);
      socket.on('close', remove);
      this.opts.log?.debug('tail client connected', { filter });
      return;
    }
    this.refuse(socket, `unknown cmd ${JSON.stringify(cmd)} (known: status, tail, ipam)`);
  }

  private refuse(socket: net.Socket, message: string): void {
    const e: ErrorLine = { type: 'error', message };
    socket.end(JSON.stringify(e) + '\n');
  }
}

function trySetUmask(mask: number): number | undefined {
  try {
    return process.umask(mask);
  } catch {
    return undefined; // worker threads cannot change it; the chmod still applies
  }
}

/**
 * Removes a socket file left by an agent that is gone. Refuses to touch anything that is not a
 * socket, and a socket another agent still answers on.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket())
    throw new ControlServerError(
      `${path} exists and is not a socket: remove it, or choose another path with --control-socket`,
    );
  if (await answers(path))
    throw new ControlServerError(
      `another lan-reflector agent is serving ${path}: stop it, or give this one another --control-socket`,
    );
  unlinkSync(path);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}
