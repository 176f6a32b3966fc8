// Reads the node's routes and follows link/route changes, through iproute2 (`ip -j`, `ip monitor`).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { parseRoutes, type Route } from './routes.js';

const run = promisify(execFile);

/** Both families' main tables. A kernel without IPv6 (ipv6.disable=1) makes `ip -6` fail: then
 *  there are simply no IPv6 routes, and IPv6 pods get a "no route" problem, not a failed scan. */
export async function readRoutes(): Promise<Route[]> {
  const v4 = run('ip', ['-j', '-4', 'route', 'show', 'table', 'main'], { timeout: 5000 });
  const v6 = run('ip', ['-j', '-6', 'route', 'show', 'table', 'main'], { timeout: 5000 }).catch(() => ({
    stdout: '[]',
  }));
  const [a, b] = await Promise.all([v4, v6]);
  return [...parseRoutes(a.stdout || '[]'), ...parseRoutes(b.stdout || '[]', 6)];
}

/** Calls `onChange` (debounced) whenever a link, route or address changes: a pod restart replaces
 *  its veth and host route, a DHCP renewal can move the node's LAN address, and the agent must follow
 *  without a restart. `ip monitor` is respawned if it dies. */
export class LinkMonitor {
  private child?: ChildProcess;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly onChange: () => void,
    private readonly debounceMs = 50,
  ) {}

  start(): void {
    if (this.stopped) return;
    const child = spawn('ip', ['-o', 'monitor', 'link', 'route', 'address'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    this.child = child;
    child.stdout?.on('data', () => this.schedule());
    child.on('error', () => undefined); // reported by exit below
    child.on('exit', () => {
      if (!this.stopped) setTimeout(() => this.start(), 1000).unref();
    });
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onChange();
    }, this.debounceMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.child?.kill();
  }
}
