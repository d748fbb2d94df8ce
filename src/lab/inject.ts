// The lab's fault injector (bpf/inject.bpf.c): loading it, setting its mode, reading its
// counters. The program is loaded and pinned with bpftool and attached with tc (clsact egress,
// direct action); config and counters are its two array maps, read and written with bpftool.
// The byte layouts below mirror bpf/shared/inject.h; test/lab/inject-layout.test.ts checks them
// against the BTF of the built object.

import * as fs from 'fs';
import * as path from 'path';

import { checkName } from './config';
import { inNetNs, LabError, run } from './tools';

/** Modes in enum csw_inject_mode order. */
export const INJECT_MODES = ['off', 'inner-udp', 'inner-ipv4', 'outer-udp', 'pseudo-only'] as const;
export type InjectMode = (typeof INJECT_MODES)[number];
/** Directions in enum csw_inject_direction order: both ports, to the port (queries), from it. */
export const INJECT_DIRECTIONS = ['both', 'to', 'from'] as const;
export type InjectDirection = (typeof INJECT_DIRECTIONS)[number];

export const PPM_ALL = 1_000_000;

export interface InjectConfig {
  mode: InjectMode;
  /** Probability in [0, 1]. */
  probability: number;
  /** Outer UDP destination ports that are VXLAN (one or two). */
  vxlanPorts: number[];
  /** Inner UDP port filter; 0 = any. */
  innerPort: number;
  direction: InjectDirection;
}

/** struct csw_inject_cfg: offsets and size. */
export const CFG_LAYOUT = { size: 16, mode: 0, ppm: 4, vxlan_port: 8, inner_port: 12, direction: 14, pad0: 15 } as const;

/** struct csw_inject_stats: u64 fields in order, then its size. */
export const STATS_FIELDS = ['seen', 'vxlan', 'matched', 'damaged', 'skipped_partial', 'skipped_inapplicable', 'errors'] as const;
export const STATS_LAYOUT = { size: 88, seen: 0, vxlan: 8, matched: 16, damaged: 24, skipped_partial: 64, skipped_inapplicable: 72, errors: 80 } as const;

export interface InjectStats {
  seen: number;
  vxlan: number;
  matched: number;
  /** Damaged packets by mode name (off is always 0). */
  damaged: Record<InjectMode, number>;
  /** Sum of damaged over the modes. */
  damagedTotal: number;
  skippedPartial: number;
  skippedInapplicable: number;
  errors: number;
}

/** The map value bytes for c (host byte order, as the kernel reads it). */
export function encodeConfig(c: InjectConfig): Buffer {
  const b = Buffer.alloc(CFG_LAYOUT.size);
  if (!(c.probability >= 0 && c.probability <= 1)) throw new LabError(`fault probability: want 0 to 1, got ${c.probability}`);
  if (c.vxlanPorts.length < 1 || c.vxlanPorts.length > 2) throw new LabError('fault: one or two VXLAN ports');
  for (const p of [...c.vxlanPorts, c.innerPort]) {
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new LabError(`fault: not a port number: ${p}`);
  }
  if (!INJECT_MODES.includes(c.mode)) throw new LabError(`fault: unknown mode '${c.mode}'`);
  if (!INJECT_DIRECTIONS.includes(c.direction)) throw new LabError(`fault: unknown direction '${c.direction}'`);
  const le = isLittleEndian();
  const w32 = (v: number, o: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  const w16 = (v: number, o: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  w32(INJECT_MODES.indexOf(c.mode), CFG_LAYOUT.mode);
  w32(Math.round(c.probability * PPM_ALL), CFG_LAYOUT.ppm);
  w16(c.vxlanPorts[0], CFG_LAYOUT.vxlan_port);
  w16(c.vxlanPorts[1] ?? 0, CFG_LAYOUT.vxlan_port + 2);
  w16(c.innerPort, CFG_LAYOUT.inner_port);
  b[CFG_LAYOUT.direction] = INJECT_DIRECTIONS.indexOf(c.direction);
  return b;
}

export function decodeConfig(b: Buffer): InjectConfig {
  if (b.length !== CFG_LAYOUT.size) throw new LabError(`injector config: ${b.length} bytes, want ${CFG_LAYOUT.size}`);
  const le = isLittleEndian();
  const r32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const r16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const ports = [r16(CFG_LAYOUT.vxlan_port), r16(CFG_LAYOUT.vxlan_port + 2)].filter((p) => p !== 0);
  const mode = INJECT_MODES[r32(CFG_LAYOUT.mode)];
  const direction = INJECT_DIRECTIONS[b[CFG_LAYOUT.direction]];
  if (mode === undefined) throw new LabError(`injector config: unknown mode ${r32(CFG_LAYOUT.mode)}`);
  if (direction === undefined) throw new LabError(`injector config: unknown direction ${b[CFG_LAYOUT.direction]}`);
  return { mode, probability: r32(CFG_LAYOUT.ppm) / PPM_ALL, vxlanPorts: ports, innerPort: r16(CFG_LAYOUT.inner_port), direction };
}

export function decodeStats(b: Buffer): InjectStats {
  if (b.length !== STATS_LAYOUT.size) throw new LabError(`injector counters: ${b.length} bytes, want ${STATS_LAYOUT.size}`);
  const le = isLittleEndian();
  const u64 = (o: number) => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
  const damaged = {} as Record<InjectMode, number>;
  let total = 0;
  INJECT_MODES.forEach((m, i) => {
    damaged[m] = u64(STATS_LAYOUT.damaged + 8 * i);
    total += damaged[m];
  });
  return {
    seen: u64(STATS_LAYOUT.seen),
    vxlan: u64(STATS_LAYOUT.vxlan),
    matched: u64(STATS_LAYOUT.matched),
    damaged,
    damagedTotal: total,
    skippedPartial: u64(STATS_LAYOUT.skipped_partial),
    skippedInapplicable: u64(STATS_LAYOUT.skipped_inapplicable),
    errors: u64(STATS_LAYOUT.errors),
  };
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/** The built kernel objects (make -C bpf, run by npm run build). */
export function bpfObject(name: string): string {
  const p = path.resolve(__dirname, '../../bpf', `${name}.bpf.o`);
  if (!fs.existsSync(p)) throw new LabError(`loading ${name}.bpf.o: not built (run \`npm run build\`; it needs clang, libbpf-dev and bpftool)`);
  return p;
}

export const BPFFS = '/sys/fs/bpf';
/** Where a lab pins its programs and maps. */
export function pinDir(lab: string): string {
  checkName(lab);
  return path.join(BPFFS, 'csumwatch-lab', lab);
}

/** Mounts bpffs at /sys/fs/bpf unless it is there already. */
export function ensureBpffs(): void {
  const mounts = fs.readFileSync('/proc/mounts', 'utf8');
  if (mounts.split('\n').some((l) => l.split(' ')[1] === BPFFS && l.split(' ')[2] === 'bpf')) return;
  run('mount', ['-t', 'bpf', 'bpf', BPFFS]);
}

/** One injector instance: the program on one node's underlay egress, with its own maps. */
export class Injector {
  readonly dir: string;
  constructor(readonly lab: string, readonly ns: string, readonly node: number, readonly dev: string) {
    this.dir = path.join(pinDir(lab), `node${node}`);
  }

  get prog(): string {
    return path.join(this.dir, 'inject');
  }

  map(name: 'csw_inject_cfg' | 'csw_inject_stats'): string {
    return path.join(this.dir, 'maps', name);
  }

  /** Loads, pins and attaches the program with mode off. */
  attach(vxlanPort: number): void {
    fs.mkdirSync(this.dir, { recursive: true });
    run('bpftool', ['prog', 'load', bpfObject('inject'), this.prog, 'type', 'classifier', 'pinmaps', path.join(this.dir, 'maps')]);
    this.configure({ mode: 'off', probability: 1, vxlanPorts: [vxlanPort], innerPort: 53, direction: 'to' });
    ensureClsact(this.ns, this.dev);
    // pref 1: before any other egress filter (the VLAN tagger is pref 2).
    inNetNs(this.ns, 'tc', ['filter', 'replace', 'dev', this.dev, 'egress', 'pref', '1', 'handle', '1', 'bpf', 'da', 'object-pinned', this.prog]);
  }

  configure(c: InjectConfig): void {
    const hex = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0'));
    run('bpftool', ['map', 'update', 'pinned', this.map('csw_inject_cfg'), 'key', 'hex', '00', '00', '00', '00', 'value', 'hex', ...hex(encodeConfig(c))]);
  }

  config(): InjectConfig {
    return decodeConfig(this.value('csw_inject_cfg'));
  }

  stats(): InjectStats {
    return decodeStats(this.value('csw_inject_stats'));
  }

  private value(map: 'csw_inject_cfg' | 'csw_inject_stats'): Buffer {
    const out = run('bpftool', ['-j', 'map', 'lookup', 'pinned', this.map(map), 'key', 'hex', '00', '00', '00', '00']).stdout;
    let v: { value?: string[] };
    try {
      v = JSON.parse(out) as { value?: string[] };
    } catch {
      throw new LabError(`reading ${map} of node${this.node}: bpftool printed no JSON`);
    }
    if (!Array.isArray(v.value)) throw new LabError(`reading ${map} of node${this.node}: no value`);
    return Buffer.from(v.value.map((x) => parseInt(x, 16)));
  }
}

/** Adds the clsact qdisc to dev unless it has one. */
export function ensureClsact(ns: string, dev: string): void {
  const q = inNetNs(ns, 'tc', ['qdisc', 'show', 'dev', dev]).stdout;
  if (!/qdisc clsact/.test(q)) inNetNs(ns, 'tc', ['qdisc', 'add', 'dev', dev, 'clsact']);
}
