// Offline analysis: capture files → decoder → frame counters and DNS correlator.
// Files are read one after another in the order given, each streamed with flat memory.

import { readCaptureFile, FileRecord } from '../capture/replay';
import { DnsCorrelator } from '../correlate/transactions';
import { DEFAULT_DNS_PORTS, DEFAULT_GENEVE_PORTS, DEFAULT_VXLAN_PORTS, Decoder } from '../decode/decoder';
import { Frame } from '../decode/frame';
import { Status } from '../decode/status';
import { FrameStats } from './stats';

export interface AnalyzeOptions {
  vxlanPorts?: readonly number[];
  genevePorts?: readonly number[];
  dnsPorts?: readonly number[];
  /** A query unanswered this long (capture time) is lost. */
  dnsTimeoutUs?: number;
  /** DNS transactions in flight at once; more are evicted, oldest first, and counted. */
  dnsCapacity?: number;
  lostListSize?: number;
  onProgress?: (path: string, done: number, total: number) => void;
}

export interface FileSummary {
  path: string;
  format: string | null;
  records: number;
  /** "reading PATH: ...": set when the file could not be read to its end. */
  error: string | null;
}

export class Analysis {
  readonly stats = new FrameStats();
  readonly dns: DnsCorrelator;
  readonly files: FileSummary[] = [];
  readonly vxlanPorts: readonly number[];
  readonly genevePorts: readonly number[];
  readonly dnsPorts: readonly number[];
  firstTsUs = 0;
  lastTsUs = 0;
  /** Frames of link types the decoder does not read, by link type (said once on stderr). */
  readonly unsupportedLinkTypes = new Map<number, number>();

  constructor(opts: AnalyzeOptions) {
    this.dns = new DnsCorrelator({ capacity: opts.dnsCapacity, timeoutUs: opts.dnsTimeoutUs, lostListSize: opts.lostListSize });
    this.vxlanPorts = opts.vxlanPorts ?? DEFAULT_VXLAN_PORTS;
    this.genevePorts = opts.genevePorts ?? DEFAULT_GENEVE_PORTS;
    this.dnsPorts = opts.dnsPorts ?? DEFAULT_DNS_PORTS;
  }
}

/** Interface ids from different files never collide: file number in the high bits. */
const IF_STRIDE = 1 << 16;

/**
 * Analyses the files in order. A damaged or unreadable file is recorded in `files` with its error
 * and what was read before the damage still counts; the other files are still read.
 */
export function analyzeFiles(paths: readonly string[], opts: AnalyzeOptions = {}): Analysis {
  const a = new Analysis(opts);
  const decoder = new Decoder({ vxlanPorts: a.vxlanPorts, genevePorts: a.genevePorts, dnsPorts: a.dnsPorts });
  const frame = new Frame();
  const stats = a.stats;
  const dns = a.dns;
  let ifBase = 0;
  const onRecord = (r: FileRecord): void => {
    const end = r.off + r.capLen;
    decoder.decode(r.buf, r.off, end, r.wireLen, r.linkType, r.dir, frame);
    stats.add(frame, r.wireLen);
    if (frame.status === Status.LINK_TYPE_UNSUPPORTED) a.unsupportedLinkTypes.set(r.linkType, (a.unsupportedLinkTypes.get(r.linkType) ?? 0) + 1);
    dns.nowUs = r.tsUs;
    dns.observeNow(r.buf, frame, ifBase + r.ifIndex);
    if (a.firstTsUs === 0 || r.tsUs < a.firstTsUs) a.firstTsUs = r.tsUs;
    if (r.tsUs > a.lastTsUs) a.lastTsUs = r.tsUs;
  };
  for (const path of paths) {
    const summary: FileSummary = { path, format: null, records: 0, error: null };
    a.files.push(summary);
    const before = stats.frames;
    try {
      const progress = opts.onProgress;
      const res = readCaptureFile(path, onRecord, progress ? { onProgress: (d, t) => progress(path, d, t) } : undefined);
      summary.format = res.format;
    } catch (err) {
      summary.error = errorLine(path, err);
    }
    summary.records = stats.frames - before;
    ifBase += IF_STRIDE;
  }
  dns.finish();
  return a;
}

function errorLine(path: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && e.code.startsWith('CSW_ERR_')) return e.message;
  if (e && e.code === 'ENOENT') return `reading ${path}: no such file`;
  if (e && e.code === 'EACCES') return `reading ${path}: permission denied`;
  if (e && e.code === 'EISDIR') return `reading ${path}: is a directory`;
  return `reading ${path}: ${e && e.message ? e.message : String(err)}`;
}
