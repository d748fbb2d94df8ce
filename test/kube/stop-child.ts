// Run by pods.test.ts in a process of its own, which must end by itself once the directories
// are stopped and the server closed: a timer, socket or request left behind would keep it alive.
// Three directories are stopped in the three places a loop can be: backing off from an
// unreachable server, waiting on a list the server never answers, and synced with both watches
// open. After each stop the server must see the client close its connections itself.
// Prints one JSON line with what it measured.

import pino from 'pino';

import { PodDirectory, kubeConfigForServer } from '../../src/kube/pods';
import { ApiServer, fixture, until } from './apiserver';

const log = pino({ level: 'silent' });
const FAST = { initial: 50, max: 100 };

async function main(): Promise<void> {
  const out: Record<string, unknown> = {};

  // 1. Backing off: nothing listens on the port.
  const probe = await ApiServer.start();
  const closedPort = probe.port;
  await probe.close();
  // A backoff of 2-4 s: a sleep left running by stop() would delay the exit by that much.
  const d1 = new PodDirectory({ kubeConfig: kubeConfigForServer(`http://127.0.0.1:${closedPort}`), nodeName: 'worker-1', log, backoffMs: { initial: 4000, max: 8000 } });
  d1.start();
  const waiting = (w: 'coredns' | 'node') => d1.stats().watches[w]!.listErrors === 1 && d1.stats().watches[w]!.state === 'backoff';
  await until('both watches backing off', () => waiting('coredns') && waiting('node'));
  let t0 = Date.now();
  await d1.stop();
  out.backoffStopMs = Date.now() - t0;

  const server = await ApiServer.start();

  // 2. A list in flight that the server never answers: stop() must abort it.
  server.reply('coredns', 'list', { hang: true });
  server.reply('node', 'list', { hang: true });
  const d2 = new PodDirectory({ kubeConfig: kubeConfigForServer(server.url), nodeName: 'worker-1', log, backoffMs: FAST });
  d2.start();
  await until('both lists sent', () => server.requests('coredns', 'list').length === 1 && server.requests('node', 'list').length === 1);
  t0 = Date.now();
  await d2.stop();
  out.listStopMs = Date.now() - t0;
  await until('the client to close its list connections', async () => (await server.connections()) === 0);

  // 3. Synced, both watches open.
  server.reply('coredns', 'list', { json: fixture('coredns-list.json') });
  server.reply('node', 'list', { json: fixture('node-list.json') });
  const d3 = new PodDirectory({ kubeConfig: kubeConfigForServer(server.url), nodeName: 'worker-1', log, backoffMs: FAST });
  d3.start();
  await until('ready with both watches open', () => d3.ready() && server.openWatches('coredns') === 1 && server.openWatches('node') === 1);
  out.named = d3.lookup('10.244.1.2')?.name ?? null;
  t0 = Date.now();
  await d3.stop();
  out.watchStopMs = Date.now() - t0;
  await until('the client to close its watch connections', async () => (await server.connections()) === 0);
  out.requestsAfterStop = server.seen.length;
  await new Promise((r) => setTimeout(r, 300));
  out.requestsLater = server.seen.length;

  await server.close();
  out.ok = true;
  out.endedAt = Date.now();
  process.stdout.write(JSON.stringify(out) + '\n');
  // No process.exit(): the test holds this process to ending on its own.
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ok: false, err: (err as Error).stack }) + '\n');
  process.exitCode = 1;
  // After a failure what is still open is unknown: end, so the parent reports this cause, not a hang.
  setTimeout(() => process.exit(1), 100).unref();
});
