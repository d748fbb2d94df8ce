// Streaming reader of capture files: classic pcap (draft-ietf-opsawg-pcap) and pcapng
// (draft-ietf-opsawg-pcapng). Synchronous, one fixed buffer, one reused FileRecord: memory stays
// flat whatever the file size, and no length field read from the file can make it allocate more
// than maxRecordBytes.
//
// Streams are read the same way, front to back, with no size and no seeking: standard input
// (`-`, /dev/stdin: `tcpdump -w - | csumwatch analyze -`), pipes and FIFOs. A FIFO is read as
// tcpdump -r reads one: opening it waits for a writer, and it ends when the last writer closes.

import * as fs from 'fs';

import { DIR_RX, DIR_TX, DIR_UNKNOWN } from '../decode/frame';

// Link types (https://www.tcpdump.org/linktypes.html) and directions are the decoder's; re-exported
// so that code reading files needs one import.
export { DIR_RX, DIR_TX, DIR_UNKNOWN } from '../decode/frame';
export {
  LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL, LINKTYPE_RAW,
} from '../decode/decoder';

const DEFAULT_CHUNK = 1 << 20;
const DEFAULT_MAX_RECORD = 16 << 20;
const PROGRESS_STEP = 4 << 20;
/**
 * Interfaces in one pcapng section. A packet block names its interface with 32 bits, but
 * analyze keeps interfaces of different files apart in 16 (and a section of 65536 interfaces is
 * already absurd): more is damage, and would otherwise cost memory with every 20-byte block.
 */
export const MAX_INTERFACES = 65536;
/** Characters of an if_name kept (names are short: IFNAMSIZ is 16, Windows' NPF names about 50). */
const MAX_IF_NAME = 256;

// pcap file header magics, read as a little-endian uint32.
const PCAP_US_LE = 0xa1b2c3d4;
const PCAP_US_BE = 0xd4c3b2a1;
const PCAP_NS_LE = 0xa1b23c4d;
const PCAP_NS_BE = 0x4d3cb2a1;
const PCAP_FILE_HEADER = 24;
const PCAP_RECORD_HEADER = 16;

// pcapng block types, draft-ietf-opsawg-pcapng §4 and appendix.
const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 1;
const BT_PB = 2; // obsolete Packet Block, appendix A
const BT_SPB = 3;
const BT_EPB = 6;
const BOM_LE = 0x1a2b3c4d; // byte-order magic as read little-endian by a little-endian writer
const BOM_BE = 0x4d3c2b1a;
const MIN_BLOCK = 12; // type, length, trailing length
const MIN_SHB = 28;
const MIN_IDB = 20;
const MIN_EPB = 32;
const MIN_PB = 32;
const MIN_SPB = 16;

// Option codes.
const OPT_ENDOFOPT = 0;
const OPT_IF_NAME = 2;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
const OPT_EPB_FLAGS = 2; // also pack_flags in the obsolete Packet Block

// How an interface's timestamp units become microseconds.
const TS_MUL = 0; // units coarser than or equal to 1 µs: multiply by factor (exact)
const TS_DIV = 1; // 10^-n with n > 6: exact integer division by factor (< 2^37)
const TS_POW2 = 2; // 2^-factor seconds
const TS_FLOAT = 3; // absurdly fine decimal resolutions: float division, good enough

const EMPTY = Buffer.alloc(0);

/** One packet record. The object and its buffer are reused for every record: read inside the callback only. */
export class FileRecord {
  /** Holds the packet bytes at [off, off + capLen). */
  buf: Buffer = EMPTY;
  off = 0;
  /** Captured length. */
  capLen = 0;
  /** Original length on the wire (>= capLen). */
  wireLen = 0;
  /** Microseconds since the epoch (float64, integral; ns captures are rounded down). */
  tsUs = 0;
  /** Per interface for pcapng. */
  linkType = 0;
  /** DIR_*: pcapng epb_flags bits 0-1, else DIR_UNKNOWN. */
  dir = DIR_UNKNOWN;
  /** pcapng interface id within its section; 0 for pcap. */
  ifIndex = 0;
  /** Byte offset of this record in the file (for error messages). */
  offset = 0;
}

export interface CaptureInterface {
  linkType: number;
  name: string;
  snapLen: number;
}

export class CaptureFileError extends Error {
  readonly code = 'CSW_ERR_CAPTURE_FILE';
  readonly path: string;
  readonly offset: number;
  constructor(path: string, offset: number, cause: string) {
    super(`reading ${path}: at offset ${offset}: ${cause}`);
    this.name = 'CaptureFileError';
    this.path = path;
    this.offset = offset;
  }
}

export interface ReadResult {
  records: number;
  bytes: number;
  format: 'pcap' | 'pcapng';
  /**
   * pcap: the one link; pcapng: every interface of every section, in file order, the first
   * MAX_INTERFACES of them (a file of many sections may declare more).
   */
  interfaces: CaptureInterface[];
}

export interface ReadOptions {
  /** Bytes read per read(2); default 1 MiB, at least 16. */
  chunkSize?: number;
  /** Largest pcap packet (incl_len) or pcapng block (total length) accepted; default 16 MiB, at least 32. */
  maxRecordBytes?: number;
  /** Called at most every 4 MiB, and once at the end. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * The file window: buf[pos, end) holds file bytes [base + pos, base + end). Only fill() reads or
 * moves bytes; everything else indexes buf directly.
 */
class Window {
  buf: Buffer;
  base = 0;
  pos = 0;
  end = 0;
  eof = false;
  private nextProgress = PROGRESS_STEP;

  constructor(
    private readonly fd: number,
    chunkSize: number,
    private readonly maxBuf: number,
    readonly total: number,
    private readonly onProgress: ((done: number, total: number) => void) | undefined,
    /** A pipe, FIFO or socket: read at its current position (a pipe cannot pread: ESPIPE). */
    private readonly stream = false,
  ) {
    this.buf = Buffer.allocUnsafe(chunkSize);
  }

  /** File offset of buf[pos]. */
  get offset(): number {
    return this.base + this.pos;
  }

  /** Makes n bytes available at pos (n <= maxBuf); false if the file ends first. */
  fill(n: number): boolean {
    if (this.end - this.pos >= n) return true;
    if (this.eof) return false;
    if (this.pos > 0) {
      this.buf.copyWithin(0, this.pos, this.end);
      this.base += this.pos;
      this.end -= this.pos;
      this.pos = 0;
    }
    if (n > this.buf.length) {
      // One record larger than the buffer: grow, bounded by the caller's length checks.
      const grown = Buffer.allocUnsafe(Math.min(this.maxBuf, Math.max(n, this.buf.length * 2)));
      this.buf.copy(grown, 0, 0, this.end);
      this.buf = grown;
    }
    while (this.end < n) {
      const got = this.stream ? readStream(this.fd, this.buf, this.end, this.buf.length - this.end) : fs.readSync(this.fd, this.buf, this.end, this.buf.length - this.end, this.base + this.end);
      if (got === 0) {
        this.eof = true;
        break;
      }
      this.end += got;
    }
    if (this.onProgress !== undefined && this.base >= this.nextProgress) {
      this.nextProgress = this.base + PROGRESS_STEP;
      this.onProgress(this.base, Math.max(this.total, this.base));
    }
    return this.end - this.pos >= n;
  }
}

/** Paths that name this process's standard input: read from fd 0 itself, never reopened. */
const STDIN_PATHS = new Set(['-', '/dev/stdin', '/dev/fd/0', '/proc/self/fd/0']);

/** True when readCaptureFile reads path from standard input. */
export function isStdin(path: string): boolean {
  return STDIN_PATHS.has(path);
}

/** Waits this long before reading a stream again that had nothing yet (a non-blocking stdin). */
const STREAM_RETRY_MS = 2;
let sleeper: Int32Array | null = null;

/**
 * read(2) at the stream's position. A non-blocking descriptor (a standard input inherited so)
 * with nothing to read yet is waited on, as a blocking one would be: EAGAIN is no end.
 */
function readStream(fd: number, buf: Buffer, off: number, len: number): number {
  for (;;) {
    try {
      return fs.readSync(fd, buf, off, len, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      sleeper ??= new Int32Array(new SharedArrayBuffer(4));
      Atomics.wait(sleeper, 0, 0, STREAM_RETRY_MS);
    }
  }
}

/**
 * Reads the whole file, calling onRecord for every packet in order. Throws CaptureFileError on a
 * damaged file, after every record before the damage has been delivered. Errors from open and
 * read (ENOENT, EACCES, EIO) and from onRecord pass through unchanged.
 *
 * `-` (and /dev/stdin) is standard input; it, a pipe or a FIFO is streamed (see the top). A FIFO
 * with no writer waits for one, as tcpdump -r does; a terminal or another character device
 * (/dev/zero) is refused.
 */
export function readCaptureFile(path: string, onRecord: (r: FileRecord) => void, opts?: ReadOptions): ReadResult {
  const chunkSize = Math.max(16, Math.floor(opts?.chunkSize ?? DEFAULT_CHUNK));
  const maxRecord = Math.max(MIN_EPB, Math.floor(opts?.maxRecordBytes ?? DEFAULT_MAX_RECORD));
  const stdin = isStdin(path);
  const name = path === '-' ? 'standard input' : path;
  // A named FIFO is opened blocking, as tcpdump -r opens one: that waits for a writer, and the
  // stream then ends when the last writer closes. (Not standard input: a pipe whose writer has
  // already written and gone would wait forever.) Anything else is opened without waiting
  // (O_NONBLOCK), whatever it turns out to be: a path that becomes a FIFO after the stat is read
  // without waiting, and ends at once if no writer is there.
  const fifo = !stdin && fs.statSync(path, { throwIfNoEntry: false })?.isFIFO() === true;
  const fd = stdin ? 0 : fs.openSync(path, fifo ? fs.constants.O_RDONLY : fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    // A directory fails at the first read with EISDIR, as it always did.
    if (st.isCharacterDevice()) {
      const why = stdin ? 'standard input is a terminal or a device: pipe a capture in (tcpdump -w - | csumwatch analyze -)' : 'not a regular file (a character device): save the capture to a file first';
      throw new CaptureFileError(name, 0, why);
    }
    const stream = st.isFIFO() || st.isSocket() || stdin;
    const total = stream ? 0 : st.size;
    const w = new Window(fd, chunkSize, maxRecord + PCAP_RECORD_HEADER, total, stream ? undefined : opts?.onProgress, stream);
    if (!w.fill(1)) throw new CaptureFileError(name, 0, 'empty file');
    if (!w.fill(4)) throw new CaptureFileError(name, 0, 'truncated file header');
    const magic = rd32(w.buf, 0, true);
    let result: ReadResult;
    if (magic === PCAP_US_LE || magic === PCAP_US_BE || magic === PCAP_NS_LE || magic === PCAP_NS_BE) {
      result = readPcap(name, w, magic, maxRecord, onRecord);
    } else if (magic === BT_SHB) {
      result = readPcapng(name, w, maxRecord, onRecord);
    } else {
      throw new CaptureFileError(name, 0, `not a pcap or pcapng file (magic 0x${hex32(magic)})${magicHint(w.buf)}`);
    }
    if (opts?.onProgress !== undefined && !stream) opts.onProgress(result.bytes, Math.max(total, result.bytes));
    return result;
  } finally {
    if (!stdin) fs.closeSync(fd);
  }
}

function readPcap(
  path: string,
  w: Window,
  magic: number,
  maxRecord: number,
  onRecord: (r: FileRecord) => void,
): ReadResult {
  const le = magic === PCAP_US_LE || magic === PCAP_NS_LE;
  const nanos = magic === PCAP_NS_LE || magic === PCAP_NS_BE;
  if (!w.fill(PCAP_FILE_HEADER)) throw new CaptureFileError(path, 0, 'truncated file header');
  // magic(4) version_major(2) version_minor(2) reserved1(4) reserved2(4) snaplen(4) linktype(4)
  const snapLen = rd32(w.buf, 16, le);
  // LinkType is the low 16 bits; the upper bits carry FCS information, draft-ietf-opsawg-pcap §4.
  const linkType = rd32(w.buf, 20, le) & 0xffff;
  w.pos = PCAP_FILE_HEADER;

  const rv = new FileRecord();
  rv.linkType = linkType;
  let records = 0;
  for (;;) {
    if (!w.fill(PCAP_RECORD_HEADER)) {
      if (w.end === w.pos) break;
      throw truncated(path, w, PCAP_RECORD_HEADER);
    }
    // ts_sec(4) ts_usec_or_nsec(4) incl_len(4) orig_len(4)
    let b = w.buf;
    let o = w.pos;
    const sec = rd32(b, o, le);
    const frac = rd32(b, o + 4, le);
    const inclLen = rd32(b, o + 8, le);
    const origLen = rd32(b, o + 12, le);
    if (inclLen > maxRecord) {
      throw new CaptureFileError(path, w.offset, `record length ${inclLen} exceeds the maximum ${maxRecord}`);
    }
    const size = PCAP_RECORD_HEADER + inclLen;
    if (!w.fill(size)) throw truncated(path, w, size);
    b = w.buf;
    o = w.pos;
    rv.buf = b;
    rv.off = o + PCAP_RECORD_HEADER;
    rv.capLen = inclLen;
    // incl_len > orig_len is a lie, but libpcap passes it on; keep wireLen >= capLen.
    rv.wireLen = origLen > inclLen ? origLen : inclLen;
    // sec * 1e6 < 2^52: exact. A µs fraction >= 1e6 is carried into the seconds as written.
    rv.tsUs = sec * 1e6 + (nanos ? Math.floor(frac / 1000) : frac);
    rv.offset = w.offset;
    records++;
    onRecord(rv);
    w.pos += size;
  }
  return { records, bytes: w.offset, format: 'pcap', interfaces: [{ linkType, name: '', snapLen }] };
}

/** Per-section interface table; arrays are reused across sections. */
class Interfaces {
  linkType: number[] = [];
  snapLen: number[] = [];
  tsMode: number[] = [];
  tsFactor: number[] = [];
  tsOffsetUs: number[] = [];
  count = 0;

  reset(): void {
    this.count = 0;
  }

  add(linkType: number, snapLen: number, tsresol: number, tsOffsetSec: number): void {
    const i = this.count++;
    this.linkType[i] = linkType;
    this.snapLen[i] = snapLen;
    this.tsOffsetUs[i] = tsOffsetSec * 1e6;
    if (tsresol & 0x80) {
      this.tsMode[i] = TS_POW2;
      this.tsFactor[i] = tsresol & 0x7f;
    } else if (tsresol <= 6) {
      this.tsMode[i] = TS_MUL;
      this.tsFactor[i] = 10 ** (6 - tsresol);
    } else if (tsresol - 6 <= 11) {
      this.tsMode[i] = TS_DIV;
      this.tsFactor[i] = 10 ** (tsresol - 6);
    } else {
      this.tsMode[i] = TS_FLOAT;
      this.tsFactor[i] = 10 ** (tsresol - 6);
    }
  }

  /**
   * Sets rv.tsUs from the 64-bit timestamp hi:lo of interface i, rounded down to the µs. Writes
   * the field instead of returning: a float64 returned from a call that is not inlined is boxed.
   */
  stamp(rv: FileRecord, i: number, hi: number, lo: number): void {
    const f = this.tsFactor[i];
    const mode = this.tsMode[i];
    let us: number;
    if (mode === TS_MUL) {
      us = (hi * 4294967296 + lo) * f;
    } else if (mode === TS_DIV) {
      // Long division of hi:lo by f in 32-16-16 bit steps; every partial stays below 2^53.
      const t1 = (hi % f) * 65536 + (lo >>> 16);
      const t2 = (t1 % f) * 65536 + (lo & 0xffff);
      us = Math.floor(hi / f) * 4294967296 + Math.floor(t1 / f) * 65536 + Math.floor(t2 / f);
    } else if (mode === TS_POW2) {
      // floor(hi:lo * 10^6 / 2^f), exact while hi * 1e6 < 2^52 (always: hi < 2^32).
      if (f <= 32) {
        // hi * 1e6 * 2^(32-f) is an integer; lo * 1e6 / 2^f is exact (scaling by a power of 2).
        us = hi * 1e6 * 2 ** (32 - f) + Math.floor((lo * 1e6) / 2 ** f);
      } else {
        const x = hi * 1e6;
        const s = 2 ** (f - 32);
        const whole = Math.floor(x / s);
        us = whole + Math.floor((x - whole * s) / s + (lo * 1e6) / 2 ** f);
      }
    } else {
      us = Math.floor((hi * 4294967296 + lo) / f);
    }
    rv.tsUs = us + this.tsOffsetUs[i];
  }
}

function readPcapng(path: string, w: Window, maxRecord: number, onRecord: (r: FileRecord) => void): ReadResult {
  const ifs = new Interfaces();
  const interfaces: CaptureInterface[] = [];
  const rv = new FileRecord();
  let le = true;
  let records = 0;
  let interfaceCount = 0;
  for (;;) {
    if (!w.fill(8)) {
      if (w.end === w.pos) break;
      throw truncated(path, w, 8);
    }
    let b = w.buf;
    let o = w.pos;
    // Block: type(4) total_length(4) body trailing_total_length(4), §3.1.
    const type = rd32(b, o, le);
    if (type === BT_SHB) {
      // The byte-order magic decides how to read everything in the section, the length included.
      if (!w.fill(12)) throw truncated(path, w, 12);
      b = w.buf;
      o = w.pos;
      const bom = rd32(b, o + 8, true);
      if (bom === BOM_LE) le = true;
      else if (bom === BOM_BE) le = false;
      else throw new CaptureFileError(path, w.offset, `bad byte-order magic 0x${hex32(bom)}`);
    }
    const len = rd32(b, o + 4, le);
    if (len < MIN_BLOCK) throw new CaptureFileError(path, w.offset, `block length ${len} is too small`);
    if (len % 4 !== 0) throw new CaptureFileError(path, w.offset, `block length ${len} is not a multiple of 4`);
    if (len > maxRecord) {
      throw new CaptureFileError(path, w.offset, `block length ${len} exceeds the maximum ${maxRecord}`);
    }
    if (!w.fill(len)) throw truncated(path, w, len);
    b = w.buf;
    o = w.pos;
    const trailer = rd32(b, o + len - 4, le);
    if (trailer !== len) {
      throw new CaptureFileError(path, w.offset, `trailing block length ${trailer} does not match ${len}`);
    }
    const optEnd = o + len - 4;

    switch (type) {
      case BT_SHB: {
        // byte_order_magic(4) major(2) minor(2) section_length(8) options, §4.1
        if (len < MIN_SHB) throw tooSmall(path, w, 'section header', len);
        const major = rd16(b, o + 12, le);
        if (major !== 1) {
          throw new CaptureFileError(path, w.offset, `unsupported pcapng version ${major}.${rd16(b, o + 14, le)}`);
        }
        ifs.reset();
        break;
      }

      case BT_IDB: {
        // linktype(2) reserved(2) snaplen(4) options, §4.2
        if (len < MIN_IDB) throw tooSmall(path, w, 'interface description', len);
        if (ifs.count >= MAX_INTERFACES) {
          throw new CaptureFileError(path, w.offset, `more than ${MAX_INTERFACES} interfaces in one section`);
        }
        const linkType = rd16(b, o + 8, le);
        const snapLen = rd32(b, o + 12, le);
        let name = '';
        let tsresol = 6;
        let tsOffset = 0;
        for (let p = o + 16; p + 4 <= optEnd; ) {
          const code = rd16(b, p, le);
          const olen = rd16(b, p + 2, le);
          if (code === OPT_ENDOFOPT || p + 4 + olen > optEnd) break;
          if (code === OPT_IF_NAME) {
            name = b.toString('utf8', p + 4, p + 4 + Math.min(olen, MAX_IF_NAME)).replace(/\0+$/, '');
          } else if (code === OPT_IF_TSRESOL && olen >= 1) {
            tsresol = b[p + 4];
          } else if (code === OPT_IF_TSOFFSET && olen >= 8) {
            // Signed 64-bit seconds.
            const hi = le ? rd32(b, p + 8, true) | 0 : rd32(b, p + 4, false) | 0;
            const lo = le ? rd32(b, p + 4, true) : rd32(b, p + 8, false);
            tsOffset = hi * 4294967296 + lo;
          }
          p += 4 + pad4(olen);
        }
        ifs.add(linkType, snapLen, tsresol, tsOffset);
        if (interfaceCount++ < MAX_INTERFACES) interfaces.push({ linkType, name, snapLen });
        break;
      }

      case BT_EPB:
      case BT_PB: {
        // EPB: interface_id(4) ts_high(4) ts_low(4) cap_len(4) orig_len(4) data options, §4.3
        // PB:  interface_id(2) drops_count(2) ts_high(4) ts_low(4) cap_len(4) orig_len(4) data options
        if (len < (type === BT_EPB ? MIN_EPB : MIN_PB)) {
          throw tooSmall(path, w, type === BT_EPB ? 'enhanced packet' : 'packet', len);
        }
        const ifId = type === BT_EPB ? rd32(b, o + 8, le) : rd16(b, o + 8, le);
        if (ifId >= ifs.count) {
          throw new CaptureFileError(path, w.offset, `packet for undeclared interface ${ifId}`);
        }
        const capLen = rd32(b, o + 20, le);
        const origLen = rd32(b, o + 24, le);
        if (capLen > len - MIN_EPB) {
          throw new CaptureFileError(path, w.offset, `captured length ${capLen} overruns block of length ${len}`);
        }
        let dir = DIR_UNKNOWN;
        for (let p = o + 28 + pad4(capLen); p + 4 <= optEnd; ) {
          const code = rd16(b, p, le);
          const olen = rd16(b, p + 2, le);
          if (code === OPT_ENDOFOPT || p + 4 + olen > optEnd) break;
          if (code === OPT_EPB_FLAGS && olen === 4) {
            // Bits 0-1: 00 unknown, 01 inbound, 10 outbound, §4.3.1.
            const bits = rd32(b, p + 4, le) & 3;
            dir = bits === 1 ? DIR_RX : bits === 2 ? DIR_TX : DIR_UNKNOWN;
          }
          p += 4 + pad4(olen);
        }
        rv.buf = b;
        rv.off = o + 28;
        rv.capLen = capLen;
        rv.wireLen = origLen > capLen ? origLen : capLen;
        ifs.stamp(rv, ifId, rd32(b, o + 12, le), rd32(b, o + 16, le));
        rv.linkType = ifs.linkType[ifId];
        rv.dir = dir;
        rv.ifIndex = ifId;
        rv.offset = w.offset;
        records++;
        onRecord(rv);
        break;
      }

      case BT_SPB: {
        // original_packet_length(4) data, §4.4; belongs to interface 0, has no timestamp.
        if (len < MIN_SPB) throw tooSmall(path, w, 'simple packet', len);
        if (ifs.count === 0) throw new CaptureFileError(path, w.offset, 'packet for undeclared interface 0');
        const origLen = rd32(b, o + 8, le);
        const snapLen = ifs.snapLen[0];
        let capLen = len - MIN_SPB;
        if (origLen < capLen) capLen = origLen;
        if (snapLen > 0 && snapLen < capLen) capLen = snapLen;
        rv.buf = b;
        rv.off = o + 12;
        rv.capLen = capLen;
        rv.wireLen = origLen > capLen ? origLen : capLen;
        rv.tsUs = 0;
        rv.linkType = ifs.linkType[0];
        rv.dir = DIR_UNKNOWN;
        rv.ifIndex = 0;
        rv.offset = w.offset;
        records++;
        onRecord(rv);
        break;
      }

      default:
      // Name resolution, statistics, decryption secrets, custom blocks: not ours.
    }
    w.pos += len;
  }
  return { records, bytes: w.offset, format: 'pcapng', interfaces };
}

/** What a file that is not a capture looks like it is, when that is known and fixable. */
function magicHint(b: Uint8Array): string {
  const m = rd32(b, 0, false);
  if (b[0] === 0x1f && b[1] === 0x8b) return ': gzip-compressed, decompress it first';
  if (m === 0x28b52ffd) return ': zstd-compressed, decompress it first';
  if (m === 0xfd377a58) return ': xz-compressed, decompress it first';
  if (b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) return ': bzip2-compressed, decompress it first';
  // Alexey Kuznetzov's patched tcpdump format: libpcap reads it, editcap converts it.
  if (m === 0x34cdb2a1 || m === 0xa1b2cd34) return ': the modified (Kuznetzov) pcap format, convert it with editcap -F pcap';
  return '';
}

function truncated(path: string, w: Window, need: number): CaptureFileError {
  return new CaptureFileError(path, w.offset, `truncated record: ${w.end - w.pos} of ${need} bytes present`);
}

function tooSmall(path: string, w: Window, what: string, len: number): CaptureFileError {
  return new CaptureFileError(path, w.offset, `${what} block length ${len} is too small`);
}

function rd32(b: Uint8Array, o: number, le: boolean): number {
  return le
    ? (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 0x1000000
    : b[o] * 0x1000000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
}

function rd16(b: Uint8Array, o: number, le: boolean): number {
  return le ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1];
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function hex32(v: number): string {
  return v.toString(16).padStart(8, '0');
}
