// csumwatch lab up|down|status|fault|demo: the built-in lab of network namespaces.


import { checkConfig, checkName, DEFAULT_CONFIG, LabConfig } from '../lab/config';
import { LabError } from '../lab/tools';
import { INJECT_DIRECTIONS, INJECT_MODES, InjectDirection, InjectMode } from '../lab/inject';
import { Lab, labDown, labUp, listLabs, readState } from '../lab/lab';
import { runDemo } from '../lab/demo';
import { Snmp } from '../node/snmp';
import { parseCommand, parsePort, UsageError } from './errors';

export const HELP = `usage: csumwatch lab COMMAND [options]

A lab of network namespaces on this host: nodes joined by a bridged veth underlay, a VXLAN
overlay, dnsmasq standing in for CoreDNS on the last node, and a tc/BPF fault injector on every
node's underlay egress. Needs root. Nothing leaves the namespaces.

commands:
  demo                 build a lab, show csumwatch catching checksum faults next to the ground
                       truth, print the verdict and the fix, and remove the lab (under a minute)
  up [options]         build a lab (replaces one of the same name)
  down                 remove a lab and everything it made; safe to repeat, and after a crash
  status [--json]      the lab's settings, injector counters and kernel UDP counters
  fault MODE [options] set node N's injector: MODE is off, inner-udp, inner-ipv4, outer-udp or
                       pseudo-only

options for all:
  --name NAME          lab name, prefix of its namespaces (default csw)
options for up:
  --nodes N            nodes, 2 to 8 (default 2)
  --port N             VXLAN UDP port (default 4789; flannel uses 8472)
  --vni N              VXLAN network identifier (default 42)
  --underlay ipv4|ipv6 underlay addresses (default ipv4)
  --overlay ipv4|ipv6  overlay addresses (default ipv4)
  --vlan               tag the underlay with VLAN 100
  --no-udpcsum         outer UDP checksum 0 (flannel's default)
  --offload            leave transmit checksum offload on (default: off, real checksums);
                       then inner-udp and pseudo-only cannot damage (counted as skipped)
  --bind eth0|eth1     the device node1's vxlan0 is bound to (eth1: the wrong one)
  --nat                node1 NATs the VXLAN port with --random-fully while vxlan0 keeps
                       transmit checksum offload on: the kernel's own outer checksum bug
  --pod                run dnsmasq in a pod, namespace NAME-pod behind a veth pair on the last
                       node, at 10.244.100.2 (fd00:244:100::2 with an IPv6 overlay), routed
                       through the tunnel: a bad inner checksum is dropped inside the pod
options for fault:
  --node N             the node whose egress is damaged (default 1, the client)
  --probability P      share of matching packets damaged, 0 to 1 (default 1)
  --direction D        to: inner destination port is --port (queries, default); from: source
                       port (responses); both
  --port N             inner UDP port (default 53; 0: any)

exit status: 0 done, 1 failed (one line on stderr says why), 2 bad usage.
`;

const OPTIONS = {
  name: { type: 'string' },
  nodes: { type: 'string' },
  port: { type: 'string' },
  vni: { type: 'string' },
  underlay: { type: 'string' },
  overlay: { type: 'string' },
  vlan: { type: 'boolean' },
  'no-udpcsum': { type: 'boolean' },
  offload: { type: 'boolean' },
  bind: { type: 'string' },
  nat: { type: 'boolean' },
  pod: { type: 'boolean' },
  node: { type: 'string' },
  probability: { type: 'string' },
  direction: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseCommand({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
}

export async function runLab(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv);
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [cmd, ...rest] = positionals;
  const name = v.name ?? DEFAULT_CONFIG.name;
  try {
    checkName(name);
  } catch (err) {
    throw new UsageError(`--name: ${(err as Error).message}`);
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const allowed: Record<string, readonly string[]> = {
    up: ['name', 'nodes', 'port', 'vni', 'underlay', 'overlay', 'vlan', 'no-udpcsum', 'offload', 'bind', 'nat', 'pod'],
    down: ['name'],
    status: ['name', 'json'],
    fault: ['name', 'node', 'probability', 'direction', 'port'],
    demo: ['name'],
  };
  if (cmd === undefined) throw new UsageError('lab: no command (up, down, status, fault, demo; see csumwatch lab --help)');
  if (!allowed[cmd]) throw new UsageError(`lab: unknown command '${cmd}' (up, down, status, fault, demo)`);
  for (const k of Object.keys(v)) {
    if (k !== 'help' && !allowed[cmd].includes(k)) throw new UsageError(`lab ${cmd}: --${k} does not apply`);
  }
  if (cmd !== 'fault' && rest.length > 0) throw new UsageError(`lab ${cmd}: unexpected argument '${rest[0]}'`);

  switch (cmd) {
    case 'up': {
      const lab = labUp(configFrom(v, name), log);
      process.stdout.write(`lab ${lab.name} is up; \`csumwatch lab down${name === DEFAULT_CONFIG.name ? '' : ' --name ' + name}\` removes it\n`);
      return 0;
    }
    case 'down': {
      const removed = labDown(name, log);
      if (removed.length === 0) log(`lab ${name}: nothing to remove`);
      return 0;
    }
    case 'status':
      return status(name, v.json === true);
    case 'fault':
      return fault(name, rest, v);
    case 'demo':
      return runDemo({ name, out: (s) => process.stdout.write(s), log });
  }
  return 2;
}

function configFrom(v: Values, name: string): LabConfig {
  const c: LabConfig = { ...DEFAULT_CONFIG, name };
  if (v.nodes !== undefined) c.nodes = intFlag('--nodes', v.nodes);
  if (v.port !== undefined) c.port = parsePort('--port', v.port);
  if (v.vni !== undefined) c.vni = intFlag('--vni', v.vni);
  if (v.underlay !== undefined) c.underlay = family('--underlay', v.underlay);
  if (v.overlay !== undefined) c.overlay = family('--overlay', v.overlay);
  if (v.bind !== undefined) {
    if (v.bind !== 'eth0' && v.bind !== 'eth1') throw new UsageError(`--bind: want eth0 or eth1, got ${v.bind}`);
    c.bind = v.bind;
  }
  c.vlan = v.vlan === true;
  c.udpcsum = v['no-udpcsum'] !== true;
  c.offload = v.offload === true;
  c.nat = v.nat === true;
  c.pod = v.pod === true;
  try {
    checkConfig(c);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return c;
}

function intFlag(flag: string, s: string): number {
  if (!/^\d+$/.test(s)) throw new UsageError(`${flag}: not a whole number: ${s}`);
  return Number(s);
}

function family(flag: string, s: string): 'ipv4' | 'ipv6' {
  if (s !== 'ipv4' && s !== 'ipv6') throw new UsageError(`${flag}: want ipv4 or ipv6, got ${s}`);
  return s;
}

function fault(name: string, rest: string[], v: Values): number {
  const [mode, extra] = rest;
  if (mode === undefined) throw new UsageError(`lab fault: no mode (${INJECT_MODES.join(', ')})`);
  if (extra !== undefined) throw new UsageError(`lab fault: unexpected argument '${extra}'`);
  if (!(INJECT_MODES as readonly string[]).includes(mode)) throw new UsageError(`lab fault: unknown mode '${mode}' (${INJECT_MODES.join(', ')})`);
  if (v.probability !== undefined && !/^(0|1|0?\.\d+|0\.\d*|1\.0*)$/.test(v.probability)) {
    throw new UsageError(`--probability: want 0 to 1, got '${v.probability}'`);
  }
  const p = v.probability === undefined ? 1 : Number(v.probability);
  const dir = v.direction ?? 'to';
  if (!(INJECT_DIRECTIONS as readonly string[]).includes(dir)) throw new UsageError(`--direction: want to, from or both, got ${dir}`);
  const innerPort = v.port === undefined ? 53 : v.port === '0' ? 0 : parsePort('--port', v.port);
  const lab = Lab.open(name);
  const node = v.node === undefined ? 1 : intFlag('--node', v.node);
  const inj = lab.injector(node);
  inj.configure({ mode: mode as InjectMode, probability: p, vxlanPorts: [lab.config.port], innerPort, direction: dir as InjectDirection });
  const s = inj.stats();
  process.stdout.write(`lab ${name}: node${node} eth0 egress: ${mode}` +
    (mode === 'off' ? '' : `, probability ${p}, inner UDP ${dir === 'both' ? 'port' : dir + ' port'} ${innerPort || 'any'}`) +
    ` (damaged so far: ${s.damagedTotal})\n`);
  return 0;
}

function status(name: string, json: boolean): number {
  if (!readState(name)) {
    const others = listLabs().filter((n) => n !== name);
    throw new LabError(`lab ${name}: not up${others.length > 0 ? ` (labs here: ${others.join(', ')})` : ''}`);
  }
  const lab = Lab.open(name);
  const st = lab.state;
  const nodes = lab.topo.nodes.map((n) => {
    const snmp = lab.snmp(n.index);
    const inj = lab.injector(n.index);
    return {
      node: n.index,
      namespace: n.ns,
      underlay: n.underlay,
      overlay: n.overlay,
      dns_server: n === lab.topo.server,
      offload: { vxlan0: lab.offload(n.index, 'vxlan0'), eth0: lab.offload(n.index, 'eth0') },
      injector: { config: inj.config(), counters: inj.stats() },
      kernel: kernelCounters(snmp),
    };
  });
  const p = lab.topo.pod;
  const pod = p && {
    namespace: p.ns,
    address: p.address,
    node: lab.topo.server.index,
    offload: { eth0: lab.podOffload('eth0'), pod0: lab.offload(lab.topo.server.index, 'pod0') },
    kernel: kernelCounters(lab.podSnmp()),
  };
  if (json) {
    process.stdout.write(JSON.stringify({ name, phase: st.phase, vlan_mode: st.vlanMode, config: st.config, dns: lab.dnsAddress, nodes, pod }, null, 2) + '\n');
    return 0;
  }
  const lines = [`lab ${name}: ${st.phase}; created ${st.created}`];
  for (const n of nodes) {
    const i = n.injector;
    lines.push(`node${n.node} (${n.namespace}) underlay ${n.underlay} overlay ${n.overlay}${n.dns_server ? (pod ? ', DNS server in its pod' : ', DNS server') : ''}`);
    lines.push(`  tx-checksum-ip-generic: vxlan0 ${n.offload.vxlan0['tx-checksum-ip-generic'] ?? '?'}, eth0 ${n.offload.eth0['tx-checksum-ip-generic'] ?? '?'}`);
    lines.push(`  injector ${i.config.mode}${i.config.mode === 'off' ? '' : ` p=${i.config.probability} ${i.config.direction} port ${i.config.innerPort || 'any'}`}: ` +
      `seen ${i.counters.seen}, vxlan ${i.counters.vxlan}, matched ${i.counters.matched}, damaged ${i.counters.damagedTotal}` +
      `${i.counters.skippedPartial ? `, skipped (offload pending) ${i.counters.skippedPartial}` : ''}${i.counters.errors ? `, errors ${i.counters.errors}` : ''}`);
    lines.push(kernelLine(n.kernel));
  }
  if (pod) {
    lines.push(`pod (${pod.namespace}) on node${pod.node} at ${pod.address}, DNS server`);
    lines.push(`  tx-checksum-ip-generic: eth0 ${pod.offload.eth0['tx-checksum-ip-generic'] ?? '?'}, node's pod0 ${pod.offload.pod0['tx-checksum-ip-generic'] ?? '?'}`);
    lines.push(kernelLine(pod.kernel));
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/** The counters where a lab's checksum drops show up (IPv4; an IPv6 overlay's are Udp6 and Ip6). */
function kernelCounters(s: Snmp) {
  return {
    udp_in_datagrams: s.Udp?.InDatagrams ?? 0,
    udp_in_errors: s.Udp?.InErrors ?? 0,
    udp_in_csum_errors: s.Udp?.InCsumErrors ?? 0,
    ip_in_hdr_errors: s.Ip?.InHdrErrors ?? 0,
  };
}

function kernelLine(k: ReturnType<typeof kernelCounters>): string {
  return `  kernel: Udp InDatagrams ${k.udp_in_datagrams}, InErrors ${k.udp_in_errors}, InCsumErrors ${k.udp_in_csum_errors}; Ip InHdrErrors ${k.ip_in_hdr_errors}`;
}
