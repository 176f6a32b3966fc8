// A LAN device for the demo: answers mDNS queries for one `_demo._tcp` service (multicast-dns).
import makeMdns from 'multicast-dns';

const [address, instance] = process.argv.slice(2);
const type = '_demo._tcp.local';
const name = `${instance}.${type}`;
const host = 'speaker.local';
const mdns = makeMdns({ interface: address, bind: '0.0.0.0', loopback: false });
mdns.on('query', (q) => {
  if (!q.questions.some((x) => x.name === type || x.name === name)) return;
  mdns.respond({
    answers: [{ name: type, type: 'PTR', data: name }],
    additionals: [
      { name, type: 'SRV', data: { port: 8080, target: host } },
      { name, type: 'TXT', data: ['model=demo'] },
      { name: host, type: 'A', data: address },
    ],
  });
});
mdns.on('ready', () => console.log('ready'));
process.on('SIGTERM', () => mdns.destroy(() => process.exit(0)));
