// The drop flood of bench/ebpf.ts: sends small UDP datagrams as fast as one Node process can to
// a port nothing listens on, so that every one of them is dropped by the receiving kernel
// (SKB_DROP_REASON_NO_SOCKET). Run inside a network namespace (`ip netns exec NS node ...`);
// the address must be one that bench/ebpf.ts configured in a namespace of its own.
//
// Bounded twice: it stops after --count datagrams or --seconds, whichever comes first. The
// socket is connected, so no send looks the address up. It prints one JSON line: datagrams
// handed to the kernel, the time it took, its own CPU time and how often it was preempted.
//
// usage: node dist/bench/ebpf-flood.js --addr A --port P --count N --seconds S [--size BYTES]

import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** Datagrams per turn of the event loop: libuv gets to run between bursts. */
const BURST = 512;

function ctxSwitches(): { voluntary: number; involuntary: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  const num = (re: RegExp) => Number(re.exec(s)?.[1] ?? NaN);
  return { voluntary: num(/^voluntary_ctxt_switches:\s+(\d+)/m), involuntary: num(/^nonvoluntary_ctxt_switches:\s+(\d+)/m) };
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      addr: { type: 'string' },
      port: { type: 'string' },
      count: { type: 'string' },
      seconds: { type: 'string' },
      size: { type: 'string', default: '32' },
    },
    strict: true,
  });
  const port = Number(v.port);
  const count = Number(v.count);
  const seconds = Number(v.seconds);
  const size = Number(v.size);
  if (!v.addr) throw new Error('--addr: missing');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port: not a port: ${v.port}`);
  if (!Number.isInteger(count) || count < 1 || count > 100_000_000) throw new Error(`--count: want 1 to 1e8, got ${v.count}`);
  if (!(seconds > 0 && seconds <= 60)) throw new Error(`--seconds: want more than 0, at most 60, got ${v.seconds}`);
  if (!Number.isInteger(size) || size < 1 || size > 1400) throw new Error(`--size: want 1 to 1400, got ${v.size}`);

  const sock = createSocket('udp4');
  let errors = 0;
  sock.on('error', () => errors++);
  await new Promise<void>((resolve) => sock.connect(port, v.addr, resolve));
  const payload = Buffer.alloc(size, 0x61);
  const ctx0 = ctxSwitches();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(seconds * 1e9));
  let sent = 0;
  while (sent < count) {
    const n = Math.min(BURST, count - sent);
    for (let i = 0; i < n; i++) sock.send(payload);
    sent += n;
    if (process.hrtime.bigint() >= end) break;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const ctx1 = ctxSwitches();
  await new Promise<void>((resolve) => sock.close(resolve));
  process.stdout.write(JSON.stringify({
    sent,
    seconds: dt,
    pps: sent / dt,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    preempted: ctx1.involuntary - ctx0.involuntary,
    slept: ctx1.voluntary - ctx0.voluntary,
    errors,
  }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`bench ebpf-flood: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
