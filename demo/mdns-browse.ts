// A pod's browser for the demo: asks for `_demo._tcp` services and prints the first answer with the
// address it came from, or "none" after the timeout.
import makeMdns from 'multicast-dns';

const [address, timeoutMs] = process.argv.slice(2);
const type = '_demo._tcp.local';
const mdns = makeMdns({ interface: address, bind: '0.0.0.0', loopback: false });
const done = (line: string) => {
  console.log(line);
  mdns.destroy(() => process.exit(0));
};
mdns.on('response', (r, rinfo) => {
  const ptr = r.answers.find((a) => a.type === 'PTR' && a.name === type);
  if (ptr?.type !== 'PTR') return;
  const all = [...r.answers, ...r.additionals];
  const srv = all.find((a) => a.type === 'SRV');
  const a = all.find((x) => x.type === 'A');
  const port = srv?.type === 'SRV' ? srv.data.port : '?';
  done(
    JSON.stringify({ service: ptr.data, address: a?.type === 'A' ? a.data : '?', port, from: rinfo.address }),
  );
});
const ask = () => mdns.query({ questions: [{ name: type, type: 'PTR' }] });
mdns.on('ready', () => {
  ask();
  setInterval(ask, 1000).unref();
  setTimeout(() => done('none'), Number(timeoutMs)).unref();
});
