// The TypeScript face of our socket addon (src/wire/native/*.c, built by scripts/build-native.mjs).
// The addon does I/O only: open a socket bound to a link, set options, attach a classic BPF filter,
// receive in batches (recvmmsg), send in batches (sendmmsg), close. Every decision stays in the
// TypeScript that calls this (STYLE.md example 12).
//
// Received messages live in one buffer and one meta array per socket, both allocated here and
// written by the addon; the batch callback gets reused objects whose `data` views that buffer, so a
// message is valid only during the callback (copy what you keep). Sends are copied into the addon's
// queue at once and leave with one sendmmsg per socket at the end of the receive batch that made
// them, or on a microtask for sends made elsewhere.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export type SocketKind = 'ipv4-udp' | 'ipv6-udp' | 'packet' | 'netlink';

export interface OpenOptions {
  kind: SocketKind;
  /** SO_BINDTODEVICE for the ip kinds; the sll_ifindex bind for packet; ignored for netlink. */
  link: string;
  /** packet only: 0x0806 ARP, 0x0800 IPv4 (DHCP), 0x0003 every protocol. */
  ethertype?: number;
  /** netlink only: RTMGRP_* multicast groups to listen to. */
  groups?: number;
  /** Classic BPF: 8-byte struct sock_filter entries (src/wire/bpf.ts), attached at open. */
  filter?: Buffer;
  /** Default true; false = send-only: no poll, no receive buffers, and the kernel queues nothing. */
  receive?: boolean;
  /** recvmmsg vector (default 32; netlink 8). */
  batch?: number;
  /** Bytes per message buffer (default: the link MTU plus headroom; netlink 32 KiB). */
  bufferSize?: number;
  /** Messages the send queue holds while the socket would block (default 64). */
  sendQueue?: number;
}

/** One received message. `data` is a view valid only during the callback (copy to keep). */
export interface Received {
  /** ipv4-udp: IPv4 header + UDP; ipv6-udp: UDP header + payload; packet: the Ethernet frame; netlink: one datagram. */
  data: Buffer;
  /** ipv6: source address (fe80 without %scope); packet: source MAC 'aa:bb:..'. */
  src?: string;
  /** ipv6: sin6_scope_id. */
  scope?: number;
  /** ipv6: destination from IPV6_PKTINFO. */
  dst?: string;
  /** ipv6: from IPV6_HOPLIMIT. */
  hopLimit?: number;
  /** ipv6 pktinfo / packet sll_ifindex / the bound link for ipv4. */
  ifindex?: number;
  /** The message was longer than the buffer (MSG_TRUNC): `data` holds only its start. */
  truncated?: boolean;
  /** packet: sll_pkttype (0 host, 1 broadcast, 2 multicast, 3 other host, 4 outgoing). */
  pktType?: number;
  /** packet: the frame's ethertype (sll_protocol). */
  protocol?: number;
}

export interface SendTarget {
  /** ipv4-udp: destination (default: the packet's own IPv4 destination); ipv6-udp: destination (required). */
  address?: string;
  /** ipv6-udp: source address, set with IPV6_PKTINFO (freebind: any address). */
  source?: string;
  /** ipv6-udp: IPV6_HOPLIMIT for this message. */
  hopLimit?: number;
  /** ipv6-udp: sin6_scope_id (default: the socket's link). */
  scope?: number;
}

/** Why a send did not leave: each is counted in `stats.sendDropReasons`. */
export type SendDropReason = 'send-queue-full' | 'too-big' | 'closed' | 'no-buffer-space';
export const SEND_DROP_REASONS: readonly SendDropReason[] = [
  'send-queue-full',
  'too-big',
  'closed',
  'no-buffer-space',
];

export interface SocketStats {
  received: number;
  sent: number;
  /** Messages that waited in the queue for the socket to become writable (EAGAIN/ENOBUFS). */
  sendQueued: number;
  /** Messages that never left, by reason in sendDropReasons. */
  sendDropped: number;
  /** Messages the kernel refused (sendmmsg errors other than would-block) or with a bad address. */
  sendErrors: number;
  /** recvmmsg calls that returned messages: received / batches is the mean batch. */
  batches: number;
  sendDropReasons: Record<SendDropReason, number>;
  /** Messages in the queue now. */
  queueDepth: number;
  /** Messages longer than the receive buffer. */
  truncated: number;
}

export class PrivilegeError extends Error {}

// Keep in step with src/wire/native/socket.h (enum meta_index, stat_index, send_result).
const META_WORDS = 16;
const M = {
  length: 0,
  flags: 1,
  ifindex: 2,
  hopLimit: 3,
  scope: 4,
  extra: 5,
  extra2: 6,
  addrLen: 7,
  src: 8,
  dst: 12,
};
const S = {
  received: 0,
  sent: 1,
  sendQueued: 2,
  sendDropped: 3,
  sendErrors: 4,
  batches: 5,
  queueFull: 6,
  tooBig: 7,
  noBuffers: 8,
  queueDepth: 9,
  truncated: 11,
  closed: 12,
};
const STAT_COUNT = 13;
const KINDS: Record<SocketKind, number> = { 'ipv4-udp': 0, 'ipv6-udp': 1, packet: 2, netlink: 3 };
const SEND_RESULT: Array<SendDropReason | 'bad-address' | undefined> = [
  undefined,
  'send-queue-full',
  'too-big',
  'closed',
  'bad-address',
];

type Handle = object;
interface Binding {
  open(
    kind: number,
    link: string,
    options: object,
    onBatch: (count: number) => void,
    onError: (e: Error) => void,
  ): Handle;
  close(h: Handle): void;
  setOption(h: Handle, level: number, name: number, value: number | Uint8Array): void;
  getOption(h: Handle, level: number, name: number): number;
  setFilter(h: Handle, prog: Uint8Array): void;
  send(
    h: Handle,
    data: Uint8Array,
    address?: string,
    source?: string,
    hopLimit?: number,
    scope?: number,
  ): number;
  flush(h: Handle): void;
  ifindex(h: Handle): number;
}

let binding: Binding | undefined;
/** Loads dist/native/lan_reflector.node (this file runs as dist/src/wire/native.js). */
function load(): Binding {
  if (binding) return binding;
  const path = new URL('../../native/lan_reflector.node', import.meta.url).pathname;
  try {
    binding = createRequire(import.meta.url)(path) as Binding;
  } catch (err) {
    throw new Error(
      `cannot load the socket addon ${path}: ${(err as Error).message} ` +
        '(build it with `npm run build`, which needs a C compiler: apt-get install gcc libc6-dev)',
    );
  }
  return binding;
}

// Sockets with queued sends, flushed together: one receive batch on the LAN link fans out into
// many pod links, and every one of them should leave with one sendmmsg.
const dirty: NativeSocket[] = [];
let inBatch = 0;
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i].flush();
  dirty.length = 0;
}

function linkMtu(link: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${link}/mtu`, 'utf8').trim()) || 1500;
  } catch {
    return 1500;
  }
}

/** The per-message object of a batch, reused from batch to batch; addresses are formatted only
 *  when read. */
class Message implements Received {
  data: Buffer = EMPTY;
  ifindex = 0;
  hopLimit?: number;
  scope?: number;
  truncated?: boolean;
  pktType?: number;
  protocol?: number;
  private srcText?: string;
  private dstText?: string;
  constructor(
    private readonly sock: NativeSocket,
    private readonly at: number,
  ) {}
  reset(): void {
    this.srcText = this.dstText = undefined;
  }
  get src(): string | undefined {
    return (this.srcText ??= this.sock.formatAddress(this.at, M.src, true));
  }
  get dst(): string | undefined {
    return (this.dstText ??= this.sock.formatAddress(this.at, M.dst, false));
  }
}
const EMPTY = Buffer.alloc(0);

export class NativeSocket {
  readonly kind: SocketKind;
  readonly link: string;
  readonly ifindex: number;
  private readonly handle: Handle;
  private readonly stat = new Float64Array(STAT_COUNT);
  private readonly buffer?: Buffer;
  private readonly meta?: Int32Array;
  private readonly metaBytes?: Buffer;
  private readonly slot: number;
  private readonly pool: Message[] = [];
  private readonly batchView: Message[] = [];
  private readonly api: Binding;
  private queued = false;
  private closed = false;

  private constructor(
    o: OpenOptions,
    private readonly onBatch: (msgs: Received[]) => void,
    onError: (e: Error) => void,
  ) {
    this.api = load();
    this.kind = o.kind;
    this.link = o.link;
    const receive = o.receive ?? true;
    const batch = o.batch ?? (o.kind === 'netlink' ? 8 : 32);
    this.slot = o.bufferSize ?? defaultBufferSize(o.kind, o.link);
    if (receive) {
      this.buffer = Buffer.allocUnsafeSlow(batch * this.slot);
      this.meta = new Int32Array(batch * META_WORDS);
      this.metaBytes = Buffer.from(this.meta.buffer);
      for (let i = 0; i < batch; i++) this.pool.push(new Message(this, i));
    }
    const kind = KINDS[o.kind];
    if (kind === undefined) throw new RangeError(`unknown socket kind ${String(o.kind)}`);
    try {
      this.handle = this.api.open(
        kind,
        o.link ?? '',
        {
          receive,
          batch,
          slotSize: this.slot,
          sendSlots: o.sendQueue ?? 64,
          sendSlotSize: this.slot,
          ethertype: o.ethertype ?? 0,
          groups: o.groups ?? 0,
          filter: o.filter,
          buffer: this.buffer,
          meta: this.meta,
          stats: this.stat,
        },
        (n) => this.deliver(n),
        (e) => {
          if (!this.closed) onError(e);
        },
      );
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPERM' || code === 'EACCES')
        throw new PrivilegeError(
          `cannot open a raw socket: run as root or grant CAP_NET_RAW (the DaemonSet adds NET_RAW and NET_ADMIN): ${(err as Error).message}`,
        );
      throw err;
    }
    this.ifindex = this.api.ifindex(this.handle);
  }

  static open(
    o: OpenOptions,
    onBatch: (msgs: Received[]) => void,
    onError: (e: Error) => void,
  ): NativeSocket {
    return new NativeSocket(o, onBatch, onError);
  }

  setOption(level: number, name: number, value: number | Buffer): void {
    this.api.setOption(this.handle, level, name, value);
  }

  /** Reads an int option (SO_RCVBUF, ...). */
  getOption(level: number, name: number): number {
    return this.api.getOption(this.handle, level, name);
  }

  /** Replaces the filter (config reload); an empty program removes it. Atomic in the kernel. */
  setFilter(prog: Buffer): void {
    this.api.setFilter(this.handle, prog);
  }

  /** Queues one message (copied at once). Returns the reason when it was dropped instead. */
  send(data: Buffer, to: SendTarget = NO_TARGET): SendDropReason | 'bad-address' | undefined {
    const r = this.api.send(this.handle, data, to.address, to.source, to.hopLimit, to.scope);
    if (!this.queued && r === 0) {
      this.queued = true;
      dirty.push(this);
      if (!inBatch && !flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flushAll);
      }
    }
    return SEND_RESULT[r];
  }

  /** sendmmsg what send() queued; also done at the end of each receive batch and on a microtask. */
  flush(): void {
    this.queued = false;
    if (!this.closed) this.api.flush(this.handle);
  }

  get stats(): SocketStats {
    const s = this.stat;
    return {
      received: s[S.received],
      sent: s[S.sent],
      sendQueued: s[S.sendQueued],
      sendDropped: s[S.sendDropped],
      sendErrors: s[S.sendErrors],
      batches: s[S.batches],
      sendDropReasons: {
        'send-queue-full': s[S.queueFull],
        'too-big': s[S.tooBig],
        closed: s[S.closed],
        'no-buffer-space': s[S.noBuffers],
      },
      queueDepth: s[S.queueDepth],
      truncated: s[S.truncated],
    };
  }

  /** Closes at once; what is still queued is sent first when the socket takes it. */
  close(): void {
    if (this.closed) return;
    this.api.flush(this.handle);
    this.closed = true;
    this.api.close(this.handle);
  }

  private deliver(n: number): void {
    const meta = this.meta!;
    const buf = this.buffer!;
    const view = this.batchView;
    const ip4 = this.kind === 'ipv4-udp';
    const v6 = this.kind === 'ipv6-udp';
    const pkt = this.kind === 'packet';
    view.length = n;
    for (let i = 0; i < n; i++) {
      const m = this.pool[i];
      const at = i * META_WORDS;
      const start = i * this.slot;
      m.data = buf.subarray(start, start + meta[at + M.length]);
      m.ifindex = meta[at + M.ifindex];
      if (!ip4) {
        m.reset();
        m.truncated = (meta[at + M.flags] & 1) !== 0;
        if (v6) {
          m.hopLimit = meta[at + M.hopLimit] >= 0 ? meta[at + M.hopLimit] : undefined;
          m.scope = meta[at + M.scope];
        } else if (pkt) {
          m.pktType = meta[at + M.extra];
          m.protocol = meta[at + M.extra2];
        }
      } else if (meta[at + M.flags] & 1) m.truncated = true;
      else if (m.truncated) m.truncated = false;
      view[i] = m;
    }
    inBatch++;
    try {
      if (!this.closed) this.onBatch(view);
    } finally {
      inBatch--;
      if (inBatch === 0) flushAll();
    }
  }

  /** Formats message `at`'s source (or destination) address from the meta array. */
  formatAddress(at: number, word: number, source: boolean): string | undefined {
    const b = this.metaBytes!;
    const off = (at * META_WORDS + word) * 4;
    if (this.kind === 'ipv6-udp') return formatIPv6(b, off);
    if (!source) return undefined;
    if (this.kind === 'packet') {
      const n = this.meta![at * META_WORDS + M.addrLen];
      const parts: string[] = [];
      for (let i = 0; i < n; i++) parts.push(b[off + i].toString(16).padStart(2, '0'));
      return parts.join(':');
    }
    if (this.kind === 'ipv4-udp') return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
    return undefined;
  }
}

const NO_TARGET: SendTarget = {};

function defaultBufferSize(kind: SocketKind, link: string): number {
  if (kind === 'netlink') return 32768;
  // A packet larger than the link MTU cannot arrive whole; a truncated one is a counted malformed drop.
  const mtu = Math.max(linkMtu(link), 1500);
  return kind === 'packet' ? mtu + 14 + 4 + 64 : mtu + 64;
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as "::". */
export function formatIPv6(b: Uint8Array, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[off + 2 * i] << 8) | b[off + 2 * i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  // RFC 5952 5: the IPv4-mapped form keeps its dotted quad.
  if (best === 0 && bestLen === 5 && g[5] === 0xffff)
    return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  if (best < 0) return g.map((x) => x.toString(16)).join(':');
  const head = g
    .slice(0, best)
    .map((x) => x.toString(16))
    .join(':');
  const tail = g
    .slice(best + bestLen)
    .map((x) => x.toString(16))
    .join(':');
  return `${head}::${tail}`;
}
