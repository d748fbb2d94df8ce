// Live capture through libpcap, by the agent's own N-API binding (native/pcap.c).
//
// Why not the `cap` package: it has no pcap_stats (so no csumwatch_capture_dropped_total), no
// packet timestamps, no way to choose the ring's layout, and one JavaScript call per packet. The
// binding here is one call per libpcap operation and hands packets over in batches.
//
// Direction: libpcap gives no per-packet direction on an Ethernet capture, so each interface gets
// two captures, one set to PCAP_D_IN and one to PCAP_D_OUT; libpcap checks the kernel's packet
// type of each packet (sll_pkttype) as it reads the ring. Not the filter words `inbound` and
// `outbound`: they compile to a kernel-only load (SKF_AD_PKTTYPE) that fails when libpcap filters
// in user space, which it does for the packets already in the ring when the filter is set, so
// the first block of packets would be lost (measured: the first 33 of 200 DNS queries).
//
// The ring: without immediate mode libpcap uses TPACKET_V3, where packets are packed into blocks
// by their real size (snaplen costs nothing for small packets) and a block is handed over when it
// fills or after timeoutMs. That bounds both the wakeups per second and the delay.

import { LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW } from '../decode/decoder';
import { requireAddon } from './addon';
import { BatchHandler, PacketSource, SourceStats } from './source';

interface Binding {
  open(device: string, snaplen: number, bufferBytes: number, timeoutMs: number): object;
  datalink(h: object): number;
  setFilter(h: object, expr: string): void;
  setDirection(h: object, inbound: boolean): void;
  start(h: object, buf: Buffer, cb: (records: number, bytesOrError: number | string) => void): void;
  dispatch(h: object): number;
  stats(h: object): [number, number, number, number];
  close(h: object): void;
  libVersion(): string;
}

export class CaptureError extends Error {
  readonly code = 'CSW_ERR_CAPTURE';
}

let binding: Binding | null = null;

/** The addon, loaded once; a CaptureError says how to build it when it is missing. */
export function pcapBinding(): Binding {
  binding ??= requireAddon<Binding>('csw_pcap', (file, reason) => new CaptureError(`loading the capture addon ${file}: ${reason}`));
  return binding;
}

export interface PcapOptions {
  device: string;
  direction: 'in' | 'out';
  /** libpcap filter expression. */
  filter: string;
  snaplen?: number;
  /** Kernel ring size in bytes. */
  bufferBytes?: number;
  /** Longest a packet waits in the ring before it is handed over. */
  timeoutMs?: number;
  /** Size of the batch buffer JavaScript reads records from. */
  batchBytes?: number;
}

/** DLT values that differ from their link-type numbers (pcap/dlt.h vs tcpdump.org link types). */
function linkTypeOf(dlt: number): number {
  switch (dlt) {
    case 1:
      return LINKTYPE_ETHERNET;
    case 12:
    case 14:
      return LINKTYPE_RAW;
    case 113:
      return LINKTYPE_LINUX_SLL;
    case 276:
      return LINKTYPE_LINUX_SLL2;
    default:
      return dlt;
  }
}

export class PcapSource implements PacketSource {
  readonly linkType: number;
  private readonly b: Binding;
  private handle: object | null;
  // Held for as long as the capture runs: libpcap's callback writes into it (the binding holds a
  // reference too; this one makes the ownership plain to a reader).
  private readonly batch: Buffer;
  /** The counters as last read before close, so drops counted up to an interface's loss survive. */
  private final: SourceStats | null = null;

  constructor(opts: PcapOptions) {
    this.b = pcapBinding();
    try {
      this.handle = this.b.open(opts.device, opts.snaplen ?? 65535, opts.bufferBytes ?? 4 << 20, opts.timeoutMs ?? 100);
    } catch (err) {
      throw new CaptureError((err as Error).message);
    }
    try {
      this.linkType = linkTypeOf(this.b.datalink(this.handle));
      this.b.setDirection(this.handle, opts.direction === 'in');
      this.b.setFilter(this.handle, opts.filter);
    } catch (err) {
      this.b.close(this.handle);
      this.handle = null;
      throw new CaptureError(`capturing on ${opts.device}: ${(err as Error).message}`);
    }
    this.batch = Buffer.alloc(opts.batchBytes ?? 1 << 20);
  }

  start(onBatch: BatchHandler, onError: (message: string) => void): void {
    const h = this.live();
    const buf = this.batch;
    let failed = false;
    this.b.start(h, buf, (records, bytes) => {
      if (records < 0) {
        // Once: the handle stays open, so that its owner can still drain the ring (poll())
        // before it closes it; a later poll may hit the same error again.
        if (!failed) onError(String(bytes));
        failed = true;
        return;
      }
      onBatch(buf, records, bytes as number);
    });
  }

  poll(): number {
    return this.handle ? this.b.dispatch(this.handle) : 0;
  }

  stats(): SourceStats {
    if (this.final) return this.final;
    const [received, dropped, ifDropped, clipped] = this.b.stats(this.live());
    return { received, dropped, ifDropped, clipped };
  }

  close(): void {
    if (this.handle) {
      try {
        this.final = this.stats();
      } catch {
        this.final = { received: 0, dropped: 0, ifDropped: 0, clipped: 0 };
      }
      this.b.close(this.handle);
      this.handle = null;
    }
  }

  get closed(): boolean {
    return this.handle === null;
  }

  private live(): object {
    if (!this.handle) throw new CaptureError('capture is closed');
    return this.handle;
  }
}
