// The HTTP endpoint for Prometheus and the kubelet: /metrics, /healthz (the process answers) and
// /readyz (200 only when the agent is ready, else 503 with the reason).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../log/logger.js';

/** Whether the agent is ready, and if not, why — in words for `kubectl describe pod`. */
export type Readiness = () => { ready: true } | { ready: false; reason: string };

/** What readiness is judged from (Agent satisfies it). */
export interface ReadinessSource {
  readonly ready: boolean;
  readonly config: { readonly lanInterface: string };
  readonly links: { readonly links: ReadonlyMap<string, unknown> };
}

export function readinessOf(src: ReadinessSource): Readiness {
  return () => {
    if (src.ready) return { ready: true };
    const lan = src.config.lanInterface;
    if (!src.links.links.has(lan))
      return { ready: false, reason: `the LAN interface ${lan} is not open (yet): see the agent's log` };
    return {
      ready: false,
      reason: 'starting: waiting for the pod sources to sync and the first link scan to finish',
    };
  };
}

/** Splits `host:port`, `[v6]:port` or `:port` (every address). */
export function parseHostPort(address: string): { host?: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new Error(`metrics address "${address}" is not HOST:PORT (e.g. 127.0.0.1:9412 or :9412)`);
  const host = m[1] ?? m[2];
  return { host: host || undefined, port };
}

export interface MetricsServerOptions {
  address: string;
  log?: Logger;
}

export class MetricsServer {
  private server?: http.Server;

  constructor(
    private readonly registry: Registry,
    private readonly readiness: Readiness,
    private readonly opts: MetricsServerOptions,
  ) {}

  /** Listens; resolves with the bound address (port 0 picks a free one). */
  async listen(): Promise<AddressInfo> {
    const { host, port } = parseHostPort(this.opts.address);
    const server = http.createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.log?.warn('metrics server error', { error: err.message }));
    this.server = server;
    const addr = server.address() as AddressInfo;
    this.opts.log?.info('metrics listening', { address: `${addr.address}:${addr.port}` });
    return addr;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('only GET and HEAD are served here\n');
      return;
    }
    const text = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    switch (path) {
      case '/metrics':
        try {
          const body = await this.registry.metrics();
          res.writeHead(200, { 'content-type': this.registry.contentType });
          res.end(req.method === 'HEAD' ? undefined : body);
        } catch (err) {
          text(500, `cannot collect metrics: ${(err as Error).message}\n`);
        }
        return;
      case '/healthz':
        return text(200, 'ok\n');
      case '/readyz': {
        const r = this.readiness();
        return r.ready ? text(200, 'ready\n') : text(503, `not ready: ${r.reason}\n`);
      }
      default:
        return text(404, 'not found: try /metrics, /healthz or /readyz\n');
    }
  }
}
