// The one entry from raw input (flags, environment, YAML file) to a typed AgentConfig. Flags override
// the file; every refusal names the field and what would be valid.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './errors.js';
import {
  DIRECTIONS,
  PROTOCOL_NAMES,
  SOURCE_MODES,
  type AgentConfig,
  type PodOptions,
  type StaticPod,
} from './types.js';
import { loadIpamConfig } from './ipam.js';
import * as v from './validate.js';
import { SERVICE_TYPE, normalizeServiceType } from '../protocols/mdns.js';

/** Flags as the CLI parsed them; undefined means "not given". */
export interface AgentFlags {
  config?: string;
  lanInterface?: string;
  pod?: string[];
  protocols?: string;
  sourceMode?: string;
  broadcast?: string[];
  broadcastPort?: string[];
  multicastGroup?: string[];
  controlSocket?: string;
  metricsAddress?: string;
  logLevel?: string;
  logFormat?: string;
  kubernetes?: boolean;
  nodeName?: string;
}

export const DEFAULT_CONTROL_SOCKET = '/run/lan-reflector/control.sock';

const TOP_KEYS = [
  'lanInterface',
  'protocols',
  'broadcastPorts',
  'multicastGroups',
  'sourceMode',
  'routedPodCidrs',
  'pods',
  'podDefaults',
  'rateLimit',
  'dedupeWindowMs',
  'linkScanMs',
  'controlSocket',
  'metricsAddress',
  'log',
  'kubernetes',
  'mdnsAddressRecords',
  'sessionTtlMs',
  'ipam',
  'sessionsPerPod',
] as const;
const POD_KEYS = ['address', 'name', 'protocols', 'direction', 'services', 'broadcastPorts'];
const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;
const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):\d{1,5}$/;

export function podOptions(raw: Record<string, unknown>, field: string, base: PodOptions): PodOptions {
  return {
    protocols:
      raw.protocols === undefined
        ? base.protocols
        : v.listOf(raw.protocols, `${field}.protocols`, PROTOCOL_NAMES),
    direction:
      raw.direction === undefined ? base.direction : v.oneOf(raw.direction, `${field}.direction`, DIRECTIONS),
    services:
      raw.services === undefined
        ? base.services
        : v
            .list(raw.services, `${field}.services`)
            .map((s, i) =>
              normalizeServiceType(
                v.str(s, `${field}.services[${i}]`, SERVICE_TYPE, 'a service type like _hap._tcp'),
              ),
            ),
    broadcastPorts:
      raw.broadcastPorts === undefined
        ? base.broadcastPorts
        : v.broadcastPorts(raw.broadcastPorts, `${field}.broadcastPorts`),
  };
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('--config', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError('--config', `${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  return v.record(doc, path);
}

export function loadConfig(flags: AgentFlags, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const file = flags.config ? readConfigFile(flags.config) : {};
  v.knownKeys(file, '', TOP_KEYS);
  const pick = <T>(flag: T | undefined, key: (typeof TOP_KEYS)[number]): unknown => flag ?? file[key];

  const lanRaw = pick(flags.lanInterface, 'lanInterface');
  if (lanRaw === undefined || lanRaw === '')
    throw new ConfigError(
      'lanInterface',
      "is required: name the node's LAN interface (--lan-interface eth0)",
    );
  const lanInterface = v.str(
    lanRaw,
    'lanInterface',
    IFNAME,
    'an interface name (1-15 characters, e.g. eth0)',
  );

  const protocols = v.listOf(pick(flags.protocols, 'protocols') ?? ['mdns'], 'protocols', PROTOCOL_NAMES);
  if (protocols.length === 0)
    throw new ConfigError('protocols', `is empty: name at least one of ${PROTOCOL_NAMES.join(', ')}`);

  // `--broadcast wiz,kasa` and repeated flags both work.
  const flagPorts = [...(flags.broadcast ?? []), ...(flags.broadcastPort ?? [])].flatMap((f) =>
    v.list(f, 'broadcastPorts'),
  );
  const broadcastPorts = v.broadcastPorts(
    flagPorts.length ? flagPorts : file.broadcastPorts,
    'broadcastPorts',
  );
  const multicastGroups = v.multicastGroups(
    flags.multicastGroup?.length ? flags.multicastGroup : file.multicastGroups,
    'multicastGroups',
  );
  // Naming ports or groups is asking for them: switch their protocol on.
  if (broadcastPorts.length && !protocols.includes('broadcast')) protocols.push('broadcast');
  if (multicastGroups.length && !protocols.includes('multicast')) protocols.push('multicast');
  if (protocols.includes('broadcast') && broadcastPorts.length === 0)
    throw new ConfigError(
      'broadcastPorts',
      'is empty but protocols include broadcast: name ports (--broadcast wiz,kasa or --broadcast-port 38899)',
    );
  if (protocols.includes('multicast') && multicastGroups.length === 0)
    throw new ConfigError(
      'multicastGroups',
      'is empty but protocols include multicast: name GROUP:PORT (--multicast-group 239.255.255.250:1982)',
    );
  const sourceMode = v.oneOf(pick(flags.sourceMode, 'sourceMode') ?? 'auto', 'sourceMode', SOURCE_MODES);

  const defaultsRaw = v.record(file.podDefaults, 'podDefaults');
  v.knownKeys(defaultsRaw, 'podDefaults', POD_KEYS.slice(2));
  const podDefaults = podOptions(defaultsRaw, 'podDefaults', {
    protocols,
    direction: 'both',
    services: [],
    broadcastPorts: [],
  });

  const pods: StaticPod[] = [];
  if (flags.pod?.length) {
    flags.pod.forEach((a, i) => {
      const address = v.podAddresses(a, `--pod[${i}]`).join(',');
      pods.push({ address, options: podOptions({}, '', podDefaults) });
    });
  } else {
    const rawPods = file.pods ?? [];
    if (!Array.isArray(rawPods)) throw new ConfigError('pods', 'is not a list of {address, ...}');
    rawPods.forEach((p, i) => {
      const f = `pods[${i}]`;
      const r = v.record(p, f);
      v.knownKeys(r, f, POD_KEYS);
      const name = r.name === undefined ? undefined : v.str(r.name, `${f}.name`, /^.{1,253}$/, 'a name');
      const address = v.podAddresses(r.address, `${f}.address`).join(',');
      pods.push({ address, name, options: podOptions(r, f, podDefaults) });
    });
  }
  const seen = new Set<string>();
  for (const [i, p] of pods.entries()) {
    for (const a of p.address.split(',')) {
      if (seen.has(a)) throw new ConfigError(`pods[${i}].address`, `${a} is listed twice`);
      seen.add(a);
    }
  }

  const rl = v.record(file.rateLimit, 'rateLimit');
  v.knownKeys(rl, 'rateLimit', ['perSourcePps', 'perSourceBurst', 'perPodPps', 'perPodBurst']);
  // A bucket smaller than one token would drop everything: a burst is at least 1.
  const rate = (k: string, d: number) =>
    rl[k] === undefined ? d : v.int(rl[k], `rateLimit.${k}`, k.endsWith('Burst') ? 1 : 0, 10_000_000);

  const log = v.record(file.log, 'log');
  v.knownKeys(log, 'log', ['level', 'format']);
  const kube = v.record(file.kubernetes, 'kubernetes');
  v.knownKeys(kube, 'kubernetes', ['enabled', 'nodeName']);
  const kubeEnabled =
    flags.kubernetes ?? (kube.enabled === undefined ? false : v.bool(kube.enabled, 'kubernetes.enabled'));
  const nodeName =
    flags.nodeName ??
    (kube.nodeName === undefined
      ? undefined
      : v.str(kube.nodeName, 'kubernetes.nodeName', /^[a-z0-9.-]{1,253}$/, 'a node name')) ??
    env.NODE_NAME ??
    '';
  if (kubeEnabled && !nodeName)
    throw new ConfigError(
      'kubernetes.nodeName',
      'is required with --kubernetes: set NODE_NAME from the downward API (spec.nodeName) or --node-name',
    );

  const metricsRaw = pick(flags.metricsAddress, 'metricsAddress') ?? '';
  const controlRaw = pick(flags.controlSocket, 'controlSocket') ?? DEFAULT_CONTROL_SOCKET;
  return {
    lanInterface,
    protocols,
    broadcastPorts,
    multicastGroups,
    sourceMode,
    routedPodCidrs: v.cidrs(file.routedPodCidrs, 'routedPodCidrs'),
    pods,
    podDefaults,
    rateLimit: {
      perSourcePps: rate('perSourcePps', 500),
      perSourceBurst: rate('perSourceBurst', 1000),
      perPodPps: rate('perPodPps', 500),
      perPodBurst: rate('perPodBurst', 1000),
    },
    dedupeWindowMs:
      file.dedupeWindowMs === undefined ? 30 : v.int(file.dedupeWindowMs, 'dedupeWindowMs', 0, 10_000),
    linkScanMs: file.linkScanMs === undefined ? 30_000 : v.int(file.linkScanMs, 'linkScanMs', 100, 3_600_000),
    controlSocket: v.str(controlRaw, 'controlSocket', /^\/.+/, 'an absolute path'),
    metricsAddress:
      metricsRaw === ''
        ? ''
        : v.str(metricsRaw, 'metricsAddress', HOST_PORT, 'HOST:PORT (e.g. 127.0.0.1:9412)'),
    log: {
      level: v.oneOf(flags.logLevel ?? log.level ?? 'info', 'log.level', [
        'error',
        'warn',
        'info',
        'debug',
      ] as const),
      format: v.oneOf(flags.logFormat ?? log.format ?? 'auto', 'log.format', [
        'auto',
        'json',
        'text',
      ] as const),
    },
    kubernetes: { enabled: kubeEnabled, nodeName },
    mdnsAddressRecords: v.oneOf(file.mdnsAddressRecords ?? 'rewrite', 'mdnsAddressRecords', [
      'rewrite',
      'strip',
      'keep',
    ] as const),
    sessionTtlMs:
      file.sessionTtlMs === undefined ? 10_000 : v.int(file.sessionTtlMs, 'sessionTtlMs', 1000, 300_000),
    ipam: loadIpamConfig(file.ipam),
    sessionsPerPod:
      file.sessionsPerPod === undefined ? 64 : v.int(file.sessionsPerPod, 'sessionsPerPod', 1, 1024),
  };
}
