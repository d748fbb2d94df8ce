// `csumwatch analyze` as a user runs it: the real bin/csumwatch in a child process.

import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { cli as run } from '../support/cli';
import { build, defaultQuery, defaultResponse, geneveDnsSpec } from '../support/packets';
import { pcapngBytes } from '../support/pcap-writer';

const ROOT = join(__dirname, '..', '..', '..');
const FIX = join(ROOT, 'test', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'csw-cli-'));

function errLines(err: string): string[] {
  return err.split('\n').filter((l) => l !== '');
}

t.test('help and usage errors', async (t) => {
  let r = run('--help');
  t.equal(r.code, 0);
  t.match(r.out, /usage: csumwatch COMMAND/);
  r = run('analyze', '--help');
  t.equal(r.code, 0);
  t.match(r.out, /--vxlan-port N/);
  t.match(r.out, /--geneve-port N/);
  t.match(r.out, /tcpdump -w - \| csumwatch analyze -/, 'says standard input is read');
  r = run();
  t.equal(r.code, 2, 'no command');
  for (const args of [['nope'], ['analyze'], ['analyze', '--vxlan-port', '0', 'x.pcap'], ['analyze', '--vxlan-port', 'abc', 'x.pcap'], ['analyze', '--geneve-port', '0', 'x.pcap'],
    ['analyze', '--dns-port', '70000', 'x.pcap'], ['analyze', '--bogus', 'x.pcap'], ['analyze', '--dns-timeout', '-1', 'x.pcap']]) {
    r = run(...args);
    t.equal(r.code, 2, `exit 2: ${args.join(' ')}`);
    t.equal(errLines(r.err).length, 1, `one stderr line: ${args.join(' ')}`);
    t.match(r.err, /^csumwatch: /);
    t.notMatch(r.err, /\n\s+at /, 'no stack trace');
  }
});

/** CONTRACT.md's analyze --json object with every number replaced by 0. */
const CONTRACT_SHAPE = {
  frames: 0,
  malformed: 0,
  checksums: {
    ipv4: { ok: 0, bad: 0 },
    ipv6: {},
    udp: { ok: 0, bad: 0, none: 0, partial: 0, unverifiable: 0 },
    tcp: { ok: 0, bad: 0, partial: 0, unverifiable: 0 },
    vxlan: {
      ipv4: { ok: 0, bad: 0 },
      udp: { ok: 0, bad: 0, none: 0, partial: 0, unverifiable: 0 },
      tcp: { ok: 0, bad: 0, partial: 0, unverifiable: 0 },
    },
  },
  dns: {
    queries: 0, responses: 0, answered: 0, unanswered: 0, lost_to_checksum: 0,
    rcodes: { NOERROR: 0 },
    latency_ms: { p50: 0, p90: 0, p99: 0, max: 0 },
  },
};

/** Keeps only the keys the contract names, numbers zeroed: what remains must equal the shape. */
function project(shape: unknown, v: unknown): unknown {
  if (typeof shape === 'number') return typeof v === 'number' ? 0 : v;
  if (shape && typeof shape === 'object') {
    if (!v || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    const keys = Object.keys(shape);
    if (keys.length === 0) return Object.keys(v).length === 0 ? {} : v;
    for (const k of keys) out[k] = project((shape as Record<string, unknown>)[k], (v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

t.test('--json has the CONTRACT.md shape, every bucket present, consistent counts', async (t) => {
  const r = run('analyze', '--json', join(FIX, 'vxlan4789-rx.pcap'));
  t.equal(r.code, 0);
  t.equal(r.err, '');
  const j = JSON.parse(r.out);
  t.same(project(CONTRACT_SHAPE, j), CONTRACT_SHAPE);
  t.same(Object.keys(j).slice(0, 4), ['frames', 'malformed', 'checksums', 'dns'], 'contract keys first, in order');
  t.equal(j.frames, 40);
  t.equal(j.dns.queries, 20);
  t.equal(j.dns.answered + j.dns.unanswered, 20);
  t.ok(j.dns.lost_to_checksum <= j.dns.unanswered);
  t.equal(j.checksums.vxlan.udp.ok, 40);
  t.ok(j.dns.latency_ms.p50 > 0 && j.dns.latency_ms.p50 <= j.dns.latency_ms.p90 && j.dns.latency_ms.p99 <= j.dns.latency_ms.max);
  t.type(j.verdict, 'string');
});

t.test('readable report ends with a verdict', async (t) => {
  const r = run('analyze', join(FIX, 'vxlan4789-rx.pcap'));
  t.equal(r.code, 0);
  t.match(r.out, /vxlan\.udp\s+40\s+0\s+0\s+0\s+0/);
  t.match(r.out, /\nverdict: no checksum errors: all 160 verified headers good\n$/);
});

t.test('--version, and the messages of options given a negative number', async (t) => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V', 'version']) {
    const r = run(flag);
    t.equal(r.code, 0, `${flag}: exit 0`);
    t.equal(r.out, `csumwatch ${pkg.version}\n`, `${flag}: the package's version`);
  }
  // parseArgs alone calls "-1" an ambiguous argument; the option's own check says what is wrong.
  let r = run('analyze', '--dns-timeout', '-1', 'x.pcap');
  t.same(errLines(r.err), ['csumwatch: --dns-timeout: not a positive number of seconds: -1']);
  r = run('analyze', '--lost', '-5', 'x.pcap');
  t.same(errLines(r.err), ['csumwatch: --lost: not a count: -5']);
  r = run('agent', '--dns-timeout', '-1');
  t.equal(r.code, 2);
  t.match(r.err, /^csumwatch: agent: --dns-timeout: out of range 0\.01\.\.3600: -1\n$/);
});

t.test('nothing readable: only the errors, no empty report', async (t) => {
  const r = run('analyze', join(tmp, 'missing.pcap'), join(tmp, 'missing2.pcap'));
  t.equal(r.code, 1);
  t.equal(r.out, '', 'no report of zero frames');
  t.same(errLines(r.err), [`csumwatch: reading ${join(tmp, 'missing.pcap')}: no such file`, `csumwatch: reading ${join(tmp, 'missing2.pcap')}: no such file`]);
  const one = run('analyze', join(tmp, 'missing.pcap'), join(FIX, 'vxlan4789-rx.pcap'));
  t.match(one.out, /verdict:/, 'one readable file: the report');
});

t.test('a file that does not exist: one line, exit 1, the other files still reported', async (t) => {
  const r = run('analyze', '--json', join(tmp, 'missing.pcap'), join(FIX, 'vxlan4789-rx.pcap'));
  t.equal(r.code, 1);
  t.same(errLines(r.err), [`csumwatch: reading ${join(tmp, 'missing.pcap')}: no such file`]);
  const j = JSON.parse(r.out);
  t.equal(j.frames, 40);
  t.equal(j.files[0].error, `reading ${join(tmp, 'missing.pcap')}: no such file`);
});

t.test('a capture cut mid-record: what came before is reported, exit 1', async (t) => {
  const whole = readFileSync(join(FIX, 'vxlan4789-rx.pcap'));
  // 24-byte file header, then records: find where the 11th starts and cut inside it.
  let o = 24;
  for (let i = 0; i < 10; i++) o += 16 + whole.readUInt32LE(o + 8);
  const cut = join(tmp, 'cut.pcap');
  writeFileSync(cut, whole.subarray(0, o + 30));
  const r = run('analyze', '--json', cut);
  t.equal(r.code, 1);
  const lines = errLines(r.err);
  t.equal(lines.length, 1);
  t.match(lines[0], new RegExp(`^csumwatch: reading ${cut}: at offset ${o}: `));
  const j = JSON.parse(r.out);
  t.equal(j.frames, 10, 'the ten whole records before the damage');
  t.equal(j.dns.queries + j.dns.responses, 10);
});

t.test('not a capture file', async (t) => {
  const junk = join(tmp, 'junk.pcap');
  writeFileSync(junk, 'this is not a capture file at all, just text\n');
  const r = run('analyze', junk);
  t.equal(r.code, 1);
  t.match(r.err, /^csumwatch: reading .*junk\.pcap: at offset 0: not a pcap or pcapng file/);
  t.equal(r.out, '', 'nothing read: no report, only the error');
});

t.test('--vxlan-port replaces the default set; --dns-port adds nothing unless given', async (t) => {
  let j = JSON.parse(run('analyze', '--json', '--vxlan-port', '8472', join(FIX, 'vxlan4789-rx.pcap')).out);
  t.equal(j.vxlan_frames, 0, '4789 is plain UDP when only 8472 is named');
  t.equal(j.dns.queries, 0);
  j = JSON.parse(run('analyze', '--json', '--vxlan-port', '8472', '--vxlan-port', '4789', join(FIX, 'vxlan4789-rx.pcap')).out);
  t.equal(j.vxlan_frames, 40);
  j = JSON.parse(run('analyze', '--json', '--dns-port', '5353', join(FIX, 'vxlan4789-rx.pcap')).out);
  t.equal(j.dns.queries, 0, 'port 53 is not DNS when only 5353 is named');
});

t.test('several files add up', async (t) => {
  const f = join(FIX, 'vxlan4789-rx.pcap');
  const j = JSON.parse(run('analyze', '--json', f, f).out);
  t.equal(j.frames, 80);
  t.equal(j.files.length, 2);
});

t.test('Geneve: a DNS query lost to a bad inner checksum is blamed on Geneve, and the fix names the Geneve device', async (t) => {
  // Three queries inside Geneve (an OVN option), two answered; the third's inner UDP checksum is
  // bad and it goes unanswered. Received on the underlay (pcapng epb_flags inbound).
  const opts = { options: [{ cls: 0x0102, type: 0x80, data: [0, 0, 0, 1] }] };
  const T = 1_700_000_000_000_000;
  const recs: Array<{ data: Buffer; tsUs: number; dir: number }> = [];
  for (let i = 1; i <= 3; i++) {
    recs.push({ data: build(geneveDnsSpec({ ...opts, inner: { dns: defaultQuery('svc.cluster.local', i), udpCsum: i === 3 ? 'flip' : 'correct' } })).bytes, tsUs: T + i * 1000, dir: 1 });
    if (i < 3) recs.push({ data: build(geneveDnsSpec({ ...opts, inner: { dns: defaultResponse('svc.cluster.local', i) } })).bytes, tsUs: T + i * 1000 + 300, dir: 1 });
  }
  const file = join(tmp, 'geneve-lost.pcapng');
  writeFileSync(file, pcapngBytes([{ linkType: 1 }], recs.map((r) => ({ ...r, ifIndex: 0 }))));
  const r = run('analyze', file);
  t.equal(r.code, 0);
  t.match(r.out, /5 frames .*0 VXLAN, 5 Geneve/);
  t.match(r.out, /^geneve\.udp\s+4\s+1\s/m, 'the geneve.udp row: 4 ok, 1 bad');
  t.match(r.out, /verdict: 1 of 3 DNS queries lost to bad inner UDP checksums inside Geneve: the pattern of broken transmit checksum offload/);
  t.match(r.out, /fix: on the sending node turn off transmit checksum offload on the Geneve device/);
  const j = JSON.parse(run('analyze', '--json', file).out);
  t.same(j.checksums.geneve.udp, { ok: 4, bad: 1, none: 0, partial: 0, unverifiable: 0 });
  t.same(j.dns.lost_by_layer, { 'geneve.udp': 1 });
  t.equal(j.dns.lost[0].geneve, true);
  t.equal(j.geneve_frames, 5);
});
