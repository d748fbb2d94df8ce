// One measured run in a lab: captures on chosen interfaces, a dnsperf run, and the ground truth
// read before and after (injector counters, kernel counters), with each capture analysed by
// csumwatch. The demo prints it; the integration tests compare its two sides.

import * as fs from 'fs';
import * as path from 'path';

import { Analysis, analyzeFiles } from '../analyze/analyze';
import { Capture, CaptureResult } from './capture';
import { DnsperfResult } from './dns';
import { LabError, sleepMs } from './tools';
import { InjectStats } from './inject';
import { Lab } from './lab';
import { Snmp, snmpValue } from '../node/snmp';

export interface Tap {
  node: number;
  iface: string;
  /** Capture filter, ANDed with the interface (default 'udp'); e.g. 'outbound and udp'. */
  filter?: string;
}

export interface TapResult extends Tap {
  capture: CaptureResult;
  analysis: Analysis;
}

/** Increases during the run of one namespace's kernel counters. */
export interface KernelDelta {
  /** Udp InCsumErrors, Udp InErrors, Ip InHdrErrors (IPv4) and Udp6InCsumErrors, Ip6InHdrErrors
   * (IPv6). */
  udpInCsumErrors: number;
  udpInErrors: number;
  ipInHdrErrors: number;
  udp6InCsumErrors: number;
  ip6InHdrErrors: number;
  /** TcpExt IPReversePathFilter: packets dropped by the reverse-path filter. */
  ipReversePathFilter: number;
}

export interface NodeDelta extends KernelDelta {
  node: number;
  /** Packets the injector damaged during the run, all modes. */
  damaged: number;
  injector: InjectStats;
}

export interface Measurement {
  dnsperf: DnsperfResult;
  nodes: NodeDelta[];
  /** The DNS pod's kernel counters (null without a pod): a bad inner checksum is dropped there. */
  pod: KernelDelta | null;
  taps: TapResult[];
}

export interface MeasureOptions {
  queries: number;
  qps?: number;
  /** Name prefix, distinct per run. */
  prefix: string;
  taps: Tap[];
  /** Where captures go (default the lab's run directory). */
  dir?: string;
}

/** Runs dnsperf from node1 with captures on opts.taps and returns both sides. */
export function measure(lab: Lab, o: MeasureOptions): Measurement {
  const dir = o.dir ?? path.join(lab.dir, 'captures');
  fs.mkdirSync(dir, { recursive: true });
  const nodes = lab.topo.nodes.map((n) => n.index);
  const before = nodes.map((i) => ({ inj: lab.injector(i).stats(), snmp: lab.snmp(i) }));
  const podBefore = lab.podNs ? lab.podSnmp() : null;
  const caps = o.taps.map((t) => new Capture(lab.node(t.node).ns, t.iface, path.join(dir, `${o.prefix}-node${t.node}-${t.iface}.pcap`), t.filter));
  const started: Capture[] = [];
  let perf: DnsperfResult | null = null;
  let failure: unknown = null;
  try {
    for (const c of caps) started.push(c.start());
    perf = lab.dnsperf({ queries: o.queries, qps: o.qps, prefix: o.prefix });
  } catch (err) {
    failure = err;
  }
  // Stop every capture, whatever failed; the first failure is the one reported.
  sleepMs(300); // the last packets reach the captures
  const results: CaptureResult[] = [];
  for (const c of started) {
    try {
      results.push(c.stop(0));
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure !== null || perf === null) throw failure;
  const after = nodes.map((i) => ({ inj: lab.injector(i).stats(), snmp: lab.snmp(i) }));
  const pod = podBefore && kernelDelta(podBefore, lab.podSnmp());
  for (const r of results) {
    if (r.droppedByKernel > 0) throw new LabError(`capture ${r.file}: the kernel dropped ${r.droppedByKernel} packets before tcpdump read them`);
  }
  const deltas = nodes.map((i, k) => nodeDelta(i, before[k], after[k]));
  const taps = o.taps.map((t, k) => ({
    ...t,
    capture: results[k],
    analysis: analyzeFiles([results[k].file], { vxlanPorts: [lab.config.port] }),
  }));
  return { dnsperf: perf, nodes: deltas, pod, taps };
}

function nodeDelta(node: number, b: { inj: InjectStats; snmp: Snmp }, a: { inj: InjectStats; snmp: Snmp }): NodeDelta {
  const inj = { ...a.inj, damaged: { ...a.inj.damaged } };
  for (const k of Object.keys(inj.damaged) as (keyof InjectStats['damaged'])[]) inj.damaged[k] -= b.inj.damaged[k];
  inj.seen -= b.inj.seen;
  inj.vxlan -= b.inj.vxlan;
  inj.matched -= b.inj.matched;
  inj.damagedTotal -= b.inj.damagedTotal;
  inj.skippedPartial -= b.inj.skippedPartial;
  inj.skippedInapplicable -= b.inj.skippedInapplicable;
  inj.errors -= b.inj.errors;
  return { node, damaged: inj.damagedTotal, injector: inj, ...kernelDelta(b.snmp, a.snmp) };
}

function kernelDelta(b: Snmp, a: Snmp): KernelDelta {
  const d = (p: string, n: string) => snmpValue(a, p, n) - snmpValue(b, p, n);
  return {
    udpInCsumErrors: d('Udp', 'InCsumErrors'),
    udpInErrors: d('Udp', 'InErrors'),
    ipInHdrErrors: d('Ip', 'InHdrErrors'),
    udp6InCsumErrors: d('Udp6', 'InCsumErrors'),
    ip6InHdrErrors: d('Ip6', 'InHdrErrors'),
    ipReversePathFilter: d('TcpExt', 'IPReversePathFilter'),
  };
}
