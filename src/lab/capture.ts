// Captures inside the lab with tcpdump, one interface per file. Captures go through the "any"
// device in Linux cooked v2 (LINUX_SLL2), filtered to one ifindex: unlike an Ethernet capture,
// every record then says whether the node sent or received it, which decides between
// "partial" and "bad" (CONTRACT.md).

import { spawn } from 'child_process';
import * as fs from 'fs';

import { inNs, LabError, sleepMs } from './tools';

export interface CaptureResult {
  file: string;
  captured: number;
  /** Packets the kernel dropped before tcpdump read them: a capture with drops is incomplete. */
  droppedByKernel: number;
}

export class Capture {
  private readonly errFile: string;
  private pid = 0;

  /**
   * @param ns     namespace
   * @param iface  interface inside ns
   * @param file   pcap file to write
   * @param filter extra capture filter, ANDed with the interface's ifindex (default: udp)
   */
  constructor(readonly ns: string, readonly iface: string, readonly file: string, readonly filter = 'udp') {
    this.errFile = `${file}.log`;
  }

  /** Starts tcpdump and returns once it is capturing. */
  start(): this {
    const ifindex = inNs(this.ns, 'cat', [`/sys/class/net/${this.iface}/ifindex`]).stdout.trim();
    if (!/^\d+$/.test(ifindex)) throw new LabError(`capturing on ${this.ns}/${this.iface}: no ifindex`);
    const err = fs.openSync(this.errFile, 'w');
    const child = spawn('ip', [
      'netns', 'exec', this.ns, 'tcpdump', '-i', 'any', '-y', 'LINUX_SLL2', '-n', '-U', '--immediate-mode',
      // Snap length 2048 covers a 1500-byte frame whole (checksums need every byte). It also
      // sizes the ring's slots: with the default 262144, an 8 MiB buffer holds 32 packets and
      // a burst of 300 queries overflows it.
      '-s', '2048', '-B', '8192', '-Z', 'root', '-w', this.file, `ifindex ${ifindex} and (${this.filter})`,
    ], { stdio: ['ignore', 'ignore', err], detached: true });
    fs.closeSync(err);
    child.unref();
    if (child.pid === undefined) throw new LabError(`capturing on ${this.ns}/${this.iface}: tcpdump did not start`);
    this.pid = child.pid;
    for (let i = 0; i < 100; i++) {
      if (this.log().includes('listening on')) return this;
      if (!alive(this.pid)) break;
      sleepMs(50);
    }
    throw new LabError(`capturing on ${this.ns}/${this.iface}: tcpdump did not start: ${this.log().trim().split('\n').pop() ?? ''}`);
  }

  /** Waits settleMs for the last packets, stops tcpdump and returns its counts. */
  stop(settleMs = 300): CaptureResult {
    if (this.pid === 0) throw new LabError(`capture on ${this.ns}/${this.iface}: not started`);
    sleepMs(settleMs);
    try {
      process.kill(this.pid, 'SIGINT');
    } catch {
      // already gone: its log says why
    }
    // tcpdump prints its counts after it has flushed and closed the file.
    for (let i = 0; i < 100; i++) {
      const m = /(\d+) packets? captured[\s\S]*?(\d+) packets? dropped by kernel/.exec(this.log());
      if (m) {
        this.pid = 0;
        return { file: this.file, captured: Number(m[1]), droppedByKernel: Number(m[2]) };
      }
      sleepMs(50);
    }
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // gone
    }
    this.pid = 0;
    throw new LabError(`capture on ${this.ns}/${this.iface}: tcpdump did not report its counts: ${this.log().trim().split('\n').pop() ?? ''}`);
  }

  private log(): string {
    try {
      return fs.readFileSync(this.errFile, 'utf8');
    } catch {
      return '';
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
