// The layouts src/lab/inject.ts uses (src/bpf/generated/inject.ts, from the object's BTF) against
// the built object dist/bpf/inject.bpf.o as bpftool reads its BTF: struct sizes, member offsets
// and widths, no member missing on either side, the enum values, encodeConfig's and decodeStats'
// bytes at the BTF offsets, and the maps (csw_ names, value types, 4-byte key, one entry).
// The enums are in the BTF because inject.bpf.c names them with CSW_BTF_TYPE (bpf/shared/btf.h);
// the header's text is read only if clang left one out, which the tests then report.

import t, { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';

import {
  CFG_LAYOUT, decodeConfig, decodeStats, encodeConfig, INJECT_DIRECTIONS, INJECT_MODES, InjectConfig, PPM_ALL,
  STATS_FIELDS, STATS_LAYOUT,
} from '../../src/lab/inject';
import { BtfType, ObjectBtf } from '../support/btf';

const ROOT = join(__dirname, '..', '..', '..');
const OBJ = join(ROOT, 'dist', 'bpf', 'inject.bpf.o');
const HEADER = join(ROOT, 'bpf', 'shared', 'inject.h');

if (!existsSync(OBJ)) {
  t.fail(`${OBJ} is not built: run \`npm run build\` (it needs clang, libbpf-dev and bpftool)`);
  process.exit(1);
}
let BTF: ObjectBtf;
try {
  BTF = new ObjectBtf(OBJ);
} catch (err) {
  t.fail((err as Error).message);
  process.exit(1);
}
const btfType = (id: number) => BTF.type(id);
const named = (kind: string, name: string) => BTF.named(kind, name);
const resolve = (id: number) => BTF.resolve(id);
const sizeOf = (id: number) => BTF.sizeOf(id);
const members = (s: BtfType) => BTF.members(s);

/** An unsigned integer of width bytes at off, in host byte order (as the kernel reads map values). */
function readHost(b: Buffer, off: number, width: number): number {
  return endianness() === 'LE' ? b.readUIntLE(off, width) : b.readUIntBE(off, width);
}

const header = readFileSync(HEADER, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');

/** enum NAME's constants: from the BTF if it holds the enum, else from inject.h's text. */
function enumValues(name: string): { from: string; values: Map<string, number> } {
  const e = named('ENUM', name) ?? named('ENUM64', name);
  if (e) return { from: 'BTF', values: new Map((e.values ?? []).map((v) => [v.name, Number(v.val)])) };
  const m = new RegExp(`enum\\s+${name}\\s*\\{([^}]*)\\}`).exec(header);
  if (!m) throw new Error(`enum ${name} is neither in the BTF nor in ${HEADER}`);
  const values = new Map<string, number>();
  let next = 0;
  for (const item of m[1].split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const c = /^([A-Za-z_]\w*)(?:\s*=\s*(0x[0-9a-fA-F]+|\d+))?$/.exec(item);
    if (!c) throw new Error(`enum ${name}: cannot read '${item}'`);
    if (c[2] !== undefined) next = Number(c[2]);
    values.set(c[1], next++);
  }
  return { from: HEADER.slice(ROOT.length + 1), values };
}

/** The enum constant for a TS name: 'pseudo-only' -> CSW_INJECT_PSEUDO_ONLY. */
const constant = (prefix: string, ts: string): string => prefix + ts.toUpperCase().replace(/-/g, '_');

const checkStruct = (t: Test, name: string, layout: Record<string, number>) => BTF.checkStruct(t, name, layout);

t.test('struct csw_inject_cfg matches CFG_LAYOUT', (t) => {
  const btf = checkStruct(t, 'csw_inject_cfg', CFG_LAYOUT);
  const size = Object.fromEntries(btf.map((m) => [m.name, m.size]));
  // The widths encodeConfig writes: u32 mode and ppm, two u16 ports, u16 inner port, u8 direction.
  t.same(size, { mode: 4, ppm: 4, vxlan_port: 4, inner_port: 2, direction: 1, pad0: 1 }, 'member widths');
  const ports = btf.find((m) => m.name === 'vxlan_port');
  t.equal(ports?.type.kind, 'ARRAY', 'vxlan_port is an array');
  t.equal(ports?.type.nr_elems, 2, 'of two ports');
  t.end();
});

t.test('struct csw_inject_stats matches STATS_LAYOUT and STATS_FIELDS', (t) => {
  const btf = checkStruct(t, 'csw_inject_stats', STATS_LAYOUT);
  t.same(btf.map((m) => m.name), [...STATS_FIELDS], 'STATS_FIELDS in declaration order');
  for (const m of btf) {
    if (m.name === 'damaged') continue;
    t.equal(m.size, 8, `${m.name} is a u64`);
  }
  const damaged = btf.find((m) => m.name === 'damaged');
  t.equal(damaged?.type.kind, 'ARRAY', 'damaged is an array');
  t.equal(damaged?.type.nr_elems, INJECT_MODES.length, 'one damaged counter per mode');
  t.equal(damaged && sizeOf(damaged.type.type_id as number), 8, 'of u64');
  t.end();
});

t.test('enum csw_inject_mode is INJECT_MODES in order', (t) => {
  const { from, values } = enumValues('csw_inject_mode');
  t.comment(`enum csw_inject_mode read from ${from}`);
  INJECT_MODES.forEach((m, i) => t.equal(values.get(constant('CSW_INJECT_', m)), i, `${m} = ${i}`));
  t.equal(values.get('CSW_INJECT_MODES'), INJECT_MODES.length, 'CSW_INJECT_MODES counts the modes');
  const ts = new Set<string>(INJECT_MODES.map((m) => constant('CSW_INJECT_', m)));
  t.same([...values.keys()].filter((k) => k !== 'CSW_INJECT_MODES' && !ts.has(k)), [], 'no mode missing from INJECT_MODES');
  t.end();
});

t.test('enum csw_inject_direction is INJECT_DIRECTIONS in order', (t) => {
  const { from, values } = enumValues('csw_inject_direction');
  t.comment(`enum csw_inject_direction read from ${from}`);
  INJECT_DIRECTIONS.forEach((d, i) => t.equal(values.get(constant('CSW_INJECT_DIR_', d)), i, `${d} = ${i}`));
  t.equal(values.size, INJECT_DIRECTIONS.length, 'no direction missing from INJECT_DIRECTIONS');
  t.end();
});

t.test('PPM_ALL is CSW_INJECT_PPM_ALL, and every enum is in the BTF', (t) => {
  const { from, values } = enumValues('csw_inject_limits');
  t.equal(values.get('CSW_INJECT_PPM_ALL'), PPM_ALL);
  for (const e of ['csw_inject_limits', 'csw_inject_mode', 'csw_inject_direction']) t.equal(enumValues(e).from, 'BTF', `enum ${e} read from the BTF`);
  t.equal(from, 'BTF');
  t.end();
});

const BASE: InjectConfig = { mode: 'off', probability: 0, vxlanPorts: [1], innerPort: 0, direction: 'both' };

t.test('encodeConfig writes each field at its BTF offset and width', (t) => {
  const s = named('STRUCT', 'csw_inject_cfg');
  if (!s) {
    t.fail('struct csw_inject_cfg is not in the BTF');
    t.end();
    return;
  }
  const at = new Map(members(s).map((m) => [m.name, m]));
  const mode = enumValues('csw_inject_mode').values;
  const dir = enumValues('csw_inject_direction').values;
  const c: InjectConfig = { mode: 'pseudo-only', probability: 0.25, vxlanPorts: [4789, 8472], innerPort: 53, direction: 'from' };
  const b = encodeConfig(c);
  t.equal(b.length, s.size, 'one map value');
  const field = (name: string) => at.get(name) ?? { off: -1, size: 0 };
  t.equal(readHost(b, field('mode').off, field('mode').size), mode.get('CSW_INJECT_PSEUDO_ONLY'), 'mode');
  t.equal(readHost(b, field('ppm').off, field('ppm').size), 250_000, 'ppm');
  t.equal(readHost(b, field('vxlan_port').off, 2), 4789, 'vxlan_port[0]');
  t.equal(readHost(b, field('vxlan_port').off + 2, 2), 8472, 'vxlan_port[1]');
  t.equal(readHost(b, field('inner_port').off, field('inner_port').size), 53, 'inner_port');
  t.equal(readHost(b, field('direction').off, field('direction').size), dir.get('CSW_INJECT_DIR_FROM'), 'direction');
  t.equal(readHost(b, field('pad0').off, field('pad0').size), 0, 'pad0');

  // Changing one setting changes bytes of that member only.
  const changes: [string, Partial<InjectConfig>][] = [
    ['mode', { mode: 'outer-udp' }], ['ppm', { probability: 1 }], ['vxlan_port', { vxlanPorts: [0xffff, 0xfefe] }],
    ['inner_port', { innerPort: 0xffff }], ['direction', { direction: 'to' }],
  ];
  const base = encodeConfig(BASE);
  for (const [name, change] of changes) {
    const m = field(name);
    const diff = encodeConfig({ ...BASE, ...change });
    const outside: number[] = [];
    let inside = 0;
    for (let i = 0; i < base.length; i++) {
      if (base[i] === diff[i]) continue;
      if (i >= m.off && i < m.off + m.size) inside++;
      else outside.push(i);
    }
    t.ok(inside > 0, `${name}: its bytes change`);
    t.same(outside, [], `${name}: no other bytes change`);
  }
  t.end();
});

t.test('decodeStats reads each counter at its BTF offset', (t) => {
  const s = named('STRUCT', 'csw_inject_stats');
  if (!s) {
    t.fail('struct csw_inject_stats is not in the BTF');
    t.end();
    return;
  }
  const b = Buffer.alloc(s.size as number);
  const put = (off: number, v: bigint) => (endianness() === 'LE' ? b.writeBigUInt64LE(v, off) : b.writeBigUInt64BE(v, off));
  const at = new Map(members(s).map((m) => [m.name, m.off]));
  const off = (name: string) => at.get(name) ?? 0;
  put(off('seen'), 2n ** 40n + 1n);
  put(off('vxlan'), 1002n);
  put(off('matched'), 1003n);
  INJECT_MODES.forEach((_, i) => put(off('damaged') + 8 * i, 10n * BigInt(i)));
  put(off('skipped_partial'), 1004n);
  put(off('skipped_inapplicable'), 1005n);
  put(off('errors'), 1006n);
  t.same(decodeStats(b), {
    seen: 2 ** 40 + 1, vxlan: 1002, matched: 1003,
    damaged: { off: 0, 'inner-udp': 10, 'inner-ipv4': 20, 'outer-udp': 30, 'pseudo-only': 40 },
    damagedTotal: 100, skippedPartial: 1004, skippedInapplicable: 1005, errors: 1006,
  });
  t.end();
});

t.test('encodeConfig and decodeConfig round-trip', (t) => {
  for (const mode of INJECT_MODES) {
    for (const direction of INJECT_DIRECTIONS) {
      for (const vxlanPorts of [[4789], [4789, 8472]]) {
        const c: InjectConfig = { mode, probability: 0.3, vxlanPorts, innerPort: 53, direction };
        t.same(decodeConfig(encodeConfig(c)), c, `${mode} ${direction} ports ${vxlanPorts.join(',')}`);
      }
    }
  }
  for (const c of [
    { ...BASE, probability: 1, innerPort: 65535 },
    { ...BASE, probability: 1 / PPM_ALL, vxlanPorts: [65535, 1] },
  ]) {
    t.same(decodeConfig(encodeConfig(c)), c, `probability ${c.probability}, ports ${c.vxlanPorts.join(',')}, inner ${c.innerPort}`);
  }
  t.equal(decodeConfig(encodeConfig({ ...BASE, probability: 1 / 3 })).probability, 0.333333, 'probability in whole ppm');
  t.throws(() => decodeConfig(Buffer.alloc(CFG_LAYOUT.size - 1)), { code: 'CSW_ERR_LAB' }, 'a short value');
  t.end();
});

t.test('the maps: csw_ names, one entry, 4-byte key, the shared struct as value', (t) => {
  const sec = named('DATASEC', '.maps');
  if (!sec) {
    t.fail('no .maps section in the BTF');
    t.end();
    return;
  }
  const vars = (sec.vars ?? []).map((v) => btfType(v.type_id));
  t.same(vars.map((v) => v.name).sort(), ['csw_inject_cfg', 'csw_inject_stats'], 'the maps src/lab/inject.ts pins and reads');
  for (const v of vars) {
    t.match(v.name, /^csw_/, `${v.name}: csw_ prefix`);
    const def = new Map((resolve(v.type_id as number).members ?? []).map((m) => [m.name, m.type_id]));
    // __uint(x, N) is int (*x)[N]; __type(x, T) is T *x (libbpf's bpf_helpers.h).
    const uint = (k: string) => resolve(resolve(def.get(k) ?? 0).type_id as number).nr_elems;
    const pointee = (k: string) => resolve(resolve(def.get(k) ?? 0).type_id as number);
    t.equal(uint('type'), 2, `${v.name}: BPF_MAP_TYPE_ARRAY`);
    t.equal(uint('max_entries'), 1, `${v.name}: one entry, key 0`);
    t.equal(sizeOf(pointee('key').id), 4, `${v.name}: 4-byte key (Injector uses the u32 key 0)`);
    t.equal(pointee('value').kind, 'STRUCT', `${v.name}: a struct value`);
    t.equal(pointee('value').name, v.name, `${v.name}: holds struct ${v.name}`);
  }

  // The same names as ELF symbols in .maps, which is where libbpf takes map names from.
  const sections = spawnSync('readelf', ['-SW', OBJ], { encoding: 'utf8' });
  if ((sections.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    t.fail('readelf is not installed (binutils; scripts/setup.sh installs it)');
    t.end();
    return;
  }
  const idx = /^\s*\[\s*(\d+)\]\s+\.maps\s/m.exec(sections.stdout)?.[1];
  t.ok(idx, 'readelf -S lists .maps');
  const symbols = spawnSync('readelf', ['-sW', OBJ], { encoding: 'utf8' }).stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 8 && f[3] === 'OBJECT' && f[6] === idx)
    .map((f) => f[7]);
  t.same(symbols.sort(), ['csw_inject_cfg', 'csw_inject_stats'], 'readelf -s: the symbols in .maps');
  t.end();
});
