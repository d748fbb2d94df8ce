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
import { BatchBinding, NativeSource, SourceStats } from './source';

interface Binding extends BatchBinding {
  open(device: string, snaplen: number, bufferBytes: number, timeoutMs: number): object;
  datalink(h: object): number;
  setFilter(h: object, expr: string): void;
  setDirection(h: object, inbound: boolean): void;
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

export class PcapSource extends NativeSource {
  readonly linkType: number;

  constructor(opts: PcapOptions) {
    super(pcapBinding(), opts.batchBytes ?? 1 << 20, () => new CaptureError('capture is closed'));
    const b = this.b as Binding;
    let h: object;
    try {
      h = b.open(opts.device, opts.snaplen ?? 65535, opts.bufferBytes ?? 4 << 20, opts.timeoutMs ?? 100);
    } catch (err) {
      throw new CaptureError((err as Error).message);
    }
    try {
      this.linkType = linkTypeOf(b.datalink(h));
      b.setDirection(h, opts.direction === 'in');
      b.setFilter(h, opts.filter);
    } catch (err) {
      b.close(h);
      throw new CaptureError(`capturing on ${opts.device}: ${(err as Error).message}`);
    }
    this.handle = h;
  }

  protected counters([received, dropped, ifDropped, clipped]: [number, number, number, number]): SourceStats {
    return { received, dropped, ifDropped, clipped };
  }
}
