// Small pcap and pcapng writer for tests and fixture tools. Not for the hot path: it builds
// Buffers freely. Field layouts follow draft-ietf-opsawg-pcap and draft-ietf-opsawg-pcapng.

import * as fs from 'fs';

export interface WriteRecord {
  data: Uint8Array;
  /** Microseconds since the epoch; default 0. */
  tsUs?: number;
  /** Original length; default data.length. */
  wireLen?: number;
  /** pcapng: the epb_flags word (a DIR_* value is its bits 0-1); no epb_flags when absent. */
  dir?: number;
  /** pcapng: interface id; default 0. */
  ifIndex?: number;
  /** pcapng: the raw 64-bit timestamp in the interface's units, instead of tsUs. */
  tsRaw?: bigint;
  /** pcapng: block to write the packet as; default 'epb'. */
  kind?: 'epb' | 'spb' | 'pb';
}

/** pcapng only: a block written as given (type, body padded to 4 bytes). */
export interface RawBlock {
  blockType: number;
  body: Uint8Array;
}

export interface PcapOptions {
  nanos?: boolean;
  bigEndian?: boolean;
  /** Default 262144. */
  snapLen?: number;
}

export interface PcapngInterface {
  linkType: number;
  name?: string;
  /** Raw if_tsresol byte; no option (10^-6) when absent. */
  tsresol?: number;
  /** Default 0 (no limit). */
  snapLen?: number;
  /** if_tsoffset in seconds. */
  tsoffset?: number;
}

export interface PcapngOptions {
  bigEndian?: boolean;
}

const SHB = 0x0a0d0d0a;
const IDB = 1;
const PB = 2;
const SPB = 3;
const EPB = 6;

class Out {
  private parts: Buffer[] = [];
  private cur: Buffer = Buffer.alloc(0);
  private at = 0;
  constructor(private readonly be: boolean) {}

  private room(n: number): void {
    if (this.at + n <= this.cur.length) return;
    this.flushCur();
    this.cur = Buffer.alloc(Math.max(n, 1 << 16));
    this.at = 0;
  }

  private flushCur(): void {
    if (this.at > 0) this.parts.push(this.cur.subarray(0, this.at));
  }

  u8(v: number): this {
    this.room(1);
    this.cur[this.at++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.room(2);
    if (this.be) this.cur.writeUInt16BE(v & 0xffff, this.at);
    else this.cur.writeUInt16LE(v & 0xffff, this.at);
    this.at += 2;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    if (this.be) this.cur.writeUInt32BE(v >>> 0, this.at);
    else this.cur.writeUInt32LE(v >>> 0, this.at);
    this.at += 4;
    return this;
  }

  /** A 64-bit value as high and low 32-bit words (pcapng timestamps are written that way). */
  u64hl(v: bigint): this {
    const x = BigInt.asUintN(64, v);
    return this.u32(Number(x >> 32n)).u32(Number(x & 0xffffffffn));
  }

  /** A 64-bit integer in the file's byte order (section length, if_tsoffset). */
  i64(v: bigint): this {
    const x = BigInt.asUintN(64, v);
    const hi = Number(x >> 32n);
    const lo = Number(x & 0xffffffffn);
    return this.be ? this.u32(hi).u32(lo) : this.u32(lo).u32(hi);
  }

  bytes(d: Uint8Array): this {
    this.room(d.length);
    this.cur.set(d, this.at);
    this.at += d.length;
    return this;
  }

  pad4(n: number): this {
    for (let i = n; i % 4 !== 0; i++) this.u8(0);
    return this;
  }

  done(): Buffer {
    this.flushCur();
    this.cur = Buffer.alloc(0);
    this.at = 0;
    const all = Buffer.concat(this.parts);
    this.parts = [];
    return all;
  }
}

/** A classic pcap file. */
export function pcapBytes(linkType: number, records: WriteRecord[], opts?: PcapOptions): Buffer {
  const nanos = opts?.nanos === true;
  const out = new Out(opts?.bigEndian === true);
  // magic(4) version 2.4 reserved1(4) reserved2(4) snaplen(4) linktype(4)
  out.u32(nanos ? 0xa1b23c4d : 0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0);
  out.u32(opts?.snapLen ?? 262144).u32(linkType);
  for (const r of records) {
    const ts = r.tsUs ?? 0;
    const sec = Math.floor(ts / 1e6);
    const us = ts - sec * 1e6;
    out.u32(sec).u32(nanos ? us * 1000 : us).u32(r.data.length).u32(r.wireLen ?? r.data.length);
    out.bytes(r.data);
  }
  return out.done();
}

/** Units of one interface for a µs timestamp: exact for 10^-n with n >= 6 and for 2^-p with p >= 20. */
export function tsUnits(tsUs: number, tsresol: number | undefined): bigint {
  const us = BigInt(tsUs);
  const r = tsresol ?? 6;
  if (r & 0x80) {
    // Round up so that the reader's rounding down gives tsUs back.
    const num = us << BigInt(r & 0x7f);
    return (num + 999999n) / 1000000n;
  }
  return r >= 6 ? us * 10n ** BigInt(r - 6) : us / 10n ** BigInt(6 - r);
}

/** One section: SHB, the IDBs, then the records and raw blocks in order. */
export function pcapngBytes(
  interfaces: PcapngInterface[],
  records: (WriteRecord | RawBlock)[],
  opts?: PcapngOptions,
): Buffer {
  const be = opts?.bigEndian === true;
  const out = new Out(be);
  const block = (type: number, body: Buffer): void => {
    const padded = (body.length + 3) & ~3;
    out.u32(type).u32(padded + 12).bytes(body).pad4(body.length).u32(padded + 12);
  };
  const body = (): Out => new Out(be);

  // byte_order_magic major minor section_length(-1: unknown)
  block(SHB, body().u32(0x1a2b3c4d).u16(1).u16(0).i64(-1n).done());

  for (const i of interfaces) {
    const b = body().u16(i.linkType).u16(0).u32(i.snapLen ?? 0);
    let opts = false;
    if (i.name !== undefined) {
      const name = Buffer.from(i.name, 'utf8');
      b.u16(2).u16(name.length).bytes(name).pad4(name.length);
      opts = true;
    }
    if (i.tsresol !== undefined) {
      b.u16(9).u16(1).u8(i.tsresol).pad4(1);
      opts = true;
    }
    if (i.tsoffset !== undefined) {
      b.u16(14).u16(8).i64(BigInt(i.tsoffset));
      opts = true;
    }
    if (opts) b.u16(0).u16(0);
    block(IDB, b.done());
  }

  for (const r of records) {
    if ('blockType' in r) {
      block(r.blockType, Buffer.from(r.body));
      continue;
    }
    const ifIndex = r.ifIndex ?? 0;
    const wire = r.wireLen ?? r.data.length;
    const kind = r.kind ?? 'epb';
    if (kind === 'spb') {
      block(SPB, body().u32(wire).bytes(r.data).done());
      continue;
    }
    const ts = r.tsRaw ?? tsUnits(r.tsUs ?? 0, interfaces[ifIndex]?.tsresol);
    const b = body();
    if (kind === 'pb') b.u16(ifIndex).u16(0);
    else b.u32(ifIndex);
    b.u64hl(ts).u32(r.data.length).u32(wire).bytes(r.data).pad4(r.data.length);
    if (r.dir !== undefined) b.u16(2).u16(4).u32(r.dir).u16(0).u16(0);
    block(kind === 'pb' ? PB : EPB, b.done());
  }
  return out.done();
}

export function writePcap(path: string, linkType: number, records: WriteRecord[], opts?: PcapOptions): void {
  fs.writeFileSync(path, pcapBytes(linkType, records, opts));
}

export function writePcapng(
  path: string,
  interfaces: PcapngInterface[],
  records: (WriteRecord | RawBlock)[],
  opts?: PcapngOptions,
): void {
  fs.writeFileSync(path, pcapngBytes(interfaces, records, opts));
}
