// ARP on the LAN link for the IPAM: RFC 5227 probes before an address is handed out, announcements
// (gratuitous ARP) after, and a watch over every ARP frame for other hosts claiming a pod's address.
// The socket is injected (`send` and `receive`): in the agent it is the native layer's AF_PACKET
// socket for ethertype 0x0806 on the LAN link; in unit tests, a function and a fake clock.
import type { IPv4Address } from '../config/types.js';
import { arpAnnouncement, arpProbe, decodeArp, encodeArp, type ArpFrame, type MacAddress } from './arp.js';
import { claimVerdict, probeConflict, probeDefence, type ProbeConflict } from './arp-rules.js';

export interface ArpCounters {
  framesReceived: number;
  malformed: number;
  probesSent: number;
  announcementsSent: number;
  defencesSent: number;
  sendErrors: number;
}

export interface Conflict {
  address: IPv4Address;
  by: MacAddress;
}

export interface ArpPortOptions {
  ownMac: MacAddress;
  send: (frame: Buffer) => void;
  /** Whether this node hosts a pod at the address (the announcer's set). */
  isLocalPod: (address: IPv4Address) => boolean;
  /** Another MAC claims a local pod's address (after assignment: RFC 5227 2.4's conflict). */
  onConflict: (c: Conflict) => void;
  /** RFC 5227's probe count (PROBE_NUM is 3); they are spread over the first two thirds of the wait. */
  probes?: number;
}

/** RFC 5227's DEFEND_INTERVAL. */
const DEFEND_INTERVAL_MS = 10_000;

interface Probing {
  resolve: (r: 'free' | ProbeConflict) => void;
  reject: (e: Error) => void;
}

export class ArpPort {
  readonly counters: ArpCounters = {
    framesReceived: 0,
    malformed: 0,
    probesSent: 0,
    announcementsSent: 0,
    defencesSent: 0,
    sendErrors: 0,
  };
  private readonly probing = new Map<IPv4Address, Set<Probing>>();
  private readonly defended = new Map<IPv4Address, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly o: ArpPortOptions) {}

  get ownMac(): MacAddress {
    return this.o.ownMac;
  }

  /** Feeds one received Ethernet frame (the socket also delivers what we sent ourselves). */
  receive(data: Buffer): void {
    this.counters.framesReceived++;
    const r = decodeArp(data);
    if (!r.ok) {
      this.counters.malformed++;
      return;
    }
    const f = r.frame;
    for (const [address, waiters] of this.probing) {
      const c = probeConflict(f, address, this.o.ownMac);
      if (!c) continue;
      this.probing.delete(address);
      for (const w of waiters) w.resolve(c);
    }
    const v = claimVerdict(f, this.o.ownMac, this.o.isLocalPod);
    if (v?.kind === 'conflict') {
      this.o.onConflict({ address: v.address, by: v.by });
      this.defend(v.address);
    } else if (v?.kind === 'defend') {
      // RFC 5227 2.4 (b)/(c): a host that keeps using an address answers another host's probe
      // for it, or the other host takes it. The kernel's proxy entries do not answer probes.
      if (this.transmit(probeDefence(this.o.ownMac, v.address, v.prober))) this.counters.defencesSent++;
    }
  }

  /**
   * RFC 5227 2.1.1, shortened: `probes` ARP probes (sender 0.0.0.0) spread over the first two thirds
   * of `waitMs`, then silence until `waitMs` after the first. Resolves at the first conflicting
   * frame, or 'free' when the wait ends. RFC 5227's own timing (1-2 s between probes, then a 2 s
   * wait) is made for hosts that share a LAN with slow stacks; NetworkManager waits 200 ms.
   */
  probe(address: IPv4Address, waitMs: number): Promise<'free' | ProbeConflict> {
    if (this.closed) return Promise.reject(new Error(`cannot probe ${address}: the ARP socket is closed`));
    return new Promise((resolve, reject) => {
      const own = new Set<NodeJS.Timeout>();
      let sent = 0;
      const waiter: Probing = {
        resolve: (r) => {
          for (const t of own) this.clear(t);
          resolve(r);
        },
        reject: (e) => {
          for (const t of own) this.clear(t);
          reject(e);
        },
      };
      let set = this.probing.get(address);
      if (!set) this.probing.set(address, (set = new Set()));
      set.add(waiter);
      const n = Math.max(1, this.o.probes ?? 3);
      const send = (): void => {
        if (this.transmit(arpProbe(this.o.ownMac, address))) (this.counters.probesSent++, sent++);
      };
      send();
      for (let i = 1; i < n; i++) own.add(this.later(send, Math.round(((waitMs * 2) / 3) * (i / (n - 1)))));
      own.add(
        this.later(() => {
          const s = this.probing.get(address);
          s?.delete(waiter);
          if (s?.size === 0) this.probing.delete(address);
          // Silence after probes that never left proves nothing: the ADD fails and is retried.
          if (sent === 0)
            waiter.reject(new Error(`no ARP probe for ${address} could be sent on the LAN link`));
          else waiter.resolve('free');
        }, waitMs),
      );
    });
  }

  /**
   * RFC 5227 2.4 (b): a host that keeps an address after a conflict "MAY elect to attempt to defend
   * its address by recording the time that the conflicting ARP packet was received, and then
   * broadcasting one single ARP Announcement", and not again within DEFEND_INTERVAL (10 s). The
   * announcement puts the node's MAC back into the caches the claim just changed.
   */
  private defend(address: IPv4Address): void {
    const now = Date.now();
    const last = this.defended.get(address);
    if (last !== undefined && now - last < DEFEND_INTERVAL_MS) return;
    this.defended.set(address, now);
    if (this.defended.size > 1024) this.defended.delete(this.defended.keys().next().value!);
    if (this.transmit(arpAnnouncement(this.o.ownMac, address))) this.counters.announcementsSent++;
  }

  /** Sends an ARP announcement (RFC 5227 2.3) now and after each delay in `spacingMs`. */
  announce(address: IPv4Address, spacingMs: readonly number[]): void {
    const send = (): void => {
      if (this.closed || !this.o.isLocalPod(address)) return; // released meanwhile: say nothing more
      if (this.transmit(arpAnnouncement(this.o.ownMac, address))) this.counters.announcementsSent++;
    };
    send();
    for (const ms of spacingMs) this.later(send, ms);
  }

  private transmit(f: ArpFrame): boolean {
    try {
      this.o.send(encodeArp(f));
      return true;
    } catch {
      this.counters.sendErrors++;
      return false;
    }
  }

  private later(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
    return t;
  }

  private clear(t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.timers.delete(t);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const waiters of this.probing.values())
      for (const w of waiters) w.reject(new Error('the ARP socket closed during the probe'));
    this.probing.clear();
  }
}
