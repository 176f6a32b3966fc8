/**
 * Network-namespace test beds for lan-reflector's integration tests.
 *
 * The one rule: no packet leaves namespaces this file creates. So every namespace name starts with a
 * per-run prefix (`lr` + 4 hex + `-`), veth pairs are created with both ends already inside our
 * namespaces (the root namespace never holds one of our links, addresses or routes), all addresses
 * come from RFC 2544 benchmarking space, and teardown always runs (processes first, then namespaces).
 *
 * Address plan (see the constants below):
 *   LAN 198.18.4.0/24 on bridge `br0` in namespace `lan` (the switch; it has no address)
 *     .1          the LAN's default gateway: no namespace holds it, it only has to exist as a route
 *                 target (Calico's proxy ARP answers for 169.254.1.1 only when the node has a default route)
 *     .(1+k)      node k (`node1` = .2, `node2` = .3, ... up to node 8)
 *     .(10+i)     device i (`dev1` = .11, ... up to dev89)
 *     .(100 + 10(k-1) + i)   Calico pod i of node k when pods are LAN-addressed (`n1p1` = .101, `n2p1` = .111)
 *   Routed Calico pods: 198.19.k.(10+i)/32; every device routes 198.19.k.0/24 via node k (what BGP does).
 *   Flannel: bridge `cni0` 198.19.1.1/24 on node1, pods 198.19.1.(10+i)/24, masqueraded to node1 for
 *   unicast; devices have no route to 198.19.1.0/24.
 *
 * IPv6, with `ipv6: true` (documentation space 2001:db8::/32 and link-locals only; the IPv4 numbers
 * reappear as the last group, written in hex digits, so dev1 is 198.18.4.11 and 2001:db8:4::11):
 *   LAN 2001:db8:4::/64, gateway 2001:db8:4::1 (a route target only), node k 2001:db8:4::(1+k),
 *   device i 2001:db8:4::(10+i), LAN-addressed Calico pods 2001:db8:4::(100 + 10(k-1) + i) (proxy NDP
 *   on lan0). Routed Calico pods 2001:db8:19:k::(10+i)/128, each device routing 2001:db8:19:k::/64
 *   via node k. Calico pods: a /128 on eth0 and `default via fe80::ecee:eeff:feee:eeee` (the host
 *   end's link-local address from its fixed MAC, as Calico's CNI plugin sets it), a /128 host route
 *   on the host end. Flannel: cni0 2001:db8:19:1::1/64, pods 2001:db8:19:1::(10+i)/64, masqueraded.
 *   DAD is off in every namespace, so addresses are usable at once.
 */
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export const LAN_CIDR = '198.18.4.0/24';
export const LAN_GATEWAY = '198.18.4.1';
export const CALICO_GATEWAY = '169.254.1.1';
export const CALICO_MAC = 'ee:ee:ee:ee:ee:ee';
export const FLANNEL_CIDR = '198.19.1.0/24';
export const FLANNEL_GATEWAY = '198.19.1.1';

export const LAN_CIDR6 = '2001:db8:4::/64';
export const LAN_GATEWAY6 = '2001:db8:4::1';
/** The link-local address of a Calico host end (EUI-64 of ee:ee:ee:ee:ee:ee): the pods' gateway. */
export const CALICO_GATEWAY6 = 'fe80::ecee:eeff:feee:eeee';
export const FLANNEL_CIDR6 = '2001:db8:19:1::/64';
export const FLANNEL_GATEWAY6 = '2001:db8:19:1::1';

export const nodeAddress = (k: number): string => `198.18.4.${1 + k}`;
export const nodeAddress6 = (k: number): string => `2001:db8:4::${1 + k}`;
export const deviceAddress6 = (i: number): string => `2001:db8:4::${10 + i}`;
export const lanPodAddress6 = (k: number, i: number): string => `2001:db8:4::${100 + 10 * (k - 1) + i}`;
export const routedPodAddress6 = (k: number, i: number): string => `2001:db8:19:${k}::${10 + i}`;
export const routedPodCidr6 = (k: number): string => `2001:db8:19:${k}::/64`;
export const deviceAddress = (i: number): string => `198.18.4.${10 + i}`;
export const lanPodAddress = (k: number, i: number): string => `198.18.4.${100 + 10 * (k - 1) + i}`;
export const routedPodAddress = (k: number, i: number): string => `198.19.${k}.${10 + i}`;
export const routedPodCidr = (k: number): string => `198.19.${k}.0/24`;

const DEFAULT_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------------
// Running commands (argv only, never a shell string)
// ---------------------------------------------------------------------------------------------------

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ExecOptions {
  /** Kill the command and reject after this long (default 10 s). */
  timeoutMs?: number;
  /** Reject on a non-zero exit (default true). With false, look at `code` yourself. */
  check?: boolean;
  /** Written to the command's stdin (e.g. an `nft -f -` ruleset). */
  input?: string;
  env?: NodeJS.ProcessEnv;
}

const show = (argv: string[]): string =>
  argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');

/** Runs argv in the current (root) namespace; errors name the command and carry its stderr. */
export function run(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawnChild(file, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {}); // the command may exit before reading its input
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run \`${show(argv)}\`: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const status = code ?? 128;
      if (timedOut) {
        reject(new Error(`timed out after ${timeoutMs} ms: \`${show(argv)}\`\n${stderr.trim()}`));
      } else if (opts.check !== false && status !== 0) {
        const why = signal ? `signal ${signal}` : `exit ${status}`;
        reject(new Error(`command failed (${why}): \`${show(argv)}\`\n${(stderr || stdout).trim()}`));
      } else {
        resolve({ stdout, stderr, code: status });
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Long-running processes inside a namespace
// ---------------------------------------------------------------------------------------------------

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A spawned process whose output is kept, so tests can wait for a line and read the rest later. */
export class Proc {
  stdout = '';
  stderr = '';
  status?: ExitStatus;
  readonly exited: Promise<ExitStatus>;
  private readonly wakers = new Set<() => void>();

  constructor(
    readonly child: ChildProcess,
    readonly command: string,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => ((this.stdout += d), this.wake()));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => ((this.stderr += d), this.wake()));
    this.exited = new Promise((resolve) => {
      const done = (status: ExitStatus): void => {
        if (this.status) return;
        this.status = status;
        this.wake();
        resolve(status);
      };
      // 'close' waits for stdout/stderr to end, which never happens while a daemon that forked off
      // still holds them: settle shortly after 'exit' in that case.
      child.on('close', (code, signal) => done({ code, signal }));
      child.on('exit', (code, signal) => setTimeout(() => done({ code, signal }), 200).unref());
      child.on('error', (err) => {
        this.stderr += `spawn error: ${err.message}\n`;
        done({ code: null, signal: null });
      });
    });
  }

  private wake(): void {
    for (const w of this.wakers) w();
  }

  /** Complete lines written so far. */
  lines(stream: 'stdout' | 'stderr' = 'stdout'): string[] {
    const text = stream === 'stdout' ? this.stdout : this.stderr;
    const all = text.split('\n');
    all.pop(); // the last element is an unfinished line (or '')
    return all;
  }

  /** Resolves with the first complete line (already seen or yet to come) matching `re`. */
  waitForLine(
    re: RegExp,
    opts: { timeoutMs?: number; stream?: 'stdout' | 'stderr' } = {},
  ): Promise<RegExpMatchArray> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const stream = opts.stream ?? 'stdout';
    return new Promise((resolve, reject) => {
      const finish = (err?: Error, m?: RegExpMatchArray): void => {
        clearTimeout(timer);
        this.wakers.delete(check);
        if (err) reject(err);
        else resolve(m!);
      };
      const fail = (why: string): Error =>
        new Error(
          `${why} waiting for ${re} on ${stream} of \`${this.command}\`\nstdout: ${this.stdout.trim()}\nstderr: ${this.stderr.trim()}`,
        );
      const check = (): void => {
        for (const line of this.lines(stream)) {
          const m = line.match(re);
          if (m) return finish(undefined, m);
        }
        if (this.status) finish(fail(`process exited (${this.status.code ?? this.status.signal})`));
      };
      const timer = setTimeout(() => finish(fail(`timed out after ${timeoutMs} ms`)), timeoutMs);
      this.wakers.add(check);
      check();
    });
  }

  /** Every stdout line that parses as JSON (the peers print one object per line). */
  json<T = Record<string, unknown>>(): T[] {
    return this.lines()
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as T);
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`. Safe to call twice. */
  async stop(graceMs = 3000): Promise<ExitStatus> {
    if (this.status) return this.status;
    const within = (ms: number): Promise<ExitStatus | undefined> =>
      Promise.race([this.exited, sleep(ms, undefined, { ref: false })]);
    this.signal('SIGTERM');
    if (await within(graceMs)) return this.exited;
    this.signal('SIGKILL');
    const status = await within(2000);
    if (!status) throw new Error(`\`${this.command}\` (pid ${this.child.pid}) did not die on SIGKILL`);
    return status;
  }

  /** Signals the whole process group (spawned detached, so the group is this process and its children). */
  signal(sig: NodeJS.Signals): void {
    if (this.status || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      killPid(this.child.pid, sig); // no such group: it moved to another one (setpgid), so signal it alone
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Bed: a set of namespaces sharing a prefix, and the processes running in them
// ---------------------------------------------------------------------------------------------------

const liveBeds = new Set<Bed>();
let exitHookInstalled = false;

/**
 * Last line of defence: if the test process exits without running `after` hooks (process.exit, an
 * uncaught error, SIGINT/SIGTERM/SIGHUP), still clean up, synchronously since nothing can be awaited.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanUp = (): void => {
    for (const bed of liveBeds) bed.teardownSync();
  };
  process.on('exit', cleanUp);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanUp();
      process.off(sig, onSignal);
      // If nobody else (mocha handles SIGINT) listens, re-raise so the default action still ends us.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

export class Bed {
  readonly prefix: string;
  /** Full names of the namespaces this bed created, in creation order. */
  readonly created: string[] = [];
  private readonly procs = new Set<Proc>();
  private tearingDown?: Promise<void>;

  constructor(prefix = `lr${randomBytes(2).toString('hex')}-`) {
    this.prefix = prefix;
    liveBeds.add(this);
    installExitHook();
  }

  /** Full namespace name for a short name (`dev1` → `lr3fa2-dev1`); full names pass through. */
  ns(short: string): string {
    return short.startsWith(this.prefix) ? short : this.prefix + short;
  }

  /** Creates a namespace with loopback up. Refuses (like `ip netns add`) a name that already exists. */
  async addNs(short: string): Promise<string> {
    const name = this.ns(short);
    await run(['ip', 'netns', 'add', name]);
    this.created.push(name); // only after success: never adopt (and later delete) someone else's namespace
    await this.ip(name, ['link', 'set', 'lo', 'up']);
    // IPv4 devconf is inherited from the root namespace; pin rp_filter so the host's setting cannot leak in.
    await this.sysctl(name, { 'net.ipv4.conf.all.rp_filter': 0, 'net.ipv4.conf.default.rp_filter': 0 });
    return name;
  }

  /** `ip -n NS ARGS...` (faster than `ip netns exec` for ip itself). */
  ip(short: string, args: string[], opts?: ExecOptions): Promise<ExecResult> {
    return run(['ip', '-n', this.ns(short), ...args], opts);
  }

  /** Runs argv inside the namespace (`ip netns exec`, which also gives it the namespace's /sys). */
  exec(short: string, argv: string[], opts?: ExecOptions): Promise<ExecResult> {
    return run(['ip', 'netns', 'exec', this.ns(short), ...argv], opts);
  }

  sysctl(short: string, settings: Record<string, string | number>): Promise<ExecResult> {
    const pairs = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
    return this.exec(short, ['sysctl', '-q', '-w', ...pairs]);
  }

  /**
   * Starts argv inside the namespace and tracks it: teardown stops it. `ip netns exec` execs the
   * program, so the pid is the program's own; it leads its own process group so children die with it.
   */
  spawn(short: string, argv: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: boolean } = {}): Proc {
    const full = ['ip', 'netns', 'exec', this.ns(short), ...argv];
    const child = spawnChild(full[0], full.slice(1), {
      env: opts.env ?? process.env,
      // stdin: a pipe the test writes commands to (child.stdin), for drivers that read them.
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const proc = new Proc(child, show(full));
    this.procs.add(proc);
    void proc.exited.then(() => this.procs.delete(proc));
    return proc;
  }

  /** True if `count` echo requests from `short` to `address` got at least one reply. */
  async ping(
    short: string,
    address: string,
    opts: { count?: number; timeoutS?: number } = {},
  ): Promise<boolean> {
    const timeoutS = opts.timeoutS ?? 3;
    const argv = ['ping', '-n', '-q', '-c', String(opts.count ?? 1), '-W', String(timeoutS), address];
    const r = await this.exec(short, argv, { check: false, timeoutMs: (timeoutS + 5) * 1000 });
    return r.code === 0;
  }

  /** Stops every tracked process, then deletes every namespace this bed created. Idempotent. */
  teardown(): Promise<void> {
    this.tearingDown ??= this.doTeardown();
    return this.tearingDown;
  }

  private async doTeardown(): Promise<void> {
    const errors: string[] = [];
    const stops = await Promise.allSettled([...this.procs].map((p) => p.stop()));
    for (const s of stops) if (s.status === 'rejected') errors.push(String(s.reason));
    for (const name of [...this.created].reverse()) {
      // A daemon that double-forked out of our process group still lives in the namespace: end it by pid.
      const pids = await run(['ip', 'netns', 'pids', name], { check: false });
      for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) killPid(Number(pid));
      const r = await run(['ip', 'netns', 'del', name], { check: false });
      if (r.code !== 0 && !/No such file/.test(r.stderr)) errors.push(`${name}: ${r.stderr.trim()}`);
    }
    this.created.length = 0;
    liveBeds.delete(this);
    if (errors.length) throw new Error(`teardown of ${this.prefix}* was incomplete:\n${errors.join('\n')}`);
  }

  /** Synchronous teardown for process exit (no awaiting possible there). */
  teardownSync(): void {
    for (const p of this.procs) p.signal('SIGKILL');
    for (const name of [...this.created].reverse()) {
      const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '';
      for (const pid of pids.split(/\s+/).filter(Boolean)) killPid(Number(pid));
      spawnSync('ip', ['netns', 'del', name]);
    }
    this.created.length = 0;
    liveBeds.delete(this);
  }
}

function killPid(pid: number, sig: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Namespaces currently present whose name starts with `prefix`. */
export async function namespacesWithPrefix(prefix: string): Promise<string[]> {
  const { stdout } = await run(['ip', 'netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n && n.startsWith(prefix));
}

// ---------------------------------------------------------------------------------------------------
// The LAN: a switch, devices and nodes
// ---------------------------------------------------------------------------------------------------

export interface Device {
  ns: string;
  short: string;
  address: string;
  /** With `ipv6: true`: the device's global IPv6 address (it also has a link-local one). */
  address6?: string;
  /** The device's LAN interface, `eth0`. */
  lanIf: 'eth0';
}

export interface Pod {
  ns: string;
  short: string;
  address: string;
  /** With `ipv6: true`: the pod's global IPv6 address. */
  address6?: string;
  /** Host-side end of the pod's veth, in the node namespace (`cali…` or `veth…`). */
  hostIf: string;
  node: number;
  index: number;
}

export interface Node {
  ns: string;
  short: string;
  lanIf: 'lan0';
  address: string;
  address6?: string;
  pods: Pod[];
}

/** A LAN (switch `br0` in namespace `lan`), devices and nodes on it. The CNI flavours add pods. */
export abstract class LanBed extends Bed {
  readonly lanCidr = LAN_CIDR;
  /** Whether the bed also carries IPv6 (global addresses and routes; see the address plan). */
  ipv6 = false;
  readonly devices: Device[] = [];
  readonly nodes: Node[] = [];
  private generation = 0;

  /** Every namespace of an IPv6 bed: no DAD wait (addresses usable at once), no router
   *  advertisements taken from anyone. */
  override async addNs(short: string): Promise<string> {
    const name = await super.addNs(short);
    if (this.ipv6)
      await this.sysctl(name, {
        'net.ipv6.conf.all.accept_dad': 0,
        'net.ipv6.conf.default.accept_dad': 0,
        'net.ipv6.conf.all.accept_ra': 0,
        'net.ipv6.conf.default.accept_ra': 0,
        'net.ipv6.conf.all.disable_ipv6': 0,
        'net.ipv6.conf.default.disable_ipv6': 0,
      });
    return name;
  }

  protected async buildLan(devices: number, nodes: number): Promise<void> {
    if (nodes < 1 || nodes > 8)
      throw new Error(`nodes must be 1..8 (node k is 198.18.4.(1+k)), got ${nodes}`);
    if (devices < 0 || devices > 89)
      throw new Error(`devices must be 0..89 (device i is 198.18.4.(10+i)), got ${devices}`);
    await this.addNs('lan');
    // An unmanaged home switch floods every multicast group: turn IGMP snooping off on the bridge.
    await this.ip('lan', ['link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
    await this.ip('lan', ['link', 'set', 'br0', 'up']);
    for (let i = 1; i <= devices; i++) await this.addDevice(i);
    for (let k = 1; k <= nodes; k++) await this.addNode(k);
  }

  /** Creates a veth with `ifName` in namespace `short` and `port` in `lan`, enslaved to br0. */
  private async plugIntoLan(short: string, ifName: string, port: string): Promise<void> {
    await this.veth(ifName, short, port, 'lan');
    await this.ip('lan', ['link', 'set', port, 'master', 'br0', 'up']);
  }

  /** A veth pair created with each end directly inside its namespace (never in the root namespace). */
  protected veth(nameA: string, nsA: string, nameB: string, nsB: string): Promise<ExecResult> {
    const argv = ['ip', 'link', 'add', nameA, 'netns', this.ns(nsA), 'type', 'veth'];
    return run([...argv, 'peer', 'name', nameB, 'netns', this.ns(nsB)]);
  }

  private async addDevice(i: number): Promise<void> {
    const short = `dev${i}`;
    const address = deviceAddress(i);
    await this.addNs(short);
    await this.plugIntoLan(short, 'eth0', short);
    await this.ip(short, ['addr', 'add', `${address}/24`, 'dev', 'eth0']);
    const address6 = this.ipv6 ? deviceAddress6(i) : undefined;
    if (address6) await this.ip(short, ['-6', 'addr', 'add', `${address6}/64`, 'dev', 'eth0', 'nodad']);
    await this.ip(short, ['link', 'set', 'eth0', 'up']);
    this.devices.push({ ns: this.ns(short), short, address, address6, lanIf: 'eth0' });
  }

  private async addNode(k: number): Promise<void> {
    const short = `node${k}`;
    const address = nodeAddress(k);
    await this.addNs(short);
    // Forwarding first: links created afterwards inherit it from conf.default.
    await this.sysctl(short, { 'net.ipv4.ip_forward': 1 });
    if (this.ipv6) await this.sysctl(short, { 'net.ipv6.conf.all.forwarding': 1 });
    await this.plugIntoLan(short, 'lan0', short);
    await this.ip(short, ['addr', 'add', `${address}/24`, 'dev', 'lan0']);
    const address6 = this.ipv6 ? nodeAddress6(k) : undefined;
    if (address6) await this.ip(short, ['-6', 'addr', 'add', `${address6}/64`, 'dev', 'lan0', 'nodad']);
    await this.ip(short, ['link', 'set', 'lan0', 'up']);
    // Nobody holds the gateway; the route must exist because proxy ARP for 169.254.1.1 needs it.
    await this.ip(short, ['route', 'add', 'default', 'via', LAN_GATEWAY, 'dev', 'lan0']);
    if (address6) await this.ip(short, ['-6', 'route', 'add', 'default', 'via', LAN_GATEWAY6, 'dev', 'lan0']);
    this.nodes.push({ ns: this.ns(short), short, lanIf: 'lan0', address, address6, pods: [] });
  }

  protected node(k: number): Node {
    const node = this.nodes[k - 1];
    if (!node) throw new Error(`no node ${k} (bed has ${this.nodes.length})`);
    return node;
  }

  protected pod(k: number, i: number): Pod {
    const pod = this.node(k).pods[i - 1];
    if (!pod) throw new Error(`no pod ${i} on node ${k}`);
    return pod;
  }

  /** A fresh host-side interface name (`base` + hex, at most 15 characters as IFNAMSIZ demands). */
  protected hostIfName(base: 'cali' | 'veth', pod: string): string {
    const hash = createHash('sha1').update(`${this.prefix}/${pod}/${++this.generation}`).digest('hex');
    return base + hash.slice(0, base === 'cali' ? 11 : 8); // Calico: cali + 11 hex; bridge plugin: veth + 8 hex
  }

  /** Address pod i of node k gets. */
  protected abstract podAddress(k: number, i: number): string;
  /** Its IPv6 address, on an IPv6 bed. */
  protected abstract podAddress6(k: number, i: number): string;
  /** Creates the pod's veth and configures both ends; returns the host-side name. */
  protected abstract wirePod(node: Node, podNs: string, address: string, address6?: string): Promise<string>;
  /** Extra node-side set-up done once per pod (not again on restart). */
  protected async onPodAdded(_node: Node, _pod: Pod): Promise<void> {}

  /** Adds pod `n{k}p{next}` to node k, as a new pod being scheduled there. */
  async addPod(k: number): Promise<Pod> {
    const node = this.node(k);
    const index = node.pods.length + 1;
    const short = `n${k}p${index}`;
    const address = this.podAddress(k, index);
    const address6 = this.ipv6 ? this.podAddress6(k, index) : undefined;
    await this.addNs(short);
    const hostIf = await this.wirePod(node, short, address, address6);
    const pod: Pod = { ns: this.ns(short), short, address, address6, hostIf, node: k, index };
    node.pods.push(pod);
    await this.onPodAdded(node, pod);
    return pod;
  }

  /**
   * What a pod restart does to the node: the old veth disappears (taking its host route with it) and a
   * new one with a new host-side name appears, with the same address and routes. Returns the pod.
   */
  async restartPod(k: number, i: number): Promise<Pod> {
    const pod = this.pod(k, i);
    await this.ip(pod.ns, ['link', 'del', 'eth0']); // deletes both ends of the pair
    pod.hostIf = await this.wirePod(this.node(k), pod.ns, pod.address, pod.address6);
    return pod;
  }

  protected async buildPods(podsPerNode: number): Promise<void> {
    for (let k = 1; k <= this.nodes.length; k++) for (let i = 1; i <= podsPerNode; i++) await this.addPod(k);
  }
}

/** Runs `build`; on failure tears the half-built bed down before rethrowing. */
async function built<B extends Bed>(bed: B, build: () => Promise<void>): Promise<B> {
  try {
    await build();
    return bed;
  } catch (err) {
    await bed.teardown().catch(() => {});
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------
// Calico-style pods: /32 address, gateway 169.254.1.1 answered by proxy ARP on the host veth
// ---------------------------------------------------------------------------------------------------

export interface CalicoBedOptions {
  nodes?: number;
  podsPerNode: number;
  devices: number;
  /** 'lan': pods in the LAN subnet, proxy-ARPed on lan0 (our IPAM). 'routed': 198.19.k.0/24 via node k (BGP). */
  podAddressing: 'lan' | 'routed';
  /** Also give everything IPv6 (see the address plan at the top). */
  ipv6?: boolean;
}

export class CalicoBed extends LanBed {
  constructor(readonly podAddressing: 'lan' | 'routed') {
    super();
  }

  protected podAddress(k: number, i: number): string {
    if (this.podAddressing === 'routed') return routedPodAddress(k, i);
    if (i > 10)
      throw new Error(`LAN-addressed pods: at most 10 per node (198.18.4.1${k - 1}x), asked for pod ${i}`);
    return lanPodAddress(k, i);
  }

  protected podAddress6(k: number, i: number): string {
    return this.podAddressing === 'routed' ? routedPodAddress6(k, i) : lanPodAddress6(k, i);
  }

  protected async wirePod(node: Node, podNs: string, address: string, address6?: string): Promise<string> {
    const hostIf = this.hostIfName('cali', podNs);
    await this.veth('eth0', podNs, hostIf, node.ns);
    // Host end, as the Calico CNI plugin and Felix leave it: fixed MAC, no IPv4 address, proxy ARP
    // answering at once, forwarding, strict reverse-path filtering.
    await this.ip(node.ns, ['link', 'set', hostIf, 'address', CALICO_MAC]);
    await this.sysctl(node.ns, {
      [`net.ipv4.conf.${hostIf}.proxy_arp`]: 1,
      [`net.ipv4.neigh.${hostIf}.proxy_delay`]: 0,
      [`net.ipv4.conf.${hostIf}.forwarding`]: 1,
      [`net.ipv4.conf.${hostIf}.route_localnet`]: 1,
      [`net.ipv4.conf.${hostIf}.rp_filter`]: 1,
    });
    await this.ip(node.ns, ['link', 'set', hostIf, 'up']);
    await this.ip(node.ns, ['route', 'add', `${address}/32`, 'dev', hostIf, 'scope', 'link']);
    // Pod end: a /32, and a gateway that exists only as proxy ARP on the host end.
    await this.ip(podNs, ['addr', 'add', `${address}/32`, 'dev', 'eth0']);
    await this.ip(podNs, ['link', 'set', 'eth0', 'up']);
    await this.ip(podNs, ['route', 'add', CALICO_GATEWAY, 'dev', 'eth0', 'scope', 'link']);
    await this.ip(podNs, ['route', 'add', 'default', 'via', CALICO_GATEWAY, 'dev', 'eth0', 'onlink']);
    if (address6) {
      // IPv6 as Calico's CNI plugin and Felix leave it: a /128 on the pod's eth0, the default route
      // via the host end's own link-local address, a /128 host route, proxy NDP and forwarding on
      // the host end. The host end's link-local address comes from its fixed MAC (EUI-64).
      await this.sysctl(node.ns, {
        [`net.ipv6.conf.${hostIf}.proxy_ndp`]: 1,
        [`net.ipv6.conf.${hostIf}.forwarding`]: 1,
      });
      await this.ip(node.ns, ['-6', 'route', 'add', `${address6}/128`, 'dev', hostIf]);
      await this.ip(podNs, ['-6', 'addr', 'add', `${address6}/128`, 'dev', 'eth0', 'nodad']);
      await this.ip(podNs, ['-6', 'route', 'add', 'default', 'via', CALICO_GATEWAY6, 'dev', 'eth0']);
    }
    return hostIf;
  }

  protected override async onPodAdded(node: Node, pod: Pod): Promise<void> {
    // LAN-addressed pods: the node answers ARP for them on the LAN, as our IPAM will do.
    if (this.podAddressing === 'lan')
      await this.ip(node.ns, ['neigh', 'add', 'proxy', pod.address, 'dev', 'lan0']);
    // The same for IPv6: proxy NDP on the LAN link answers neighbour solicitations for the pod.
    if (this.podAddressing === 'lan' && pod.address6) {
      await this.sysctl(node.ns, { 'net.ipv6.conf.lan0.proxy_ndp': 1 });
      await this.ip(node.ns, ['-6', 'neigh', 'add', 'proxy', pod.address6, 'dev', 'lan0']);
    }
  }

  /** Routes every device needs to reach routed pods (what BGP would have taught the LAN router). */
  private async routeDevicesToPods(): Promise<void> {
    if (this.podAddressing !== 'routed') return;
    for (const dev of this.devices)
      for (const [n, node] of this.nodes.entries()) {
        await this.ip(dev.ns, ['route', 'add', routedPodCidr(n + 1), 'via', node.address]);
        if (node.address6)
          await this.ip(dev.ns, ['-6', 'route', 'add', routedPodCidr6(n + 1), 'via', node.address6]);
      }
  }

  static create(opts: CalicoBedOptions): Promise<CalicoBed> {
    const bed = new CalicoBed(opts.podAddressing);
    bed.ipv6 = opts.ipv6 ?? false;
    return built(bed, async () => {
      await bed.buildLan(opts.devices, opts.nodes ?? 1);
      await bed.buildPods(opts.podsPerNode);
      await bed.routeDevicesToPods();
    });
  }
}

/** A LAN, `devices` devices, `nodes` nodes (default 1) with `podsPerNode` Calico-style pods each. */
export const calicoBed = (opts: CalicoBedOptions): Promise<CalicoBed> => CalicoBed.create(opts);

// ---------------------------------------------------------------------------------------------------
// Flannel-style pods (k3s): one bridge cni0 on the node, pods on a /24 behind it, masqueraded
// ---------------------------------------------------------------------------------------------------

export interface FlannelBedOptions {
  podsPerNode: number;
  devices: number;
  /** Also give everything IPv6 (see the address plan at the top). */
  ipv6?: boolean;
}

/** Unicast from the pod subnet leaves as the node; multicast and broadcast are never rewritten. */
const FLANNEL_NAT = `
table ip lr-flannel {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${FLANNEL_CIDR} ip daddr != { ${FLANNEL_CIDR}, 224.0.0.0/4, 255.255.255.255 } masquerade
  }
}
`;

/** The same for IPv6 on an IPv6 bed (NAT66, as flannel's ip6 masquerade rules do). */
const FLANNEL_NAT6 = `
table ip6 lr-flannel6 {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip6 saddr ${FLANNEL_CIDR6} ip6 daddr != { ${FLANNEL_CIDR6}, ff00::/8 } masquerade
  }
}
`;

export class FlannelBed extends LanBed {
  readonly bridge = 'cni0';
  readonly bridgeAddress = FLANNEL_GATEWAY;

  protected podAddress(_k: number, i: number): string {
    if (i > 240) throw new Error(`at most 240 pods on the flannel bridge, asked for pod ${i}`);
    return `198.19.1.${10 + i}`;
  }

  protected podAddress6(_k: number, i: number): string {
    return `2001:db8:19:1::${10 + i}`;
  }

  private async buildBridge(): Promise<void> {
    const node = this.node(1);
    await this.ip(node.ns, ['link', 'add', 'cni0', 'type', 'bridge']); // kernel defaults, as the bridge plugin leaves it
    await this.ip(node.ns, ['addr', 'add', `${FLANNEL_GATEWAY}/24`, 'dev', 'cni0']);
    if (this.ipv6)
      await this.ip(node.ns, ['-6', 'addr', 'add', `${FLANNEL_GATEWAY6}/64`, 'dev', 'cni0', 'nodad']);
    await this.ip(node.ns, ['link', 'set', 'cni0', 'up']);
    await this.exec(node.ns, ['nft', '-f', '-'], { input: FLANNEL_NAT });
    if (this.ipv6) await this.exec(node.ns, ['nft', '-f', '-'], { input: FLANNEL_NAT6 });
  }

  protected async wirePod(node: Node, podNs: string, address: string, address6?: string): Promise<string> {
    const hostIf = this.hostIfName('veth', podNs);
    await this.veth('eth0', podNs, hostIf, node.ns);
    await this.ip(node.ns, ['link', 'set', hostIf, 'master', 'cni0', 'up']);
    // k3s turns hairpin on, so a pod hears its own multicast back from the bridge.
    await this.exec(node.ns, ['bridge', 'link', 'set', 'dev', hostIf, 'hairpin', 'on']);
    await this.ip(podNs, ['addr', 'add', `${address}/24`, 'dev', 'eth0']);
    await this.ip(podNs, ['link', 'set', 'eth0', 'up']);
    await this.ip(podNs, ['route', 'add', 'default', 'via', FLANNEL_GATEWAY, 'dev', 'eth0']);
    if (address6) {
      await this.ip(podNs, ['-6', 'addr', 'add', `${address6}/64`, 'dev', 'eth0', 'nodad']);
      await this.ip(podNs, ['-6', 'route', 'add', 'default', 'via', FLANNEL_GATEWAY6, 'dev', 'eth0']);
    }
    return hostIf;
  }

  static create(opts: FlannelBedOptions): Promise<FlannelBed> {
    const bed = new FlannelBed();
    bed.ipv6 = opts.ipv6 ?? false;
    return built(bed, async () => {
      await bed.buildLan(opts.devices, 1);
      await bed.buildBridge();
      await bed.buildPods(opts.podsPerNode);
    });
  }
}

/** A LAN, `devices` devices and one node whose `podsPerNode` pods sit on a flannel-style `cni0` bridge. */
export const flannelBed = (opts: FlannelBedOptions): Promise<FlannelBed> => FlannelBed.create(opts);

// ---------------------------------------------------------------------------------------------------
// Pods made by real CNI plugins (test/support/cni.ts) with our IPAM: the bed makes only the LAN,
// the devices, the nodes and empty pod namespaces; ptp or bridge wire each pod when the test runs
// ADD, exactly as a runtime on the node would.
// ---------------------------------------------------------------------------------------------------

export interface CniBedOptions {
  nodes?: number;
  devices: number;
}

export class CniBed extends LanBed {
  private readonly podCount = new Map<number, number>();

  protected podAddress(): string {
    throw new Error('CNI pods get their address from the IPAM: run ADD (test/support/cni.ts)');
  }
  protected podAddress6(): string {
    throw new Error('CNI pods get their address from the IPAM');
  }
  protected wirePod(): Promise<string> {
    throw new Error('CNI pods are wired by the CNI plugin: run ADD (test/support/cni.ts)');
  }

  /** An empty namespace `n{k}p{i}` for the next pod of node k, as a runtime makes before ADD. */
  async podNs(k: number): Promise<string> {
    this.node(k);
    const i = (this.podCount.get(k) ?? 0) + 1;
    this.podCount.set(k, i);
    const short = `n${k}p${i}`;
    await this.addNs(short);
    return short;
  }

  nodeNs(k: number): Node {
    return this.node(k);
  }

  static create(opts: CniBedOptions): Promise<CniBed> {
    const bed = new CniBed();
    return built(bed, async () => {
      await bed.buildLan(opts.devices, opts.nodes ?? 1);
    });
  }
}

/** A LAN with `devices` devices and `nodes` nodes (default 1) whose pods a CNI plugin will make. */
export const cniBed = (opts: CniBedOptions): Promise<CniBed> => CniBed.create(opts);

/** The MAC of `ifname` inside a namespace of the bed. */
export async function macOf(bed: Bed, short: string, ifname: string): Promise<string> {
  const r = await bed.ip(short, ['-j', 'link', 'show', 'dev', ifname]);
  return (JSON.parse(r.stdout) as Array<{ address: string }>)[0].address;
}

/** The link-layer address `short`'s neighbour table holds for `address` (undefined if none/failed). */
export async function neighbourMac(bed: Bed, short: string, address: string): Promise<string | undefined> {
  const r = await bed.ip(short, ['-j', '-4', 'neigh', 'show', address]);
  const entries = JSON.parse(r.stdout || '[]') as Array<{ lladdr?: string; state?: string[] }>;
  return entries.find((e) => e.lladdr && !e.state?.includes('FAILED'))?.lladdr;
}

/**
 * ARP requests from a device for `address` (arping, `count` of them, 0.2 s apart); resolves with
 * every reply, one entry each (so two answering hosts show as two MACs) and its round-trip time.
 */
export async function arping(
  bed: Bed,
  short: string,
  address: string,
  opts: { count?: number; ifname?: string } = {},
): Promise<Array<{ mac: string; ms: number }>> {
  const count = opts.count ?? 3;
  const argv = ['arping', '-c', String(count), '-W', '0.2', '-w', '3', '-i', opts.ifname ?? 'eth0', address];
  const r = await bed.exec(short, argv, { check: false, timeoutMs: (count + 10) * 1000 });
  return [...r.stdout.matchAll(/bytes from ([0-9a-f:]{17}) .*time=([\d.]+) (usec|msec|sec)/g)].map((m) => ({
    mac: m[1],
    ms: Number(m[2]) * (m[3] === 'usec' ? 1e-3 : m[3] === 'msec' ? 1 : 1000),
  }));
}

/** The MACs that answered `arping` (see arping()). */
export const arpingMacs = async (
  bed: Bed,
  short: string,
  address: string,
  opts: { count?: number; ifname?: string } = {},
): Promise<string[]> => (await arping(bed, short, address, opts)).map((r) => r.mac);

/** The link-local IPv6 address of `iface` in `ns` (what IPv6 multicast goes out from by default). */
export async function linkLocalOf(bed: Bed, ns: string, iface: string): Promise<string> {
  const { stdout } = await bed.ip(ns, ['-6', '-o', 'addr', 'show', 'dev', iface, 'scope', 'link']);
  const m = /inet6 (fe80:[0-9a-f:]+)\//.exec(stdout);
  if (!m) throw new Error(`${iface} in ${ns} has no link-local IPv6 address:\n${stdout}`);
  return m[1];
}
