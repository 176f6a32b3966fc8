/**
 * The bench's namespace bed: LAN switch -> one sender device -> one node -> up to 110 Calico-style pods.
 *
 * It follows test/support/netns.ts (same Bed class, per-run prefix, RFC 2544 addresses, veths created
 * with both ends already inside our namespaces, teardown on exit and signals) and its Calico wiring
 * (host end without an IPv4 address, MAC ee:ee:ee:ee:ee:ee, proxy ARP, /32 route per pod; pod end /32
 * with `default via 169.254.1.1 onlink`). What it adds: pods are created in parallel batches, so 110 of
 * them take seconds, not minutes; every pod gets an nftables counter of the mDNS packets reaching it
 * (so fan-out is counted in the kernel, without 110 receiver processes competing for the CPU).
 *
 * Addresses: LAN 198.18.4.0/24; dev1 .11 (the sender); node1 .2 on lan0; pod i .(100+i), LAN-addressed
 * as this project's IPAM would do (the node proxy-ARPs them on lan0). For the runs that need it
 * (avahi, the dgram forwarder) host-side pod links get 198.19.250.i/32.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  Bed,
  CALICO_GATEWAY,
  CALICO_MAC,
  LAN_GATEWAY,
  deviceAddress,
  nodeAddress,
  run,
  type ExecResult,
} from '../test/support/netns.js';

export const MAX_PODS = 110;
export const SENDER = 'dev1';
export const NODE = 'node1';
export const LAN_IF = 'lan0';
export const SENDER_ADDRESS = deviceAddress(1);
export const NODE_ADDRESS = nodeAddress(1);

export const podAddress = (i: number): string => `198.18.4.${100 + i}`;
/** IPv6 (the `ipv6` section only): the test bed's plan, 2001:db8:4::/64 on the LAN, /128 pods. */
export const SENDER_ADDRESS6 = '2001:db8:4::11';
export const NODE_ADDRESS6 = '2001:db8:4::2';
export const podAddress6 = (i: number): string => `2001:db8:4::${100 + i}`;
/** The Calico host end's link-local address (EUI-64 of ee:ee:ee:ee:ee:ee): the pods' IPv6 gateway. */
const CALICO_GATEWAY6 = 'fe80::ecee:eeff:feee:eeee';
/** Address given to the host end of pod i's link, only for systems that need one (avahi, forwarder). */
export const hostLinkAddress = (i: number): string => `198.19.250.${i}`;

export interface BenchPod {
  index: number;
  short: string;
  ns: string;
  address: string;
  hostIf: string;
  /** Set by enableIpv6(). */
  address6?: string;
}

/** Most answers one datagram is counted as carrying; avahi packs ~12 bench records into 1500 bytes. */
const MAX_ANSWERS = 48;

/**
 * Counts the mDNS datagrams reaching a pod, before routing (no socket needed), and the records in
 * them: one counter per DNS answer count (ANCOUNT, 16 bits at byte 6 of the DNS header, i.e. bit 112
 * of the UDP segment), so records = sum of k * a<k>. A reflector that re-assembles records into
 * bigger packets (avahi) is counted by record, like one that relays packets as they are.
 */
const POD_COUNTER = ((): string => {
  const ks = Array.from({ length: MAX_ANSWERS }, (_, i) => i + 1);
  return `
table ip lrbench {
  counter mdns { }
${ks.map((k) => `  counter a${k} { }`).join('\n')}
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    udp dport 5353 counter name "mdns"
    udp dport 5353 counter name @th,112,16 map { ${ks.map((k) => `${k} : "a${k}"`).join(', ')} }
  }
}
`;
})();

export interface PodCount {
  /** mDNS datagrams that reached the pod. */
  packets: number;
  /** Answer records in them (datagrams with more than MAX_ANSWERS answers are not counted here). */
  records: number;
}

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first error after all settle. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure;
  return out;
}

export class BenchBed extends Bed {
  readonly pods: BenchPod[] = [];
  private readonly addressed = new Set<number>();

  /** Builds the LAN, the sender, the node and `pods` pods (created `parallel` at a time). */
  static async create(pods: number, parallel = 12): Promise<BenchBed> {
    if (pods < 1 || pods > MAX_PODS) throw new Error(`pods must be 1..${MAX_PODS}, got ${pods}`);
    // Own prefix family (`lb` + 4 hex), so the bench never meets a test run's `lr…` namespaces.
    const bed = new BenchBed(`lb${randomBytes(2).toString('hex')}-`);
    try {
      await bed.build(pods, parallel);
      return bed;
    } catch (err) {
      await bed.teardown().catch(() => {});
      throw err;
    }
  }

  private veth(nameA: string, nsA: string, nameB: string, nsB: string): Promise<ExecResult> {
    const argv = ['ip', 'link', 'add', nameA, 'netns', this.ns(nsA), 'type', 'veth'];
    return run([...argv, 'peer', 'name', nameB, 'netns', this.ns(nsB)]);
  }

  private async build(pods: number, parallel: number): Promise<void> {
    await this.addNs('lan');
    // An unmanaged home switch: floods every multicast group.
    await this.ip('lan', ['link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
    await this.ip('lan', ['link', 'set', 'br0', 'up']);

    await this.addNs(SENDER);
    await this.veth('eth0', SENDER, SENDER, 'lan');
    await this.ip('lan', ['link', 'set', SENDER, 'master', 'br0', 'up']);
    await this.ip(SENDER, ['addr', 'add', `${SENDER_ADDRESS}/24`, 'dev', 'eth0']);
    await this.ip(SENDER, ['link', 'set', 'eth0', 'up']);

    await this.addNs(NODE);
    await this.sysctl(NODE, { 'net.ipv4.ip_forward': 1 });
    await this.veth(LAN_IF, NODE, NODE, 'lan');
    await this.ip('lan', ['link', 'set', NODE, 'master', 'br0', 'up']);
    await this.ip(NODE, ['addr', 'add', `${NODE_ADDRESS}/24`, 'dev', LAN_IF]);
    await this.ip(NODE, ['link', 'set', LAN_IF, 'up']);
    // Calico's proxy ARP for 169.254.1.1 answers only when the node has a default route.
    await this.ip(NODE, ['route', 'add', 'default', 'via', LAN_GATEWAY, 'dev', LAN_IF]);

    const indexes = Array.from({ length: pods }, (_, k) => k + 1);
    const made = await mapLimit(indexes, parallel, (i) => this.addPod(i));
    this.pods.push(...made.sort((a, b) => a.index - b.index));
  }

  private async addPod(i: number): Promise<BenchPod> {
    const short = `n1p${i}`;
    const address = podAddress(i);
    const ns = await this.addNs(short);
    const hash = createHash('sha1').update(`${this.prefix}/${short}`).digest('hex');
    const hostIf = `cali${hash.slice(0, 11)}`;
    await this.veth('eth0', short, hostIf, NODE);
    // Host end as Calico leaves it: fixed MAC, no IPv4 address, proxy ARP at once, strict rp_filter.
    await this.ip(NODE, ['link', 'set', hostIf, 'address', CALICO_MAC, 'up']);
    await this.sysctl(NODE, {
      [`net.ipv4.conf.${hostIf}.proxy_arp`]: 1,
      [`net.ipv4.neigh.${hostIf}.proxy_delay`]: 0,
      [`net.ipv4.conf.${hostIf}.forwarding`]: 1,
      [`net.ipv4.conf.${hostIf}.rp_filter`]: 1,
    });
    await this.ip(NODE, ['route', 'add', `${address}/32`, 'dev', hostIf, 'scope', 'link']);
    await this.ip(NODE, ['neigh', 'add', 'proxy', address, 'dev', LAN_IF]);
    await this.ip(short, ['addr', 'add', `${address}/32`, 'dev', 'eth0']);
    await this.ip(short, ['link', 'set', 'eth0', 'up']);
    await this.ip(short, ['route', 'add', CALICO_GATEWAY, 'dev', 'eth0', 'scope', 'link']);
    await this.ip(short, ['route', 'add', 'default', 'via', CALICO_GATEWAY, 'dev', 'eth0', 'onlink']);
    await this.exec(short, ['nft', '-f', '-'], { input: POD_COUNTER });
    return { index: i, short, ns, address, hostIf };
  }

  /** Gives the sender, the node and pods 1..n IPv6 as Calico does it (a /128 on the pod, a host
   *  route, the default via the host end's link-local address). Addresses without DAD: usable at once. */
  async enableIpv6(n: number): Promise<void> {
    await this.ip(SENDER, ['-6', 'addr', 'replace', `${SENDER_ADDRESS6}/64`, 'dev', 'eth0', 'nodad']);
    await this.ip(NODE, ['-6', 'addr', 'replace', `${NODE_ADDRESS6}/64`, 'dev', LAN_IF, 'nodad']);
    await this.sysctl(NODE, { 'net.ipv6.conf.all.forwarding': 1 });
    for (const p of this.pods.slice(0, n)) {
      if (p.address6) continue;
      const a = podAddress6(p.index);
      await this.ip(p.short, ['-6', 'addr', 'add', `${a}/128`, 'dev', 'eth0', 'nodad']);
      await this.ip(p.short, ['-6', 'route', 'replace', 'default', 'via', CALICO_GATEWAY6, 'dev', 'eth0']);
      await this.ip(NODE, ['-6', 'route', 'replace', `${a}/128`, 'dev', p.hostIf]);
      p.address6 = a;
    }
  }

  pod(i: number): BenchPod {
    const p = this.pods[i - 1];
    if (!p) throw new Error(`no pod ${i} (bed has ${this.pods.length})`);
    return p;
  }

  /** Gives the host ends of pods 1..n an IPv4 address (avahi and the dgram forwarder need one). */
  async addressHostLinks(n: number): Promise<void> {
    const todo = this.pods.slice(0, n).filter((p) => !this.addressed.has(p.index));
    await mapLimit(todo, 12, async (p) => {
      await this.ip(NODE, ['addr', 'add', `${hostLinkAddress(p.index)}/32`, 'dev', p.hostIf]);
      this.addressed.add(p.index);
    });
  }

  /** Takes those addresses away again: Calico-style links have none. */
  async unaddressHostLinks(): Promise<void> {
    const todo = this.pods.filter((p) => this.addressed.has(p.index));
    await mapLimit(todo, 12, async (p) => {
      await this.ip(NODE, ['addr', 'del', `${hostLinkAddress(p.index)}/32`, 'dev', p.hostIf], {
        check: false,
      });
      this.addressed.delete(p.index);
    });
  }

  /** Reads and zeroes the pods' counters: what reached each pod since the last call. */
  async takeCounters(pods: BenchPod[]): Promise<PodCount[]> {
    return mapLimit(pods, 12, async (p) => {
      const r = await this.exec(p.short, ['nft', 'reset', 'counters', 'table', 'ip', 'lrbench']);
      const count: PodCount = { packets: -1, records: 0 };
      for (const m of r.stdout.matchAll(/counter (\w+) \{\s*packets (\d+)/g)) {
        if (m[1] === 'mdns') count.packets = Number(m[2]);
        else count.records += Number(m[1].slice(1)) * Number(m[2]);
      }
      if (count.packets < 0) throw new Error(`no mdns counter in ${p.ns}: ${r.stdout.trim()}`);
      return count;
    });
  }
}
