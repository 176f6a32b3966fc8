// The address each pod identity last held, kept after DEL releases its lease: a recreated pod asks
// for it again (option 50 in DISCOVER) and servers give it back when it is free. Without this, a
// server whose allocator walks forward (Kea's iterative allocator) gives a recreated pod the next
// address. A hint only: the server decides. Bounded (oldest dropped), written atomically.
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { writeFileDurably } from '../store/durable-file.js';
import type { IPv4Address } from '../../config/types.js';

export interface AddressBook {
  get(clientId: string): Promise<IPv4Address | undefined>;
  set(clientId: string, address: IPv4Address): Promise<void>;
}

const MAX_ENTRIES = 4096;

export class MemoryAddressBook implements AddressBook {
  protected readonly entries = new Map<string, IPv4Address>();

  async get(clientId: string): Promise<IPv4Address | undefined> {
    return this.entries.get(clientId);
  }

  async set(clientId: string, address: IPv4Address): Promise<void> {
    this.entries.delete(clientId); // re-insert: Map order is the age order
    this.entries.set(clientId, address);
    while (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
  }
}

/** One JSON file (`{clientId: address}`), replaced by write-temporary + fsync + rename. */
export class FileAddressBook extends MemoryAddressBook {
  private loaded?: Promise<void>;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {
    super();
  }

  private load(): Promise<void> {
    this.loaded ??= readFile(this.path, 'utf8').then(
      (text) => {
        const data = JSON.parse(text) as Record<string, string>;
        for (const [k, v] of Object.entries(data)) if (typeof v === 'string') this.entries.set(k, v);
      },
      () => undefined, // none yet, or unreadable: hints only
    );
    return this.loaded;
  }

  override async get(clientId: string): Promise<IPv4Address | undefined> {
    await this.load();
    return super.get(clientId);
  }

  override async set(clientId: string, address: IPv4Address): Promise<void> {
    await this.load();
    if (this.entries.get(clientId) === address) return;
    await super.set(clientId, address);
    const snapshot = JSON.stringify(Object.fromEntries(this.entries));
    this.writing = this.writing.then(() => this.write(snapshot)).catch(() => undefined);
    await this.writing;
  }

  private async write(text: string): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFileDurably(dirname(this.path), basename(this.path), text);
  }
}
