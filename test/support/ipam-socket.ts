// Speaks the shim's wire format (src/ipam/shim-protocol.ts) to an agent's IPAM socket directly, as
// lan-reflector-ipam would after a runtime exec'd it: for storms of thousands of CNI calls, where
// forking the shim for each would measure fork, not the IPAM. Part of every storm still goes through
// the real shim (test/support/cni.ts).
import { connect } from 'node:net';
import { encodeRequest, MAGIC } from '../../src/ipam/shim-protocol.js';

export interface SocketCniCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS';
  containerId: string;
  ifname?: string;
  netns?: string;
  /** CNI_ARGS pairs (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID). */
  args?: Record<string, string>;
  config: Record<string, unknown>;
  timeoutMs?: number;
}

export interface SocketCniReply {
  code: number;
  stdout: string;
  json?: any;
}

export function cniOverSocket(socket: string, call: SocketCniCall): Promise<SocketCniReply> {
  const env: Record<string, string> = {
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId,
    CNI_IFNAME: call.ifname ?? 'eth0',
    CNI_NETNS: call.netns ?? '/run/netns/none',
    CNI_PATH: '/usr/lib/cni',
  };
  if (call.args)
    env.CNI_ARGS = Object.entries(call.args)
      .map(([k, v]) => `${k}=${v}`)
      .join(';');
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => s.destroy(new Error('no reply in time')), call.timeoutMs ?? 10_000);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', (e) => (clearTimeout(timer), reject(e)));
    s.on('end', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const m = new RegExp(`^${MAGIC} R (\\d+)\\n`).exec(text);
      if (!m) return reject(new Error(`not a reply: ${JSON.stringify(text.slice(0, 80))}`));
      const stdout = text.slice(m[0].length);
      let json: any;
      try {
        json = stdout ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code: Number(m[1]), stdout, json });
    });
    s.end(encodeRequest({ env, stdin: JSON.stringify(call.config) }));
  });
}
