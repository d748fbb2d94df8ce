// The documentation's links: every relative link of README.md and docs/**/*.md names a file of
// the repository, and every #anchor a heading of its target (GitHub's anchors), so that a user
// following one lands where it says.

import t from 'tap';
import * as fs from 'node:fs';
import { dirname, join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

function docs(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? docs(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : []));
}

/** GitHub's anchor of a heading: lower case, punctuation but - and _ dropped, spaces to -. */
export function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\- _]/gu, '').replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fence = false;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    if (fence) continue;
    const m = /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    const a = anchorOf(m[1]);
    const n = seen.get(a) ?? 0;
    seen.set(a, n + 1);
    out.add(n === 0 ? a : `${a}-${n}`);
  }
  return out;
}

t.test('every relative link and anchor of the docs resolves', async (t) => {
  const files = [join(ROOT, 'README.md'), ...docs(join(ROOT, 'docs'))];
  let links = 0;
  for (const file of files) {
    let fence = false;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (line.startsWith('```')) fence = !fence;
      if (fence) continue;
      for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1];
        if (/^[a-z]+:/.test(target)) continue;
        links++;
        const [path, anchor] = target.split('#');
        const dest = path === '' ? file : join(dirname(file), path);
        const where = `${relative(ROOT, file)}: (${target})`;
        if (!fs.existsSync(dest)) {
          t.fail(`${where}: no such file`);
          continue;
        }
        if (anchor !== undefined && dest.endsWith('.md')) t.ok(anchors(dest).has(anchor), `${where}: a heading of ${relative(ROOT, dest)}`);
      }
    }
  }
  t.ok(links > 30, `${links} links checked`);
});

t.test('the README is an entry page: at most 200 lines', async (t) => {
  const n = fs.readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length;
  t.ok(n <= 200, `README.md has ${n} lines`);
  t.notMatch(fs.readFileSync(join(ROOT, 'README.md'), 'utf8'), /\b[Ii]ssues? \d+/, 'names no internal issue number');
  for (const f of docs(join(ROOT, 'docs'))) {
    t.notMatch(fs.readFileSync(f, 'utf8'), /\b[Ii]ssues? \d+/, `${relative(ROOT, f)} names no internal issue number`);
  }
});
