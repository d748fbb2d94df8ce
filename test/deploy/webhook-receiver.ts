// Alertmanager's webhook receiver for test/deploy/alerting.test.ts: listens on 127.0.0.1:PORT
// (inside the test's namespace) and appends each POSTed notification body, one JSON per line,
// to FILE. Bodies over 1 MiB are refused.
//   node dist/test/deploy/webhook-receiver.js PORT FILE

import * as fs from 'node:fs';
import { createServer } from 'node:http';

const [port, file] = [Number(process.argv[2]), process.argv[3]];
if (!Number.isInteger(port) || !file) {
  process.stderr.write('usage: webhook-receiver PORT FILE\n');
  process.exit(2);
}
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= 1 << 20) chunks.push(c);
  });
  req.on('end', () => {
    if (req.method !== 'POST' || size > 1 << 20) {
      res.writeHead(400).end();
      return;
    }
    const body = Buffer.concat(chunks).toString('utf8');
    try {
      fs.appendFileSync(file, JSON.stringify(JSON.parse(body)) + '\n');
      res.writeHead(200).end();
    } catch {
      res.writeHead(400).end();
    }
  });
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
