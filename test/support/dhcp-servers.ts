/**
 * Real DHCP servers from Debian for the dhcp IPAM's tests, run in a LAN device namespace of a bed:
 * dnsmasq (dnsmasq-base) and ISC Kea (kea-dhcp4-server). Each writes its lease file into a
 * temporary directory the test reads, as a user would read the router's lease table.
 *
 * Facts that shaped this: dnsmasq in a namespace needs --bind-dynamic (with the default wildcard
 * socket its broadcast replies fail with "No such device"); dnsmasq pings an address for ~3 s
 * before it offers it; both lease per client identifier.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bed, Proc } from './netns.js';

/** The client identifier the README documents: type 0, then `lan-reflector:NAMESPACE/NAME`, as hex. */
export function documentedClientId(namespace: string, name: string): string {
  const bytes = Buffer.concat([Buffer.from([0]), Buffer.from(`lan-reflector:${namespace}/${name}`, 'ascii')]);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export interface ServerLease {
  address: string;
  /** The hardware address the lease was granted to (chaddr). */
  mac: string;
  clientId: string;
  hostname: string;
  /** Seconds since the epoch the lease ends (0 for an expired or released Kea row). */
  expires: number;
}

export interface DhcpServer {
  proc: Proc;
  dir: string;
  /** The server's lease table now (released leases are gone from it). */
  leases(): ServerLease[];
  stop(): Promise<void>;
  /** Starts the same server again on the same lease file. */
  restart(): Promise<DhcpServer>;
  remove(): void;
}

export interface PoolOptions {
  /** First and last address of the dynamic pool. */
  first: string;
  last: string;
  leaseSeconds: number;
  t1Seconds?: number;
  t2Seconds?: number;
  /** Client identifier (hex) → fixed address. */
  reservations?: Array<{ clientId: string; address: string }>;
}

const serverDir = (): string => mkdtempSync(join(tmpdir(), 'lr-dhcpd-'));

export async function startDnsmasq(
  bed: Bed,
  ns: string,
  o: PoolOptions,
  dir = serverDir(),
): Promise<DhcpServer> {
  const leaseFile = join(dir, 'dnsmasq.leases');
  const argv = [
    'dnsmasq',
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--port=0', // DHCP only
    '--bind-dynamic',
    '--interface=eth0',
    `--pid-file=${join(dir, 'dnsmasq.pid')}`,
    `--dhcp-leasefile=${leaseFile}`,
    `--dhcp-range=${o.first},${o.last},255.255.255.0,${o.leaseSeconds}`,
    '--dhcp-authoritative',
    '--log-dhcp',
    '--log-facility=-',
  ];
  if (o.t1Seconds) argv.push(`--dhcp-option=option:T1,${o.t1Seconds}`);
  if (o.t2Seconds) argv.push(`--dhcp-option=option:T2,${o.t2Seconds}`);
  for (const r of o.reservations ?? []) argv.push(`--dhcp-host=id:${r.clientId},${r.address}`);
  const proc = bed.spawn(ns, argv);
  await proc.waitForLine(/DHCP, IP range/, { stream: 'stderr', timeoutMs: 10_000 });
  const self: DhcpServer = {
    proc,
    dir,
    // dnsmasq's lease file: "expiry MAC address hostname client-id" per line, rewritten on each change.
    leases: () => {
      let text = '';
      try {
        text = readFileSync(leaseFile, 'utf8');
      } catch {
        return [];
      }
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [expires, mac, address, hostname, clientId] = l.split(' ');
          return { address, mac, hostname, clientId, expires: Number(expires) };
        });
    },
    stop: async () => void (await proc.stop()),
    restart: () => startDnsmasq(bed, ns, o, dir),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  return self;
}

export async function startKea(bed: Bed, ns: string, o: PoolOptions, dir = serverDir()): Promise<DhcpServer> {
  const leaseFile = join(dir, 'kea-leases4.csv');
  const config = {
    Dhcp4: {
      'interfaces-config': { interfaces: ['eth0'], 'dhcp-socket-type': 'raw' },
      // lfc-interval 0: no lease-file cleanup process; the CSV keeps every change, last row wins.
      'lease-database': { type: 'memfile', persist: true, name: leaseFile, 'lfc-interval': 0 },
      'valid-lifetime': o.leaseSeconds,
      ...(o.t1Seconds ? { 'renew-timer': o.t1Seconds } : {}),
      ...(o.t2Seconds ? { 'rebind-timer': o.t2Seconds } : {}),
      'host-reservation-identifiers': ['client-id', 'hw-address'],
      subnet4: [
        {
          id: 1,
          subnet: '198.18.4.0/24',
          pools: [{ pool: `${o.first} - ${o.last}` }],
          reservations: (o.reservations ?? []).map((r) => ({
            'client-id': r.clientId,
            'ip-address': r.address,
          })),
        },
      ],
      loggers: [{ name: 'kea-dhcp4', output_options: [{ output: 'stdout' }], severity: 'INFO' }],
    },
  };
  const configPath = join(dir, 'kea-dhcp4.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const proc = bed.spawn(ns, ['kea-dhcp4', '-c', configPath], {
    env: { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir },
  });
  await proc.waitForLine(/DHCP4_STARTED|DHCP4_CONFIG_COMPLETE/, { timeoutMs: 15_000 });
  const self: DhcpServer = {
    proc,
    dir,
    // Kea's memfile CSV: a header, then one row per change of a lease; the last row of an address wins.
    leases: () => {
      let text = '';
      try {
        text = readFileSync(leaseFile, 'utf8');
      } catch {
        return [];
      }
      const [header, ...rows] = text.split('\n').filter(Boolean);
      const col = header.split(',');
      const at = (name: string): number => col.indexOf(name);
      const last = new Map<string, ServerLease & { state: number }>();
      for (const r of rows) {
        const f = r.split(',');
        last.set(f[at('address')], {
          address: f[at('address')],
          mac: f[at('hwaddr')],
          clientId: f[at('client_id')],
          hostname: f[at('hostname')],
          expires: Number(f[at('expire')]),
          state: Number(f[at('state')]),
        });
      }
      const now = Date.now() / 1000;
      // A released (or deleted) lease is written again with valid_lifetime 0 / expire in the past.
      return [...last.values()].filter((l) => l.state === 0 && l.expires > now);
    },
    stop: async () => void (await proc.stop()),
    restart: () => startKea(bed, ns, o, dir),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  return self;
}
