// DhcpTransport over a packet socket on the LAN link: frames each message (frame.ts) and hands
// server replies to the transaction that owns their xid. The socket is injected (`send`, and the
// agent calls `receive` with each frame), as the ARP port does; the agent opens it through the
// native layer (kind 'packet', ethertype 0x0800, a BPF filter for UDP port 68).
//
// Coexistence with the node's own DHCP client on the same link: the agent binds no UDP port, so
// the node's client keeps port 68; both hear every reply (broadcast), and each keeps only its own
// xids. A reply to an xid nobody here waits for is counted, not an error.
import type { IPv4Address } from '../../config/types.js';
import { encodeMessage, type DhcpMessage, type MacAddress } from './message.js';
import { BROADCAST_MAC, buildClientFrame, parseServerFrame, type ReceivedReply } from './frame.js';
import type { Destination, DhcpTransport } from './transport.js';

const LIMITED_BROADCAST = '255.255.255.255';

export interface PacketTransportCounters {
  sent: number;
  sendErrors: number;
  received: number;
  /** Frames the filter let through that were not server → client DHCP (or did not parse). */
  notDhcp: number;
  /** DHCP replies for an xid the agent is not waiting for (the node's own client's, late ones). */
  unmatched: number;
}

export class PacketTransport implements DhcpTransport {
  readonly counters: PacketTransportCounters = {
    sent: 0,
    sendErrors: 0,
    received: 0,
    notDhcp: 0,
    unmatched: 0,
  };
  private readonly waiting = new Map<number, Set<(r: ReceivedReply) => void>>();

  constructor(
    private readonly o: {
      mac: MacAddress;
      send: (frame: Buffer) => void;
      onSendError?: (e: unknown) => void;
    },
  ) {}

  send(message: DhcpMessage, source: IPv4Address, to: Destination): void {
    const frame = buildClientFrame(encodeMessage(message), {
      srcMac: this.o.mac,
      dstMac: to.kind === 'broadcast' ? BROADCAST_MAC : to.mac,
      srcIp: source,
      dstIp: to.kind === 'broadcast' ? LIMITED_BROADCAST : to.ip,
    });
    try {
      this.o.send(frame);
      this.counters.sent++;
    } catch (e) {
      // A lost message: the state machine retransmits on its schedule.
      this.counters.sendErrors++;
      this.o.onSendError?.(e);
    }
  }

  /** Feeds one frame from the socket (copy not needed: replies are decoded before this returns). */
  receive(frame: Buffer): void {
    this.counters.received++;
    const r = parseServerFrame(frame);
    if (!r.ok) {
      this.counters.notDhcp++;
      return;
    }
    const handlers = this.waiting.get(r.reply.message.xid);
    if (!handlers || handlers.size === 0) {
      this.counters.unmatched++;
      return;
    }
    // The reply's buffers are views of the socket's receive buffer: copy what outlives this call.
    const options = new Map<number, Buffer>();
    for (const [k, v] of r.reply.message.options) options.set(k, Buffer.from(v));
    const reply = { ...r.reply, message: { ...r.reply.message, options } };
    for (const h of [...handlers]) h(reply);
  }

  listen(xid: number, handler: (r: ReceivedReply) => void): () => void {
    let set = this.waiting.get(xid);
    if (!set) this.waiting.set(xid, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0 && this.waiting.get(xid) === set) this.waiting.delete(xid);
    };
  }
}
