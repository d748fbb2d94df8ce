// The generated layouts (src/bpf/generated/*.ts, committed) are what scripts/bpf-gen.js writes
// from the built objects' BTF today: a header or a .bpf.c changed without `npm run build` and a
// commit of the regenerated files fails here. Also: one generated file per built object and no
// other, and the generator refuses a shared struct with hidden padding.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
const gen = require(join(ROOT, 'scripts', 'bpf-gen.js')) as {
  generate(file: string): string;
  targets(objDir?: string, outDir?: string): Array<[string, string]>;
};
const OBJ_DIR = join(ROOT, 'dist', 'bpf');
const OUT_DIR = join(ROOT, 'src', 'bpf', 'generated');

t.test('every committed generated file is what the build objects give', (t) => {
  const targets = gen.targets();
  t.ok(targets.length >= 4, 'the objects are built (drops, filter, inject, vlan-tag)');
  for (const [obj, ts] of targets) {
    t.ok(existsSync(ts), `${basename(ts)} is committed`);
    if (!existsSync(ts)) continue;
    t.equal(gen.generate(obj), readFileSync(ts, 'utf8'), `${basename(ts)} matches the BTF of ${basename(obj)} (run npm run build and commit src/bpf/generated)`);
  }
  const want = targets.map(([, ts]) => basename(ts)).sort();
  t.same(readdirSync(OUT_DIR).filter((f) => f.endsWith('.ts')).sort(), want, 'no generated file without its object');
  t.end();
});

t.test('bpf-gen --check: 0 when current', (t) => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'bpf-gen.js'), '--check'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.end();
});

t.test('the generator refuses hidden padding and reads enums and ring buffer records', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'csw-bpfgen-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = (body: string) => `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared/btf.h"
${body}
SEC("socket") int csw_t(struct __sk_buff *skb) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`;
  const build = (name: string, body: string) => {
    const c = join(dir, `${name}.bpf.c`);
    const o = join(dir, `${name}.bpf.o`);
    writeFileSync(c, src(body));
    const r = spawnSync('clang', ['-g', '-O2', '-target', 'bpf', `-I${OBJ_DIR}`, `-I${join(ROOT, 'bpf')}`, '-c', c, '-o', o], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`clang: ${r.stderr}`);
    return o;
  };
  const good = gen.generate(build('good', `
struct csw_t_rec { __u32 a; __u16 b; __u8 c[2]; __u64 d; };
enum csw_t_k { CSW_T_X = 7, CSW_T_Y = 0x100 };
CSW_BTF_TYPE(struct csw_t_rec, rec);
CSW_BTF_TYPE(enum csw_t_k, k);`));
  t.match(good, /export const csw_t_rec = \{ size: 16, a: 0, b: 4, c: 6, d: 8 \} as const;/, 'offsets of a struct only a pointer names');
  t.match(good, /c: \{ offset: 6, size: 2, count: 2 \}/, 'an array member: bytes and elements');
  t.match(good, /CSW_T_Y: 256\b/, 'enum constants');
  t.match(good, /programs = \{ csw_t: 'csw_t' \}/, 'the program');
  t.throws(() => gen.generate(build('pad', `
struct csw_t_pad { __u8 a; __u32 b; };
CSW_BTF_TYPE(struct csw_t_pad, pad);`)), /hidden padding before b/, 'hidden padding is an error');
  t.end();
});
