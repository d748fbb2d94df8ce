// Live capture through the agent's own packet socket and TPACKET_V3 ring (native/ring.c), with
// the eBPF capture filter (src/capture/kfilter.ts) attached before the socket is bound.
//
// One socket per interface sees both directions: each record carries the kernel's packet type
// (received or sent) and its checksum status (TP_STATUS_CSUMNOTREADY, TP_STATUS_CSUM_VALID) in
// its meta word, which libpcap does not pass on. TPACKET_V3 packs packets into blocks by their
// real size and hands a block over when it fills or after timeoutMs, which bounds both the
// wakeups per second and the delay.

import { LINKTYPE_ETHERNET } from '../decode/decoder';
import { requireAddon } from './addon';
import { CaptureError } from './pcap';
import { BatchBinding, NativeSource, SourceStats } from './source';

interface RingBinding extends BatchBinding {
  open(ifindex: number, blockBytes: number, blocks: number, timeoutMs: number, progFd: number): object;
}

let binding: RingBinding | null = null;

export function ringBinding(): RingBinding {
  binding ??= requireAddon<RingBinding>('csw_ring', (file, reason) => new CaptureError(`loading the ring addon ${file}: ${reason}`));
  return binding;
}

export interface RingOptions {
  device: string;
  ifindex: number;
  /** The loaded socket filter program's fd. */
  progFd: number;
  /** The ring's size in bytes (rounded down to whole blocks). */
  bufferBytes?: number;
  /** Longest a packet waits in the ring before its block is handed over. */
  timeoutMs?: number;
  /** Size of the batch buffer JavaScript reads records from. */
  batchBytes?: number;
}

/** Block size for a ring of `bytes`: 256 KiB, smaller for a small ring (at least 4 blocks of a page or more). */
export function ringGeometry(bytes: number): { blockBytes: number; blocks: number } {
  let block = 256 << 10;
  while (block > 4096 && block * 4 > bytes) block >>= 1;
  return { blockBytes: block, blocks: Math.max(4, Math.floor(bytes / block)) };
}

export class RingSource extends NativeSource {
  readonly linkType = LINKTYPE_ETHERNET;

  constructor(opts: RingOptions) {
    super(ringBinding(), opts.batchBytes ?? 1 << 20, () => new CaptureError('capture is closed'));
    const g = ringGeometry(opts.bufferBytes ?? 4 << 20);
    try {
      this.handle = (this.b as RingBinding).open(opts.ifindex, g.blockBytes, g.blocks, opts.timeoutMs ?? 100, opts.progFd);
    } catch (err) {
      throw new CaptureError(`capturing on ${opts.device}: ${(err as Error).message}`);
    }
  }

  protected counters([received, dropped, , clipped]: [number, number, number, number]): SourceStats {
    // TPACKET's tp_packets counts the dropped packets too.
    return { received: received - dropped, dropped, ifDropped: 0, clipped };
  }
}
