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
import { BatchHandler, PacketSource, SourceStats } from './source';

interface RingBinding {
  open(ifindex: number, blockBytes: number, blocks: number, timeoutMs: number, progFd: number): object;
  start(h: object, buf: Buffer, cb: (records: number, bytesOrError: number | string) => void): void;
  dispatch(h: object): number;
  stats(h: object): [number, number, number, number];
  close(h: object): void;
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

export class RingSource implements PacketSource {
  readonly linkType = LINKTYPE_ETHERNET;
  private readonly b: RingBinding;
  private handle: object | null;
  // Held for as long as the capture runs: the addon writes into it (it holds a reference too).
  private readonly batch: Buffer;
  private final: SourceStats | null = null;

  constructor(opts: RingOptions) {
    this.b = ringBinding();
    const g = ringGeometry(opts.bufferBytes ?? 4 << 20);
    try {
      this.handle = this.b.open(opts.ifindex, g.blockBytes, g.blocks, opts.timeoutMs ?? 100, opts.progFd);
    } catch (err) {
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
    const [received, dropped, , clipped] = this.b.stats(this.live());
    // TPACKET's tp_packets counts the dropped packets too.
    return { received: received - dropped, dropped, ifDropped: 0, clipped };
  }

  close(): void {
    if (!this.handle) return;
    this.b.close(this.handle);
    const [received, dropped, , clipped] = this.b.stats(this.handle);
    this.final = { received: received - dropped, dropped, ifDropped: 0, clipped };
    this.handle = null;
  }

  private live(): object {
    if (!this.handle) throw new CaptureError('capture is closed');
    return this.handle;
  }
}
