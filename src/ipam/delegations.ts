// Attachments handed to the delegate IPAM, one file each (its content: the delegate's stdin), so
// DEL and CHECK go to the delegate too — even while the agent is down: the shim reads these files
// itself then, runs the delegate's DEL and removes the file.
import { mkdir, readdir, unlink, access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Delegations } from './cni/verbs.js';
import { attachmentFile, ownerFromFile } from './shim-dirs.js';
import { writeFileDurably } from './store/durable-file.js';
import type { Owner } from './types.js';

export class FileDelegations implements Delegations {
  constructor(private readonly dir: string) {}

  async record(owner: Owner, stdin: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileDurably(this.dir, attachmentFile(owner), stdin, 0o600);
  }

  async has(owner: Owner): Promise<boolean> {
    return access(join(this.dir, attachmentFile(owner))).then(
      () => true,
      () => false,
    );
  }

  async forget(owner: Owner): Promise<void> {
    await unlink(join(this.dir, attachmentFile(owner))).catch(() => {});
  }

  async list(): Promise<Owner[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.map(ownerFromFile).filter((o): o is Owner => o !== undefined);
  }
}
