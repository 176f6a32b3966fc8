// Request/response over one rtnetlink socket: sequence numbers pair each request with its
// acknowledgement, error or dump. The socket itself is injected (NetlinkTransport), so this is
// tested with a fake kernel and runs over the native layer's `kind: 'netlink'` socket in the agent.
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_MULTI,
  decodeError,
  decodeMessages,
  type NetlinkMessage,
} from './netlink.js';

export interface NetlinkTransport {
  /** Sends one request to the kernel (nl_pid 0). */
  send(data: Buffer): void;
  close(): void;
}

/** Opens the transport; it calls `onDatagram` with each datagram the kernel sends us. */
export type OpenNetlink = (
  onDatagram: (data: Buffer) => void,
  onError: (err: Error) => void,
) => NetlinkTransport;

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  13: 'EACCES',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  22: 'EINVAL',
  95: 'EOPNOTSUPP',
};

export class NetlinkError extends Error {
  readonly code: string;
  constructor(
    readonly errno: number,
    what: string,
  ) {
    const code = ERRNO_NAMES[errno] ?? `errno ${errno}`;
    super(`${what}: ${code}`);
    this.code = code;
  }
}

interface Pending {
  what: string;
  messages: NetlinkMessage[];
  resolve: (m: NetlinkMessage[]) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class NetlinkClient {
  private readonly transport: NetlinkTransport;
  private readonly pending = new Map<number, Pending>();
  private seq = Math.floor(Math.random() * 0x7fffffff);
  /** The kernel runs one dump per socket at a time (a second gets EBUSY): dumps queue here. */
  private dumps: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    open: OpenNetlink,
    private readonly timeoutMs = 2000,
  ) {
    this.transport = open(
      (d) => this.receive(d),
      (err) => this.failAll(err),
    );
  }

  /** Sends a request built for a fresh sequence number; resolves with the messages it got before its
   *  acknowledgement (none for a plain change), rejects with the kernel's errno. */
  request(what: string, build: (seq: number) => Buffer): Promise<NetlinkMessage[]> {
    if (this.closed) return Promise.reject(new Error(`${what}: netlink socket closed`));
    const seq = (this.seq = (this.seq + 1) >>> 0 || 1);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`${what}: no answer from the kernel in ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      timer.unref();
      this.pending.set(seq, { what, messages: [], resolve, reject, timer });
      try {
        this.transport.send(build(seq));
      } catch (err) {
        this.settle(seq, err as Error);
      }
    });
  }

  /** A dump request: queued behind any dump already running on this socket. */
  dump(what: string, build: (seq: number) => Buffer): Promise<NetlinkMessage[]> {
    const run = this.dumps.then(
      () => this.request(what, build),
      () => this.request(what, build),
    );
    this.dumps = run.catch(() => undefined);
    return run;
  }

  private receive(data: Buffer): void {
    let messages: NetlinkMessage[];
    try {
      messages = decodeMessages(data);
    } catch {
      return; // a datagram we cannot frame answers nothing we can match
    }
    for (const m of messages) {
      const p = this.pending.get(m.seq);
      if (!p) continue; // a notification, or the late answer to a timed-out request
      if (m.type === NLMSG_ERROR) {
        const errno = decodeError(m);
        this.settle(m.seq, errno === 0 ? undefined : new NetlinkError(errno, p.what));
      } else if (m.type === NLMSG_DONE) {
        const errno = m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0;
        this.settle(m.seq, errno > 0 ? new NetlinkError(errno, p.what) : undefined);
      } else {
        p.messages.push({ ...m, payload: Buffer.from(m.payload) }); // the datagram is a reused view
        if ((m.flags & NLM_F_MULTI) === 0) this.settle(m.seq); // a single answer, no ACK asked
      }
    }
  }

  private settle(seq: number, err?: Error): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(p.messages);
  }

  private failAll(err: Error): void {
    for (const seq of [...this.pending.keys()]) this.settle(seq, err);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('netlink socket closed'));
    this.transport.close();
  }
}
