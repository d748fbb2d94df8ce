// A flood of DNS queries nobody answers, for the flood test: `--rate` queries a second with
// random IDs from `--sockets` sockets (so random client ports too) to ADDR:53, for `--seconds`,
// bounded also by `--count`. Run inside a lab namespace (`ip netns exec NS node ...`); ADDR must
// be an address of that lab. Prints one JSON line: queries sent.
//
// usage: node dist/test/support/dns-flood.js --addr A --rate N --seconds S --count N [--sockets N]

import { createSocket, Socket } from 'node:dgram';
import { parseArgs } from 'node:util';
import * as dnsPacket from 'dns-packet';

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: { addr: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' }, count: { type: 'string' }, sockets: { type: 'string', default: '16' } }, strict: true });
  const rate = Number(v.rate);
  const seconds = Number(v.seconds);
  const count = Number(v.count);
  const nsock = Number(v.sockets);
  if (!v.addr) throw new Error('--addr: missing');
  if (!(rate > 0 && rate <= 100_000)) throw new Error(`--rate: want 1 to 100000, got ${v.rate}`);
  if (!(seconds > 0 && seconds <= 120)) throw new Error(`--seconds: want at most 120, got ${v.seconds}`);
  if (!(Number.isInteger(count) && count > 0 && count <= 2_000_000)) throw new Error(`--count: want 1 to 2e6, got ${v.count}`);
  if (!(Number.isInteger(nsock) && nsock > 0 && nsock <= 256)) throw new Error(`--sockets: want 1 to 256, got ${v.sockets}`);
  const socks: Socket[] = [];
  for (let i = 0; i < nsock; i++) {
    const s = createSocket('udp4');
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.connect(53, v.addr, resolve));
    socks.push(s);
  }
  // One query, its ID rewritten per send: distinct transactions, one encoding.
  const q = dnsPacket.encode({ type: 'query', id: 0, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'flood.unanswered.test' }] });
  const t0 = Date.now();
  let sent = 0;
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      for (let i = 0; i < perTick && sent < count; i++, sent++) {
        const b = Buffer.from(q);
        b.writeUInt16BE((Math.random() * 65536) | 0, 0);
        socks[sent % nsock].send(b);
      }
      if (sent >= count || Date.now() - t0 >= seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, tickMs);
  });
  for (const s of socks) s.close();
  process.stdout.write(JSON.stringify({ sent, seconds: (Date.now() - t0) / 1000 }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`dns-flood: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
