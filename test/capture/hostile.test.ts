// Hostile capture files as a user meets them: the real bin/csumwatch analyze on a corpus of
// truncated, mislabelled, lying and absurd files made here from the real fixtures, each held to
// CONTRACT.md (exit 1 and one stderr line `csumwatch: reading F: at offset N: cause` for a
// damaged file, with what came before it reported; exit 0 for a valid file of malformed
// packets), to finishing (a kill by timeout fails) and to a fixed peak memory (the child's
// VmHWM). Then DNS compression loops and other lying names inside real VXLAN frames cloned from
// a fixture, checksums recomputed so that they reach the DNS decoder.
// test/capture/replay.test.ts holds the reader's own damage cases; this file does not repeat them.

import t, { Test } from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { LINKTYPE_ETHERNET, readCaptureFile } from '../../src/capture/replay';
import { BIN } from '../support/cli';
import { FrameSpec, Ip4Spec, LinkSpec, build } from '../support/packets';
import { runMeasured } from '../support/peak-rss';
import { pcapBytes } from '../support/pcap-writer';

const ROOT = join(__dirname, '..', '..', '..');
const FIX = join(ROOT, 'test', 'fixtures');
const tmp = fs.mkdtempSync(join(tmpdir(), 'csw-hostile-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

/**
 * Peak RSS allowed to `analyze` on any one of these files, in KiB. The reader holds one buffer
 * of at most 16 MiB and no per-record state; node itself takes about 60 MiB. A reader that
 * allocates by a length field, or keeps something per block, goes past it (the self-test below
 * shows the measurement sees such an allocation).
 */
const PEAK_KIB = 160 * 1024;
/** Generous: each run takes well under 10 s; a reader that loops forever is killed here. */
const TIMEOUT_MS = 120_000;

const PCAP = fs.readFileSync(join(FIX, 'vxlan4789-rx.pcap')); // 40 records
const PCAPNG = fs.readFileSync(join(FIX, 'multi-if.pcapng')); // SHB, 2 IDB, 80 EPB, 2 ISB

/** File offsets of the pcap records. */
function pcapRecords(b: Buffer): number[] {
  const out: number[] = [];
  for (let o = 24; o + 16 <= b.length; o += 16 + b.readUInt32LE(o + 8)) out.push(o);
  return out;
}

/** File offsets of the pcapng blocks (one little-endian section). */
function pcapngBlocks(b: Buffer): number[] {
  const out: number[] = [];
  for (let o = 0; o + 8 <= b.length; o += b.readUInt32LE(o + 4)) out.push(o);
  return out;
}

const REC = pcapRecords(PCAP);
const BLK = pcapngBlocks(PCAPNG);
const EPB0 = BLK[3]; // the first enhanced packet block

let fileNo = 0;
function file(name: string, bytes: Uint8Array): string {
  const p = join(tmp, `${fileNo++}-${name}`);
  fs.writeFileSync(p, bytes);
  return p;
}

function edited(base: Buffer, f: (b: Buffer) => void): Buffer {
  const b = Buffer.from(base);
  f(b);
  return b;
}

/** A sparse file: these bytes at offset 0, then zeros (a hole) up to size. */
function sparse(name: string, head: Uint8Array, size: number, writes: Array<[number, Uint8Array]> = []): string {
  const p = join(tmp, `${fileNo++}-${name}`);
  const fd = fs.openSync(p, 'w');
  try {
    fs.writeSync(fd, head, 0, head.length, 0);
    for (const [at, bytes] of writes) fs.writeSync(fd, bytes, 0, bytes.length, at);
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
  return p;
}

const reEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Want {
  code: 0 | 1;
  /** Records read (reported in files[0].frames) before the damage, or in all. */
  frames: number;
  /** The error's offset and cause (the cause matched to the line's end); none for exit 0. */
  offset?: number;
  cause?: RegExp;
  /** The whole line after `csumwatch: ` when it has no offset (I/O errors). */
  line?: string;
}

interface Report {
  frames: number;
  malformed: number;
  not_ip: number;
  malformed_reasons: Record<string, number>;
  checksums: { vxlan: { udp: Record<string, number>; ipv4: Record<string, number> }; udp: Record<string, number> };
  dns: { queries: number; answered: number; unanswered: number };
  files: Array<{ path: string; frames: number; error: string | null }>;
}

/**
 * analyze --json PATH as a user runs it, held to the contract, the time bound and the memory bound.
 * input: bytes piped into its standard input (PATH `-`).
 */
function analyze(t: Test, what: string, path: string, want: Want, input?: Uint8Array): Report | null {
  const r = runMeasured(BIN, ['analyze', '--json', path], TIMEOUT_MS, input);
  t.equal(r.signal, null, `${what}: finishes (not killed after ${TIMEOUT_MS / 1000} s)`);
  t.equal(r.code, want.code, `${what}: exit ${want.code}`);
  t.ok(r.peakKiB > 0 && r.peakKiB <= PEAK_KIB, `${what}: peak RSS ${r.peakKiB} KiB <= ${PEAK_KIB} KiB`);
  const lines = r.err.split('\n').filter((l) => l !== '');
  t.notMatch(r.err, /\n\s+at |internal error/, `${what}: no stack trace`);
  if (want.code === 0) {
    t.same(lines, [], `${what}: nothing on stderr`);
  } else {
    t.equal(lines.length, 1, `${what}: one stderr line`);
    const shape = want.line !== undefined
      ? new RegExp(`^csumwatch: ${reEscape(want.line)}$`)
      : new RegExp(`^csumwatch: reading ${reEscape(path === '-' ? 'standard input' : path)}: at offset ${want.offset}: (${want.cause?.source})$`);
    t.match(lines[0] ?? '', shape, `${what}: ${lines[0]}`);
  }
  let j: Report;
  try {
    j = JSON.parse(r.out) as Report;
  } catch {
    t.fail(`${what}: stdout is the JSON report`);
    return null;
  }
  t.equal(j.files[0].frames, want.frames, `${what}: ${want.frames} records reported`);
  t.equal(j.frames, want.frames, `${what}: the report counts them`);
  t.equal(j.files[0].error === null, want.code === 0, `${what}: files[0].error set iff exit 1`);
  return j;
}

t.test('self-test: the measurement sees a length-sized allocation, and a clean exit', async (t) => {
  const hog = join(tmp, 'hog.js');
  // What a reader trusting a 200 MiB length field would do: allocate it and fill it.
  fs.writeFileSync(hog, 'Buffer.alloc(200 << 20, 1); process.exitCode = 3;\n');
  const r = runMeasured(hog, [], TIMEOUT_MS);
  t.equal(r.code, 3, 'the wrapped script runs and its exit code is kept');
  t.ok(r.peakKiB > PEAK_KIB, `a 200 MiB allocation (peak ${r.peakKiB} KiB) breaks the bound`);
  const spin = join(tmp, 'spin.js');
  fs.writeFileSync(spin, 'for (;;);\n');
  const s = runMeasured(spin, [], 2000);
  t.equal(s.signal, 'SIGKILL', 'a child that never ends is killed at the timeout, which fails analyze()');
  const ok = runMeasured(BIN, ['analyze', '--json', join(FIX, 'vxlan4789-rx.pcap')], TIMEOUT_MS);
  t.equal(ok.code, 0);
  t.ok(ok.peakKiB > 20_000 && ok.peakKiB <= PEAK_KIB, `a fixture: peak ${ok.peakKiB} KiB`);
});

t.test('files that are not captures', async (t) => {
  analyze(t, 'empty file', file('empty', Buffer.alloc(0)), { code: 1, frames: 0, offset: 0, cause: /empty file/ });
  analyze(t, 'two bytes', file('two', PCAP.subarray(0, 2)), { code: 1, frames: 0, offset: 0, cause: /truncated file header/ });
  analyze(t, 'cut mid file header', file('hdr20', PCAP.subarray(0, 20)), { code: 1, frames: 0, offset: 0, cause: /truncated file header/ });
  analyze(t, 'near-miss magic', file('near', edited(PCAP, (b) => (b[0] = 0xd5))), {
    code: 1, frames: 0, offset: 0, cause: /not a pcap or pcapng file \(magic 0xa1b2c3d5\)/,
  });
  analyze(t, 'gzip', file('gz', gzipSync(PCAP)), {
    code: 1, frames: 0, offset: 0, cause: /not a pcap or pcapng file \(magic 0x[0-9a-f]{4}8b1f\): gzip-compressed, decompress it first/,
  });
  analyze(t, 'text', file('txt', Buffer.from('GET / HTTP/1.1\r\n')), { code: 1, frames: 0, offset: 0, cause: /not a pcap or pcapng file \(magic 0x20544547\)/ });
  // Kuznetzov's modified pcap (tcpdump's old patched format): libpcap reads it, we do not.
  analyze(t, 'modified pcap', file('kuz', edited(PCAP, (b) => b.writeUInt32LE(0xa1b2cd34, 0))), {
    code: 1, frames: 0, offset: 0, cause: /not a pcap or pcapng file \(magic 0xa1b2cd34\): the modified \(Kuznetzov\) pcap format, convert it with editcap -F pcap/,
  });
  const dir = join(tmp, 'a-directory');
  fs.mkdirSync(dir);
  analyze(t, 'a directory', dir, { code: 1, frames: 0, line: `reading ${dir}: is a directory` });
  analyze(t, '/dev/zero', '/dev/zero', { code: 1, frames: 0, offset: 0, cause: /not a regular file \(a character device\): save the capture to a file first/ });
  // A FIFO is read as tcpdump -r reads one: it waits for a writer (test/cli/analyze-stream.test.ts
  // shows it waiting), and ends when the writer closes. One that closes having written nothing:
  const fifo = join(tmp, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const child = spawn(process.execPath, [BIN, 'analyze', '--json', fifo], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  // Opening for writing waits for the reader's open; closing at once leaves it nothing.
  fs.closeSync(fs.openSync(fifo, 'w'));
  const code = await new Promise<number | null>((res) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('close', (c) => { clearTimeout(kill); res(c); });
  });
  t.equal(code, 1, 'a FIFO whose writer closes without writing: exit 1');
  t.equal(err, `csumwatch: reading ${fifo}: at offset 0: empty file\n`, 'one line: empty');
  // Standard input that is a device (here /dev/null, as a terminal would be): refused, not waited on.
  const dn = spawnSync(process.execPath, [BIN, 'analyze', '--json', '-'], { stdio: [fs.openSync('/dev/null', 'r'), 'pipe', 'pipe'], encoding: 'utf8', timeout: TIMEOUT_MS });
  t.equal(dn.status, 1);
  t.equal(dn.stderr, 'csumwatch: reading standard input: at offset 0: standard input is a terminal or a device: pipe a capture in (tcpdump -w - | csumwatch analyze -)\n');
});

t.test('streams: damage and size through a pipe, as in a file', async (t) => {
  // What a file says of its damage, standard input says too, at the same offsets.
  analyze(t, 'empty stdin', '-', { code: 1, frames: 0, offset: 0, cause: /empty file/ }, Buffer.alloc(0));
  analyze(t, 'gzip on stdin', '-', { code: 1, frames: 0, offset: 0, cause: /not a pcap or pcapng file \(magic 0x[0-9a-f]{8}\): gzip-compressed, decompress it first/ }, gzipSync(PCAP));
  analyze(t, 'stdin cut mid record', '-', { code: 1, frames: 10, offset: REC[10], cause: /truncated record: 7 of 16 bytes present/ }, PCAP.subarray(0, REC[10] + 7));
  analyze(t, 'incl_len 0xffffffff on stdin', '-', { code: 1, frames: 5, offset: REC[5], cause: /record length 4294967295 exceeds the maximum 16777216/ }, edited(PCAP, (b) => b.writeUInt32LE(0xffffffff, REC[5] + 8)));
  analyze(t, 'pcapng block that lies on stdin', '-', { code: 1, frames: 0, offset: EPB0, cause: /trailing block length \d+ does not match \d+/ }, edited(PCAPNG, (b) => b.writeUInt32LE(b.readUInt32LE(EPB0 + 4) + 4, EPB0 + 4)));
  // 128 MiB streamed: memory stays within the bound, as for a file (no size known, nothing kept).
  // A reader that held the stream would need node's 60 MiB and the 128: past the bound.
  const body = PCAP.subarray(24);
  const copies = Math.ceil((128 << 20) / body.length);
  const big = Buffer.concat([PCAP.subarray(0, 24), ...new Array<Buffer>(copies).fill(body)]);
  const j = analyze(t, '128 MiB through a pipe', '-', { code: 0, frames: 40 * copies }, big);
  t.equal(j?.checksums.vxlan.udp.ok, 40 * copies, 'every frame decoded');
});

t.test('pcap: truncated, byte-swapped, absurd lengths', async (t) => {
  analyze(t, 'cut mid record header', file('cut-rh', PCAP.subarray(0, REC[10] + 7)), {
    code: 1, frames: 10, offset: REC[10], cause: /truncated record: 7 of 16 bytes present/,
  });
  const len10 = PCAP.readUInt32LE(REC[10] + 8);
  analyze(t, 'cut mid record', file('cut-r', PCAP.subarray(0, REC[10] + 16 + 30)), {
    code: 1, frames: 10, offset: REC[10], cause: new RegExp(`truncated record: 46 of ${16 + len10} bytes present`),
  });
  // The magic byte-swapped alone: every length is then read in the wrong order.
  const first = PCAP.readUInt32BE(REC[0] + 8);
  analyze(t, 'magic byte-swapped, fields not', file('swapped', edited(PCAP, (b) => b.writeUInt32BE(0xa1b2c3d4, 0))), {
    code: 1, frames: 0, offset: 24, cause: new RegExp(`record length ${first} exceeds the maximum 16777216`),
  });
  analyze(t, 'incl_len 0xffffffff', file('incl', edited(PCAP, (b) => b.writeUInt32LE(0xffffffff, REC[5] + 8))), {
    code: 1, frames: 5, offset: REC[5], cause: /record length 4294967295 exceeds the maximum 16777216/,
  });
  // The largest record accepted, announced in a small file: cut, and no 16 MiB read past the end.
  analyze(t, 'incl_len 16 MiB in a small file', file('incl16', edited(PCAP, (b) => b.writeUInt32LE(16 << 20, REC[5] + 8))), {
    code: 1, frames: 5, offset: REC[5], cause: new RegExp(`truncated record: ${PCAP.length - REC[5]} of ${16 + (16 << 20)} bytes present`),
  });
  for (const snap of [0, 2 ** 31, 0xffffffff]) {
    analyze(t, `snaplen ${snap}`, file(`snap${snap}`, edited(PCAP, (b) => b.writeUInt32LE(snap, 16))), { code: 0, frames: 40 });
  }
  // orig_len 0 and orig_len below incl_len: the file is readable, the packet is what it is.
  analyze(t, 'orig_len 0', file('orig0', edited(PCAP, (b) => b.writeUInt32LE(0, REC[3] + 12))), { code: 0, frames: 40 });
});

t.test('pcapng: blocks that lie', async (t) => {
  const setLen = (v: number) => (b: Buffer) => b.writeUInt32LE(v, EPB0 + 4);
  const epbLen = PCAPNG.readUInt32LE(EPB0 + 4);
  analyze(t, 'cut mid block header', file('cut-bh', PCAPNG.subarray(0, BLK[10] + 5)), {
    code: 1, frames: 7, offset: BLK[10], cause: /truncated record: 5 of 8 bytes present/,
  });
  analyze(t, 'cut mid block', file('cut-b', PCAPNG.subarray(0, BLK[10] + 40)), {
    code: 1, frames: 7, offset: BLK[10], cause: new RegExp(`truncated record: 40 of ${PCAPNG.readUInt32LE(BLK[10] + 4)} bytes present`),
  });
  analyze(t, 'cut mid section header', file('cut-shb', PCAPNG.subarray(0, 20)), { code: 1, frames: 0, offset: 0, cause: /truncated record: 20 of \d+ bytes present/ });
  analyze(t, 'block length 0', file('bl0', edited(PCAPNG, setLen(0))), { code: 1, frames: 0, offset: EPB0, cause: /block length 0 is too small/ });
  analyze(t, 'block length 4', file('bl4', edited(PCAPNG, setLen(4))), { code: 1, frames: 0, offset: EPB0, cause: /block length 4 is too small/ });
  // 12 is the smallest block; the "trailing length" it names is then the interface id.
  analyze(t, 'block length 12', file('bl12', edited(PCAPNG, setLen(12))), {
    code: 1, frames: 0, offset: EPB0, cause: new RegExp(`trailing block length ${PCAPNG.readUInt32LE(EPB0 + 8)} does not match 12`),
  });
  analyze(t, 'block length not a multiple of 4', file('bl-odd', edited(PCAPNG, setLen(epbLen + 2))), {
    code: 1, frames: 0, offset: EPB0, cause: new RegExp(`block length ${epbLen + 2} is not a multiple of 4`),
  });
  analyze(t, 'block length past the end', file('bl-big', edited(PCAPNG, setLen(1 << 20))), {
    code: 1, frames: 0, offset: EPB0, cause: new RegExp(`truncated record: ${PCAPNG.length - EPB0} of ${1 << 20} bytes present`),
  });
  analyze(t, 'block length 0xfffffffc', file('bl-max', edited(PCAPNG, setLen(0xfffffffc))), {
    code: 1, frames: 0, offset: EPB0, cause: /block length 4294967292 exceeds the maximum 16777216/,
  });
  analyze(t, 'trailing length differs', file('trail', edited(PCAPNG, (b) => b.writeUInt32LE(epbLen + 4, EPB0 + epbLen - 4))), {
    code: 1, frames: 0, offset: EPB0, cause: new RegExp(`trailing block length ${epbLen + 4} does not match ${epbLen}`),
  });
  analyze(t, 'captured length past its block', file('caplen', edited(PCAPNG, (b) => b.writeUInt32LE(0xffffffff, BLK[5] + 20))), {
    code: 1, frames: 2, offset: BLK[5], cause: new RegExp(`captured length 4294967295 overruns block of length ${PCAPNG.readUInt32LE(BLK[5] + 4)}`),
  });
  analyze(t, 'an interface that does not exist', file('noif', edited(PCAPNG, (b) => b.writeUInt32LE(7, BLK[6] + 8))), {
    code: 1, frames: 3, offset: BLK[6], cause: /packet for undeclared interface 7/,
  });
  analyze(t, 'SHB with a bad byte-order magic', file('bom', edited(PCAPNG, (b) => b.writeUInt32LE(0x1a2b3c4e, 8))), {
    code: 1, frames: 0, offset: 0, cause: /bad byte-order magic 0x1a2b3c4e/,
  });
  // Options whose length runs past the block, in an IDB (its if_name) and in an EPB (an
  // epb_flags added to the first one): skipped, every packet read.
  const epbCap = PCAPNG.readUInt32LE(EPB0 + 20);
  const epbOpts = EPB0 + 28 + ((epbCap + 3) & ~3);
  t.equal(epbOpts, EPB0 + epbLen - 4, 'the fixture\'s packet blocks have no options');
  const flagged = Buffer.concat([PCAPNG.subarray(EPB0, epbOpts), Buffer.from([2, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(4)]);
  flagged.writeUInt32LE(flagged.length, 4);
  flagged.writeUInt32LE(flagged.length, flagged.length - 4);
  const withFlags = Buffer.concat([PCAPNG.subarray(0, EPB0), flagged, PCAPNG.subarray(EPB0 + epbLen)]);
  t.equal(PCAPNG.readUInt16LE(BLK[1] + 16), 2, 'the fixture\'s interface has if_name first');
  analyze(t, 'options that fit (self-test)', file('opts-ok', withFlags), { code: 0, frames: 80 });
  analyze(t, 'option lengths past their block', file('opts', edited(withFlags, (b) => {
    b.writeUInt16LE(0xffff, BLK[1] + 16 + 2);
    b.writeUInt16LE(0xfffc, epbOpts + 2);
  })), { code: 0, frames: 80 });
});

/** One section: the SHB, then `count` copies of block. */
function repeated(block: Buffer, count: number, withShb = true): Buffer {
  const shb = PCAPNG.subarray(0, BLK[1]);
  const body = Buffer.alloc(block.length * count);
  for (let i = 0; i < count; i++) block.copy(body, i * block.length);
  return withShb ? Buffer.concat([shb, body]) : body;
}

t.test('pcapng: floods of headers, bounded memory', async (t) => {
  const idb = Buffer.from(PCAPNG.subarray(BLK[1], BLK[1] + 20));
  idb.writeUInt32LE(20, 4);
  idb.writeUInt32LE(20, 16); // an IDB without options
  const shbLen = BLK[1];
  // A million interfaces in one section: more than a packet block can name for analyze (65536).
  analyze(t, 'a million IDBs in one section', file('idbs', repeated(idb, 1_000_000)), {
    code: 1, frames: 0, offset: shbLen + 65536 * 20, cause: /more than 65536 interfaces in one section/,
  });
  // A section header every 28 bytes, then a section header and an interface, many times over.
  const shb28 = Buffer.from(PCAPNG.subarray(0, 28));
  shb28.writeUInt32LE(28, 4);
  shb28.writeUInt32LE(28, 24);
  analyze(t, 'a section header every 28 bytes', file('shbs', repeated(shb28, 1_000_000, false)), { code: 0, frames: 0 });
  analyze(t, 'a section and an interface every 48 bytes', file('shb-idb', repeated(Buffer.concat([shb28, idb]), 500_000, false)), { code: 0, frames: 0 });
  // The reader's result lists interfaces with bounded memory too: the first 65536 of them.
  let n = 0;
  const res = readCaptureFile(file('shb-idb-api', repeated(Buffer.concat([shb28, idb]), 70_000, false)), () => n++);
  t.equal(res.interfaces.length, 65536, 'the reader lists the first 65536 interfaces');
  t.equal(n, 0);
});

t.test('sparse multi-GB files, zeros after a valid header', async (t) => {
  // pcapng: a zero block length right after the section header, however large the file.
  const shb = PCAPNG.subarray(0, BLK[1]);
  analyze(t, 'pcapng, 5 GiB of zeros', sparse('zeros.pcapng', shb, 5 * 2 ** 30), { code: 1, frames: 0, offset: shb.length, cause: /block length 0 is too small/ });
  // pcap: zeros are a stream of empty records (16 bytes each); read through, counted malformed.
  const hdr = pcapBytes(LINKTYPE_ETHERNET, []);
  const size = 64 * 2 ** 20 + 4;
  const n = Math.floor((size - 24) / 16);
  const j = analyze(t, 'pcap, 64 MiB of zeros', sparse('zeros.pcap', hdr, size), {
    code: 1, frames: n, offset: 24 + n * 16, cause: new RegExp(`truncated record: ${(size - 24) % 16} of 16 bytes present`),
  });
  if (j) t.equal(j.malformed, n, 'every empty record is a malformed packet');
  // pcap: 5 GiB of 16 MiB records (the largest accepted), the last one cut: every read is a
  // full buffer, and the offset in the message is past 4 GiB.
  const rec = 16 + (16 << 20);
  const big = 5 * 2 ** 30;
  const full = Math.floor((big - 24) / rec);
  const heads: Array<[number, Uint8Array]> = [];
  for (let i = 0; i <= full; i++) {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(i, 0);
    h.writeUInt32LE(16 << 20, 8);
    h.writeUInt32LE(16 << 20, 12);
    heads.push([24 + i * rec, h]);
  }
  const k = analyze(t, 'pcap, 5 GiB of 16 MiB records', sparse('big.pcap', hdr, big, heads), {
    code: 1, frames: full, offset: 24 + full * rec, cause: new RegExp(`truncated record: ${big - 24 - full * rec} of ${rec} bytes present`),
  });
  t.ok(24 + full * rec > 2 ** 32, 'the damage lies past 4 GiB');
  if (k) t.equal(k.not_ip, full, 'every zero frame is counted, as not IP');
});

// ---------------------------------------------------------------------------------------------
// DNS names that lie, inside real VXLAN frames.

/** Bytes as a MAC address list. */
const mac = (b: Buffer, o: number): number[] => [...b.subarray(o, o + 6)];
const ip4 = (b: Buffer, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

function ipSpec(b: Buffer, o: number): Ip4Spec {
  return { v: 4, src: ip4(b, o + 12), dst: ip4(b, o + 16), tos: b[o + 1], id: b.readUInt16BE(o + 4), df: (b[o + 6] & 0x40) !== 0, ttl: b[o + 8] };
}

/**
 * The fixture's VXLAN DNS frame f (Ethernet, IPv4 without options, UDP, VXLAN, Ethernet, IPv4
 * without options, UDP, DNS) with its DNS message replaced by dns: every length and checksum
 * computed again by test/support/packets.ts.
 */
function withDns(f: Buffer, dns: Uint8Array): Buffer {
  const ip = 14;
  const udp = ip + (f[ip] & 0x0f) * 4;
  const vx = udp + 8;
  const eth = vx + 8;
  const iip = eth + 14;
  const iudp = iip + (f[iip] & 0x0f) * 4;
  const innerLink: LinkSpec = { kind: 'eth', dst: mac(f, eth), src: mac(f, eth + 6) };
  const inner: FrameSpec = { link: innerLink, ip: ipSpec(f, iip), l4: { kind: 'udp', sport: f.readUInt16BE(iudp), dport: f.readUInt16BE(iudp + 2), payload: dns } };
  const spec: FrameSpec = {
    link: { kind: 'eth', dst: mac(f, 0), src: mac(f, 6) },
    ip: ipSpec(f, ip),
    l4: { kind: 'udp', sport: f.readUInt16BE(udp), dport: f.readUInt16BE(udp + 2), vxlan: { vni: f.readUIntBE(vx + 4, 3), flags: f[vx], inner } },
  };
  return build(spec).bytes;
}

/** The DNS message of the fixture frame f. */
function dnsOf(f: Buffer): Buffer {
  const iip = 14 + (f[14] & 0x0f) * 4 + 16 + 14;
  const iudp = iip + (f[iip] & 0x0f) * 4;
  return f.subarray(iudp + 8, iip + f.readUInt16BE(iip + 2));
}

/** A query's header (QR=0, RD, one question) and then the question's bytes, with QTYPE A, QCLASS IN. */
function query(id: number, name: number[]): Buffer {
  return Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...name, 0, 1, 0, 1]);
}

const label = (n: number, c = 0x61): number[] => [n, ...new Array<number>(n).fill(c)];

/**
 * 62-byte labels holding back-to-back compression pointers, each to the one before, the first to
 * offset 0 (ID 0: a zero byte, the root label), then one pointer to the last: a chain of 31 per
 * label, 124 in the four labels a 255-octet name holds.
 */
function pointerChain(): number[] {
  const name: number[] = [];
  let prev = 0;
  for (let l = 0; l < 4; l++) {
    name.push(62);
    for (let k = 0; k < 31; k++) {
      const at = 12 + name.length;
      name.push(0xc0 | (prev >> 8), prev & 0xff);
      prev = at;
    }
  }
  name.push(0xc0 | (prev >> 8), prev & 0xff);
  return name;
}

t.test('DNS names that lie, inside real VXLAN frames, reach the decoder and are counted', async (t) => {
  const frames: Buffer[] = [];
  readCaptureFile(join(FIX, 'vxlan4789-rx.pcap'), (r) => {
    if (frames.length < 1) frames.push(Buffer.from(r.buf.subarray(r.off, r.off + r.capLen)));
  });
  const f = frames[0];
  t.same(withDns(f, dnsOf(f)), f, 'self-test: the clone with the same message is the fixture frame, byte for byte');

  const cases: Array<[string, Buffer, string | null]> = [
    ['the fixture query again', dnsOf(f), null],
    ['a pointer to itself', query(1, [0xc0, 12]), 'dns_pointer_forward'],
    ['two pointers to each other', query(2, [0xc0, 14, 0xc0, 12]), 'dns_pointer_forward'],
    ['a forward pointer', query(3, [1, 0x61, 0xc0, 40, ...new Array<number>(30).fill(0)]), 'dns_pointer_forward'],
    ['a loop through a backward pointer', query(4, [1, 0x61, 0xc0, 12]), 'dns_pointer_hops_exceeded'],
    ['a chain of 124 pointers', query(0, pointerChain()), 'dns_pointer_hops_exceeded'],
    ['a 321-octet name', query(5, [...label(63), ...label(63), ...label(63), ...label(63), ...label(63), 0]), 'dns_name_too_long'],
    ['a 255-octet name (the most there is)', query(6, [...label(63), ...label(63), ...label(63), ...label(61), 0]), null],
    ['a 0x40 label type', query(7, [0x41, 0x61, 0]), 'dns_label_type_reserved'],
    ['a 0x80 label type', query(8, [0x81, 0x61, 0]), 'dns_label_type_reserved'],
    ['a pointer past the message', query(9, [0xc0, 0xff]), 'dns_pointer_forward'],
    ['a name running past the message', query(10, [63, 0x61, 0x61]).subarray(0, 12 + 3), 'dns_name_overrun'],
  ];
  const p = join(tmp, 'dns-lies.pcap');
  fs.writeFileSync(p, pcapBytes(LINKTYPE_ETHERNET, cases.map(([, dns], i) => ({ data: withDns(f, dns), tsUs: 1_700_000_000_000_000 + i }))));
  const j = analyze(t, 'lying DNS names', p, { code: 0, frames: cases.length });
  if (!j) return;
  const want: Record<string, number> = {};
  for (const [, , reason] of cases) if (reason) want[`vxlan.${reason}`] = (want[`vxlan.${reason}`] ?? 0) + 1;
  t.same(j.malformed_reasons, want, 'each lie counted by its reason, inside VXLAN');
  t.equal(j.malformed, cases.filter((c) => c[2] !== null).length);
  t.same(j.checksums.vxlan.udp, { ok: cases.length, bad: 0, none: 0, partial: 0, unverifiable: 0 }, 'every inner UDP checksum verified good: the messages reached the DNS decoder');
  t.equal(j.checksums.udp.ok, cases.length, 'every outer UDP checksum good');
  t.equal(j.dns.answered, 0);
  t.ok(j.dns.unanswered >= 2, 'the two good queries are transactions, unanswered');
});
