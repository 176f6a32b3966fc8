// Typed configuration: what the rest of the agent sees. Only src/config/load.ts builds it from raw input.

export type InterfaceName = string;
export type IPv4Address = string;
/** An IPv4 or IPv6 address in its text form: the engine's values stay family-neutral. */
export type IPAddress = string;

/** `multicast` is the extra groups of `multicastGroups` (e.g. Yeelight's 239.255.255.250:1982). */
export type ProtocolName = 'mdns' | 'ssdp' | 'broadcast' | 'multicast';
export const PROTOCOL_NAMES: readonly ProtocolName[] = ['mdns', 'ssdp', 'broadcast', 'multicast'];

/** Which way a pod takes part: `lan-to-pod` receives only, `pod-to-lan` sends only. */
export type Direction = 'both' | 'lan-to-pod' | 'pod-to-lan';
export const DIRECTIONS: readonly Direction[] = ['both', 'lan-to-pod', 'pod-to-lan'];

/** How a pod's packet is re-emitted on the LAN (DESIGN.md, "Reflection rules"). */
export type SourceMode = 'auto' | 'preserve' | 'node';
export const SOURCE_MODES: readonly SourceMode[] = ['auto', 'preserve', 'node'];

export interface MulticastGroup {
  group: IPv4Address;
  port: number;
}

export interface PodOptions {
  protocols: ProtocolName[];
  direction: Direction;
  /** mDNS service types (e.g. `_hap._tcp.local`); empty means all. */
  services: string[];
  /** UDP broadcast ports this pod takes part in; empty means the agent's list. */
  broadcastPorts: number[];
}

/** A pod named in static config or by --pod. */
export interface StaticPod {
  /** `A`, or `A,B` for a dual-stack pod (one address per family); IPv6 in canonical text. */
  address: string;
  name?: string;
  options: PodOptions;
}

export interface RateLimit {
  /** Packets per second allowed from one source address; 0 turns the limit off. */
  perSourcePps: number;
  perSourceBurst: number;
  /** Packets per second relayed from one pod; 0 turns the limit off. */
  perPodPps: number;
  perPodBurst: number;
}

export type LogFormat = 'auto' | 'json' | 'text';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface KubernetesConfig {
  enabled: boolean;
  nodeName: string;
}

export interface AgentConfig {
  lanInterface: InterfaceName;
  protocols: ProtocolName[];
  broadcastPorts: number[];
  multicastGroups: MulticastGroup[];
  sourceMode: SourceMode;
  /** Pod ranges the LAN routes to (a BGP-peered router): `auto` keeps these pods' own source. Empty:
   *  detected from the node's routes (src/links/reach.ts). */
  routedPodCidrs: string[];
  pods: StaticPod[];
  podDefaults: PodOptions;
  rateLimit: RateLimit;
  dedupeWindowMs: number;
  /** How often pod links are re-resolved (pod restarts make new veths). */
  linkScanMs: number;
  controlSocket: string;
  /** host:port for /metrics, /healthz and /readyz, or '' for none. */
  metricsAddress: string;
  log: { level: LogLevel; format: LogFormat };
  kubernetes: KubernetesConfig;
  /** In `node` source mode, what happens to mDNS A records naming the pod (unreachable from the LAN). */
  mdnsAddressRecords: 'rewrite' | 'strip' | 'keep';
  /** How long a `node`-mode session waits for unicast replies (SSDP MX is at most 5 s). */
  sessionTtlMs: number;
  /** How many `node`-mode sessions one pod may hold at once (its share of the table). */
  sessionsPerPod: number;
  /** The `ipam:` section; undefined when the file has none (the agent then serves no CNI calls). */
  ipam?: IpamConfig;
}

// ---------------------------------------------------------------------------------------------------
// `ipam:` (issue 10; store `kubernetes` is issue 11, mode `dhcp` issue 12). Parsed by src/config/ipam.ts.
// ---------------------------------------------------------------------------------------------------

/** An inclusive run of IPv4 addresses; a CIDR, `A-B` or a single address in the config. */
export interface AddressRange {
  start: IPv4Address;
  end: IPv4Address;
  /** As written in the config, for messages. */
  text: string;
}

export interface Cidr {
  network: IPv4Address;
  prefix: number;
  text: string;
}

export interface IpamPin {
  /** NAMESPACE/NAME */
  pod: string;
  address: IPv4Address;
}

export interface IpamRoute {
  dst: string;
  gw?: IPv4Address;
}

export type IpamStoreConfig =
  | { kind: 'file'; directory: string }
  /** issue 11: blocks claimed through the Kubernetes API. */
  | {
      kind: 'kubernetes';
      blockSize: number;
      /** Garbage collection (issue 11): grace before a leak is freed, and time between passes. */
      gcGraceMs?: number;
      gcIntervalMs?: number;
    };

export interface IpamProbeConfig {
  enabled: boolean;
  /** How long the RFC 5227-style probe waits for an answer (RFC 5227's own timing is 1-2 s; we shorten it). */
  timeoutMs: number;
  /** How long an address that answered is held back. */
  holdBackMs: number;
}

export interface IpamConfig {
  /** `pool` hands out from `ranges`; `dhcp` (issue 12) leases from the LAN's DHCP server. */
  mode: 'pool' | 'dhcp';
  /** The LAN's CIDR: pods get its prefix length, so their broadcast address is the LAN's. */
  subnet: Cidr;
  /** Inside `subnet`; empty only in dhcp mode. */
  ranges: AddressRange[];
  /** Never handed out: the DHCP pool, static devices. The subnet's network/broadcast are always excluded. */
  exclude: AddressRange[];
  /** The pods' next hop as the main plugin uses it; 'node' = the node's own address on the LAN link (ptp needs one the node owns). */
  gateway: IPv4Address | 'node';
  routes: IpamRoute[];
  pinned: IpamPin[];
  probe: IpamProbeConfig;
  store: IpamStoreConfig;
  /** The unix socket the shim (lan-reflector-ipam) connects to. */
  socket: string;
  /** The `ipam` section given to the delegate plugin for pods that did not ask; undefined = every pod gets a LAN address. */
  delegate?: Record<string, unknown> & { type: string };
  /**
   * The file store's leak reclaim (src/ipam/reclaim.ts): an allocation older than this, with no
   * route to it through a pod link and (with Kubernetes) no pod, is released. Absent: 10 minutes.
   */
  reclaimAfterMs?: number;
}
