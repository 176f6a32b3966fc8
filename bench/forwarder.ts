/**
 * The floor a Node program can reach: a bare dgram mDNS forwarder, LAN -> pod links, nothing else.
 * One socket on 0.0.0.0:5353 (reuseAddr) joined to 224.0.0.251 on the LAN link; every datagram is
 * re-sent to 224.0.0.251:5353 out of each pod link by one socket per link (setMulticastInterface
 * needs an IPv4 address on the link, so the bench gives the host ends one for this run).
 * It re-sends from its own address: it cannot keep the source (DESIGN.md decision 1), parses
 * nothing, filters nothing, and has no loop guard beyond multicast loop off.
 */
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';

const GROUP = '224.0.0.251';
const PORT = 5353;
const { values } = parseArgs({
  options: { lan: { type: 'string' }, out: { type: 'string', multiple: true, default: [] } },
});
if (!values.lan || values.out.length === 0) {
  process.stderr.write('usage: forwarder --lan LAN_ADDRESS --out POD_LINK_ADDRESS [--out ...]\n');
  process.exit(2);
}

const bind = (s: dgram.Socket, address?: string): Promise<void> =>
  new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind({ port: PORT, address }, () => {
      s.off('error', reject);
      resolve();
    });
  });

const outs: dgram.Socket[] = [];
let sendErrors = 0;
for (const address of values.out) {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  s.on('error', () => sendErrors++);
  await bind(s, address); // source port 5353, as RFC 6762 requires of responses
  s.setMulticastInterface(address);
  s.setMulticastTTL(255);
  s.setMulticastLoopback(false);
  outs.push(s);
}

const lan = dgram.createSocket({ type: 'udp4', reuseAddr: true });
let received = 0;
lan.on('message', (msg) => {
  received++;
  for (const s of outs) s.send(msg, PORT, GROUP);
});
await bind(lan);
lan.addMembership(GROUP, values.lan);
lan.setMulticastLoopback(false);
lan.setRecvBufferSize(4 * 1024 * 1024);
process.stdout.write('ready\n');

process.on('SIGTERM', () => {
  process.stdout.write(JSON.stringify({ received, sendErrors }) + '\n');
  process.exit(0);
});
