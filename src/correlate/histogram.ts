// Latency histogram with log-linear buckets (the HdrHistogram layout): 32 sub-buckets per power of
// two, so any recorded value is reported within 1/32 (about 3%) of itself. Fixed memory, no
// allocation per value.

const SUB_BITS = 5;
const SUB = 1 << SUB_BITS;
const MAX_EXP = 40; // values up to 2^40 µs (12 days) are kept exactly by bucket; larger clamp

export class LatencyHistogram {
  private readonly counts = new Float64Array((MAX_EXP + 1) * SUB);
  count = 0;
  max = 0;

  /** Records a non-negative value (microseconds). */
  record(us: number): void {
    if (!(us >= 0)) us = 0;
    this.counts[bucketOf(us)]++;
    this.count++;
    if (us > this.max) this.max = us;
  }

  /** The value at quantile q (0..1), as the middle of its bucket; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(bucketMiddle(i), this.max);
    }
    return this.max;
  }
}

function bucketOf(v: number): number {
  const x = Math.floor(v);
  if (x < SUB) return x;
  const e = Math.min(Math.floor(Math.log2(x)), MAX_EXP); // x >= 32 so e >= 5
  const m = Math.floor(x / 2 ** (e - SUB_BITS)) - SUB; // 0..31 within the power of two
  return (e - SUB_BITS + 1) * SUB + Math.min(m, SUB - 1);
}

function bucketMiddle(i: number): number {
  if (i < SUB) return i;
  const e = Math.floor(i / SUB) - 1 + SUB_BITS;
  const m = i % SUB;
  const width = 2 ** (e - SUB_BITS);
  return (SUB + m) * width + width / 2;
}
