// `csumwatch analyze` reading streams as a user feeds them: `tcpdump -w - | csumwatch analyze -`
// (here cat and a shell pipe as the producer), /dev/stdin, and a FIFO (mkfifo), each through the
// same reader as a file, with results identical to reading the file. A FIFO with no writer waits
// for one, as tcpdump -r does; it ends when the writer closes.

import t from 'tap';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BIN } from '../support/cli';

const ROOT = join(__dirname, '..', '..', '..');
const FIX = join(ROOT, 'test', 'fixtures');
const EXTERNAL = process.env.CSW_EXTERNAL_CAPTURES ?? join(__dirname, '..', '..', '..', '..', 'shared', 'external-captures');
const tmp = fs.mkdtempSync(join(tmpdir(), 'csw-stream-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

interface Run { code: number | null; out: string; err: string }

/** A shell line, as a user types it (bounded: 2 minutes). */
function sh(line: string): Run {
  const r = spawnSync('/bin/sh', ['-c', line], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The report without files[] (which names the path read). */
function report(r: Run): Record<string, unknown> {
  const j = JSON.parse(r.out) as Record<string, unknown>;
  const files = j.files as Array<{ path: string; format: string; frames: number; error: string | null }>;
  delete j.files;
  return { ...j, _files: files.map((f) => ({ format: f.format, frames: f.frames, error: f.error })) };
}

const CASES = [
  join(FIX, 'vxlan4789-rx.pcap'),
  join(FIX, 'multi-if.pcapng'),
  join(FIX, 'vxlan-tcp-dns-rx.pcap'),
  join(EXTERNAL, 'zeek-geneve-vxlan-dns-truncated.pcap'),
].filter((p) => fs.existsSync(p));

const node = q(process.execPath);
const bin = q(BIN);

t.test('a pipe into `analyze -` and into /dev/stdin: the file\'s results', async (t) => {
  t.ok(CASES.length >= 3, 'fixtures found');
  for (const f of CASES) {
    const file = sh(`${node} ${bin} analyze --json ${q(f)}`);
    t.equal(file.code, 0, `${f}: read as a file`);
    const want = report(file);
    for (const line of [
      `cat ${q(f)} | ${node} ${bin} analyze --json -`,
      `cat ${q(f)} | ${node} ${bin} analyze --json /dev/stdin`,
      // A regular file as standard input is read as a stream too.
      `${node} ${bin} analyze --json - < ${q(f)}`,
      // A producer that writes in small pieces with pauses, as tcpdump -U does.
      `(${node} -e ${q(`const b=require('fs').readFileSync(${JSON.stringify(f)});let i=0;const t=setInterval(()=>{process.stdout.write(b.subarray(i,i+=97));if(i>=b.length)clearInterval(t)},1)`)}) | ${node} ${bin} analyze --json -`,
    ]) {
      const r = sh(line);
      t.equal(r.code, 0, `${line}: exit 0`);
      t.equal(r.err, '', 'nothing on stderr');
      t.same(report(r), want, `${line}: as the file`);
    }
  }
  // Standard input among files: each read in its turn.
  const a = CASES[0];
  const b = CASES[1];
  const mixed = sh(`cat ${q(b)} | ${node} ${bin} analyze --json ${q(a)} - ${q(a)}`);
  t.equal(mixed.code, 0);
  const files = (JSON.parse(mixed.out) as { files: Array<{ path: string; format: string }> }).files;
  t.same(files.map((f) => [f.path, f.format]), [[a, 'pcap'], ['-', 'pcapng'], [a, 'pcap']]);
  // The text report names standard input.
  const text = sh(`cat ${q(a)} | ${node} ${bin} analyze -`);
  t.match(text.out, /^standard input: 40 frames/);
});

function exited(c: ChildProcess): Promise<number | null> {
  return new Promise((res) => {
    if (c.exitCode !== null) res(c.exitCode);
    else c.on('exit', (code) => res(code));
  });
}

t.test('a FIFO: waits for its writer, then reads to the writer\'s close', async (t) => {
  const f = CASES[1];
  const want = report(sh(`${node} ${bin} analyze --json ${q(f)}`));
  const fifo = join(tmp, 'capture.fifo');
  spawnSync('mkfifo', [fifo]);
  const child = spawn(process.execPath, [BIN, 'analyze', '--json', fifo], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = exited(child);
  const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
  // No writer for a second and a half: still waiting, as tcpdump -r on a FIFO waits.
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(child.exitCode, null, 'no writer yet: analyze waits');
  // The writer writes the capture in two parts and closes.
  const bytes = fs.readFileSync(f);
  const w = fs.openSync(fifo, 'w');
  fs.writeSync(w, bytes, 0, 100);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(child.exitCode, null, 'part written, the writer still open: analyze reads on');
  fs.writeSync(w, bytes, 100);
  fs.closeSync(w);
  const code = await done;
  clearTimeout(kill);
  t.equal(code, 0, 'the writer closed: analyze ends');
  t.equal(err, '');
  t.same(report({ code, out, err }), want, 'as the file');
});

t.test('a FIFO cut mid record: the damage reported, what came before counted', async (t) => {
  const f = CASES[0];
  const bytes = fs.readFileSync(f);
  const fifo = join(tmp, 'cut.fifo');
  spawnSync('mkfifo', [fifo]);
  const r = sh(`(head -c 1000 ${q(f)} > ${q(fifo)}) & ${node} ${bin} analyze --json ${q(fifo)}; rc=$?; wait; exit $rc`);
  t.equal(r.code, 1);
  t.match(r.err, new RegExp(`^csumwatch: reading ${fifo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: at offset \\d+: truncated record: \\d+ of \\d+ bytes present\\n$`));
  const j = JSON.parse(r.out) as { frames: number; files: Array<{ frames: number }> };
  t.ok(j.frames > 0 && j.frames < 40, `${j.frames} records before the cut counted`);
  t.ok(bytes.length > 1000);
});
