// What the control socket reads from the agent, and the messages it speaks. The server depends on
// this small interface, not on Agent, so it is tested with real EventBus/Counters and plain values.
//
// Wire protocol (newline-delimited JSON over a unix socket):
//   client -> {"cmd":"status"}                  server -> one StatusReply line, then close
//   client -> {"cmd":"tail","filter":{...}}     server -> {"type":"subscribed",...}, then a stream of
//                                                          PacketLine and LostLine lines
//   on a bad request                             server -> {"type":"error","message":...}, then close
import type { AgentConfig, InterfaceName, IPv4Address, PodOptions, ProtocolName } from '../config/types.js';
import type { EventBus } from '../events/bus.js';
import type { PodSpec } from '../pods/types.js';
import type { ProtocolHandler } from '../protocols/types.js';
import type { Counters } from '../reflect/counters.js';
import type { DropReason, Flow, PodAttachment } from '../reflect/types.js';

/** One open relayed link, as the status reply shows it (RawLink satisfies it). */
export interface LinkView {
  readonly index: number;
  readonly mtu: number;
  readonly groups: ReadonlySet<IPv4Address>;
  /** The addon's counters for the link's socket (src/wire/native.ts SocketStats). */
  readonly stats: { readonly received: number; readonly sent: number; readonly sendErrors: number } & Partial<
    Omit<SocketCounters, 'received' | 'sent' | 'sendErrors'>
  >;
  /** The socket kind (`ipv4-udp`) and whether it receives at all (a bridge port only sends). */
  readonly kind?: string;
  readonly receive?: boolean;
  /** UDP destination ports the kernel filter passes; null: no filter (every UDP packet). */
  readonly filterPorts?: readonly number[] | null;
}

/** The addon's per-socket counters, as status shows them. */
export interface SocketCounters {
  received: number;
  sent: number;
  sendErrors: number;
  /** recvmmsg calls that returned packets: received / batches is the mean batch. */
  batches: number;
  /** Packets that waited for the socket to become writable. */
  sendQueued: number;
  /** Packets that never left, and why (send-queue-full, too-big, no-buffer-space, closed). */
  sendDropped: number;
  sendDropReasons: Record<string, number>;
  queueDepth: number;
  /** Packets longer than the receive buffer. */
  truncated: number;
}

/** One link's IPv6 state (src/agent/link6-set.ts Link6Status satisfies it). */
export interface Link6View {
  state: string;
  detail?: string;
  open: boolean;
  groups: string[];
  error?: string;
  /** The IPv6 socket's counters: messages past its kernel filter, messages sent. */
  received?: number;
  sent?: number;
}

/** The agent's observable surface that the control socket and the metrics read. Agent satisfies it. */
export interface ControlSource {
  readonly bus: EventBus;
  readonly counters: Counters;
  readonly protocols: { get(name: ProtocolName): ProtocolHandler | undefined };
  readonly config: Pick<AgentConfig, 'lanInterface' | 'protocols' | 'sourceMode'>;
  readonly registry: { all(): PodSpec[] };
  readonly attachments: readonly PodAttachment[];
  readonly links: { readonly links: ReadonlyMap<InterfaceName, LinkView> };
  /** The IPv6 sockets, when the agent relays IPv6: each wanted link's state. */
  readonly links6?: { status(): ReadonlyMap<InterfaceName, Link6View> };
  readonly startedAt: number;
  readonly ready: boolean;
  podProblems(): Map<string, string>;
  /** The node-source-mode session table; absent when no pod needs node source mode. */
  readonly sessions?: { readonly size: number };
  /** The LAN link's own address, when it has one. */
  readonly lanAddress?: { readonly address: IPv4Address; readonly prefixLength: number };
}

/** What `tail` asks for; every field is optional and all given fields must match. */
export interface TailFilter {
  protocols?: ProtocolName[];
  /** A pod's `namespace/name`, its name part, or an address (source, destination or target pod). */
  pod?: string;
  direction?: Flow;
  /** An mDNS service type, e.g. `_hap._tcp` or `_hap._tcp.local`. */
  service?: string;
  drops?: boolean;
}

export type ControlRequest = { cmd: 'status' } | { cmd: 'tail'; filter?: TailFilter };

export interface MdnsQuestionView {
  name: string;
  type: string;
}
export interface MdnsRecordView {
  name: string;
  type: string;
  data: unknown;
}

/** One relayed or dropped packet, decoded for people and scripts. */
export interface PacketLine {
  type: 'packet';
  /** ISO 8601 */
  time: string;
  protocol: ProtocolName;
  direction: Flow;
  ingress: InterfaceName;
  src: IPv4Address;
  srcPort: number;
  dst: IPv4Address;
  dstPort: number;
  size: number;
  /** The opted-in pod the packet came from, or null when it came from the LAN. */
  pod: string | null;
  /** `lan` and pod names the packet was copied to; empty for drops. */
  targets: string[];
  drop: DropReason | null;
  detail: string | null;
  summary: string;
  /** mDNS: `query` or `response`. */
  kind?: string;
  /** mDNS question section. */
  questions?: MdnsQuestionView[];
  /** mDNS answer section. */
  answers?: MdnsRecordView[];
  /** mDNS authority and additional sections. */
  authorities?: MdnsRecordView[];
  additionals?: MdnsRecordView[];
  /** Other protocols: whatever their decoder returned, made JSON-safe. */
  decoded?: unknown;
}

export interface LostLine {
  type: 'lost';
  /** Lines this client missed because it read slower than packets arrived. */
  count: number;
}

export interface SubscribedLine {
  type: 'subscribed';
  filter: TailFilter;
}

export interface ErrorLine {
  type: 'error';
  message: string;
}

export interface PodStatus {
  name: string;
  key: string;
  addresses: IPv4Address[];
  /** The host-side link the pod's packets arrive on (its veth, or a bridge), or null while unknown. */
  link: InterfaceName | null;
  /** Where packets for this pod alone are sent: the veth, or its own bridge port. */
  port: InterfaceName | null;
  /** How the pod's packets go onto the LAN: `preserve` its address, or `node` re-sends them
   *  (`no-node-address` while node mode has no LAN address to send from). */
  sourceMode: 'preserve' | 'node' | 'no-node-address' | null;
  options: PodOptions;
  /** Why the pod is not relayed for yet, or null. */
  problem: string | null;
}

export interface InterfaceStatus {
  name: InterfaceName;
  role: 'lan' | 'pod';
  index: number;
  mtu: number;
  groups: IPv4Address[];
  /** Pods reached through this link (several on a bridge) or bridge port. */
  pods: string[];
  received: number;
  sent: number;
  sendErrors: number;
  /** The link's IPv4 socket: kind, filter and the addon's counters. */
  socket: {
    kind: string;
    receive: boolean;
    /** Ports the kernel filter passes ([] = drops everything: a send-only socket); null = no filter. */
    filterPorts: number[] | null;
  } & SocketCounters;
  /** IPv6 on this link, when the agent relays IPv6 (absent otherwise). */
  ipv6?: Link6View;
}

export interface FlowCounts {
  received: number;
  relayed: number;
  emitted: number;
}

export interface StatusReply {
  type: 'status';
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  ready: boolean;
  lanInterface: InterfaceName;
  /** The LAN link's address and prefix, e.g. 192.168.4.2/24, or null when it has none. */
  lanAddress: string | null;
  protocols: ProtocolName[];
  sourceMode: string;
  pods: PodStatus[];
  interfaces: InterfaceStatus[];
  /** Per protocol, per direction, since the agent started. */
  packets: Record<string, Partial<Record<Flow, FlowCounts>>>;
  /** Per protocol (or `unknown`), per reason. */
  dropped: Record<string, Partial<Record<DropReason, number>>>;
  /** Entries in the node-source-mode session table (0 when there is none). */
  sessions: number;
  tailClients: number;
}
