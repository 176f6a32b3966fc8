// `lan-reflector ipam migrate`: the file store's allocations into the Kubernetes store (issue 11).
// Run on the node while its agent is stopped (pods keep their addresses: they are kernel state; an
// ADD meanwhile fails with error 11 and the runtime retries it, a DEL is spooled by the shim), then
// start the agent with `ipam.store: kubernetes`. The file store is left in place.
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { FileStore } from '../ipam/store/file-store.js';

interface MigrateFlags {
  config: string;
  from?: string;
  node?: string;
  kubeconfig?: string;
}

export function ipamMigrateCommand(ipam: Command): void {
  ipam
    .command('migrate')
    .description(
      "copy this node's allocations from the file store into the Kubernetes store, each at the address it has (idempotent)",
    )
    .requiredOption(
      '--config <path>',
      "the agent's config file (its ipam: section: subnet, ranges, blockSize)",
    )
    .option(
      '--from <dir>',
      'the file store directory (default: ipam.store of the config, or /var/lib/lan-reflector/ipam)',
    )
    .option('--node <name>', 'this node (default: $NODE_NAME)')
    .option('--kubeconfig <path>', 'a kubeconfig (default: in-cluster, then $KUBECONFIG)')
    .action(async (flags: MigrateFlags) => {
      const node = flags.node ?? process.env.NODE_NAME;
      if (!node) fail('--node or NODE_NAME is required');
      const config = loadConfig(
        { config: flags.config, kubernetes: true },
        { ...process.env, NODE_NAME: node },
      );
      const ipam = config.ipam;
      if (!ipam) fail(`${flags.config} has no ipam: section`);
      const from =
        flags.from ?? (ipam.store.kind === 'file' ? ipam.store.directory : '/var/lib/lan-reflector/ipam');
      const blockSize = ipam.store.kind === 'kubernetes' ? ipam.store.blockSize : 26;
      const file = await FileStore.open({ directory: from, node });
      const allocations = await file.list();
      await file.close();
      const { kubeConfigFrom } = await import('../pods/kube/kube-config.js');
      const { clientIpamApi } = await import('../ipam/store/kube-api.js');
      const { migrateToKube } = await import('../ipam/store/kube-migrate.js');
      const api = clientIpamApi(kubeConfigFrom({ kubeconfigPath: flags.kubeconfig }), 10_000);
      const r = await migrateToKube(allocations, { api, node, blockSize, subnet: ipam.subnet.text });
      const out = process.stdout;
      out.write(`${allocations.length} allocation(s) in ${from}\n`);
      out.write(`migrated ${r.migrated.length}, already in the cluster store ${r.alreadyThere.length}\n`);
      if (r.claimed.length) out.write(`claimed block(s) for ${node}: ${r.claimed.join(', ')}\n`);
      for (const f of r.inForeignBlocks)
        out.write(
          `note: ${f.address} lies in a block of ${f.node}; recorded, so ${f.node} never hands it out\n`,
        );
      for (const c of r.conflicts)
        process.stderr.write(
          `conflict: ${c.address} is held in the cluster store by ${c.holder}; left alone\n`,
        );
      if (r.conflicts.length) process.exit(1);
      out.write('no address changed; start the agent with ipam.store: kubernetes\n');
    });
}

function fail(message: string): never {
  process.stderr.write(`lan-reflector ipam migrate: ${message}\n`);
  process.exit(2);
}
