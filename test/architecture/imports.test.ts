// The source's shape: no import cycle among src/'s modules (type-only imports aside, as they
// vanish when compiled), the HTTP server and the metrics collectors never import the Agent (they
// read narrow views of it, src/agent/views.ts and src/agent/registry.ts), and the CLI loads each
// command's module only when that command runs.

import t from 'tap';
import * as fs from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Each module's imports that stay at run time (not `import type`), as repository paths. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of sources(SRC)) {
    const text = fs.readFileSync(f, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(/^(?:import|export) (type )?[^;]*? from '(\.[^']+)';/gm)) {
      if (m[1]) continue;
      const p = normalize(join(dirname(f), m[2])) + '.ts';
      if (fs.existsSync(p)) deps.push(relative(ROOT, p));
    }
    g.set(relative(ROOT, f), deps);
  }
  return g;
}

t.test('no import cycle in src/', async (t) => {
  const g = graph();
  t.ok(g.size > 50, `${g.size} modules`);
  const cycles: string[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (n: string, path: string[]): void => {
    state.set(n, 1);
    for (const d of g.get(n) ?? []) {
      if (state.get(d) === 1) cycles.push([...path.slice(path.indexOf(d)), d].join(' -> '));
      else if (!state.has(d)) visit(d, [...path, d]);
    }
    state.set(n, 2);
  };
  for (const n of g.keys()) if (!state.has(n)) visit(n, [n]);
  t.same(cycles, [], 'no cycle');
});

t.test('the server and the collectors read views, not the Agent', async (t) => {
  for (const [f, deps] of graph()) {
    if (!f.startsWith('src/server/') && !f.startsWith('src/metrics/')) continue;
    t.notOk(deps.includes('src/agent/agent.ts'), `${f} does not import the Agent`);
  }
});

t.test('tests and their support never import bench/', async (t) => {
  const TEST = join(ROOT, 'test');
  const all = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? (e.name === 'fixtures' ? [] : all(join(dir, e.name))) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  const files = all(TEST);
  t.ok(files.length > 50, `${files.length} test files`);
  for (const f of files) t.notMatch(fs.readFileSync(f, 'utf8'), /from '(?:\.\.\/)+bench\//, `${relative(ROOT, f)} imports nothing from bench/`);
});

t.test('the CLI loads a command only when it runs', async (t) => {
  const main = graph().get('src/cli/main.ts') ?? [];
  for (const cmd of ['agent', 'analyze', 'doctor', 'lab']) t.notOk(main.includes(`src/cli/${cmd}.ts`), `main.ts imports cli/${cmd}.ts only dynamically`);
});
