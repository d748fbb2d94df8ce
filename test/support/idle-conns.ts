// The attack of issue 19: connections to the agent's HTTP server that hold a slot and do nothing.
// `node idle-conns.js HOST PORT COUNT SECONDS ADDR...`, run in a test's network namespace: keeps
// COUNT connections open, from the source addresses ADDR round-robin, for SECONDS; half send
// nothing, half send one keep-alive GET and then nothing. A connection the server closes is
// opened again after 200 ms, as a determined attacker would. Bounded: COUNT at most 2000, SECONDS
// at most 300. Prints one JSON line at the end: connections opened, closed by the server, answers.

import * as net from 'node:net';

const [host, portText, countText, secondsText, ...addrs] = process.argv.slice(2);
const port = Number(portText);
const count = Math.min(2000, Number(countText));
const seconds = Math.min(300, Number(secondsText));
const end = Date.now() + seconds * 1000;
const stats = { opened: 0, closedByServer: 0, answers: 0, errors: 0 };
let stopping = false;
const open = new Set<net.Socket>();

function connect(i: number): void {
  if (stopping || Date.now() > end) return;
  const s = net.connect({ host, port, localAddress: addrs[i % addrs.length] });
  open.add(s);
  s.on('connect', () => {
    stats.opened++;
    if (i % 2 === 1) s.write(`GET /healthz HTTP/1.1\r\nHost: agent\r\n\r\n`);
  });
  s.on('data', (d) => {
    if (d.toString('latin1').startsWith('HTTP/1.1 ')) stats.answers++;
  });
  s.on('error', () => stats.errors++);
  s.on('close', () => {
    open.delete(s);
    if (stopping) return;
    stats.closedByServer++;
    setTimeout(() => connect(i), 200);
  });
}

for (let i = 0; i < count; i++) connect(i);
setTimeout(() => {
  stopping = true;
  for (const s of open) s.destroy();
  process.stdout.write(JSON.stringify(stats) + '\n');
}, seconds * 1000);
