// A bounded map from IP address to a small dense index, looked up from packet bytes without
// allocating: open addressing over typed arrays. The address string is built once, when an
// address is first seen. When the table is full, new addresses all get the overflow index
// `capacity`, so callers size their counter arrays for capacity + 1 entries. An index can be
// handed to another address (replace): callers that rank their entries decide which.

import { isIP } from 'node:net';

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
    const x = this.find(k, version);
    if (x >= 0) return x;
    const n = this.names.length;
    if (n >= this.capacity) return this.capacity;
    this.place(n, k, version);
    this.names.push(addrString(this.words, n * 4, version === 6));
    return n;
  }

  /** Index of the address in words k, or -1: never adds. */
  find(k: Int32Array, version: number): number {
    const w = this.words;
    for (let i = hashKey(k, 0, version) & this.mask; ; i = (i + 1) & this.mask) {
      const e = this.index[i];
      if (e === 0) return -1;
      const x = e - 1;
      if (this.fam[x] === version && w[x * 4] === (k[0] | 0) && w[x * 4 + 1] === (k[1] | 0) && w[x * 4 + 2] === (k[2] | 0) && w[x * 4 + 3] === (k[3] | 0)) return x;
    }
  }

  /** Hands index x (an entry) to the address in words k, which must not be in the table. */
  replace(x: number, k: Int32Array, version: number): void {
    if (!(x >= 0 && x < this.names.length)) throw new RangeError(`no entry ${x}`);
    this.unindex(x);
    this.place(x, k, version);
    this.names[x] = addrString(this.words, x * 4, version === 6);
  }

  /** The address words of entry x into out (4 words), its version returned. */
  keyOf(x: number, out: Int32Array): number {
    for (let j = 0; j < 4; j++) out[j] = this.words[x * 4 + j];
    return this.fam[x];
  }

  private place(x: number, k: Int32Array, version: number): void {
    const w = this.words;
    for (let j = 0; j < 4; j++) w[x * 4 + j] = k[j];
    this.fam[x] = version;
    let i = hashKey(k, 0, version) & this.mask;
    while (this.index[i] !== 0) i = (i + 1) & this.mask;
    this.index[i] = x + 1;
  }

  /** Takes entry x out of the index (backward-shift deletion: no tombstones, probes stay short). */
  private unindex(x: number): void {
    const m = this.mask;
    let i = hashKey(this.words, x * 4, this.fam[x]) & m;
    while (this.index[i] !== x + 1) i = (i + 1) & m;
    for (let j = (i + 1) & m; this.index[j] !== 0; j = (j + 1) & m) {
      const y = this.index[j] - 1;
      const home = hashKey(this.words, y * 4, this.fam[y]) & m;
      if (((j - home) & m) >= ((j - i) & m)) {
        this.index[i] = this.index[j];
        i = j;
      }
    }
    this.index[i] = 0;
  }
}

function hashKey(k: Int32Array, o: number, version: number): number {
  let h = Math.imul(version ^ 0x9e3779b9, 0x85ebca6b);
  for (let i = 0; i < 4; i++) h = Math.imul(h ^ k[o + i], 0xcc9e2d51) ^ (h >>> 15);
  return h ^ (h >>> 16);
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

/**
 * The address in text into four words k (IPv4 in the first, the rest 0), the inverse of
 * addrString; returns its version, or 0 (k zeroed) when a is not an IPv4 or IPv6 address.
 */
export function addrWords(a: string, k: Int32Array): number {
  k.fill(0);
  const zone = a.indexOf('%'); // fe80::1%eth0.100: the zone is no part of the address
  if (zone >= 0) a = a.slice(0, zone);
  const v = isIP(a);
  if (v === 4) {
    const p = a.split('.');
    k[0] = (+p[0] << 24) | (+p[1] << 16) | (+p[2] << 8) | +p[3];
    return 4;
  }
  if (v !== 6) return 0;
  // isIP has checked the form: at most one "::", hex groups, an optional dotted IPv4 tail.
  const groups: number[] = [];
  const halves = a.split('::');
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.indexOf('.') >= 0) {
        const p = g.split('.').map(Number);
        out.push((p[0] << 8) | p[1], (p[2] << 8) | p[3]);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]);
  const tail = halves.length > 1 ? parse(halves[1]) : [];
  groups.push(...head);
  for (let i = head.length + tail.length; i < 8; i++) groups.push(0);
  groups.push(...tail);
  for (let i = 0; i < 4; i++) k[i] = (groups[2 * i] << 16) | groups[2 * i + 1];
  return 6;
}
