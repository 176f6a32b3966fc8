// Directories the shim and the agent share beside the socket (the DaemonSet mounts the socket's
// directory from the host, so both see them): the shim computes the same paths in shim.c.
import { dirname, join } from 'node:path';
import type { Owner } from './types.js';

export const spoolDir = (socket: string): string => join(dirname(socket), 'ipam-spool');
export const delegatedDir = (socket: string): string => join(dirname(socket), 'ipam-delegated');

/** CNI_CONTAINERID holds no '@' (CNI spec 1.1 "Parameters"), so `<cid>@<ifname>` is unambiguous. */
export const attachmentFile = (o: Owner): string => `${o.containerId}@${o.ifname}`;

export function ownerFromFile(name: string): Owner | undefined {
  const at = name.indexOf('@');
  if (at <= 0 || name.startsWith('.')) return undefined;
  return { containerId: name.slice(0, at), ifname: name.slice(at + 1).replace(/\.del$/, '') };
}
