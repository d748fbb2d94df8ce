// The agent's own cost: CPU, resident memory, open descriptors, heap, start time. prom-client's
// default metrics would do this, but three of them are gauges named *_total, which
// `promtool check metrics` rejects; these few are what the benchmarks and alerts read.

import fs from 'node:fs';
import { Counter, Gauge, Registry } from 'prom-client';

export function registerProcessMetrics(reg: Registry): void {
  const start = Math.round((Date.now() - process.uptime() * 1000) / 1000);
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'User and system CPU time spent, in seconds.',
    registers: [reg],
    collect() {
      const u = process.cpuUsage();
      this.reset();
      this.inc((u.user + u.system) / 1e6);
    },
  });
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers: [reg],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'process_open_fds',
    help: 'Open file descriptors (captures hold two each per interface).',
    registers: [reg],
    collect() {
      this.set(fs.readdirSync('/proc/self/fd').length);
    },
  });
  new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since the epoch, in seconds.', registers: [reg] }).set(start);
  new Gauge({
    name: 'nodejs_heap_used_bytes',
    help: 'V8 heap in use, in bytes.',
    registers: [reg],
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
}
