// Capture file reader: round trips through the test writer, chunk boundaries, damage, truncation
// at every length, random bytes, and a cross-check against tcpdump, editcap and tshark when present.

import t, { Test } from 'tap';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';
import fc from 'fast-check';
import {
  CaptureFileError,
  DIR_RX,
  DIR_TX,
  DIR_UNKNOWN,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_RAW,
  ReadOptions,
  ReadResult,
  FileRecord,
  readCaptureFile,
} from '../../src/capture/replay';
import { RawBlock, WriteRecord, pcapBytes, pcapngBytes, writePcap, writePcapng } from '../support/pcap-writer';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'csw-replay-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
let fileNo = 0;
function file(bytes: Uint8Array): string {
  const p = path.join(tmp, `f${fileNo++}`);
  fs.writeFileSync(p, bytes);
  return p;
}

interface Got {
  data: Buffer;
  wireLen: number;
  tsUs: number;
  linkType: number;
  dir: number;
  ifIndex: number;
  offset: number;
}

function copy(r: FileRecord): Got {
  return {
    data: Buffer.from(r.buf.subarray(r.off, r.off + r.capLen)),
    wireLen: r.wireLen,
    tsUs: r.tsUs,
    linkType: r.linkType,
    dir: r.dir,
    ifIndex: r.ifIndex,
    offset: r.offset,
  };
}

function readAll(p: string, opts?: ReadOptions): { recs: Got[]; result?: ReadResult; err?: unknown } {
  const recs: Got[] = [];
  try {
    const result = readCaptureFile(p, (r) => recs.push(copy(r)), opts);
    return { recs, result };
  } catch (err) {
    return { recs, err };
  }
}

/** Deterministic packet bytes. */
function pkt(seed: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

/** Offsets of the pcapng blocks in a file written little-endian. */
function blockOffsets(b: Buffer): number[] {
  const out: number[] = [];
  for (let o = 0; o < b.length; o += b.readUInt32LE(o + 4)) out.push(o);
  return out;
}

// 2023-11-14T22:13:20Z and odd microseconds.
const T0 = 1_700_000_000_123_457;

const SAMPLE: WriteRecord[] = [
  { data: pkt(1, 0), tsUs: 0 },
  { data: pkt(2, 1), tsUs: 999_999 },
  { data: pkt(3, 3), tsUs: T0, wireLen: 1500 },
  { data: pkt(4, 60), tsUs: T0 + 1 },
  { data: pkt(5, 1514), tsUs: 4_294_967_295_999_999 }, // last second a 32-bit ts_sec can hold
];

t.test('pcap round trips: both byte orders, µs and ns', async (t) => {
  for (const bigEndian of [false, true]) {
    for (const nanos of [false, true]) {
      const name = `${bigEndian ? 'BE' : 'LE'} ${nanos ? 'ns' : 'µs'}`;
      const p = file(pcapBytes(LINKTYPE_ETHERNET, SAMPLE, { bigEndian, nanos, snapLen: 9000 }));
      const { recs, result, err } = readAll(p);
      t.equal(err, undefined, `${name}: no error`);
      t.same(result, {
        records: SAMPLE.length,
        bytes: fs.statSync(p).size,
        format: 'pcap',
        interfaces: [{ linkType: LINKTYPE_ETHERNET, name: '', snapLen: 9000 }],
      });
      let off = 24;
      recs.forEach((r, i) => {
        const w = SAMPLE[i];
        t.same(r.data, w.data, `${name} #${i} data`);
        t.equal(r.tsUs, w.tsUs, `${name} #${i} ts`);
        t.equal(r.wireLen, w.wireLen ?? w.data.length, `${name} #${i} wire length`);
        t.equal(r.linkType, LINKTYPE_ETHERNET);
        t.equal(r.dir, DIR_UNKNOWN);
        t.equal(r.ifIndex, 0);
        t.equal(r.offset, off, `${name} #${i} offset`);
        off += 16 + w.data.length;
      });
    }
  }
});

t.test('pcap: ns timestamps are rounded down to the µs', async (t) => {
  const b = pcapBytes(LINKTYPE_RAW, [{ data: pkt(1, 4), tsUs: T0 }], { nanos: true });
  b.writeUInt32LE((T0 % 1e6) * 1000 + 999, 24 + 4); // ...457999 ns
  const { recs } = readAll(file(b));
  t.equal(recs[0].tsUs, T0);
});

t.test('pcap: FCS bits above the link type are ignored', async (t) => {
  // The LinkType field with FCS information set in its upper bits.
  const raw = (LINKTYPE_ETHERNET | 0xf4000000) >>> 0;
  const { recs, result } = readAll(file(pcapBytes(raw, [{ data: pkt(1, 64) }])));
  t.equal(result?.interfaces[0].linkType, LINKTYPE_ETHERNET);
  t.equal(recs[0].linkType, LINKTYPE_ETHERNET);
});

t.test('pcap: header only is an empty capture', async (t) => {
  for (const nanos of [false, true]) {
    const { recs, result, err } = readAll(file(pcapBytes(LINKTYPE_RAW, [], { nanos })));
    t.equal(err, undefined);
    t.equal(recs.length, 0);
    t.equal(result?.records, 0);
    t.equal(result?.bytes, 24);
  }
});

t.test('pcap: incl_len > orig_len is tolerated, wireLen raised to capLen', async (t) => {
  const { recs, err } = readAll(file(pcapBytes(LINKTYPE_RAW, [{ data: pkt(1, 40), wireLen: 20 }])));
  t.equal(err, undefined);
  t.equal(recs[0].data.length, 40);
  t.equal(recs[0].wireLen, 40);
});

const IFACES = [
  { linkType: LINKTYPE_ETHERNET, name: 'eth0', snapLen: 262144 }, // default resolution, 10^-6
  { linkType: LINKTYPE_RAW, name: 'vxlan.calico', tsresol: 9 }, // 10^-9
  { linkType: LINKTYPE_LINUX_SLL2, name: 'any', tsresol: 0x80 | 30 }, // 2^-30
  { linkType: LINKTYPE_IPV4, tsresol: 6, snapLen: 128 }, // explicit 10^-6, no name
];

const NG_RECORDS: (WriteRecord | RawBlock)[] = [
  { data: pkt(1, 60), tsUs: T0, ifIndex: 0, dir: DIR_RX },
  { data: pkt(2, 61), tsUs: T0 + 7, ifIndex: 1, dir: DIR_TX, wireLen: 9000 },
  { blockType: 0x0bad, body: Buffer.from('not a block we know') }, // unknown: skipped
  { data: pkt(3, 62), tsUs: T0 + 13, ifIndex: 2 }, // no epb_flags
  { data: pkt(4, 63), tsUs: T0 + 1_000_001, ifIndex: 3, dir: 0 }, // epb_flags, direction unknown
  { blockType: 5, body: Buffer.alloc(12) }, // interface statistics: skipped
  { data: pkt(5, 64), tsUs: 5, ifIndex: 1, dir: 0x1 | (1 << 2) | (1 << 24) }, // inbound + reception type + error bits
  { data: pkt(6, 1), tsUs: 6, ifIndex: 2, dir: DIR_TX | (4 << 2) },
];

function ngExpect(recs: (WriteRecord | RawBlock)[]): { data: Buffer; tsUs: number; ifIndex: number; dir: number }[] {
  const out = [];
  for (const r of recs) {
    if ('blockType' in r) continue;
    const bits = (r.dir ?? 0) & 3;
    out.push({
      data: Buffer.from(r.data),
      tsUs: r.tsUs ?? 0,
      ifIndex: r.ifIndex ?? 0,
      dir: bits === 1 ? DIR_RX : bits === 2 ? DIR_TX : DIR_UNKNOWN,
    });
  }
  return out;
}

t.test('pcapng round trips: both byte orders, four interfaces, epb_flags, unknown blocks', async (t) => {
  const want = ngExpect(NG_RECORDS);
  for (const bigEndian of [false, true]) {
    const p = file(pcapngBytes(IFACES, NG_RECORDS, { bigEndian }));
    const { recs, result, err } = readAll(p);
    t.equal(err, undefined);
    t.same(result, {
      records: want.length,
      bytes: fs.statSync(p).size,
      format: 'pcapng',
      interfaces: [
        { linkType: LINKTYPE_ETHERNET, name: 'eth0', snapLen: 262144 },
        { linkType: LINKTYPE_RAW, name: 'vxlan.calico', snapLen: 0 },
        { linkType: LINKTYPE_LINUX_SLL2, name: 'any', snapLen: 0 },
        { linkType: LINKTYPE_IPV4, name: '', snapLen: 128 },
      ],
    });
    t.same(
      recs.map((r) => ({ data: r.data, tsUs: r.tsUs, ifIndex: r.ifIndex, dir: r.dir })),
      want,
      bigEndian ? 'BE' : 'LE',
    );
    t.same(
      recs.map((r) => r.linkType),
      want.map((w) => IFACES[w.ifIndex].linkType),
    );
    t.equal(recs[1].wireLen, 9000);
    t.equal(recs[0].wireLen, 60);
    if (!bigEndian) {
      const packets = blockOffsets(fs.readFileSync(p)).filter((_, i) => ![0, 1, 2, 3, 4, 7, 10].includes(i));
      t.same(
        recs.map((r) => r.offset),
        packets,
        'offsets point at the blocks',
      );
    }
  }
});

t.test('pcapng: simple packet blocks and obsolete packet blocks', async (t) => {
  const ifaces = [{ linkType: LINKTYPE_RAW, snapLen: 64, tsresol: 9 }];
  const recs: WriteRecord[] = [
    { data: pkt(1, 40), kind: 'spb' },
    { data: pkt(2, 64), wireLen: 100, kind: 'spb' }, // cut by the snaplen
    { data: pkt(3, 30), tsUs: T0, kind: 'pb', dir: DIR_RX },
    { data: pkt(4, 31), tsUs: T0 + 1, kind: 'epb' },
  ];
  for (const bigEndian of [false, true]) {
    const got = readAll(file(pcapngBytes(ifaces, recs, { bigEndian })));
    t.equal(got.err, undefined);
    t.same(
      got.recs.map((r) => [r.data, r.wireLen, r.tsUs, r.dir, r.ifIndex, r.linkType]),
      [
        [pkt(1, 40), 40, 0, DIR_UNKNOWN, 0, LINKTYPE_RAW],
        [pkt(2, 64), 100, 0, DIR_UNKNOWN, 0, LINKTYPE_RAW],
        [pkt(3, 30), 30, T0, DIR_RX, 0, LINKTYPE_RAW],
        [pkt(4, 31), 31, T0 + 1, DIR_UNKNOWN, 0, LINKTYPE_RAW],
      ],
    );
  }
});

t.test('pcapng: several sections, each with its byte order and interfaces', async (t) => {
  const a = pcapngBytes([{ linkType: LINKTYPE_ETHERNET, name: 'a0' }], [{ data: pkt(1, 20), tsUs: T0, dir: DIR_RX }]);
  const b = pcapngBytes(
    [
      { linkType: LINKTYPE_RAW, name: 'b0', tsresol: 9 },
      { linkType: LINKTYPE_IPV4, name: 'b1', tsresol: 3 },
    ],
    [
      { data: pkt(2, 21), tsUs: T0 + 2, ifIndex: 0 },
      { data: pkt(3, 22), tsUs: 1_000_000_000, ifIndex: 1, dir: DIR_TX },
    ],
    { bigEndian: true },
  );
  const c = pcapngBytes([], []); // a section with no interfaces and no packets
  const d = pcapngBytes([{ linkType: LINKTYPE_LINUX_SLL2 }], [{ data: pkt(4, 23), tsUs: 9 }]);
  const p = file(Buffer.concat([a, b, c, d]));
  const { recs, result, err } = readAll(p);
  t.equal(err, undefined);
  t.same(
    result?.interfaces.map((i) => [i.linkType, i.name]),
    [
      [LINKTYPE_ETHERNET, 'a0'],
      [LINKTYPE_RAW, 'b0'],
      [LINKTYPE_IPV4, 'b1'],
      [LINKTYPE_LINUX_SLL2, ''],
    ],
  );
  t.same(
    recs.map((r) => [r.data, r.tsUs, r.linkType, r.ifIndex, r.dir]),
    [
      [pkt(1, 20), T0, LINKTYPE_ETHERNET, 0, DIR_RX],
      [pkt(2, 21), T0 + 2, LINKTYPE_RAW, 0, DIR_UNKNOWN],
      [pkt(3, 22), 1_000_000_000, LINKTYPE_IPV4, 1, DIR_TX],
      [pkt(4, 23), 9, LINKTYPE_LINUX_SLL2, 0, DIR_UNKNOWN],
    ],
  );
  t.equal(recs[1].offset, a.length + 28 + 2 * 40, 'offset counts from the start of the file');

  // Interfaces do not carry over: a packet for interface 1 of the previous section is damage.
  const e = pcapngBytes([{ linkType: LINKTYPE_RAW }], [{ data: pkt(5, 4), ifIndex: 1 }]);
  const bad = readAll(file(Buffer.concat([b, e])));
  t.type(bad.err, CaptureFileError);
  t.equal(bad.recs.length, 2);
});

t.test('pcapng: timestamps are exact for every resolution', async (t) => {
  // Reference: floor(raw * 10^6 / units per second), in BigInt.
  const cases: { tsresol: number; perSec: bigint }[] = [
    { tsresol: 0, perSec: 1n },
    { tsresol: 3, perSec: 1000n },
    { tsresol: 6, perSec: 1_000_000n },
    { tsresol: 9, perSec: 1_000_000_000n },
    { tsresol: 12, perSec: 10n ** 12n },
    { tsresol: 17, perSec: 10n ** 17n },
    { tsresol: 0x80 | 10, perSec: 1n << 10n },
    { tsresol: 0x80 | 20, perSec: 1n << 20n },
    { tsresol: 0x80 | 30, perSec: 1n << 30n },
    { tsresol: 0x80 | 32, perSec: 1n << 32n },
    { tsresol: 0x80 | 40, perSec: 1n << 40n },
  ];
  const maxUs = 1n << 53n; // float64 integers are exact below this
  for (const c of cases) {
    const limit = (maxUs * c.perSec) / 1_000_000n;
    const max = limit < 1n << 64n ? limit - 1n : (1n << 64n) - 1n;
    const raws = fc.sample(fc.bigInt({ min: 0n, max }), { numRuns: 200, seed: 42 });
    raws.push(0n, max, (1n << 32n) - 1n, 1n << 32n, (1700000000123456789n * c.perSec) / 1_000_000_000n);
    const recs = raws.filter((r) => r <= max).map((tsRaw) => ({ data: pkt(1, 1), tsRaw }));
    const { recs: got, err } = readAll(file(pcapngBytes([{ linkType: LINKTYPE_RAW, tsresol: c.tsresol }], recs)));
    t.equal(err, undefined);
    const bad = recs.filter((r, i) => BigInt(got[i].tsUs) !== (r.tsRaw * 1_000_000n) / c.perSec);
    t.same(
      bad.map((r) => r.tsRaw),
      [],
      `tsresol 0x${c.tsresol.toString(16)}: ${recs.length} timestamps`,
    );
  }
});

t.test('pcapng: if_tsoffset is added', async (t) => {
  const { recs } = readAll(
    file(pcapngBytes([{ linkType: LINKTYPE_RAW, tsresol: 9, tsoffset: 1_000_000_000 }], [{ data: pkt(1, 1), tsUs: 5 }])),
  );
  t.equal(recs[0].tsUs, 1_000_000_000_000_005);
});

// Records of many sizes, some larger than the chunk, so that every kind of straddle happens.
const STRADDLE: WriteRecord[] = [10, 100, 5, 300, 64, 63, 65, 1000, 0, 47, 48, 49, 2000, 3].map((n, i) => ({
  data: pkt(i, n),
  tsUs: T0 + i * 1_000_003,
  ifIndex: i % 2,
  dir: i % 3,
}));

t.test('records straddling chunk boundaries', async (t) => {
  const files = {
    pcap: file(pcapBytes(LINKTYPE_ETHERNET, STRADDLE, { nanos: true })),
    pcapng: file(
      pcapngBytes(
        [
          { linkType: LINKTYPE_ETHERNET, tsresol: 9 },
          { linkType: LINKTYPE_RAW, tsresol: 0x80 | 24 },
        ],
        STRADDLE,
        { bigEndian: true },
      ),
    ),
  };
  for (const [name, p] of Object.entries(files)) {
    const whole = readAll(p);
    t.equal(whole.err, undefined);
    t.equal(whole.recs.length, STRADDLE.length);
    t.same(
      whole.recs.map((r) => r.data),
      STRADDLE.map((r) => Buffer.from(r.data)),
    );
    for (const chunkSize of [16, 17, 64, 100, 333, 1024]) {
      const small = readAll(p, { chunkSize, maxRecordBytes: 4096 });
      t.equal(small.err, undefined, `${name} chunk ${chunkSize}: no error`);
      t.same(small.recs, whole.recs, `${name} chunk ${chunkSize}: same records`);
    }
  }
});

t.test('maxRecordBytes bounds one record', async (t) => {
  const recs = [{ data: pkt(1, 10) }, { data: pkt(2, 1000) }, { data: pkt(3, 10) }];
  const p = file(pcapBytes(LINKTYPE_RAW, recs));
  t.equal(readAll(p, { chunkSize: 64, maxRecordBytes: 1000 }).recs.length, 3, 'a record of exactly the maximum');
  const over = readAll(p, { chunkSize: 64, maxRecordBytes: 999 });
  t.type(over.err, CaptureFileError);
  t.equal((over.err as CaptureFileError).offset, 24 + 26);
  t.match((over.err as Error).message, /record length 1000 exceeds the maximum 999/);
  t.equal(over.recs.length, 1);

  const ng = file(pcapngBytes([{ linkType: LINKTYPE_RAW }], recs));
  t.equal(readAll(ng, { chunkSize: 64, maxRecordBytes: 1032 }).recs.length, 3);
  const ngOver = readAll(ng, { chunkSize: 64, maxRecordBytes: 1028 });
  t.match((ngOver.err as Error).message, /block length 1032 exceeds the maximum 1028/);
  t.equal(ngOver.recs.length, 1);
});

t.test('50 000 records with a small chunk size', async (t) => {
  const N = 50_000;
  const recs: WriteRecord[] = [];
  for (let i = 0; i < N; i++) {
    recs.push({ data: pkt(i, (i * 37) % 211), tsUs: T0 + i * 1_234_567, wireLen: 1500, ifIndex: i & 1, dir: i % 3 });
  }
  const files = {
    pcap: file(pcapBytes(LINKTYPE_ETHERNET, recs, { nanos: true, bigEndian: true })),
    pcapng: file(
      pcapngBytes(
        [
          { linkType: LINKTYPE_ETHERNET, tsresol: 9 },
          { linkType: LINKTYPE_RAW, tsresol: 0x80 | 30 },
        ],
        recs,
      ),
    ),
  };
  for (const [name, p] of Object.entries(files)) {
    const ng = name === 'pcapng';
    for (const chunkSize of [1000, 4096]) {
      let i = 0;
      let bad = 0;
      const progress: [number, number][] = [];
      const result = readCaptureFile(
        p,
        (r) => {
          const w = recs[i];
          let ok =
            r.capLen === w.data.length &&
            r.wireLen === 1500 &&
            r.tsUs === w.tsUs &&
            r.ifIndex === (ng ? w.ifIndex : 0) &&
            r.dir === (ng ? [DIR_UNKNOWN, DIR_RX, DIR_TX][i % 3] : DIR_UNKNOWN);
          for (let j = 0; ok && j < r.capLen; j++) ok = r.buf[r.off + j] === w.data[j];
          if (!ok) bad++;
          i++;
        },
        { chunkSize, onProgress: (done, total) => progress.push([done, total]) },
      );
      const size = fs.statSync(p).size;
      t.equal(result.records, N, `${name} chunk ${chunkSize}: count`);
      t.equal(bad, 0, `${name} chunk ${chunkSize}: every record identical`);
      t.same(progress[progress.length - 1], [size, size], 'progress ends at the file size');
      t.ok(progress.length >= 2 && progress.length <= 3, `progress every 4 MiB of ${size} bytes`);
      t.ok(
        progress.every((p, k) => k === 0 || p[0] > progress[k - 1][0]),
        'progress only goes forward',
      );
    }
  }
});

function expectError(t: Test, bytes: Buffer, offset: number, cause: RegExp, delivered: number, opts?: ReadOptions): void {
  const p = file(bytes);
  const { recs, err } = readAll(p, opts);
  t.type(err, CaptureFileError, `${cause}: CaptureFileError`);
  if (!(err instanceof CaptureFileError)) return;
  t.equal(err.code, 'CSW_ERR_CAPTURE_FILE');
  t.equal(err.path, p);
  t.equal(err.offset, offset, `${cause}: offset`);
  t.match(err.message, new RegExp(`^reading ${p}: at offset ${offset}: `));
  t.match(err.message, cause);
  t.equal(recs.length, delivered, `${cause}: records before the damage delivered`);
}

t.test('damage: file level', async (t) => {
  expectError(t, Buffer.alloc(0), 0, /: empty file$/, 0);
  expectError(t, Buffer.from([0xd4, 0xc3]), 0, /: truncated file header$/, 0);
  expectError(t, pcapBytes(LINKTYPE_RAW, []).subarray(0, 20), 0, /: truncated file header$/, 0);
  expectError(t, Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0, /: not a pcap or pcapng file \(magic 0x20544547\)$/, 0);
  // A pcapng SHB with a byte-order magic that is neither order.
  const shb = pcapngBytes([], []);
  shb.writeUInt32LE(0x12345678, 8);
  expectError(t, shb, 0, /: bad byte-order magic 0x12345678$/, 0);
  const v2 = pcapngBytes([], []);
  v2.writeUInt16LE(2, 12);
  expectError(t, v2, 0, /: unsupported pcapng version 2\.0$/, 0);
});

t.test('damage: pcap records', async (t) => {
  const recs = [{ data: pkt(1, 10) }, { data: pkt(2, 20) }, { data: pkt(3, 30) }];
  const good = pcapBytes(LINKTYPE_RAW, recs, { bigEndian: true });
  // Record offsets: 24, 50, 86; end 132.
  const lying = Buffer.from(good);
  lying.writeUInt32BE(0xfffffff0, 86 + 8);
  expectError(t, lying, 86, /: record length 4294967280 exceeds the maximum 16777216$/, 2);
  expectError(t, good.subarray(0, 86 + 16 + 29), 86, /: truncated record: 45 of 46 bytes present$/, 2);
  expectError(t, good.subarray(0, 50 + 15), 50, /: truncated record: 15 of 16 bytes present$/, 1);
  expectError(t, good.subarray(0, 25), 24, /: truncated record: 1 of 16 bytes present$/, 0);
  // The same with a chunk smaller than a record.
  expectError(t, good.subarray(0, 86 + 16 + 29), 86, /: truncated record/, 2, { chunkSize: 16 });
});

t.test('damage: pcapng blocks', async (t) => {
  const ifaces = [{ linkType: LINKTYPE_ETHERNET }, { linkType: LINKTYPE_RAW, tsresol: 9 }];
  const recs = [{ data: pkt(1, 10), ifIndex: 0, dir: 1 }, { data: pkt(2, 20), ifIndex: 1 }, { data: pkt(3, 30), ifIndex: 0 }];
  const good = pcapngBytes(ifaces, recs);
  const [, , , , b2, b3] = blockOffsets(good); // SHB, IDB, IDB, EPB, EPB, EPB (64 bytes)
  const edit = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  expectError(t, edit((b) => b.writeUInt32LE(8, b3 + 4)), b3, /: block length 8 is too small$/, 2);
  expectError(t, edit((b) => b.writeUInt32LE(0, b3 + 4)), b3, /: block length 0 is too small$/, 2);
  expectError(t, edit((b) => b.writeUInt32LE(66, b3 + 4)), b3, /: block length 66 is not a multiple of 4$/, 2);
  expectError(t, edit((b) => b.writeUInt32LE(0xfffffffc, b3 + 4)), b3, /: block length 4294967292 exceeds the maximum/, 2);
  const tr = good.readUInt32LE(b3 + 56 - 4);
  expectError(t, edit((b) => b.writeUInt32LE(56, b3 + 4)), b3, new RegExp(`: trailing block length ${tr} does not match 56$`), 2);
  expectError(t, edit((b) => b.writeUInt32LE(72, b3 + 4)), b3, /: truncated record: 64 of 72 bytes present$/, 2);
  expectError(t, edit((b) => b.writeUInt32LE(68, good.length - 4)), b3, /: trailing block length 68 does not match 64$/, 2);
  expectError(t, edit((b) => b.writeUInt32LE(2, b3 + 8)), b3, /: packet for undeclared interface 2$/, 2);
  expectError(t, edit((b) => b.writeUInt32LE(33, b3 + 20)), b3, /: captured length 33 overruns block of length 64$/, 2);
  expectError(t, edit((b) => b.writeUInt32LE(0xffffffff, b2 + 20)), b2, /: captured length 4294967295 overruns/, 1);
  // An EPB shorter than its fixed fields.
  const short = Buffer.concat([good.subarray(0, b3), Buffer.from([6, 0, 0, 0, 28, 0, 0, 0]), Buffer.alloc(16), Buffer.from([28, 0, 0, 0])]);
  expectError(t, short, b3, /: enhanced packet block length 28 is too small$/, 2);
  // A simple packet block before any interface.
  const spb = pcapngBytes([], [{ data: pkt(1, 8), kind: 'spb' }]);
  expectError(t, spb, 28, /: packet for undeclared interface 0$/, 0);
  // Cut in the middle of a block, and in the middle of a block header.
  expectError(t, good.subarray(0, b3 + 40), b3, /: truncated record: 40 of 64 bytes present$/, 2);
  expectError(t, good.subarray(0, b3 + 5), b3, /: truncated record: 5 of 8 bytes present$/, 2);
  // A second section whose header is damaged: the first section's packets are delivered.
  const second = pcapngBytes(ifaces, recs, { bigEndian: true });
  second.writeUInt32LE(0, 8);
  expectError(t, Buffer.concat([good, second]), good.length, /: bad byte-order magic 0x00000000$/, 3);
});

/** Every prefix of a file: CaptureFileError or success, and exactly the whole records delivered. */
function everyPrefix(t: Test, name: string, full: Buffer, recordEnds: number[], otherEnds: number[]): void {
  const boundaries = new Set([...otherEnds, ...recordEnds]);
  let failures = 0;
  for (let len = 0; len <= full.length; len++) {
    const p = file(full.subarray(0, len));
    for (const chunkSize of [16, 1 << 20]) {
      const { recs, err } = readAll(p, { chunkSize });
      const want = recordEnds.filter((e) => e <= len).length;
      const errOk = boundaries.has(len) ? err === undefined : err instanceof CaptureFileError;
      if (!errOk || recs.length !== want) {
        failures++;
        if (failures < 5) t.fail(`${name} cut at ${len} chunk ${chunkSize}: ${recs.length} records, ${String(err)}`);
      }
    }
    fs.unlinkSync(p);
  }
  t.equal(failures, 0, `${name}: every one of ${full.length + 1} lengths`);
}

t.test('truncated at every byte length', async (t) => {
  const recs: WriteRecord[] = [
    { data: pkt(1, 5), tsUs: T0 },
    { data: pkt(2, 0), tsUs: T0 + 1 },
    { data: pkt(3, 33), tsUs: T0 + 2, dir: DIR_TX },
  ];
  everyPrefix(t, 'pcap', pcapBytes(LINKTYPE_RAW, recs), [24 + 21, 24 + 21 + 16, 24 + 21 + 16 + 49], [24]);

  const ngRecs = [...recs.slice(0, 2), { blockType: 0x0bad, body: Buffer.alloc(5) }, recs[2], { data: pkt(4, 9), kind: 'spb' as const }];
  const ng = pcapngBytes([{ linkType: LINKTYPE_RAW, name: 'eth0', tsresol: 9 }], ngRecs, { bigEndian: true });
  const le = pcapngBytes([{ linkType: LINKTYPE_RAW, name: 'eth0', tsresol: 9 }], ngRecs);
  const offs = blockOffsets(le); // same layout in both byte orders
  const ends = offs.slice(1).concat([le.length]);
  // Packet blocks are 2, 3, 5 and 6; the SHB, the IDB and the unknown block 4 deliver nothing
  // (a file cut right after any of them is valid).
  everyPrefix(t, 'pcapng', ng, [ends[2], ends[3], ends[5], ends[6]], [ends[0], ends[1], ends[4]]);
});

t.test('random bytes after a valid header never throw anything else', async (t) => {
  const headers = {
    pcap: pcapBytes(LINKTYPE_ETHERNET, []),
    pcapng: pcapngBytes([{ linkType: LINKTYPE_ETHERNET }, { linkType: LINKTYPE_RAW, tsresol: 0x80 | 7 }], []),
  };
  for (const [name, header] of Object.entries(headers)) {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.integer({ min: 16, max: 300 }),
        fc.integer({ min: 32, max: 1 << 12 }),
        (tail, chunkSize, maxRecordBytes) => {
          const { err } = readAll(file(Buffer.concat([header, tail])), { chunkSize, maxRecordBytes });
          return err === undefined || err instanceof CaptureFileError;
        },
      ),
      { numRuns: 300, seed: 7 },
    );
    t.pass(`${name}: 300 random tails`);
  }

  // Valid files with a few bytes changed, so that damage lands inside plausible structure.
  const valid = [
    pcapBytes(LINKTYPE_ETHERNET, STRADDLE.slice(0, 6), { nanos: true }),
    pcapngBytes([{ linkType: LINKTYPE_ETHERNET, name: 'x' }, { linkType: LINKTYPE_RAW, tsresol: 9 }], STRADDLE.slice(0, 6)),
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...valid),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 16, max: 300 }),
      (base, edits, chunkSize) => {
        const b = Buffer.from(base);
        for (const [at, v] of edits) b[at % b.length] = v;
        const { err } = readAll(file(b), { chunkSize, maxRecordBytes: 1 << 14 });
        return err === undefined || err instanceof CaptureFileError;
      },
    ),
    { numRuns: 500, seed: 11 },
  );
  t.pass('500 damaged valid files');
});

t.test('I/O errors pass through unchanged', async (t) => {
  const { err } = readAll(path.join(tmp, 'does-not-exist'));
  t.match(err, { code: 'ENOENT' });
  t.notOk(err instanceof CaptureFileError);
});

t.test('writePcap and writePcapng write the same bytes as the builders', async (t) => {
  const a = path.join(tmp, 'w.pcap');
  const b = path.join(tmp, 'w.pcapng');
  writePcap(a, LINKTYPE_RAW, SAMPLE, { nanos: true });
  writePcapng(b, IFACES, NG_RECORDS, { bigEndian: true });
  t.same(fs.readFileSync(a), pcapBytes(LINKTYPE_RAW, SAMPLE, { nanos: true }));
  t.same(fs.readFileSync(b), pcapngBytes(IFACES, NG_RECORDS, { bigEndian: true }));
});

// Cross-check with libpcap and Wireshark's readers and writers. Files only: nothing here touches
// the network (tcpdump and tshark read saved files with name resolution off).
function tool(name: string): string | undefined {
  const p = `/usr/bin/${name}`;
  return fs.existsSync(p) ? p : undefined;
}
function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 20_000 });
}

const TOOL_RECORDS: WriteRecord[] = [
  { data: pkt(1, 20), tsUs: T0, dir: DIR_RX },
  { data: pkt(2, 60), tsUs: T0 + 999_999, wireLen: 1514, dir: DIR_TX },
  { data: pkt(3, 33), tsUs: 1_000_000, ifIndex: 1 },
  { data: pkt(4, 1), tsUs: T0 + 2_000_001, ifIndex: 1, dir: DIR_RX },
];

t.test('tcpdump reads our pcap, and we read what tcpdump writes', { skip: tool('tcpdump') ? false : 'no /usr/bin/tcpdump' }, async (t) => {
  const tcpdump = tool('tcpdump') as string;
  for (const nanos of [false, true]) {
    const src = path.join(tmp, `td-in-${nanos}.pcap`);
    const out = path.join(tmp, `td-out-${nanos}.pcap`);
    writePcap(src, LINKTYPE_RAW, TOOL_RECORDS, { nanos, bigEndian: true });
    const lines = run(tcpdump, ['-nn', '-tt', '--time-stamp-precision=nano', '-r', src]).trim().split('\n');
    t.same(
      lines.map((l) => usFromDecimal(l.split(' ')[0])),
      TOOL_RECORDS.map((r) => r.tsUs),
      `tcpdump sees our ${nanos ? 'ns' : 'µs'} timestamps`,
    );
    run(tcpdump, ['-nn', '-r', src, '-w', out]);
    const { recs, err } = readAll(out);
    t.equal(err, undefined);
    t.same(
      recs.map((r) => [r.data, r.tsUs, r.wireLen]),
      TOOL_RECORDS.map((r) => [Buffer.from(r.data), r.tsUs, r.wireLen ?? r.data.length]),
      'tcpdump -w output reads back the same',
    );
  }
});

t.test('editcap conversions read back the same', { skip: tool('editcap') ? false : 'no /usr/bin/editcap' }, async (t) => {
  const editcap = tool('editcap') as string;
  const src = path.join(tmp, 'ec-in.pcap');
  writePcap(src, LINKTYPE_ETHERNET, TOOL_RECORDS, { nanos: true });
  const ng = path.join(tmp, 'ec-out.pcapng');
  run(editcap, ['-F', 'pcapng', src, ng]);
  const got = readAll(ng);
  t.equal(got.err, undefined);
  t.equal(got.result?.format, 'pcapng');
  t.same(
    got.recs.map((r) => [r.data, r.tsUs, r.wireLen, r.linkType]),
    TOOL_RECORDS.map((r) => [Buffer.from(r.data), r.tsUs, r.wireLen ?? r.data.length, LINKTYPE_ETHERNET]),
  );

  // And back: our pcapng (two interfaces of one link type, ns and 2^-30) to ns pcap.
  const ours = path.join(tmp, 'ec-in.pcapng');
  writePcapng(
    ours,
    [
      { linkType: LINKTYPE_RAW, name: 'a', tsresol: 9 },
      { linkType: LINKTYPE_RAW, name: 'b', tsresol: 9 },
    ],
    TOOL_RECORDS,
    { bigEndian: true },
  );
  const back = path.join(tmp, 'ec-out.pcap');
  run(editcap, ['-F', 'nsecpcap', ours, back]);
  const b = readAll(back);
  t.equal(b.err, undefined);
  t.equal(b.result?.format, 'pcap');
  t.same(
    b.recs.map((r) => [r.data, r.tsUs]),
    TOOL_RECORDS.map((r) => [Buffer.from(r.data), r.tsUs]),
  );
});

t.test('tshark agrees on our pcapng', { skip: tool('tshark') ? false : 'no /usr/bin/tshark' }, async (t) => {
  const tshark = tool('tshark') as string;
  const p = path.join(tmp, 'ts.pcapng');
  const ifaces = [
    { linkType: LINKTYPE_RAW, name: 'eth0', tsresol: 9 },
    { linkType: LINKTYPE_ETHERNET, name: 'vx', tsresol: 0x80 | 30 },
  ];
  writePcapng(p, ifaces, TOOL_RECORDS, { bigEndian: true });
  const fields = ['frame.interface_id', 'frame.time_epoch', 'frame.cap_len', 'frame.len', 'frame.packet_flags_direction'];
  const out = run(tshark, ['-n', '-r', p, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])]);
  const theirs = out
    .trim()
    .split('\n')
    .map((l) => l.split('\t'));
  const { recs, err } = readAll(p);
  t.equal(err, undefined);
  t.equal(theirs.length, recs.length);
  recs.forEach((r, i) => {
    const [ifId, epoch, cap, len, dir] = theirs[i];
    t.equal(Number(ifId), r.ifIndex, `#${i} interface`);
    // Wireshark keeps nanoseconds; a 2^-30 tick is under 1 ns, so allow its rounding.
    t.ok(Math.abs(usFromDecimal(epoch) - r.tsUs) <= 1, `#${i} time ${epoch} vs ${r.tsUs}`);
    t.equal(Number(cap), r.data.length, `#${i} cap_len`);
    t.equal(Number(len), r.wireLen, `#${i} len`);
    t.equal(dir === '' ? DIR_UNKNOWN : Number(dir), r.dir, `#${i} direction`);
  });
});

/** "1700000000.123456789" to µs, rounded down, exactly. */
function usFromDecimal(s: string): number {
  const [sec, frac = ''] = s.split('.');
  return Number(sec) * 1e6 + Number((frac + '000000').slice(0, 6));
}
