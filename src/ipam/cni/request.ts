// One CNI call as the shim forwards it: the runtime's CNI_* environment and the config from stdin,
// checked as CNI spec 1.1 section 2 ("Parameters", per-operation required variables) says.
import { CNI_ERR, cniError, isSupported, type CniError, type CniVersion } from './result.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';
const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'];

export interface CniRequest {
  command: CniCommand;
  cniVersion: CniVersion;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS, `K=V;K=V`. */
  args: Record<string, string>;
  path: string;
  /** The whole network configuration from stdin (the main plugin's, with our `ipam` inside). */
  config: Record<string, unknown>;
}

/** CNI spec 1.1, "Parameters": which variables each operation needs. */
const REQUIRED: Record<CniCommand, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: ['CNI_PATH'],
  STATUS: [],
  VERSION: [],
};

/** CNI spec 1.1, "Parameters": CNI_CONTAINERID starts alphanumeric, then alphanumerics, `_`, `.`, `-`. */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Linux IFNAMSIZ (16 with the NUL), no `/`, no whitespace, no `:`; never `.` or `..`. */
const IFNAME = /^[^\s/:]{1,15}$/;
/**
 * `ranges` and `routes` are what flannel's plugin writes into the ipam section it hands on (its node
 * subnet and the cluster network, as it would for host-local): accepted, and passed to the delegate.
 */
const IPAM_KEYS = ['type', 'socket', 'ranges', 'routes'];

export function parseArgs(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (s ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

/** The request, or the spec's error for it (in the config's version when that is known). */
export function parseRequest(env: Record<string, string>, stdin: string): CniRequest | CniError {
  const command = env.CNI_COMMAND as CniCommand;
  if (!COMMANDS.includes(command))
    return cniError(
      '1.1.0',
      CNI_ERR.invalidEnv,
      'invalid CNI_COMMAND',
      `CNI_COMMAND=${JSON.stringify(env.CNI_COMMAND ?? '')}; want one of ${COMMANDS.join(', ')}`,
    );
  let config: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(stdin);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not a JSON object');
    config = parsed as Record<string, unknown>;
  } catch (err) {
    return cniError(
      '1.1.0',
      CNI_ERR.decode,
      'cannot decode the network configuration',
      (err as Error).message,
    );
  }
  const v = config.cniVersion;
  if (command !== 'VERSION' && !isSupported(v))
    return cniError(
      typeof v === 'string' ? v : '1.1.0',
      CNI_ERR.incompatibleVersion,
      'incompatible CNI version',
      `config cniVersion ${JSON.stringify(v)}; lan-reflector-ipam supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0`,
    );
  const cniVersion = (isSupported(v) ? v : '1.1.0') as CniVersion;
  // GC and STATUS are 1.1.0 operations: an older config cannot ask for them (as skel refuses them).
  if ((command === 'GC' || command === 'STATUS') && cniVersion !== '1.1.0')
    return cniError(
      cniVersion,
      CNI_ERR.incompatibleVersion,
      `config version does not allow ${command}`,
      `${command} needs cniVersion 1.1.0, the config has ${cniVersion}`,
    );
  const missing = REQUIRED[command].filter((k) => !env[k]);
  if (missing.length)
    return cniError(
      cniVersion,
      CNI_ERR.invalidEnv,
      `missing ${missing.join(', ')}`,
      `${command} needs ${REQUIRED[command].join(', ')}`,
    );
  const containerId = env.CNI_CONTAINERID ?? '';
  if (containerId && !CONTAINER_ID.test(containerId))
    return cniError(
      cniVersion,
      CNI_ERR.invalidEnv,
      'invalid CNI_CONTAINERID',
      `${JSON.stringify(containerId)} must match ${CONTAINER_ID.source}`,
    );
  const ifname = env.CNI_IFNAME ?? '';
  if (ifname && (!IFNAME.test(ifname) || ifname === '.' || ifname === '..'))
    return cniError(
      cniVersion,
      CNI_ERR.invalidEnv,
      'invalid CNI_IFNAME',
      `${JSON.stringify(ifname)} is not a Linux interface name`,
    );
  if (command !== 'VERSION') {
    const ipam = config.ipam;
    if (typeof ipam !== 'object' || ipam === null || Array.isArray(ipam))
      return cniError(
        cniVersion,
        CNI_ERR.invalidConfig,
        'the network configuration has no ipam section',
        'lan-reflector-ipam is an IPAM plugin: the main plugin (ptp, bridge) names it in "ipam"',
      );
    for (const [k, val] of Object.entries(ipam))
      if (!IPAM_KEYS.includes(k))
        return cniError(
          cniVersion,
          CNI_ERR.unsupportedField,
          `unsupported field ipam.${k}`,
          `ipam.${k}=${JSON.stringify(val)}: the address plan lives in the agent's ipam: config; the CNI config takes only ${IPAM_KEYS.join(', ')}`,
        );
  }
  return {
    command,
    cniVersion,
    containerId,
    netns: env.CNI_NETNS ?? '',
    ifname,
    args: parseArgs(env.CNI_ARGS),
    path: env.CNI_PATH ?? '',
    config,
  };
}

export const isCniError = (x: CniRequest | CniError): x is CniError => 'code' in x && 'msg' in x;
