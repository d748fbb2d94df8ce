// npm run bench (fourth part): the numbers deploy/base/daemonset.yaml's requests and limits are set
// from. The image's staged agent (scripts/build-image.sh) runs on the receiving node of a lab
// exactly as the DaemonSet runs it (test/support/deploy.ts startContained: its args, mounts,
// read-only root, four capabilities), and its CPU (utime + stime, /proc/PID/stat) and memory
// (VmRSS now, VmHWM = peak) are read in four phases:
//   idle        30 s, no traffic
//   steady      healthy DNS at 2 000 q/s for 30 s (dnsperf)
//   saturation  100 000 healthy queries as fast as the lab carries them
//   fault       10 000 queries at 500 q/s with 30% damaged (checksum faults; dnsperf's 200
//               outstanding queries wait out the lost ones, hence the low rate)
//   full table  100 000 distinct queries sent from node1 in about a second (a UDP flood from two
//               sockets, not dnsperf, which waits for answers), every one damaged: they all stay
//               in flight for the DNS timeout (5 s), filling the transaction table (65 536) until
//               evictions start: the most memory the DNS side can hold
// usage: node dist/bench/resources.js [--json]     Needs root (namespaces); traffic stays in the lab.

import * as fs from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildProcess } from 'node:child_process';
import { DEFAULT_CONFIG } from '../src/lab/config';
import { Lab, labDown, labUp } from '../src/lab/lab';
import { inNs, sleepMs } from '../src/lab/tools';
import { get, metric, stopAgent, waitFor } from '../test/support/agent';
import { buildImage, startContained } from '../test/support/deploy';
import { cpuSeconds, memKiB, programOf } from '../test/support/proc';

const LAB = 'cswres';
const NS = `${LAB}-node2`;
/**
 * n DNS queries (distinct names and IDs, two sockets) from node1 to the lab's DNS server as fast
 * as one process sends them; answers are not awaited. Returns n.
 */
function flood(lab: Lab, n: number): number {
  const script = `
    const dgram = require('node:dgram');
    const [server, n] = [process.argv[1], Number(process.argv[2])];
    const socks = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
    let sent = 0;
    function burst() {
      for (let k = 0; k < 500 && sent < n; k++, sent++) {
        const name = 'fl' + String(sent).padStart(6, '0') + '.lab';
        const q = Buffer.alloc(12 + name.length + 2 + 4);
        q.writeUInt16BE(sent & 0xffff, 0); q.writeUInt16BE(0x0100, 2); q.writeUInt16BE(1, 4);
        let o = 12;
        for (const label of name.split('.')) { q[o++] = label.length; o += q.write(label, o, 'latin1'); }
        q[o++] = 0; q.writeUInt16BE(1, o); q.writeUInt16BE(1, o + 2);
        socks[sent >> 16 & 1].send(q, 53, server);
      }
      if (sent < n) setImmediate(burst); else setTimeout(() => socks.forEach((s) => s.close()), 200);
    }
    burst();`;
  inNs(lab.node(1).ns, process.execPath, ['-e', script, lab.dnsAddress, String(n)], { timeoutMs: 60_000 });
  return n;
}

interface Phase { phase: string; wallS: number; queries: number; cpuCores: number; rssMiB: number; peakMiB: number; inFlightAfter: number; lost: number }

async function main(): Promise<number> {
  const json = process.argv.includes('--json');
  if (process.getuid?.() !== 0) throw new Error('bench resources: must run as root (network namespaces)');
  const scratch = mkdtempSync(join(tmpdir(), 'csw-res-'));
  const procs: ChildProcess[] = [];
  let lab: Lab | null = null;
  try {
    const stage = join(scratch, 'opt-csumwatch');
    buildImage(stage);
    lab = labUp({ ...DEFAULT_CONFIG, name: LAB });
    const agent = startContained(NS, stage, join(scratch, 'run'), join(scratch, 'agent.log'), procs);
    const pid = agent.pid!;
    try {
      waitFor('the agent', () => (get(NS, 'http://127.0.0.1:9475/readyz').status === 200 ? true : undefined));
    } catch (err) {
      throw new Error(`${(err as Error).message}; its log:\n${fs.readFileSync(join(scratch, 'agent.log'), 'utf8')}`);
    }
    if (programOf(pid) !== 'node') throw new Error(`pid ${pid} is not the agent`);

    const inj = lab.injector(1);
    const fault = (p: number) => inj.configure({ mode: p > 0 ? 'inner-udp' : 'off', probability: p > 0 ? p : 1, vxlanPorts: [DEFAULT_CONFIG.port], innerPort: 53, direction: 'to' });
    const rows: Phase[] = [];
    const phase = (name: string, work: () => number) => {
      const c0 = cpuSeconds(pid);
      const t0 = Date.now();
      const queries = work();
      const wallS = (Date.now() - t0) / 1000;
      const m = get(NS, 'http://127.0.0.1:9475/metrics').body;
      rows.push({ phase: name, wallS, queries, cpuCores: (cpuSeconds(pid) - c0) / wallS, rssMiB: memKiB(pid, 'VmRSS') / 1024, peakMiB: memKiB(pid, 'VmHWM') / 1024, inFlightAfter: metric(m, 'csumwatch_dns_transactions_in_flight'), lost: metric(m, 'csumwatch_dns_lost_total') });
    };
    phase('idle', () => { sleepMs(30_000); return 0; });
    phase('steady (2 000 q/s)', () => lab!.dnsperf({ queries: 60_000, qps: 2000, prefix: 'st' }).sent);
    phase('saturation (as fast as the lab carries)', () => lab!.dnsperf({ queries: 100_000, qps: 1_000_000, prefix: 'sa' }).sent);
    fault(0.3);
    phase('fault (500 q/s, 30% damaged)', () => lab!.dnsperf({ queries: 10_000, qps: 500, prefix: 'fa' }).sent);
    fault(1);
    phase('full table (100 000 queries in ~1 s, all damaged)', () => flood(lab!, 100_000));
    sleepMs(6_000);
    phase('after the DNS timeout', () => { sleepMs(2_000); return 0; });
    fault(0);
    await stopAgent(agent);

    if (json) {
      process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    } else {
      process.stdout.write('| phase | wall | queries sent | agent CPU (cores) | RSS after | peak RSS (VmHWM) | DNS in flight after | DNS lost (counted, total) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n');
      for (const r of rows) process.stdout.write(`| ${r.phase} | ${r.wallS.toFixed(0)} s | ${r.queries} | ${r.cpuCores.toFixed(3)} | ${r.rssMiB.toFixed(0)} MiB | ${r.peakMiB.toFixed(0)} MiB | ${r.inFlightAfter} | ${r.lost} |\n`);
    }
    return 0;
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    labDown(LAB);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

main().then((code) => { process.exitCode = code; }, (err) => { process.stderr.write(`bench resources: ${(err as Error).message}\n`); process.exitCode = 1; });
