// Real UPnP peers on the LAN side: minidlna (a DLNA media server, Debian's minidlna package).
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bed, Proc } from './netns.js';

export const MEDIA_SERVER = 'urn:schemas-upnp-org:device:MediaServer:1';

export interface MiniDlna {
  proc: Proc;
  /** M-SEARCH requesters minidlna logged, in order: who the device saw asking. */
  requesters(): string[];
  stop(): Promise<void>;
}

/** Starts minidlnad in `ns` in the foreground with debug logging; resolves once it serves SSDP. */
export async function startMiniDlna(bed: Bed, ns: string, iface = 'eth0'): Promise<MiniDlna> {
  const dir = mkdtempSync(join(tmpdir(), 'lr-dlna-'));
  mkdirSync(join(dir, 'media'));
  writeFileSync(
    join(dir, 'minidlna.conf'),
    [
      `media_dir=${dir}/media`,
      `db_dir=${dir}/db`,
      `log_dir=${dir}`,
      `network_interface=${iface}`,
      'port=8200',
      'friendly_name=lr-test-dlna',
      'notify_interval=30',
      '',
    ].join('\n'),
  );
  const proc = bed.spawn(ns, ['minidlnad', '-f', join(dir, 'minidlna.conf'), '-P', join(dir, 'pid'), '-d']);
  await proc.waitForLine(/Sending SSDP notifies|HTTP listening on port/, { timeoutMs: 15_000 });
  return {
    proc,
    requesters: () =>
      [...proc.stdout.matchAll(/SSDP M-SEARCH from (\d+\.\d+\.\d+\.\d+):\d+/g)].map((m) => m[1]),
    stop: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
