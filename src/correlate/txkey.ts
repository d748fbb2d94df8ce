// The key of the DNS transaction a packet belongs to (CONTRACT.md): address family, client and
// server addresses and ports, and DNS ID; the question is compared apart (a kernel drop whose
// question was cut short still finds its transaction). One scratch key, filled per packet, so
// that keying allocates nothing.

import { Stack } from '../decode/frame';

export class TxKey {
  /** Client address then server address, four words each; an IPv4 address is one word, then zeros. */
  readonly words = new Int32Array(8);
  /** The server half of words (a view made once). */
  readonly server = this.words.subarray(4, 8);
  family = 0;
  clientPort = 0;
  serverPort = 0;
  id = 0;

  /** Fills the key from a decoded packet (the client is the query's source); returns its hash. */
  fromStack(b: Uint8Array, s: Stack, isQuery: boolean, id: number): number {
    // The header's own destination, not the pseudo-header's (a routing header may hide that one).
    const dst = s.ipOffset + (s.ipVersion === 4 ? 16 : 24);
    return this.at(b, s.ipVersion, isQuery ? s.srcOffset : dst, isQuery ? dst : s.srcOffset,
      isQuery ? s.srcPort : s.dstPort, isQuery ? s.dstPort : s.srcPort, id);
  }

  /**
   * Fills the key from client and server addresses at cOff and sOff in b and the ports, and
   * returns the hash of address family, addresses, ports and DNS ID.
   */
  at(b: Uint8Array, version: number, cOff: number, sOff: number, cPort: number, sPort: number, id: number): number {
    const k = this.words;
    this.family = version;
    this.clientPort = cPort;
    this.serverPort = sPort;
    this.id = id;
    let h = Math.imul(version ^ 0x9e3779b9, 0x85ebca6b);
    if (version === 4) {
      // One word per address, the rest zero: written out, as IPv4 is nearly every packet.
      const c = (b[cOff] << 24) | (b[cOff + 1] << 16) | (b[cOff + 2] << 8) | b[cOff + 3];
      const v = (b[sOff] << 24) | (b[sOff + 1] << 16) | (b[sOff + 2] << 8) | b[sOff + 3];
      k[0] = c;
      k[1] = 0;
      k[2] = 0;
      k[3] = 0;
      k[4] = v;
      k[5] = 0;
      k[6] = 0;
      k[7] = 0;
      h = Math.imul(h ^ c, 0xcc9e2d51) ^ (h >>> 13);
      h = Math.imul(h ^ v, 0xcc9e2d51) ^ (h >>> 13);
    } else {
      for (let i = 0; i < 4; i++) {
        const c = cOff + i * 4;
        const v = sOff + i * 4;
        k[i] = (b[c] << 24) | (b[c + 1] << 16) | (b[c + 2] << 8) | b[c + 3];
        k[4 + i] = (b[v] << 24) | (b[v + 1] << 16) | (b[v + 2] << 8) | b[v + 3];
      }
      for (let i = 0; i < 8; i++) h = Math.imul(h ^ k[i], 0xcc9e2d51) ^ (h >>> 13);
    }
    h = Math.imul(h ^ ((cPort << 16) | sPort), 0x1b873593);
    h = Math.imul(h ^ id, 0xe6546b64);
    h ^= h >>> 16;
    return h;
  }

  /** Copies the key's addresses into words at o (8 of them). */
  storeWords(to: Int32Array, o: number): void {
    const k = this.words;
    for (let i = 0; i < 8; i++) to[o + i] = k[i];
  }

  /** Whether the 8 address words at o in from are the key's. */
  sameWords(from: Int32Array, o: number): boolean {
    const k = this.words;
    // IPv4 keys hold zeros past each address's first word (at()): only those two differ.
    if (this.family === 4) return from[o] === k[0] && from[o + 4] === k[4];
    for (let i = 0; i < 8; i++) if (from[o + i] !== k[i]) return false;
    return true;
  }
}
