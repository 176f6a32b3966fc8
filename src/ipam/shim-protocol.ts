// The agent's side of the shim's wire format (src/ipam/shim/shim.c is the other side):
//   request  "LRIPAM1\n" { "NAME=VALUE" NUL }* NUL <stdin bytes until EOF>
//   reply    "LRIPAM1 R <exit code>\n" <stdout>   or   "LRIPAM1 D <plugin>\n" <stdin for the delegate>
import type { Reply } from './cni/verbs.js';

export const MAGIC = 'LRIPAM1';

export interface ShimRequest {
  env: Record<string, string>;
  stdin: string;
}

/** The request in `buf`, or a reason it is not one. */
export function decodeRequest(buf: Buffer): ShimRequest | string {
  const head = Buffer.from(`${MAGIC}\n`);
  if (buf.length < head.length || !buf.subarray(0, head.length).equals(head))
    return 'not a lan-reflector-ipam request';
  const env: Record<string, string> = {};
  let i = head.length;
  for (;;) {
    const nul = buf.indexOf(0, i);
    if (nul < 0) return 'request ends inside the environment';
    if (nul === i) {
      i++;
      break;
    }
    const entry = buf.toString('utf8', i, nul);
    const eq = entry.indexOf('=');
    // Only the CNI protocol's parameters travel (the shim sends CNI_* only).
    if (eq > 0 && entry.startsWith('CNI_')) env[entry.slice(0, eq)] = entry.slice(eq + 1);
    i = nul + 1;
  }
  return { env, stdin: buf.toString('utf8', i) };
}

export function encodeRequest(r: ShimRequest): Buffer {
  const env = Object.entries(r.env)
    .map(([k, v]) => `${k}=${v}\0`)
    .join('');
  return Buffer.from(`${MAGIC}\n${env}\0${r.stdin}`);
}

export function encodeReply(r: Reply): Buffer {
  if (r.kind === 'reply') return Buffer.from(`${MAGIC} R ${r.code}\n${r.stdout}`);
  return Buffer.from(`${MAGIC} D ${r.plugin}\n${r.stdin}`);
}
