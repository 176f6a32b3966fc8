// The DHCP client state machine for one pod identity (RFC 2131 §4.4), as pure code over an injected
// transport and clock. The agent is the client on the node's LAN link on behalf of each pod:
// chaddr is the node's MAC (the pod's frames leave with it), the client identifier names the pod,
// and the broadcast flag is set because the leased address is not configured on the node, so the
// kernel would not take a unicast reply to it (RFC 2131 §4.1; we read replies off a packet socket
// anyway, but servers that honour the flag spare the pod stray unicast datagrams).
import type { IPv4Address } from '../../config/types.js';
import { BOOTREQUEST, FLAG_BROADCAST, MessageType, Option, type MessageTypeCode } from './constants.js';
import type { ReceivedReply } from './frame.js';
import { ipBytes, optionText, ZERO, type DhcpMessage, type MacAddress } from './message.js';
import { leaseTimes, serverIdOf, type DhcpLease } from './lease.js';
import { clientIdHex } from './client-id.js';
import { systemClock, type Clock, type Destination, type DhcpTransport } from './transport.js';

export type DhcpFailure =
  | 'no-server' // nothing answered a DISCOVER nor a DHCPINFORM
  | 'pool-exhausted' // a server is there (it answered DHCPINFORM) but offered no address
  | 'nak' // the server refused the REQUEST
  | 'no-ack' // an OFFER came but the REQUEST was never answered
  | 'declined' // every address offered answered the probe (RFC 2131 §3.1.5)
  | 'bad-offer'; // the server offered an address the agent cannot use (outside ipam.subnet, ...)

export class DhcpError extends Error {
  constructor(
    readonly reason: DhcpFailure,
    message: string,
  ) {
    super(message);
    this.name = 'DhcpError';
  }
}

export interface Timing {
  /** Offsets (ms from the first send) of DISCOVER retransmissions; RFC 2131 §4.1 doubles the wait,
   *  we start at 1 s rather than 4 s because a pod is waiting. */
  discover: number[];
  /** How long SELECTING waits in all before it gives up. */
  discoverWindowMs: number;
  request: number[];
  requestWindowMs: number;
  /** How long the DHCPINFORM that tells "no server" from "no address" waits. */
  informWindowMs: number;
  /** Addresses declined in one acquisition before it fails. RFC 2131 §3.1.5 asks for a 10 s wait
   *  before restarting after a DECLINE, against loops; a bounded count does that job inside one
   *  ADD, and the runtime's own ADD retries are further apart than 10 s. */
  maxDeclines: number;
}

/** The bound on one acquisition: discover window + inform window + (1 + maxDeclines) request windows
 *  at worst, further capped by the caller's deadline (see acquire). */
export const DEFAULT_TIMING: Timing = {
  discover: [0, 1000, 3000, 7000],
  discoverWindowMs: 10_000,
  request: [0, 1000, 3000],
  requestWindowMs: 4000,
  informWindowMs: 2000,
  maxDeclines: 2,
};

/** What the caller makes of an ACKed lease: taken for the pod, in use on the LAN (DECLINE it), or
 *  refused for a reason DECLINE does not fit (the server handed out an address another pod holds). */
export type Claim = 'claimed' | { inUse: string } | { refuse: string };

export interface AcquireRequest {
  clientId: Buffer;
  hostname: string;
  /** The address this identity held before (RFC 2131 §4.3.1 option 50 in DISCOVER): a recreated
   *  pod asks for its old address back, and servers give it when it is free. */
  requested?: IPv4Address;
  /** Returns why the agent cannot use an offered address (outside the subnet, the node's own), or null. */
  unusable(address: IPv4Address): string | null;
  /** Records the lease and runs the probe the static pool's addresses go through (AddressGuard). */
  claim(lease: DhcpLease): Promise<Claim>;
  /** Absolute time (clock ms) by which acquire must have settled. */
  deadline: number;
}

export interface ClientOptions {
  transport: DhcpTransport;
  clock?: Clock;
  /** The node's MAC on the LAN link: chaddr of every message. */
  mac: MacAddress;
  /** The node's own address on the LAN link: ciaddr of the DHCPINFORM diagnosis (optional). */
  nodeAddress?: IPv4Address;
  link: string;
  timing?: Timing;
  random?: () => number;
}

export type ExchangeKind = 'renewing' | 'rebinding' | 'rebooting';
export type ExchangeResult =
  | { kind: 'ack'; lease: DhcpLease }
  | { kind: 'nak'; server: IPv4Address; message: string }
  | { kind: 'timeout' };

const PARAMETERS = Buffer.from([
  Option.SUBNET_MASK,
  Option.ROUTER,
  Option.DNS,
  Option.DOMAIN_NAME,
  Option.LEASE_TIME,
  Option.RENEWAL_TIME,
  Option.REBINDING_TIME,
]);

const BROADCAST: Destination = { kind: 'broadcast' };

export class DhcpClient {
  private readonly timing: Timing;
  private readonly random: () => number;
  private readonly o: ClientOptions & { clock: Clock };

  constructor(o: ClientOptions) {
    this.o = { ...o, clock: o.clock ?? systemClock };
    this.timing = o.timing ?? DEFAULT_TIMING;
    this.random = o.random ?? Math.random;
  }

  /** INIT → SELECTING → REQUESTING → BOUND, with the probe and DECLINE between ACK and use.
   *  Throws DhcpError naming the cause; never runs past `req.deadline`. */
  async acquire(req: AcquireRequest): Promise<DhcpLease> {
    const declined: IPv4Address[] = [];
    let requested = req.requested;
    let naks = 0;
    for (;;) {
      // SELECTING
      const selectedFrom = this.o.clock.now();
      const offer = await this.select(req, requested);
      if (!offer) throw await this.diagnoseSilence(req, this.o.clock.now() - selectedFrom);
      const address = offer.message.yiaddr;
      const server = serverIdOf(offer);
      const why = req.unusable(address);
      if (why) throw new DhcpError('bad-offer', `the DHCP server ${server} offered ${address}, ${why}`);
      // REQUESTING
      const sentAt = this.o.clock.now();
      const reply = await this.requestOffered(req, offer, server);
      if (!reply) {
        const waited = this.seconds(this.o.clock.now() - sentAt);
        throw new DhcpError(
          'no-ack',
          `the DHCP server ${server} offered ${address} but did not answer the DHCPREQUEST within ${waited}`,
        );
      }
      if (reply.message.type === MessageType.NAK) {
        naks++;
        const text = optionText(reply.message, Option.MESSAGE);
        // RFC 2131 §4.4.1: a NAK sends the client back to INIT. Once: a second one is the answer.
        if (naks > 1 || this.o.clock.now() >= req.deadline) {
          throw new DhcpError(
            'nak',
            `the DHCP server ${server} refused ${address} (DHCPNAK${text ? `: ${text}` : ''})`,
          );
        }
        requested = undefined;
        continue;
      }
      const lease = this.leaseFrom(req, reply, sentAt);
      // RFC 2131 §4.4.1 / §3.1.5: probe the address before use; DECLINE it if something answers.
      const claim = await req.claim(lease);
      if (claim === 'claimed') return lease;
      if ('refuse' in claim)
        throw new DhcpError('bad-offer', `the DHCP server ${server} gave ${address}: ${claim.refuse}`);
      this.decline(req, lease, claim.inUse);
      declined.push(`${lease.address} (in use by ${claim.inUse})`);
      if (declined.length > this.timing.maxDeclines || this.o.clock.now() >= req.deadline) {
        throw new DhcpError(
          'declined',
          `every address the DHCP server offered is in use on the LAN; declined ${declined.join(', ')}`,
        );
      }
      requested = undefined;
    }
  }

  /** One RENEWING (unicast to the server), REBINDING (broadcast) or INIT-REBOOT (broadcast, option 50)
   *  REQUEST, sent once and answered within `waitMs` (RFC 2131 §4.4.5 retransmission is the keeper's). */
  async exchange(kind: ExchangeKind, lease: DhcpLease, waitMs: number): Promise<ExchangeResult> {
    const xid = this.xid();
    const clientId = Buffer.from(lease.clientId.replaceAll(':', ''), 'hex');
    const options = new Map<number, Buffer>([[Option.CLIENT_ID, clientId]]);
    // RFC 2131 §4.3.2 table: RENEWING/REBINDING fill ciaddr and omit 50 and 54; INIT-REBOOT the reverse.
    if (kind === 'rebooting') options.set(Option.REQUESTED_IP, ipBytes(lease.address));
    options.set(Option.HOST_NAME, Buffer.from(lease.hostname));
    options.set(Option.PARAMETER_LIST, PARAMETERS);
    const message = this.message(MessageType.REQUEST, xid, options, {
      ciaddr: kind === 'rebooting' ? ZERO : lease.address,
    });
    const to: Destination =
      kind === 'renewing' ? { kind: 'unicast', ip: lease.serverId, mac: lease.serverMac } : BROADCAST;
    const source = kind === 'rebooting' ? ZERO : lease.address;
    const sentAt = this.o.clock.now();
    const reply = await this.transact(
      message,
      source,
      to,
      [0],
      waitMs,
      (r) =>
        (r.message.type === MessageType.ACK && r.message.yiaddr === lease.address) ||
        r.message.type === MessageType.NAK,
      clientId,
    );
    if (!reply) return { kind: 'timeout' };
    if (reply.message.type === MessageType.NAK) {
      return {
        kind: 'nak',
        server: serverIdOf(reply),
        message: optionText(reply.message, Option.MESSAGE) ?? '',
      };
    }
    return {
      kind: 'ack',
      lease: {
        ...lease,
        ...leaseTimes(reply),
        serverId: serverIdOf(reply),
        serverMac: reply.srcMac,
        boundAt: sentAt,
      },
    };
  }

  /** DHCPRELEASE (RFC 2131 §4.4.6): unicast to the server, no reply, no retransmission. */
  release(lease: DhcpLease): void {
    const options = new Map<number, Buffer>([
      [Option.SERVER_ID, ipBytes(lease.serverId)],
      [Option.CLIENT_ID, Buffer.from(lease.clientId.replaceAll(':', ''), 'hex')],
    ]);
    const message = this.message(MessageType.RELEASE, this.xid(), options, {
      ciaddr: lease.address,
      flags: 0,
    });
    this.o.transport.send(message, lease.address, {
      kind: 'unicast',
      ip: lease.serverId,
      mac: lease.serverMac,
    });
  }

  // --- the steps -------------------------------------------------------------------------------------

  private select(req: AcquireRequest, requested?: IPv4Address): Promise<ReceivedReply | undefined> {
    const options = new Map<number, Buffer>([[Option.CLIENT_ID, req.clientId]]);
    if (requested) options.set(Option.REQUESTED_IP, ipBytes(requested));
    options.set(Option.HOST_NAME, Buffer.from(req.hostname));
    options.set(Option.PARAMETER_LIST, PARAMETERS);
    const message = this.message(MessageType.DISCOVER, this.xid(), options);
    const window = Math.min(this.timing.discoverWindowMs, this.remaining(req));
    return this.transact(
      message,
      ZERO,
      BROADCAST,
      this.timing.discover,
      window,
      (r) => r.message.type === MessageType.OFFER && r.message.yiaddr !== ZERO,
      req.clientId,
    );
  }

  private requestOffered(
    req: AcquireRequest,
    offer: ReceivedReply,
    server: IPv4Address,
  ): Promise<ReceivedReply | undefined> {
    const address = offer.message.yiaddr;
    // RFC 2131 §4.3.2 SELECTING: broadcast, ciaddr 0, options 50 and 54 (other servers see the choice).
    const options = new Map<number, Buffer>([
      [Option.CLIENT_ID, req.clientId],
      [Option.REQUESTED_IP, ipBytes(address)],
      [Option.SERVER_ID, ipBytes(server)],
      [Option.HOST_NAME, Buffer.from(req.hostname)],
      [Option.PARAMETER_LIST, PARAMETERS],
    ]);
    const message = this.message(MessageType.REQUEST, offer.message.xid, options);
    const window = Math.min(this.timing.requestWindowMs, Math.max(this.remaining(req), 1));
    return this.transact(
      message,
      ZERO,
      BROADCAST,
      this.timing.request,
      window,
      (r) =>
        serverIdOf(r) === server &&
        ((r.message.type === MessageType.ACK && r.message.yiaddr === address) ||
          r.message.type === MessageType.NAK),
      req.clientId,
    );
  }

  /** RFC 2131 §4.4.1: DECLINE names the address (50) and the server (54); ciaddr stays 0. */
  private decline(req: AcquireRequest, lease: DhcpLease, by: string): void {
    const options = new Map<number, Buffer>([
      [Option.CLIENT_ID, req.clientId],
      [Option.REQUESTED_IP, ipBytes(lease.address)],
      [Option.SERVER_ID, ipBytes(lease.serverId)],
      [Option.MESSAGE, Buffer.from(`address in use by ${by}`)],
    ]);
    this.o.transport.send(
      this.message(MessageType.DECLINE, this.xid(), options, { flags: 0 }),
      ZERO,
      BROADCAST,
    );
  }

  /** No OFFER came. A DHCPINFORM (RFC 2131 §4.4.3) from the node's own address tells a silent LAN
   *  from a server that is there but has nothing to offer: servers answer INFORM from any pool state. */
  private async diagnoseSilence(req: AcquireRequest, waitedMs: number): Promise<DhcpError> {
    const who = `'${req.clientId.subarray(1).toString('latin1')}'`;
    const waited = this.seconds(waitedMs);
    if (this.o.nodeAddress && this.remaining(req) > 0) {
      const options = new Map<number, Buffer>([[Option.PARAMETER_LIST, PARAMETERS]]);
      const message = this.message(MessageType.INFORM, this.xid(), options, {
        ciaddr: this.o.nodeAddress,
        flags: 0,
      });
      const window = Math.min(this.timing.informWindowMs, this.remaining(req));
      const ack = await this.transact(
        message,
        this.o.nodeAddress,
        BROADCAST,
        [0],
        window,
        (r) => r.message.type === MessageType.ACK,
        undefined,
      );
      if (ack) {
        return new DhcpError(
          'pool-exhausted',
          `the DHCP server ${serverIdOf(ack)} on ${this.o.link} answered but offered no address to ${who}: ` +
            `its pool is exhausted (or it refuses this client)`,
        );
      }
    }
    return new DhcpError(
      'no-server',
      `no DHCP server answered on ${this.o.link}: no DHCPOFFER for ${who} within ${waited}` +
        (this.o.nodeAddress ? ' and no answer to a DHCPINFORM' : ''),
    );
  }

  // --- plumbing ----------------------------------------------------------------------------------------

  /**
   * Sends `message` at each offset of `schedule` (ms, jittered ±10% as RFC 2131 §4.1 asks for
   * randomised retransmission) until a reply passes `accept` or `windowMs` runs out.
   * Replies are also filtered here: BOOTREPLY, our chaddr, and — RFC 6842 — the echoed client
   * identifier when the server sends one. That is what keeps the node's own DHCP client (same
   * chaddr, its own xid and identifier) and the agent's other pods out of each other's way.
   */
  private transact(
    message: DhcpMessage,
    source: IPv4Address,
    to: Destination,
    schedule: number[],
    windowMs: number,
    accept: (r: ReceivedReply) => boolean,
    clientId: Buffer | undefined,
  ): Promise<ReceivedReply | undefined> {
    const clock = this.o.clock;
    return new Promise((resolve) => {
      const timers: unknown[] = [];
      let done = false;
      const finish = (r: ReceivedReply | undefined): void => {
        if (done) return;
        done = true;
        unlisten();
        for (const t of timers) clock.clearTimeout(t as never);
        resolve(r);
      };
      const unlisten = this.o.transport.listen(message.xid, (r) => {
        const m = r.message;
        if (m.op !== 2 || m.chaddr !== this.o.mac) return;
        const echoed = m.options.get(Option.CLIENT_ID);
        if (clientId && echoed && !echoed.equals(clientId)) return;
        if (accept(r)) finish(r);
      });
      const started = clock.now();
      for (const offset of schedule) {
        if (offset >= windowMs) break;
        const delay = offset === 0 ? 0 : offset * (0.9 + 0.2 * this.random());
        const send = (): void => {
          if (done) return;
          const secs = Math.min(0xffff, Math.floor((clock.now() - started) / 1000));
          this.o.transport.send({ ...message, secs }, source, to);
        };
        if (delay === 0) send();
        else timers.push(clock.setTimeout(send, delay));
      }
      timers.push(clock.setTimeout(() => finish(undefined), windowMs));
    });
  }

  private message(
    type: MessageTypeCode,
    xid: number,
    options: Map<number, Buffer>,
    o: { ciaddr?: IPv4Address; flags?: number } = {},
  ): DhcpMessage {
    return {
      op: BOOTREQUEST,
      xid,
      secs: 0,
      flags: o.flags ?? FLAG_BROADCAST,
      ciaddr: o.ciaddr ?? ZERO,
      yiaddr: ZERO,
      siaddr: ZERO,
      giaddr: ZERO,
      chaddr: this.o.mac,
      type,
      options,
    };
  }

  private leaseFrom(req: AcquireRequest, ack: ReceivedReply, sentAt: number): DhcpLease {
    return {
      address: ack.message.yiaddr,
      clientId: clientIdHex(req.clientId),
      hostname: req.hostname,
      serverId: serverIdOf(ack),
      serverMac: ack.srcMac,
      ...leaseTimes(ack),
      boundAt: sentAt,
    };
  }

  private xid(): number {
    return Math.floor(this.random() * 0x100000000) >>> 0;
  }

  private remaining(req: AcquireRequest): number {
    return Math.max(0, req.deadline - this.o.clock.now());
  }

  private seconds(ms: number): string {
    return `${Math.round(ms / 100) / 10} s`;
  }
}
