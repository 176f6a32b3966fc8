/**
 * Debian's ISC DHCP client (isc-dhcp-client) as the node's own DHCP client, inside a node
 * namespace of a bed, for the ipam.mode dhcp coexistence test.
 *
 * It must change nothing outside the test: `-sf /bin/true` replaces dhclient-script (the script is
 * what rewrites /etc/resolv.conf, addresses and routes; dhclient itself only sends, receives and
 * writes its lease file), and its configuration, lease and pid files live in a temporary directory
 * (`-cf`, `-lf`, `-pf`), so /etc/dhcp and /var/lib/dhcp are never read or written. `-d` keeps it in
 * the foreground, in the bed's process group, so teardown ends it. The node keeps the address the
 * bed gave it; the test leases that same address to the node (a reservation on the server), so
 * dhclient's unicast renewals (RENEWING, from ciaddr) have a source address the node really holds.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bed, Proc } from './netns.js';

export interface Dhclient {
  proc: Proc;
  dir: string;
  /** Every address dhclient reported binding (`bound to A`), in order: once per ACK it took. */
  bound(): string[];
  /** The `fixed-address` of every lease block in its lease file. */
  leasedAddresses(): string[];
  stop(): Promise<void>;
  remove(): void;
}

export function startDhclient(bed: Bed, ns: string, link: string, o: { hostname: string }): Dhclient {
  const dir = mkdtempSync(join(tmpdir(), 'lr-dhclient-'));
  const conf = join(dir, 'dhclient.conf');
  const leases = join(dir, 'dhclient.leases');
  writeFileSync(
    conf,
    [
      // The README's advice for a node whose router is dnsmasq: a client identifier (01 + MAC), so
      // the server never falls back to matching the node's lease by MAC alone (the pods share it).
      'send dhcp-client-identifier = hardware;',
      `send host-name "${o.hostname}";`,
      // T1/T2 asked for explicitly: dnsmasq sends configured options only when the client asks.
      'request subnet-mask, routers, dhcp-lease-time, dhcp-renewal-time, dhcp-rebinding-time;',
      '',
    ].join('\n'),
  );
  const proc = bed.spawn(ns, [
    'dhclient',
    '-4',
    '-d',
    '-v',
    '-cf',
    conf,
    '-lf',
    leases,
    '-pf',
    join(dir, 'dhclient.pid'),
    '-sf',
    '/bin/true',
    link,
  ]);
  return {
    proc,
    dir,
    bound: () => [...proc.stderr.matchAll(/^bound to ([\d.]+)/gm)].map((m) => m[1]),
    leasedAddresses: () => {
      let text = '';
      try {
        text = readFileSync(leases, 'utf8');
      } catch {
        return [];
      }
      return [...text.matchAll(/^\s*fixed-address ([\d.]+);/gm)].map((m) => m[1]);
    },
    stop: async () => void (await proc.stop()),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
