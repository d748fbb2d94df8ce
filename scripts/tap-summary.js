#!/usr/bin/env node
// Passes TAP through unchanged and closes with "N passed, N failed" counting every leaf
// assertion of every file (skipped and todo ones are said on the line before, when there are any:
// the last line keeps exactly the form CI reads). A result line at the indentation of an open "# Subtest:" is that
// subtest's summary and is not counted again; a failing summary with no failing assertion inside
// (a file that crashed, a timeout) counts as one failure, so nothing can fail silently.
'use strict';
const readline = require('node:readline');

let passed = 0;
let failed = 0;
let skipped = 0;
let bailed = false;
const open = []; // { indent, fails, name }
const failures = []; // "file > subtest > assertion" of every failure, said again at the end
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });

rl.on('line', (line) => {
  process.stdout.write(line + '\n');
  const sub = /^(\s*)# Subtest:?\s*(.*)$/.exec(line);
  if (sub) {
    open.push({ indent: sub[1].length, fails: 0, name: sub[2] });
    return;
  }
  if (/^\s*Bail out!/.test(line)) {
    bailed = true;
    return;
  }
  const m = /^(\s*)(not )?ok\b(.*)$/.exec(line);
  if (!m) return;
  const indent = m[1].length;
  const ok = !m[2];
  const top = open[open.length - 1];
  if (top && top.indent === indent) {
    if (!ok && top.fails === 0) count(false, ' (the subtest itself: a crash or a timeout)');
    open.pop();
    return;
  }
  count(ok, m[3]);
});

function count(ok, rest) {
  if (ok && /#\s*(skip|todo)\b/i.test(rest)) skipped++;
  else if (ok) passed++;
  else {
    failed++;
    for (const o of open) o.fails++;
    if (failures.length < 50) {
      const what = [...open.map((o) => o.name), rest.replace(/^\s*\d*\s*-?\s*/, '')].join(' > ');
      failures.push(what.length > 400 ? `${what.slice(0, 400)}...` : what);
    }
  }
}

rl.on('close', () => {
  if (bailed && failed === 0) failed = 1;
  if (passed + failed === 0) failed = 1; // no test ran: that is a failure, not a pass
  for (const f of failures) process.stdout.write(`failed: ${f}\n`);
  if (failed > failures.length) process.stdout.write(`failed: ... and ${failed - failures.length} more\n`);
  if (skipped) process.stdout.write(`${skipped} skipped or todo (see the # SKIP and # TODO lines above)\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = failed > 0 ? 1 : 0;
});
