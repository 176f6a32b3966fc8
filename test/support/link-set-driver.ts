// Runs the agent's LinkSet inside a test namespace (the test process itself stays in the root one)
// and reports what it sees as JSON lines: the test writes commands on stdin, one JSON per line:
//   {"reconcile": {"LINK": {"groups": [...], "receive": true}, ...}}  -> {"event":"links","open":[...]}
//   {"mtu": "LINK"}                                                   -> {"event":"mtu","mtu":N|null}
//   {"send": "LINK", "hex": "..."}                                     -> {"event":"sent","ok":bool}
// and it prints {"event":"packet","link":L} per received packet, {"event":"gone"} when a socket fails.
import { createInterface } from 'node:readline';
import { LinkSet, type LinkUse } from '../../src/agent/link-set.js';
import { createLogger } from '../../src/log/logger.js';

const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
const links = new LinkSet(
  (_p, link) => out({ event: 'packet', link }),
  createLogger('error', 'json'),
  () => out({ event: 'gone' }),
  [5353],
);
out({ event: 'ready' });
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as {
    reconcile?: Record<string, LinkUse>;
    mtu?: string;
    send?: string;
    hex?: string;
  };
  if (cmd.reconcile) {
    links.reconcile(new Map(Object.entries(cmd.reconcile)));
    out({ event: 'links', open: [...links.links.keys()].sort() });
  } else if (cmd.mtu) out({ event: 'mtu', mtu: links.mtu(cmd.mtu) ?? null });
  else if (cmd.send) out({ event: 'sent', ok: links.send(cmd.send, Buffer.from(cmd.hex ?? '', 'hex'), '') });
}
links.closeAll();
