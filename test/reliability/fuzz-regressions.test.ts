// Every frame the fuzzer (test/reliability/fuzz.ts) found a bug with is kept under test/fixtures/fuzz/ as a
// minimised .hex file (`# key: value` header lines, then the bytes) and listed in its README.md
// with what it found. Each is replayed through the fuzzer's whole pipeline and oracles, under both
// decoder port sets the fuzz workers use, alone and all together (so the correlator sees them
// side by side). A fixture whose README line says "(open)" is a known bug not fixed yet: it still
// runs, and its assertion is a tap todo.

import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fuzz, KNOWN_OPEN, parseFixture, summary } from './fuzz';

const DIR = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'fuzz');
const README = readFileSync(join(DIR, 'README.md'), 'utf8');
const files = readdirSync(DIR).filter((f) => f.endsWith('.hex')).sort();

/** The README's line for a fixture: "- `NAME`: what it found (open|fixed ...)". */
function noteOf(file: string): string | undefined {
  return README.split('\n').find((l) => l.includes(`\`${file}\``));
}

t.test('every fixture is described in README.md, every description has its fixture', async (t) => {
  for (const f of files) t.ok(noteOf(f), `${f} is described`);
  for (const m of README.matchAll(/^- `([^`]+\.hex)`/gm)) t.ok(files.includes(m[1]), `${m[1]} exists`);
  // test/reliability/fuzz.ts counts the failures of open bugs apart: exactly the (open) fixtures.
  const open = files.filter((f) => /\(open\b/.test(noteOf(f) ?? ''));
  t.same(KNOWN_OPEN.map((k) => k.fixture).sort(), open, 'KNOWN_OPEN lists exactly the open fixtures');
});

for (const file of files) {
  const note = noteOf(file) ?? '';
  const open = /\(open\b/.test(note);
  t.test(file, async (t) => {
    const fixed = parseFixture(readFileSync(join(DIR, file), 'utf8'));
    for (const worker of [0, 1]) {
      const r = await fuzz({ frames: fixed.length, seed: 0, worker, fixed, chunk: 1 });
      const what = `worker ${worker}'s decoder: ${[...r.known, ...r.failures].map((f) => `[${f.oracle}] ${f.message}`).join('; ') || 'no failure'}`;
      // An open bug still runs, and shows what still fails, as a todo assertion.
      t.equal(r.failureCount + r.knownCount, 0, what, open ? { todo: 'open: see test/fixtures/fuzz/README.md' } : {});
      // A known open bug's failures are counted apart by the fuzzer; nothing else may fail.
      if (open) t.equal(r.failureCount, 0, `nothing but the known bug fails: ${r.failures.map((f) => f.message).join('; ') || 'none'}`);
    }
  });
}

t.test('all fixtures together', { skip: files.length === 0 ? 'no fixtures' : false }, async (t) => {
  const fixed = files.flatMap((f) => parseFixture(readFileSync(join(DIR, f), 'utf8')));
  const r = await fuzz({ frames: fixed.length, seed: 0, worker: 0, fixed, chunk: 1000 });
  const open = files.some((f) => /\(open\b/.test(noteOf(f) ?? ''));
  t.equal(r.failureCount + r.knownCount, 0, summary({ seed: 0, workers: [r], frames: r.frames, seconds: r.seconds, framesPerSec: r.framesPerSec, failures: [...r.known, ...r.failures], failureCount: r.failureCount, known: [], knownCount: r.knownCount, rssMiB: r.rssMiB }),
    open ? { todo: 'some fixtures are open bugs: see test/fixtures/fuzz/README.md' } : {});
});
