// `lan-reflector ipam list` and `lan-reflector install-cni`.
import type { Command } from 'commander';
import { chmod, copyFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONTROL_SOCKET } from '../config/load.js';
import { ControlClientError, connectControl, readLines, EXIT_UNREACHABLE } from '../control/client.js';
import type { IpamListing } from '../ipam/service.js';
import { formatClusterListing } from '../ipam/store/kube-listing.js';
import { ipamMigrateCommand } from './ipam-migrate-command.js';

export const SHIM_NAME = 'lan-reflector-ipam';
const SHIM_BUILT = fileURLToPath(new URL(`../../${SHIM_NAME}`, import.meta.url));

async function requestIpam(path: string, timeoutMs = 5000): Promise<IpamListing> {
  const s = await connectControl(path, timeoutMs);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.destroy();
      reject(new ControlClientError(`the agent at ${path} did not answer in time`, EXIT_UNREACHABLE));
    }, timeoutMs);
    readLines(s, (msg) => {
      clearTimeout(timer);
      s.end();
      if (msg.type === 'ipam') resolve(msg as unknown as IpamListing);
      else reject(new ControlClientError(`the agent refused: ${String(msg.message)}`, 1));
    });
    s.on('close', () => {
      clearTimeout(timer);
      reject(new ControlClientError(`the agent at ${path} closed without answering`, EXIT_UNREACHABLE));
    });
    s.write(JSON.stringify({ cmd: 'ipam' }) + '\n');
  });
}

export function formatIpam(l: IpamListing): string {
  const rows = [['ADDRESS', 'POD', 'CONTAINER', 'IF', 'SOURCE', 'SINCE']];
  for (const a of l.allocations)
    rows.push([
      a.address,
      a.pod ? `${a.pod.namespace}/${a.pod.name}` : '-',
      a.owner.containerId.slice(0, 12),
      a.owner.ifname,
      a.source,
      a.since,
    ]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const table = rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
  const lines = [table, '', `${l.allocations.length} assigned, ${l.free} free of ${l.size} in ipam.ranges`];
  if (l.held.length)
    lines.push(
      `held back (answered a probe): ${l.held.map((h) => `${h.address} by ${h.by} until ${h.until}`).join('; ')}`,
    );
  if (l.delegated.length) lines.push(`${l.delegated.length} attachment(s) delegated to ipam.delegate`);
  if (l.cluster) lines.push('', formatClusterListing(l.cluster).trimEnd());
  return lines.join('\n') + '\n';
}

/** Copies the shim to DIR atomically (temporary file in DIR, then rename), as Calico's and Multus's installers do. */
/** Refused rather than created: a bin directory that does not exist is a wrong path (k3s keeps its
 *  plugins elsewhere), and a plugin copied there would never be found by the runtime. */
export class BinDirError extends Error {}

export async function installCni(binDir: string, from = SHIM_BUILT): Promise<string> {
  const dir = await stat(binDir).catch(() => undefined);
  if (!dir?.isDirectory())
    throw new BinDirError(
      `--bin-dir ${binDir}: ${dir ? 'is not a directory' : 'does not exist'}; give the host's CNI bin directory (/opt/cni/bin, or /var/lib/rancher/k3s/data/cni on k3s), mounted into this container`,
    );
  const dest = join(binDir, SHIM_NAME);
  const tmp = join(binDir, `.${SHIM_NAME}.tmp-${process.pid}`);
  try {
    await copyFile(from, tmp);
    await chmod(tmp, 0o755);
    // rename() replaces the file a runtime may be executing right now without "text file busy".
    await rename(tmp, dest);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  return dest;
}

export function ipamCommands(program: Command): void {
  const ipam = program.command('ipam').description("the node's LAN-address IPAM");
  ipam
    .command('list')
    .description(
      'show LAN addresses assigned on this node (address, pod, container, since) and free counts; with the Kubernetes store also the blocks (node, used, free) and allocations of the whole cluster',
    )
    .option('--control-socket <path>', "the agent's control socket", DEFAULT_CONTROL_SOCKET)
    .option('--json', 'print one JSON object')
    .action(async (flags: { controlSocket: string; json?: boolean }) => {
      try {
        const l = await requestIpam(flags.controlSocket);
        process.stdout.write(flags.json ? JSON.stringify(l, null, 2) + '\n' : formatIpam(l));
      } catch (err) {
        if (!(err instanceof ControlClientError)) throw err;
        process.stderr.write(`lan-reflector: ${err.message}\n`);
        process.exit(err.exitCode);
      }
    });
  ipamMigrateCommand(ipam);
  program
    .command('install-cni')
    .description(`copy the ${SHIM_NAME} CNI plugin into the host's CNI bin directory (atomically)`)
    .option(
      '--bin-dir <dir>',
      'the CNI bin directory: /opt/cni/bin, or /var/lib/rancher/k3s/data/cni on k3s',
      '/opt/cni/bin',
    )
    .action(async (flags: { binDir: string }) => {
      try {
        process.stdout.write(`installed ${await installCni(flags.binDir)}\n`);
      } catch (err) {
        if (!(err instanceof BinDirError)) throw err;
        process.stderr.write(`lan-reflector install-cni: ${err.message}\n`);
        process.exitCode = 2;
      }
    });
}
