// The file store: the embedded default, one directory on the node (host-local's disk backend is the
// model). One file per reserved address, named for the address; every change is atomic and durable:
//   reserve  = write a temporary file + fsync, link() it to addresses/<ip> (link fails with EEXIST if
//              the address is taken: an exclusive create whose file is never half-written), fsync the dir
//   release  = unlink addresses/<ip>, fsync the dir
//   hold     = write a temporary file + fsync, rename over held/<ip>, fsync the dir
// So after a kill -9 at any moment an address file is either absent or complete; left-over temporary
// files are removed at open. The index in memory is rebuilt from the directory at open and is only a
// cache: the directory decides (link), so two racing reserves can never both win.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { link, mkdir, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import type { IPv4Address } from '../../config/types.js';
import { ownerKey, type Allocation, type Owner } from '../types.js';
import { TMP_PREFIX as TMP, syncDir, writeTemp } from './durable-file.js';
import type { HeldBack, IpamStore } from './types.js';

/**
 * Group commit for one directory: a caller's change is durable once an fsync that *started after*
 * the change completes. Callers arriving while one runs share the next one, so a burst of 200
 * reserves costs a few directory fsyncs, not 200 — and none returns before its own entry is synced.
 */
class DirSyncer {
  private running: Promise<void> = Promise.resolve();
  private queued?: Promise<void>;
  constructor(private readonly dir: string) {}
  sync(): Promise<void> {
    if (!this.queued) {
      const q: Promise<void> = this.running
        .catch(() => {})
        .then(() => {
          if (this.queued === q) this.queued = undefined;
          this.running = syncDir(this.dir);
          return this.running;
        });
      this.queued = q;
    }
    return this.queued;
  }
}

const isErrno = (err: unknown, code: string): boolean => (err as NodeJS.ErrnoException)?.code === code;

export interface FileStoreOptions {
  directory: string;
  /** This node's name (NODE_NAME or the host name): written down so a shared directory shows. */
  node?: string;
}

/** Another node's marker found in the store directory at open: the directory is shared. */
export interface StoreWarning {
  message: string;
  other: string;
}

export class FileStore implements IpamStore {
  private readonly byAddress = new Map<IPv4Address, Allocation>();
  private readonly byOwner = new Map<string, Set<IPv4Address>>();
  private readonly held = new Map<IPv4Address, HeldBack>();
  private readonly addrDir: string;
  private readonly heldDir: string;
  private readonly nodesDir: string;
  private readonly addrSync: DirSyncer;
  /** The address handed out last (for the round-robin walk). */
  lastReserved?: IPv4Address;
  readonly warnings: StoreWarning[] = [];

  private constructor(readonly opts: FileStoreOptions) {
    this.addrDir = join(opts.directory, 'addresses');
    this.heldDir = join(opts.directory, 'held');
    this.nodesDir = join(opts.directory, 'nodes');
    this.addrSync = new DirSyncer(this.addrDir);
  }

  static async open(opts: FileStoreOptions): Promise<FileStore> {
    const s = new FileStore(opts);
    await s.load();
    return s;
  }

  private async load(): Promise<void> {
    for (const d of [this.addrDir, this.heldDir, this.nodesDir])
      await mkdir(d, { recursive: true, mode: 0o755 });
    let newest = '';
    for (const name of await readdir(this.addrDir)) {
      if (name.startsWith(TMP)) {
        await unlink(join(this.addrDir, name)).catch(() => {}); // a reserve cut short by kill -9
        continue;
      }
      if (!isIPv4(name)) continue;
      const a = JSON.parse(await readFile(join(this.addrDir, name), 'utf8')) as Allocation;
      this.index(a);
      if (a.since >= newest) {
        newest = a.since;
        this.lastReserved = a.address;
      }
    }
    for (const name of await readdir(this.heldDir)) {
      if (name.startsWith(TMP)) {
        await unlink(join(this.heldDir, name)).catch(() => {});
        continue;
      }
      if (!isIPv4(name)) continue;
      try {
        this.held.set(name, JSON.parse(await readFile(join(this.heldDir, name), 'utf8')) as HeldBack);
      } catch {
        // a hold is advice, not state: an unreadable one is dropped
      }
    }
    await this.markNode();
  }

  /** One file per node that used this directory; another node's file means the directory is shared. */
  private async markNode(): Promise<void> {
    const me = this.opts.node || hostname();
    for (const name of await readdir(this.nodesDir)) {
      if (name.startsWith(TMP) || name === `${me}.json`) continue;
      const other = name.replace(/\.json$/, '');
      this.warnings.push({
        other,
        message: `the file store ${this.opts.directory} was also used by node ${other}: it looks shared between nodes, and two nodes on one file store hand out the same address (use per-node store directories with non-overlapping ranges, or store: kubernetes)`,
      });
    }
    const tmp = await writeTemp(
      this.nodesDir,
      JSON.stringify({ node: me, host: hostname(), pid: process.pid, at: new Date().toISOString() }),
    );
    await rename(tmp, join(this.nodesDir, `${me}.json`));
    await syncDir(this.nodesDir);
  }

  private index(a: Allocation): void {
    this.byAddress.set(a.address, a);
    const k = ownerKey(a.owner);
    let set = this.byOwner.get(k);
    if (!set) this.byOwner.set(k, (set = new Set()));
    set.add(a.address);
  }

  private unindex(a: Allocation): void {
    this.byAddress.delete(a.address);
    const k = ownerKey(a.owner);
    const set = this.byOwner.get(k);
    set?.delete(a.address);
    if (set?.size === 0) this.byOwner.delete(k);
  }

  async reserve(a: Allocation): Promise<boolean> {
    if (this.byAddress.has(a.address)) return false;
    const tmp = await writeTemp(this.addrDir, JSON.stringify(a));
    try {
      await link(tmp, join(this.addrDir, a.address));
    } catch (err) {
      if (isErrno(err, 'EEXIST')) return false;
      throw err;
    } finally {
      await unlink(tmp).catch(() => {});
    }
    this.index(a);
    this.lastReserved = a.address;
    await this.addrSync.sync();
    return true;
  }

  async update(a: Allocation): Promise<boolean> {
    const cur = this.byAddress.get(a.address);
    if (!cur || ownerKey(cur.owner) !== ownerKey(a.owner)) return false;
    const tmp = await writeTemp(this.addrDir, JSON.stringify(a));
    await rename(tmp, join(this.addrDir, a.address));
    await this.addrSync.sync();
    this.byAddress.set(a.address, a);
    return true;
  }

  private async remove(address: IPv4Address): Promise<Allocation | undefined> {
    const a = this.byAddress.get(address);
    if (!a) return undefined;
    try {
      await unlink(join(this.addrDir, address));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    this.unindex(a);
    return a;
  }

  async releaseByOwner(owner: Owner): Promise<Allocation[]> {
    const out: Allocation[] = [];
    for (const address of [...(this.byOwner.get(ownerKey(owner)) ?? [])]) {
      const a = await this.remove(address);
      if (a) out.push(a);
    }
    if (out.length) await this.addrSync.sync();
    return out;
  }

  async releaseAddress(address: IPv4Address): Promise<Allocation | undefined> {
    const a = await this.remove(address);
    if (a) await this.addrSync.sync();
    return a;
  }

  async getByOwner(owner: Owner): Promise<Allocation[]> {
    return [...(this.byOwner.get(ownerKey(owner)) ?? [])].map((a) => this.byAddress.get(a)!);
  }

  async list(): Promise<Allocation[]> {
    return [...this.byAddress.values()];
  }

  /** Synchronous view for hot paths (the allocator's walk, metrics). */
  has(address: IPv4Address): boolean {
    return this.byAddress.has(address);
  }

  async holdBack(h: HeldBack): Promise<void> {
    const tmp = await writeTemp(this.heldDir, JSON.stringify(h));
    await rename(tmp, join(this.heldDir, h.address));
    await syncDir(this.heldDir);
    this.held.set(h.address, h);
  }

  async heldBack(now: Date): Promise<HeldBack[]> {
    const t = now.toISOString();
    const out: HeldBack[] = [];
    for (const h of [...this.held.values()]) {
      if (h.until > t) out.push(h);
      else {
        this.held.delete(h.address);
        await unlink(join(this.heldDir, h.address)).catch(() => {});
      }
    }
    return out;
  }

  async close(): Promise<void> {}
}
