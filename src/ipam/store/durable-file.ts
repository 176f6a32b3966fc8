// The one way the IPAM's files reach the disk: a new temporary file, fsynced, renamed over its
// name, then the directory fsynced, so after `kill -9` or a power cut a reader finds the old
// content or the new, never a torn file, and a rename that returned is not undone by a crash.
import { randomBytes } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';

/** Prefix of temporary files: readers skip names that start with it. */
export const TMP_PREFIX = '.tmp-';

/** Writes `data` to a new temporary file in `dir`, fsynced; returns its path (rename or link it). */
export async function writeTemp(dir: string, data: string, mode = 0o644): Promise<string> {
  const path = join(dir, `${TMP_PREFIX}${randomBytes(6).toString('hex')}`);
  const fh = await open(path, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return path;
}

/** Makes the directory's entries (a rename, a link, an unlink) durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `dir/name` with `data`, atomically and durably. */
export async function writeFileDurably(dir: string, name: string, data: string, mode = 0o644): Promise<void> {
  await rename(await writeTemp(dir, data, mode), join(dir, name));
  await syncDir(dir);
}
