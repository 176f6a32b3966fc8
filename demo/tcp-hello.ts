// The demo's TCP service and client: `serve ADDRESS PORT TEXT` answers every connection with TEXT;
// `get ADDRESS PORT` connects, prints the answer (or the error) and exits.
import { connect, createServer } from 'node:net';

const [mode, address, port, text] = process.argv.slice(2);
if (mode === 'serve') {
  createServer((c) => c.end(`${text}\n`)).listen(Number(port), address, () => console.log('ready'));
} else {
  const c = connect({ host: address, port: Number(port), timeout: 3000 });
  let got = '';
  c.on('data', (d) => (got += d.toString()));
  c.on('end', () => console.log(got.trim()));
  c.on('timeout', () => (console.log('timed out'), c.destroy()));
  c.on('error', (e) => console.log(`error: ${e.message}`));
}
