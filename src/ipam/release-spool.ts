// DELs the shim took while the agent was down (src/ipam/shim/shim.c writes <socket dir>/ipam-spool/
// <cid>@<ifname>.del holding the request it could not send). The agent replays each through the
// same DEL handler, then removes the file: DEL is idempotent, so a replay cut short is redone.
import { readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerFromFile } from './shim-dirs.js';
import { decodeRequest, type ShimRequest } from './shim-protocol.js';
import type { PendingRelease, ReleaseSpool } from './store/types.js';

export interface SpooledRelease extends PendingRelease {
  request: ShimRequest;
}

export class FileReleaseSpool implements ReleaseSpool {
  constructor(private readonly dir: string) {}

  async pending(): Promise<SpooledRelease[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: SpooledRelease[] = [];
    for (const name of names.filter((n) => n.endsWith('.del')).sort()) {
      const owner = ownerFromFile(name);
      const request = decodeRequest(await readFile(join(this.dir, name)).catch(() => Buffer.alloc(0)));
      if (!owner || typeof request === 'string') continue;
      let network = '';
      try {
        network = String((JSON.parse(request.stdin) as { name?: unknown }).name ?? '');
      } catch {
        // the DEL handler reports the bad config; the owner is still known from the name
      }
      out.push({ owner, network, at: '', id: name, request });
    }
    return out;
  }

  async done(r: PendingRelease): Promise<void> {
    await unlink(join(this.dir, r.id)).catch(() => {});
  }
}
