// avahi-daemon as a real peer: a private config, services and /run in a mount namespace of its own,
// so the host's avahi (if any) is untouched.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bed, Proc } from './netns.js';

export interface AvahiOptions {
  /** The interface avahi serves (allow-interfaces). */
  iface: string;
  ipv4?: boolean;
  ipv6?: boolean;
  /** Services to publish: name, type (`_demo._tcp`), port. */
  services?: Array<{ name: string; type: string; port: number }>;
}

export interface Avahi {
  proc: Proc;
  stop(): Promise<void>;
}

/** Starts avahi-daemon in `ns` and resolves once it says "Server startup complete". */
export async function startAvahi(bed: Bed, ns: string, o: AvahiOptions): Promise<Avahi> {
  const dir = mkdtempSync(join(tmpdir(), 'lr-avahi-'));
  const yes = (b: boolean | undefined) => (b ? 'yes' : 'no');
  writeFileSync(
    join(dir, 'avahi-daemon.conf'),
    `[server]\nuse-ipv4=${yes(o.ipv4 ?? true)}\nuse-ipv6=${yes(o.ipv6)}\nallow-interfaces=${o.iface}\n` +
      'enable-dbus=no\nratelimit-burst=1000\n[publish]\npublish-addresses=yes\n[reflector]\nenable-reflector=no\n',
  );
  for (const [i, s] of (o.services ?? []).entries())
    writeFileSync(
      join(dir, `s${i}.service`),
      '<?xml version="1.0" standalone="no"?><!DOCTYPE service-group SYSTEM "avahi-service.dtd">' +
        `<service-group><name>${s.name}</name><service><type>${s.type}</type><port>${s.port}</port></service></service-group>`,
    );
  const script =
    `mount -t tmpfs tmpfs /run && mkdir -p /run/services && cp ${dir}/*.service /run/services/ 2>/dev/null; ` +
    `mount --bind /run/services /etc/avahi/services && ` +
    `exec avahi-daemon -f ${dir}/avahi-daemon.conf --no-drop-root --no-chroot --no-rlimits`;
  const proc = bed.spawn(ns, ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script]);
  try {
    await proc.waitForLine(/Server startup complete/, { stream: 'stderr', timeoutMs: 20_000 });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    proc,
    stop: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
