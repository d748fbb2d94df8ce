// `csumwatch lab demo` (root), the README's first command: it must succeed, show csumwatch's
// numbers equal to the ground truth's, end with the verdict and the fix, and leave nothing behind.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { rootTest } from '../support/root';

const BIN = join(__dirname, '..', '..', '..', 'bin', 'csumwatch');
const LAB = 'cswdemo';

rootTest('the lab tests (network namespaces, tc, BPF)');

t.test('lab demo', async (t) => {
  const r = spawnSync(process.execPath, [BIN, 'lab', 'demo', '--name', LAB], { encoding: 'utf8', timeout: 180_000 });
  t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.trim()})`);
  const out = r.stdout;
  t.match(out, /1\. healthy/);
  t.match(out, /2\. VMware fault/);
  t.match(out, /4\. kernel bug/);

  // Table rows: "label   csumwatch   truth  (source)": the two numbers must agree and be > 0.
  for (const label of ['queries damaged', 'queries lost', '  of them to checksums', 'outer UDP checksum bad']) {
    const rows = out.split('\n').filter((l) => l.trimStart().startsWith(label.trim()) && /\(/.test(l));
    t.ok(rows.length > 0, `row '${label.trim()}' printed`);
    for (const row of rows) {
      const m = /^\s*[a-zA-Z ]+?\s+(\d+)\s+(\d+)/.exec(row);
      t.ok(m, `row has two numbers: ${row.trim()}`);
      if (!m) continue;
      t.equal(m[1], m[2], `csumwatch agrees with the ground truth: ${row.trim()}`);
      t.ok(Number(m[1]) > 0, `and it is not zero: ${row.trim()}`);
    }
  }
  t.match(out, /sender capture: bad\s+0\s/, 'the sender\'s own capture shows no bad checksums');
  t.match(out, /dnsperf: \d+ sent, (\d+) answered, 0 lost\n[^\n]*\n\nwhat csumwatch said/, 'after the fix nothing is lost');
  t.match(out, /verdict: \d+ of \d+ DNS queries lost to bad inner UDP checksums/);
  t.match(out, /fix: .*ethtool -K <vxlan-dev> tx-checksum-ip-generic off/);

  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  t.notMatch(ns, new RegExp(`^${LAB}-`, 'm'), 'the demo removed its lab');
});
