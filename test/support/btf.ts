// Reading a built BPF object's BTF (bpftool btf dump file OBJ -j) for the layout tests: the
// structs shared with TypeScript must have the sizes and offsets the TS mirrors say, no bitfields
// and no hidden padding.

import { Test } from 'tap';
import { spawnSync } from 'node:child_process';

export interface BtfMember { name: string; type_id: number; bits_offset: number; bitfield_size?: number }
export interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: BtfMember[];
  values?: { name: string; val: number }[];
  vars?: { type_id: number; offset: number; size: number }[];
}

export class ObjectBtf {
  readonly types = new Map<number, BtfType>();

  /** Throws with bpftool's message when the dump fails. */
  constructor(readonly file: string) {
    const dump = spawnSync('bpftool', ['btf', 'dump', 'file', file, '-j'], { encoding: 'utf8' });
    if (dump.error || dump.status !== 0) throw new Error(`bpftool btf dump file ${file} -j: ${dump.error?.message ?? dump.stderr.trim()}`);
    for (const ty of (JSON.parse(dump.stdout) as { types: BtfType[] }).types) this.types.set(ty.id, ty);
  }

  type(id: number): BtfType {
    const ty = this.types.get(id);
    if (!ty) throw new Error(`BTF type ${id} not in the dump`);
    return ty;
  }

  named(kind: string, name: string): BtfType | undefined {
    return [...this.types.values()].find((ty) => ty.kind === kind && ty.name === name);
  }

  /** Skips typedefs and qualifiers. */
  resolve(id: number): BtfType {
    let ty = this.type(id);
    while (['TYPEDEF', 'CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG'].includes(ty.kind)) ty = this.type(ty.type_id as number);
    return ty;
  }

  /** Size in bytes of a BTF type. */
  sizeOf(id: number): number {
    const ty = this.resolve(id);
    if (ty.kind === 'ARRAY') return (ty.nr_elems as number) * this.sizeOf(ty.type_id as number);
    if (ty.kind === 'PTR') return 8;
    if (typeof ty.size !== 'number') throw new Error(`BTF type ${id} (${ty.kind}) has no size`);
    return ty.size;
  }

  /** Byte offset and size of every member of a struct, in declaration order. */
  members(s: BtfType): { name: string; off: number; size: number; type: BtfType }[] {
    return (s.members ?? []).map((m) => ({ name: m.name, off: m.bits_offset / 8, size: this.sizeOf(m.type_id), type: this.resolve(m.type_id) }));
  }

  /**
   * Checks struct `name` against a TS mirror ({size, member: offset, ...}): the same members,
   * sizes and offsets, no bitfields, and members that tile the struct with no hidden padding.
   */
  checkStruct(t: Test, name: string, layout: Record<string, number>): ReturnType<ObjectBtf['members']> {
    const s = this.named('STRUCT', name);
    if (!s) {
      t.fail(`struct ${name} is not in the BTF of ${this.file}`);
      return [];
    }
    const btf = this.members(s);
    const offsets = new Map(Object.entries(layout).filter(([k]) => k !== 'size'));
    t.equal(s.size, layout.size, `sizeof(struct ${name})`);
    t.same(btf.map((m) => m.name).sort(), [...offsets.keys()].sort(), `struct ${name}: the same members in BTF and TS`);
    for (const m of s.members ?? []) {
      t.equal(m.bits_offset % 8, 0, `${name}.${m.name} starts on a byte`);
      t.notOk(m.bitfield_size, `${name}.${m.name} is no bitfield`);
    }
    for (const m of btf) t.equal(offsets.get(m.name), m.off, `offsetof(${name}, ${m.name})`);
    let end = 0;
    for (const m of [...btf].sort((a, b) => a.off - b.off)) {
      t.equal(m.off, end, `${name}.${m.name} follows the previous member with no hidden padding`);
      end = m.off + m.size;
    }
    t.equal(end, s.size, `${name}: no hidden padding at the end`);
    return btf;
  }
}
