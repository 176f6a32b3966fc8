// Classic BPF programs for the receive sockets (attached with SO_ATTACH_FILTER by the addon). A raw
// UDP socket hears every UDP packet on its link — on a node that is the overlay (VXLAN 8472/4789,
// WireGuard 51820), DNS and QUIC — and each one used to wake the agent. The filter lets the kernel
// drop all but the discovery ports before anything is queued. Pure: bytes out, tested by running
// the programs (test/unit/wire/bpf.test.ts) and against the kernel (test/integration).
//
// What the program sees at offset 0 depends on the socket (checked on Linux 6.x, see the tests):
//   AF_INET raw socket   the IPv4 header (net/ipv4/raw.c pushes it back before sk_filter)
//   AF_INET6 raw socket  the UDP header: the IPv6 header and extension headers are already pulled
//   AF_PACKET SOCK_RAW   the Ethernet header
export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// <linux/bpf_common.h>
export const BPF = {
  LD: 0x00,
  LDX: 0x01,
  ALU: 0x04,
  JMP: 0x05,
  RET: 0x06,
  W: 0x00,
  H: 0x08,
  B: 0x10,
  ABS: 0x20,
  IND: 0x40,
  MSH: 0xa0,
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JSET: 0x40,
  K: 0x00,
} as const;

/** How many bytes of an accepted packet the socket keeps: all of it. */
export const ACCEPT = 0x40000;
const IPPROTO_UDP = 17;
const ETH_P_IP = 0x0800;
const ETH_HLEN = 14;
/** BPF jump offsets are 8 bits: the port list must fit one forward jump to the accept. */
export const MAX_PORTS = 200;

const stmt = (code: number, k: number): SockFilter => ({ code, jt: 0, jf: 0, k });

/** struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } in host order (both supported arches are little-endian). */
export function encode(prog: readonly SockFilter[]): Buffer {
  const b = Buffer.alloc(prog.length * 8);
  prog.forEach((ins, i) => {
    b.writeUInt16LE(ins.code, i * 8);
    b.writeUInt8(ins.jt, i * 8 + 2);
    b.writeUInt8(ins.jf, i * 8 + 3);
    b.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return b;
}

export function decode(b: Buffer): SockFilter[] {
  const out: SockFilter[] = [];
  for (let o = 0; o + 8 <= b.length; o += 8)
    out.push({ code: b.readUInt16LE(o), jt: b[o + 2], jf: b[o + 3], k: b.readUInt32LE(o + 4) });
  return out;
}

export interface UdpPortFilterOptions {
  family: 4 | 6;
  /** UDP destination ports that pass; everything else is dropped in the kernel. */
  ports: readonly number[];
  /** What the socket hands the filter: an IP packet (raw ip sockets, the default) or an Ethernet frame (packet sockets; IPv4 only). */
  frame?: 'ip' | 'ethernet';
}

/** Passes UDP datagrams to one of `ports` (destination), drops the rest. No ports: drops all. */
export function udpPortFilter(o: UdpPortFilterOptions): Buffer {
  const ports = [...new Set(o.ports)].sort((a, b) => a - b);
  for (const p of ports)
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`not a UDP port: ${p}`);
  if (ports.length > MAX_PORTS)
    throw new RangeError(`at most ${MAX_PORTS} ports in one filter (got ${ports.length})`);
  const head: SockFilter[] = [];
  // Each `drop` placeholder becomes a jump to the final `ret 0`.
  const DROP = -1;
  const jumps: Array<{ at: number; field: 'jt' | 'jf' }> = [];
  const jump = (code: number, k: number, onTrue: number | null, onFalse: number | null) => {
    const ins = { code, jt: 0, jf: 0, k };
    if (onTrue === DROP) jumps.push({ at: head.length, field: 'jt' });
    if (onFalse === DROP) jumps.push({ at: head.length, field: 'jf' });
    head.push(ins);
  };
  const { LD, LDX, JMP, RET, H, B, ABS, IND, MSH, JEQ, JSET, K } = BPF;
  if (o.family === 4) {
    const base = o.frame === 'ethernet' ? ETH_HLEN : 0;
    if (o.frame === 'ethernet') {
      head.push(stmt(LD | H | ABS, 12)); // ethertype
      jump(JMP | JEQ | K, ETH_P_IP, null, DROP);
    }
    head.push(stmt(LD | B | ABS, base + 9)); // IPv4 protocol
    jump(JMP | JEQ | K, IPPROTO_UDP, null, DROP);
    head.push(stmt(LD | H | ABS, base + 6)); // flags + fragment offset
    jump(JMP | JSET | K, 0x1fff, DROP, null); // a later fragment has no UDP header
    head.push(stmt(LDX | B | MSH, base)); // X = 4 * IHL (RFC 791: options make the header longer)
    head.push(stmt(LD | H | IND, base + 2)); // UDP destination port
  } else {
    if (o.frame === 'ethernet') throw new RangeError('IPv6 filters on Ethernet frames are not built here');
    head.push(stmt(LD | H | ABS, 2)); // UDP destination port (the socket pulled the IPv6 headers)
  }
  // A chain of `jeq port -> accept`; the last miss falls through to drop.
  const firstPort = head.length;
  const dropAt = firstPort + ports.length;
  const acceptAt = dropAt + 1;
  ports.forEach((p, i) =>
    head.push({ code: JMP | JEQ | K, jt: acceptAt - (firstPort + i) - 1, jf: 0, k: p }),
  );
  head.push(stmt(RET | K, 0));
  head.push(stmt(RET | K, ACCEPT));
  for (const j of jumps) head[j.at][j.field] = dropAt - j.at - 1;
  return encode(head);
}

/** Drops everything (what a send-only socket wants; the addon attaches it itself for receive: false). */
export function dropAllFilter(): Buffer {
  return encode([stmt(BPF.RET | BPF.K, 0)]);
}
