// A bounded map from IP address to a small dense index, looked up from packet bytes without
// allocating: open addressing over typed arrays. The address string is built once, when an
// address is first seen. When the table is full, new addresses all get the overflow index
// `capacity`, so callers size their counter arrays for capacity + 1 entries.

export class AddrTable {
  /** Address strings by index. */
  readonly names: string[] = [];
  private readonly words: Int32Array; // 4 per entry
  private readonly fam: Uint8Array;
  private readonly index: Int32Array; // entry + 1, 0 empty
  private readonly mask: number;
  private readonly key = new Int32Array(4);

  /** overflowName: the name of the entry that counts addresses past the bound. */
  constructor(readonly capacity: number, private readonly overflowName: string) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 20) throw new RangeError(`capacity out of range: ${capacity}`);
    let size = 2;
    while (size < capacity * 2) size *= 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
    this.words = new Int32Array(capacity * 4);
    this.fam = new Uint8Array(capacity);
  }

  get size(): number {
    return this.names.length;
  }

  /** Entries to report: every address seen, and the overflow entry once the table is full. */
  count(): number {
    return this.names.length < this.capacity ? this.names.length : this.capacity + 1;
  }

  /** Name of index i: the address, or the overflow entry's name. */
  name(i: number): string {
    return i < this.names.length ? this.names[i] : this.overflowName;
  }

  /** Index of the IPv4 (version 4) or IPv6 (6) address at b[off], adding it; `capacity` when full. */
  lookup(b: Uint8Array, off: number, version: number): number {
    const k = this.key;
    const n = version === 4 ? 1 : 4;
    for (let i = 0; i < 4; i++) {
      const o = off + i * 4;
      k[i] = i < n ? (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3] : 0;
    }
    return this.lookupKey(k, version);
  }

  /** As lookup, from four address words (IPv4 in the first). */
  lookupKey(k: Int32Array, version: number): number {
    let h = Math.imul(version ^ 0x9e3779b9, 0x85ebca6b);
    for (let i = 0; i < 4; i++) h = Math.imul(h ^ k[i], 0xcc9e2d51) ^ (h >>> 15);
    h ^= h >>> 16;
    const w = this.words;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const e = this.index[i];
      if (e === 0) {
        const n = this.names.length;
        if (n >= this.capacity) return this.capacity;
        for (let j = 0; j < 4; j++) w[n * 4 + j] = k[j];
        this.fam[n] = version;
        this.index[i] = n + 1;
        this.names.push(addrString(w, n * 4, version === 6));
        return n;
      }
      const x = e - 1;
      if (this.fam[x] === version && w[x * 4] === (k[0] | 0) && w[x * 4 + 1] === (k[1] | 0) && w[x * 4 + 2] === (k[2] | 0) && w[x * 4 + 3] === (k[3] | 0)) return x;
    }
  }
}

/** Text form of the address in words a[o..o+3]: dotted IPv4, or IPv6 per RFC 5952. */
export function addrString(a: Int32Array, o: number, v6: boolean): string {
  if (!v6) {
    const x = a[o];
    return `${(x >>> 24) & 255}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
  }
  const parts: string[] = [];
  for (let i = 0; i < 4; i++) parts.push(((a[o + i] >>> 16) & 0xffff).toString(16), (a[o + i] & 0xffff).toString(16));
  // Compress the longest run of zero groups (RFC 5952 §4.2).
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && parts[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return parts.join(':');
  return `${parts.slice(0, best).join(':')}::${parts.slice(best + bestLen).join(':')}`;
}
