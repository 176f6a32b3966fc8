// The filter programs, run through a small classic-BPF interpreter written from the kernel's
// documentation (Documentation/networking/filter.rst), on packets built here byte by byte.
import { strict as assert } from 'node:assert';
import { ACCEPT, BPF, decode, dropAllFilter, encode, udpPortFilter } from '../../../src/wire/bpf.js';

/** Runs a program the way net/core/filter.c does for the instructions we emit; a load past the end
 *  of the packet ends the program with 0 (drop), as the kernel does. */
function run(prog: Buffer, pkt: Buffer): number {
  const ins = decode(prog);
  let a = 0;
  let x = 0;
  for (let pc = 0; pc < ins.length; pc++) {
    const { code, jt, jf, k } = ins[pc];
    const cls = code & 0x07;
    const size = code & 0x18;
    const mode = code & 0xe0;
    const load = (off: number): number | undefined => {
      const n = size === BPF.B ? 1 : size === BPF.H ? 2 : 4;
      if (off < 0 || off + n > pkt.length) return undefined;
      return n === 1 ? pkt[off] : n === 2 ? pkt.readUInt16BE(off) : pkt.readUInt32BE(off);
    };
    if (cls === BPF.LD) {
      const v = mode === BPF.ABS ? load(k) : mode === BPF.IND ? load(x + k) : undefined;
      if (v === undefined) return 0;
      a = v;
    } else if (cls === BPF.LDX && mode === BPF.MSH && size === BPF.B) {
      if (k >= pkt.length) return 0;
      x = (pkt[k] & 0xf) * 4;
    } else if (cls === BPF.JMP) {
      const op = code & 0xf0;
      if (op === BPF.JA) pc += k;
      else {
        const hit = op === BPF.JEQ ? a === k : op === BPF.JGT ? a > k : op === BPF.JSET ? (a & k) !== 0 : NaN;
        if (Number.isNaN(hit)) throw new Error(`unknown jump ${code.toString(16)}`);
        pc += hit ? jt : jf;
      }
    } else if (cls === BPF.RET) return k;
    else throw new Error(`instruction ${code.toString(16)} not interpreted`);
    if (pc + 1 > ins.length) throw new Error('jumped past the end');
  }
  throw new Error('fell off the end without ret');
}

/** IPv4 header (with `options` bytes) + UDP header + payload. */
function ipv4(
  dstPort: number,
  o: { options?: number[]; proto?: number; frag?: number; payload?: number } = {},
): Buffer {
  const opts = Buffer.from(o.options ?? []);
  const ihl = 5 + opts.length / 4;
  const udp = Buffer.alloc(8 + (o.payload ?? 4));
  udp.writeUInt16BE(40000, 0);
  udp.writeUInt16BE(dstPort, 2);
  udp.writeUInt16BE(udp.length, 4);
  const h = Buffer.alloc(20);
  h[0] = 0x40 | ihl;
  h.writeUInt16BE(ihl * 4 + udp.length, 2);
  h.writeUInt16BE(o.frag ?? 0, 6);
  h[8] = 64;
  h[9] = o.proto ?? 17;
  return Buffer.concat([h, opts, udp]);
}

const ether = (type: number, body: Buffer) =>
  Buffer.concat([Buffer.alloc(12, 0xaa), Buffer.from([type >> 8, type & 0xff]), body]);

describe('udpPortFilter', function () {
  describe('IPv4 (what an AF_INET raw socket hands the filter: the IP header first)', function () {
    const prog = udpPortFilter({ family: 4, ports: [5353, 1900, 38899] });
    it('passes the listed destination ports whole', function () {
      for (const p of [5353, 1900, 38899]) assert.equal(run(prog, ipv4(p)), ACCEPT, `port ${p}`);
    });
    it('drops every other port, the overlay’s first', function () {
      for (const p of [8472, 4789, 51820, 53, 443, 5354, 1899, 1])
        assert.equal(run(prog, ipv4(p)), 0, `port ${p}`);
    });
    it('finds the UDP header behind IP options (IHL > 5)', function () {
      const routerAlert = [0x94, 0x04, 0x00, 0x00];
      assert.equal(run(prog, ipv4(5353, { options: routerAlert })), ACCEPT);
      assert.equal(run(prog, ipv4(8472, { options: routerAlert })), 0);
      // 20 bytes of options where a naive offset-22 read would see 5353
      const tricky = [1, 1, 0x14, 0xe9, ...Array(16).fill(1)];
      assert.equal(run(prog, ipv4(8472, { options: tricky })), 0);
    });
    it('drops a non-first fragment, which carries no UDP header, and non-UDP', function () {
      assert.equal(run(prog, ipv4(5353, { frag: 185 })), 0);
      assert.equal(run(prog, ipv4(5353, { frag: 0x4000 })), ACCEPT, 'DF set, offset 0: a whole packet');
      assert.equal(run(prog, ipv4(5353, { proto: 6 })), 0);
    });
    it('drops a packet too short to hold the port', function () {
      assert.equal(run(prog, ipv4(5353).subarray(0, 21)), 0);
    });
    it('with no ports drops everything', function () {
      assert.equal(run(udpPortFilter({ family: 4, ports: [] }), ipv4(5353)), 0);
    });
  });

  describe('IPv6 (an AF_INET6 raw socket hands the filter the UDP header)', function () {
    const prog = udpPortFilter({ family: 6, ports: [5353, 1900] });
    const udp = (p: number) => ipv4(p).subarray(20);
    it('passes the listed ports and drops the rest', function () {
      assert.equal(run(prog, udp(5353)), ACCEPT);
      assert.equal(run(prog, udp(1900)), ACCEPT);
      assert.equal(run(prog, udp(8472)), 0);
    });
  });

  describe('IPv4 in Ethernet frames (packet sockets: DHCP)', function () {
    const prog = udpPortFilter({ family: 4, ports: [68], frame: 'ethernet' });
    it('passes UDP to the port inside an IPv4 frame, and nothing else', function () {
      assert.equal(run(prog, ether(0x0800, ipv4(68))), ACCEPT);
      assert.equal(run(prog, ether(0x0800, ipv4(67))), 0);
      assert.equal(run(prog, ether(0x0806, ipv4(68))), 0, 'not IPv4');
      assert.equal(run(prog, ether(0x0800, ipv4(68, { options: [1, 1, 1, 1] }))), ACCEPT);
    });
  });

  it('lists each port once, whatever the input order', function () {
    assert.deepEqual(
      udpPortFilter({ family: 4, ports: [1900, 5353, 1900] }),
      udpPortFilter({ family: 4, ports: [5353, 1900] }),
    );
  });

  it('refuses what is not a port, and more ports than one jump can skip', function () {
    assert.throws(() => udpPortFilter({ family: 4, ports: [0] }), /not a UDP port: 0/);
    assert.throws(() => udpPortFilter({ family: 4, ports: [70000] }), /not a UDP port: 70000/);
    const many = Array.from({ length: 201 }, (_, i) => 1000 + i);
    assert.throws(() => udpPortFilter({ family: 4, ports: many }), /at most 200 ports/);
    assert.equal(run(udpPortFilter({ family: 4, ports: many.slice(0, 200) }), ipv4(1000)), ACCEPT);
    assert.equal(run(udpPortFilter({ family: 4, ports: many.slice(0, 200) }), ipv4(1199)), ACCEPT);
  });

  it('encodes struct sock_filter as the kernel reads it: u16 code, u8 jt, u8 jf, u32 k', function () {
    const b = encode([{ code: 0x15, jt: 3, jf: 7, k: 5353 }]);
    assert.equal(b.toString('hex'), '15000307e9140000');
    assert.equal(dropAllFilter().toString('hex'), '0600000000000000');
  });
});
