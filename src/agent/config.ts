// The agent's configuration: defaults, then an optional YAML file, then CSUMWATCH_* environment
// variables, then command-line flags (each later source wins). Every value is checked at start
// and a bad one stops the agent with one line naming where it came from.

import fs from 'node:fs';
import { isIP } from 'node:net';
import YAML from 'yaml';
import { DEFAULT_EVENT_REASONS } from '../capture/ebpf';
import { VtepPackets } from '../capture/filter';
import { DEFAULT_DNS_PORTS, DEFAULT_GENEVE_PORTS, DEFAULT_VXLAN_PORTS } from '../decode/decoder';

export interface AgentConfig {
  /** host:port the HTTP server listens on. */
  listen: { host: string; port: number };
  /** host:port of the debug listener (/debug/*), or null: none (the default). */
  debugListen: { host: string; port: number } | null;
  /** --web-config: an exporter-toolkit web config file (TLS, basic auth); '' = plain HTTP, open. */
  webConfig: string;
  /** Interfaces to capture; empty: discover (VXLAN devices and their underlays). */
  interfaces: string[];
  vxlanPorts: number[];
  /** UDP destination ports decoded as Geneve (userland decoding and the libpcap filter). */
  genevePorts: number[];
  dnsPorts: number[];
  /**
   * How packets reach the agent: 'kernel' (an eBPF socket filter counts VXLAN packets in the
   * kernel and copies only DNS and suspect packets, through the agent's own TPACKET_V3 ring),
   * 'pcap' (libpcap with a classic filter: VXLAN packets are copied and checked in user space),
   * 'auto' (kernel where the filter loads, else pcap).
   */
  datapath: 'auto' | 'kernel' | 'pcap';
  /**
   * Which VXLAN packets are copied to user space besides DNS: every one ('all': each is verified
   * there), DNS only ('dns'), or 'auto' (dns on the kernel datapath, whose per-peer counts are
   * exact anyway; all with libpcap, whose are not otherwise).
   */
  vtepPackets: VtepPackets | 'auto';
  /**
   * Which peers get csumwatch_vtep_packets_total series: only those a bad packet came from or went
   * to ('bad': a healthy node exports none, however many peers it has), or every peer ('all').
   */
  vtepSeries: 'bad' | 'all';
  /** Seconds after which an unanswered DNS query is lost. */
  dnsTimeout: number;
  /** DNS transactions kept in flight at once. */
  dnsCapacity: number;
  /** Recent lost transactions kept for /debug/lost. */
  lostListSize: number;
  /** DNS servers and VXLAN peers kept by address for the metrics; the rest fold into one series. */
  maxServers: number;
  maxPeers: number;
  snaplen: number;
  /** Kernel capture ring per interface and direction, MiB. */
  captureBufferMiB: number;
  /** Longest a packet waits in the capture ring before it is handed over, ms. */
  captureTimeoutMs: number;
  /** Seconds between full interface rescans (changes are also seen at once through rtnetlink). */
  rescanInterval: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** The kernel drop tracer: 'auto' loads it where the kernel allows, 'off' never. */
  bpf: 'auto' | 'off';
  /** In a cluster: Node conditions and Events for critical findings ('auto'), or none ('off'). */
  nodeConditions: 'auto' | 'off';
  /** How the tracer attaches: tp_btf, raw_tp, or 'auto' (tp_btf, else raw_tp). */
  bpfAttach: 'auto' | 'tp_btf' | 'raw_tp';
  /** Kernel BTF file for CO-RE and the reason names; '' = the running kernel's. */
  bpfBtf: string;
  /** The tracer's ring buffer, KiB (a power of 2). */
  bpfRingKiB: number;
  /** Kernel drop reasons (lower case, as the metric's label) that send per-packet events. */
  bpfEventReasons: string[];
  /** Which dropped packets send events: carrying DNS or VXLAN, or all. */
  bpfEventScope: 'dns-vxlan' | 'all';
  /** Recent kernel drop events kept for /debug/drops. */
  dropListSize: number;
  /** Seconds between runs of the doctor's checks (0: never). */
  doctorInterval: number;
  /** Where the node's / is mounted for the doctor (/etc/resolv.conf, kubelet config); '/' on the node. */
  hostRoot: string;
  /** The cluster DNS service addresses, when the kubelet config does not say (k3s, ...). */
  clusterDns: string[];
}

export const DEFAULT_AGENT_CONFIG: AgentConfig = {
  listen: { host: '0.0.0.0', port: 9475 },
  debugListen: null,
  webConfig: '',
  interfaces: [],
  vxlanPorts: [...DEFAULT_VXLAN_PORTS],
  genevePorts: [...DEFAULT_GENEVE_PORTS],
  dnsPorts: [...DEFAULT_DNS_PORTS],
  datapath: 'auto',
  vtepPackets: 'auto',
  vtepSeries: 'bad',
  dnsTimeout: 5,
  dnsCapacity: 65536,
  lostListSize: 100,
  maxServers: 256,
  maxPeers: 1024,
  snaplen: 65535,
  captureBufferMiB: 4,
  captureTimeoutMs: 100,
  rescanInterval: 30,
  logLevel: 'info',
  bpf: 'auto',
  nodeConditions: 'auto',
  bpfAttach: 'auto',
  bpfBtf: '',
  bpfRingKiB: 1024,
  bpfEventReasons: [...DEFAULT_EVENT_REASONS],
  bpfEventScope: 'dns-vxlan',
  dropListSize: 100,
  doctorInterval: 60,
  hostRoot: '/',
  clusterDns: [],
};

export class ConfigError extends Error {
  readonly code = 'CSW_ERR_CONFIG';
}

type Kind = 'listen' | 'names' | 'words' | 'ports' | 'addrs' | 'int' | 'number' | 'enum' | 'path';

interface Field {
  key: keyof AgentConfig;
  /** Command-line flag (without --), YAML key and environment variable. */
  flag: string;
  yaml: string;
  env: string;
  kind: Kind;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** An int that must be a power of 2. */
  pow2?: boolean;
  /** A listen address that may be '' or 'off' (null: not listening). */
  optional?: boolean;
  help: string;
}

const f = (key: keyof AgentConfig, flag: string, yaml: string, kind: Kind, help: string, extra: Partial<Field> = {}): Field => ({
  key,
  flag,
  yaml,
  env: 'CSUMWATCH_' + flag.toUpperCase().replace(/-/g, '_'),
  kind,
  help,
  ...extra,
});

/** Every setting, once: the flags, the YAML keys and the environment variables derive from here. */
export const FIELDS: readonly Field[] = [
  f('listen', 'listen', 'listen', 'listen', 'HOST:PORT the HTTP server listens on (default 0.0.0.0:9475)'),
  f('debugListen', 'debug-listen', 'debugListen', 'listen', "HOST:PORT of a second listener serving /debug/lost (query names) and /debug/drops, e.g. 127.0.0.1:9476 (default off: /debug/* is served nowhere)", { optional: true }),
  f('webConfig', 'web-config', 'webConfig', 'path', 'web config file (the Prometheus exporter-toolkit format): TLS, client certificates, basic auth (docs/security.md; default none: plain HTTP, no authentication)'),
  f('interfaces', 'interface', 'interfaces', 'names', 'capture on NAME (repeat; default: VXLAN devices and their underlays)'),
  f('vxlanPorts', 'vxlan-port', 'vxlanPorts', 'ports', 'UDP port carrying VXLAN (repeat; default 4789 and 8472)'),
  f('genevePorts', 'geneve-port', 'genevePorts', 'ports', 'UDP port carrying Geneve (repeat; default 6081)'),
  f('dnsPorts', 'dns-port', 'dnsPorts', 'ports', 'UDP port carrying DNS (repeat; default 53)'),
  f('datapath', 'datapath', 'datapath', 'enum', "how packets reach the agent: 'kernel' (eBPF socket filter: VXLAN counted in the kernel, only DNS copied), 'pcap' (libpcap: VXLAN copied and checked in user space) or 'auto' (kernel, else pcap; default auto)", { values: ['auto', 'kernel', 'pcap'] }),
  f('vtepPackets', 'vtep-packets', 'vtepPackets', 'enum', "VXLAN packets copied to user space besides DNS: 'all', 'dns' or 'auto' (dns on the kernel datapath, all with pcap; default auto)", { values: ['auto', 'all', 'dns'] }),
  f('vtepSeries', 'vtep-series', 'vtepSeries', 'enum', "per-peer series: 'bad' (peers with a bad packet, then kept) or 'all' (default bad)", { values: ['bad', 'all'] }),
  f('dnsTimeout', 'dns-timeout', 'dnsTimeout', 'number', 'seconds after which an unanswered query is lost (default 5)', { min: 0.01, max: 3600 }),
  f('dnsCapacity', 'dns-capacity', 'dnsCapacity', 'int', 'DNS transactions in flight at once (default 65536)', { min: 1, max: 1 << 24 }),
  f('lostListSize', 'lost', 'lostListSize', 'int', 'recent lost transactions kept for /debug/lost (default 100)', { min: 0, max: 100000 }),
  f('maxServers', 'max-servers', 'maxServers', 'int', 'DNS servers kept as metric series (default 256)', { min: 1, max: 65536 }),
  f('maxPeers', 'max-peers', 'maxPeers', 'int', 'VXLAN peers kept as metric series (default 1024)', { min: 1, max: 65536 }),
  f('snaplen', 'snaplen', 'snaplen', 'int', 'bytes captured per packet (default 65535)', { min: 128, max: 262144 }),
  f('captureBufferMiB', 'capture-buffer', 'captureBufferMiB', 'int', 'capture ring per interface and direction, MiB (default 4)', { min: 1, max: 1024 }),
  f('captureTimeoutMs', 'capture-timeout', 'captureTimeoutMs', 'int', 'ms a packet may wait in the ring (default 100)', { min: 1, max: 10000 }),
  f('rescanInterval', 'rescan-interval', 'rescanInterval', 'number', 'seconds between full interface rescans (default 30)', { min: 0.1, max: 86400 }),
  f('logLevel', 'log-level', 'logLevel', 'enum', 'fatal, error, warn, info, debug or trace (default info)', { values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] }),
  f('bpf', 'bpf', 'bpf', 'enum', "kernel drop tracer: 'auto' (where the kernel allows) or 'off' (default auto)", { values: ['auto', 'off'] }),
  f('nodeConditions', 'node-conditions', 'nodeConditions', 'enum', "in a cluster, set Node conditions and record Events on the Node for critical findings: 'auto' (with NODE_NAME set) or 'off' (default auto)", { values: ['auto', 'off'] }),
  f('bpfAttach', 'bpf-attach', 'bpfAttach', 'enum', "tracer attach: 'auto' (tp_btf, else raw_tp), 'tp_btf' or 'raw_tp' (default auto)", { values: ['auto', 'tp_btf', 'raw_tp'] }),
  f('bpfBtf', 'bpf-btf', 'bpfBtf', 'path', 'kernel BTF file for the tracer (default: the running kernel, /sys/kernel/btf/vmlinux)'),
  f('bpfRingKiB', 'bpf-ring', 'bpfRingKiB', 'int', 'tracer ring buffer, KiB, a power of 2, at least 64 (default 1024)', { min: 64, max: 1 << 20, pow2: true }),
  f('bpfEventReasons', 'bpf-event-reason', 'bpfEventReasons', 'words', 'kernel drop reason that sends per-packet events, e.g. udp_csum (repeat; default: checksum, header, tunnel, socket and filter reasons)'),
  f('bpfEventScope', 'bpf-event-scope', 'bpfEventScope', 'enum', "dropped packets that send events: 'dns-vxlan' (DNS, or in a VXLAN or Geneve tunnel) or 'all' (default dns-vxlan)", { values: ['dns-vxlan', 'all'] }),
  f('dropListSize', 'drops', 'dropListSize', 'int', 'recent kernel drop events kept for /debug/drops (default 100)', { min: 0, max: 100000 }),
  f('doctorInterval', 'doctor-interval', 'doctorInterval', 'number', 'seconds between runs of the doctor\'s checks, 0 never (default 60)', { min: 0, max: 86400 }),
  f('hostRoot', 'host-root', 'hostRoot', 'path', 'where the node\'s / is mounted, for the doctor\'s files (default /)'),
  f('clusterDns', 'cluster-dns', 'clusterDns', 'addrs', 'cluster DNS service address, for the resolv.conf check (repeat; default: from the kubelet config)'),
];

/** Where values come from, in increasing precedence. */
export interface ConfigSources {
  /** YAML file path (from --config or CSUMWATCH_CONFIG). */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values as parseArgs gives them: string, or string[] for repeatable ones. */
  flags?: Record<string, string | string[] | boolean | undefined>;
}

/** The largest configuration file read: a settings file is a few hundred bytes. */
export const MAX_CONFIG_BYTES = 1 << 20;

/**
 * The file's text, refused unless it is a regular file of at most MAX_CONFIG_BYTES: a device
 * (`--config /dev/zero`) or a FIFO would otherwise be read without end, and a huge file parsed
 * for as long as it takes.
 */
function readBounded(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    throw new ConfigError(`reading ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    if (!fs.fstatSync(fd).isFile()) throw new ConfigError(`reading ${file}: not a regular file`);
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (let r; n < buf.length && (r = fs.readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += r;
    if (n > MAX_CONFIG_BYTES) throw new ConfigError(`reading ${file}: larger than ${MAX_CONFIG_BYTES >> 20} MiB; a settings file is far smaller`);
    return buf.toString('utf8', 0, n);
  } finally {
    fs.closeSync(fd);
  }
}

export function loadConfig(src: ConfigSources): AgentConfig {
  const cfg: AgentConfig = structuredClone(DEFAULT_AGENT_CONFIG);
  const set = (fl: Field, raw: unknown, where: string) => {
    (cfg as unknown as Record<string, unknown>)[fl.key] = convert(fl, raw, where);
  };
  if (src.file) {
    const text = readBounded(src.file);
    let doc: unknown;
    try {
      // The yaml package's duplicate-key check is quadratic in the keys (60 000 keys: 25 s); the
      // top-level keys are checked here instead, once each.
      const d = YAML.parseDocument(text, { uniqueKeys: false });
      if (d.errors.length > 0) throw d.errors[0];
      if (YAML.isMap(d.contents)) {
        const seen = new Set<unknown>();
        for (const it of d.contents.items) {
          const k = YAML.isScalar(it.key) ? it.key.value : it.key;
          if (seen.has(k)) throw new ConfigError(`reading ${src.file}: setting '${String(k)}' given twice`);
          seen.add(k);
        }
      }
      doc = d.toJS();
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`reading ${src.file}: not YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`reading ${src.file}: expected a mapping of settings`);
      for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
        const fl = FIELDS.find((x) => x.yaml === k);
        if (!fl) throw new ConfigError(`${src.file}: unknown setting '${k}' (known: ${FIELDS.map((x) => x.yaml).join(', ')})`);
        set(fl, v, `${src.file}: ${k}`);
      }
    }
  }
  const env = src.env ?? {};
  for (const fl of FIELDS) {
    const v = env[fl.env];
    if (v !== undefined && v !== '') set(fl, isList(fl) ? v.split(',').map((s) => s.trim()) : v, fl.env);
  }
  const flags = src.flags ?? {};
  for (const fl of FIELDS) {
    const v = flags[fl.flag];
    if (v !== undefined && typeof v !== 'boolean') set(fl, v, `--${fl.flag}`);
  }
  return cfg;
}

/** A setting that repeats (a list): a repeatable flag, a comma-separated variable, a YAML list. */
export function isList(fl: Field): boolean {
  return fl.kind === 'names' || fl.kind === 'words' || fl.kind === 'ports' || fl.kind === 'addrs';
}

function convert(fl: Field, raw: unknown, where: string): unknown {
  const bad = (what: string) => new ConfigError(`${where}: ${what}`);
  if (isList(fl)) {
    const items = Array.isArray(raw) ? raw : [raw];
    if (fl.kind === 'names') {
      const out = items.map((x) => {
        const s = String(x);
        // Linux interface names: 1 to 15 bytes, no '/', no whitespace (dev_valid_name).
        if (!/^[^\s/:]{1,15}$/.test(s) || s === '.' || s === '..') throw bad(`not an interface name: ${JSON.stringify(s)}`);
        return s;
      });
      return [...new Set(out)];
    }
    if (fl.kind === 'addrs') {
      const out = items.map((x) => {
        const s = String(x);
        if (isIP(s) === 0) throw bad(`not an IP address: ${JSON.stringify(s)}`);
        return s;
      });
      return [...new Set(out)];
    }
    if (fl.kind === 'words') {
      const out = items.map((x) => {
        const s = String(x);
        if (!/^[a-z0-9_]{1,64}$/.test(s)) throw bad(`not a lower-case name: ${JSON.stringify(s)}`);
        return s;
      });
      return [...new Set(out)];
    }
    const ports = items.map((x) => {
      const s = String(x);
      const n = Number(s);
      if (!/^\d+$/.test(s) || n < 1 || n > 65535) throw bad(`not a port number: ${s}`);
      return n;
    });
    return [...new Set(ports)];
  }
  if (Array.isArray(raw) || (raw !== null && typeof raw === 'object')) throw bad('expected a single value');
  const s = String(raw);
  switch (fl.kind) {
    case 'listen': {
      if (fl.optional && (s === '' || s === 'off')) return null;
      const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d+)$/.exec(s);
      const port = m ? Number(m[3]) : NaN;
      if (!m || port > 65535) throw bad(`expected HOST:PORT, e.g. 0.0.0.0:9475 or [::]:9475: ${s}`);
      return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]), port };
    }
    case 'int':
    case 'number': {
      const n = Number(s);
      if (s.trim() === '' || !Number.isFinite(n) || (fl.kind === 'int' && !Number.isInteger(n))) throw bad(`not ${fl.kind === 'int' ? 'an integer' : 'a number'}: ${s}`);
      if (n < fl.min! || n > fl.max!) throw bad(`out of range ${fl.min}..${fl.max}: ${s}`);
      if (fl.pow2 && (n & (n - 1)) !== 0) throw bad(`not a power of 2: ${s}`);
      return n;
    }
    case 'path':
      if (s.includes('\0')) throw bad('not a path');
      return s;
    case 'enum':
      if (!fl.values!.includes(s)) throw bad(`expected one of ${fl.values!.join(', ')}: ${s}`);
      return s;
    default:
      throw bad('unsupported setting');
  }
}
