// The lab's fault injector (bpf/inject.bpf.c): loading it, setting its mode, reading its
// counters, through the agent's BPF layer (src/bpf/), the one loader. `lab up` loads the object,
// pins its program and its two array maps (config and counters) under the lab's bpffs directory
// and attaches the program to the node's eth0 egress (clsact, direct action, in the node's
// namespace); later commands open the pinned maps. The byte layouts are bpf/shared/inject.h as
// the built object's BTF has it (src/bpf/generated/inject.ts, written by the build).

import * as fs from 'fs';
import * as path from 'path';

import { BpfError } from '../bpf/binding';
import { BpfMap, BpfObject, objectPath } from '../bpf/object';
import * as G from '../bpf/generated/inject';
import { checkName } from './config';
import { LabError, run } from './tools';

/** Modes in enum csw_inject_mode order. */
export const INJECT_MODES = ['off', 'inner-udp', 'inner-ipv4', 'outer-udp', 'pseudo-only'] as const;
export type InjectMode = (typeof INJECT_MODES)[number];
/** Directions in enum csw_inject_direction order: both ports, to the port (queries), from it. */
export const INJECT_DIRECTIONS = ['both', 'to', 'from'] as const;
export type InjectDirection = (typeof INJECT_DIRECTIONS)[number];

export const PPM_ALL = G.csw_inject_limits.CSW_INJECT_PPM_ALL;

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
export const CFG_LAYOUT = G.csw_inject_cfg;

/** struct csw_inject_stats: u64 fields in order, then its size. */
export const STATS_FIELDS = Object.keys(G.csw_inject_stats_members) as ReadonlyArray<keyof typeof G.csw_inject_stats_members>;
export const STATS_LAYOUT = G.csw_inject_stats;
const INJECT_PROGRAM = G.programs.csw_inject;
type InjectMap = keyof typeof G.maps;

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
  const p = objectPath(name);
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

/** A BpfError from the BPF layer as the lab's error, saying which node's injector. */
function labError(what: string, err: unknown): never {
  if (!(err instanceof BpfError)) throw err;
  throw new LabError(`${what}: ${err.message}${err.log ? ` (${err.log.split('\n').slice(-3).join('; ')})` : ''}`);
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

  map(name: InjectMap): string {
    return path.join(this.dir, 'maps', name);
  }

  /**
   * Loads the program, pins it and its maps, sets mode off and attaches it to dev's egress
   * (pref 1, handle 1: before any other egress filter; the VLAN tagger is pref 2). The pins and
   * the tc filter keep it after this process exits.
   */
  attach(vxlanPort: number): void {
    fs.mkdirSync(path.join(this.dir, 'maps'), { recursive: true });
    try {
      const obj = BpfObject.load(bpfObject('inject'));
      try {
        obj.pinProgram(INJECT_PROGRAM, this.prog);
        for (const m of Object.keys(G.maps) as InjectMap[]) obj.pinMap(m, this.map(m));
        this.configure({ mode: 'off', probability: 1, vxlanPorts: [vxlanPort], innerPort: 53, direction: 'to' });
        obj.tcAttach(INJECT_PROGRAM, { netns: this.ns, dev: this.dev, direction: 'egress', priority: 1, handle: 1 });
      } finally {
        obj.close();
      }
    } catch (err) {
      labError(`attaching the injector of node${this.node}`, err);
    }
  }

  configure(c: InjectConfig): void {
    const value = encodeConfig(c);
    this.withMap('csw_inject_cfg', `setting the injector of node${this.node}`, (m) => m.update(value));
  }

  config(): InjectConfig {
    return decodeConfig(this.value('csw_inject_cfg'));
  }

  stats(): InjectStats {
    return decodeStats(this.value('csw_inject_stats'));
  }

  private value(map: InjectMap): Buffer {
    const b = Buffer.alloc(G.maps[map].valueSize);
    this.withMap(map, `reading ${map} of node${this.node}`, (m) => m.lookup(b));
    return b;
  }

  /** f on the pinned map, closed again after. */
  private withMap(map: InjectMap, what: string, f: (m: BpfMap) => void): void {
    try {
      const m = BpfMap.pinned(this.map(map));
      try {
        f(m);
      } finally {
        m.close();
      }
    } catch (err) {
      labError(what, err);
    }
  }
}
