// DNS message header and first question, RFC 1035 §4.1.
//
//   |                      ID                       |
//   |QR|   Opcode  |AA|TC|RD|RA|   Z    |   RCODE   |
//   |                    QDCOUNT                    |
//   |                    ANCOUNT                    |
//   |                    NSCOUNT                    |
//   |                    ARCOUNT                    |
//   then QNAME (labels), QTYPE, QCLASS.

import { DnsView } from './frame';
import { Status } from './status';

const HEADER_LEN = 12;
/** RFC 1035 §3.1: a name is at most 255 octets on the wire. */
export const MAX_NAME_LEN = 255;
/** Compression pointers followed before the name is called a loop. */
const MAX_POINTER_HOPS = 16;

/**
 * Decodes the header and the first question of the DNS message at o. dEnd is where the message
 * ends on the wire (the UDP payload's end), capEnd where the captured bytes end. Compression
 * pointers must point strictly backwards (RFC 1035 §4.1.4 says "prior occurrence"), and at most
 * MAX_POINTER_HOPS are followed. The name is hashed lower-cased, not copied.
 */
export function decodeDns(b: Uint8Array, o: number, capEnd: number, dEnd: number, d: DnsView): Status {
  if (o + HEADER_LEN > dEnd) return Status.DNS_HEADER_OVERRUN;
  if (o + HEADER_LEN > capEnd) return Status.TRUNCATED;
  const flags = (b[o + 2] << 8) | b[o + 3];
  d.present = true;
  d.msgOffset = o;
  d.id = (b[o] << 8) | b[o + 1];
  d.qr = flags >>> 15;
  d.opcode = (flags >>> 11) & 0x0f;
  d.tc = (flags >>> 9) & 1;
  d.rcode = flags & 0x0f;
  d.qdcount = (b[o + 4] << 8) | b[o + 5];
  if (d.qdcount === 0) {
    d.keyed = true;
    return Status.OK;
  }

  let p = o + HEADER_LEN;
  let after = -1; // where the question continues once a pointer was followed
  let hops = 0;
  let nameLen = 1; // the root label's length octet
  let h1 = 0x811c9dc5 | 0; // FNV-1a offset basis
  let h2 = 0x9747b28c | 0;
  for (;;) {
    if (p >= dEnd) return Status.DNS_NAME_OVERRUN;
    if (p >= capEnd) return Status.TRUNCATED;
    const len = b[p];
    if (len === 0) {
      p++;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      // Pointer: 14-bit offset from the message start, RFC 1035 §4.1.4.
      if (p + 2 > dEnd) return Status.DNS_NAME_OVERRUN;
      if (p + 2 > capEnd) return Status.TRUNCATED;
      const target = o + (((len & 0x3f) << 8) | b[p + 1]);
      if (target >= p) return Status.DNS_POINTER_FORWARD;
      if (++hops > MAX_POINTER_HOPS) return Status.DNS_POINTER_HOPS_EXCEEDED;
      if (after < 0) after = p + 2;
      p = target;
      continue;
    }
    if (kind !== 0) return Status.DNS_LABEL_TYPE_RESERVED; // 0x40 and 0x80: RFC 6891 §5
    nameLen += len + 1;
    if (nameLen > MAX_NAME_LEN) return Status.DNS_NAME_TOO_LONG;
    const e = p + 1 + len;
    if (e > dEnd) return Status.DNS_NAME_OVERRUN;
    if (e > capEnd) return Status.TRUNCATED;
    h1 = Math.imul(h1 ^ len, 0x01000193);
    h2 = Math.imul(h2 ^ len, 0x5bd1e995);
    for (let i = p + 1; i < e; i++) {
      let c = b[i];
      if (c >= 0x41 && c <= 0x5a) c |= 0x20; // ASCII case folding, RFC 4343
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    p = e;
  }
  const q = after < 0 ? p : after;
  if (q + 4 > dEnd) return Status.DNS_QUESTION_OVERRUN;
  if (q + 4 > capEnd) return Status.TRUNCATED;
  d.nameOffset = o + HEADER_LEN;
  d.nameLength = nameLen;
  d.nameHash1 = h1 >>> 0;
  d.nameHash2 = h2 >>> 0;
  d.qtype = (b[q] << 8) | b[q + 1];
  d.qclass = (b[q + 2] << 8) | b[q + 3];
  d.keyed = true;
  if (d.qr === 1 && ((b[o + 10] << 8) | b[o + 11]) > 0) d.rcode = extendedRcode(b, o, q + 4, capEnd < dEnd ? capEnd : dEnd, d.rcode);
  return Status.OK;
}

/**
 * The response's RCODE with its EDNS extension (RFC 6891 §6.1.3): the OPT record's TTL carries
 * the upper eight bits of a 12-bit RCODE, so BADVERS (16) and BADCOOKIE (23) are not read as
 * NOERROR and YXRRSET. p is where the first question ended; the other questions, the answers and
 * the authority records are skipped to the additional section. A message cut short or damaged
 * anywhere on the way keeps the header's RCODE: the extension is read only when it is there.
 */
function extendedRcode(b: Uint8Array, o: number, p: number, end: number, rcode: number): number {
  const count = (at: number) => (b[o + at] << 8) | b[o + at + 1];
  for (let i = 1; i < count(4); i++) {
    p = skipName(b, p, end);
    if (p < 0 || p + 4 > end) return rcode;
    p += 4;
  }
  const before = count(6) + count(8);
  const all = before + count(10);
  for (let i = 0; i < all; i++) {
    p = skipName(b, p, end);
    if (p < 0 || p + 10 > end) return rcode;
    const type = (b[p] << 8) | b[p + 1];
    const rdlen = (b[p + 8] << 8) | b[p + 9];
    if (i >= before && type === 41) return (b[p + 4] << 4) | rcode;
    p += 10 + rdlen;
  }
  return rcode;
}

/** Where the name at p ends (after its root label or its first pointer), or -1 past end. */
function skipName(b: Uint8Array, p: number, end: number): number {
  for (let labels = 0; p < end && labels < 128; labels++) {
    const len = b[p];
    if (len === 0) return p + 1;
    if ((len & 0xc0) === 0xc0) return p + 2 <= end ? p + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    p += len + 1;
  }
  return -1;
}

/**
 * Decodes the next DNS message of the TCP segment d came from into d (pipelined messages, RFC
 * 7766 §6.2.1.1), keeping d.inner. False when there is none: the segment ends, the next message
 * runs past it (split across segments, not reassembled), or it does not decode. Each call moves
 * forward by at least one message header, so a caller's loop ends with the segment.
 */
export function nextTcpMessage(b: Uint8Array, d: DnsView): boolean {
  const p = d.tcpNext;
  const end = d.tcpEnd;
  if (p < 0 || p + 2 > end) return false;
  const msgEnd = p + 2 + ((b[p] << 8) | b[p + 1]);
  if (msgEnd > end) return false;
  const inner = d.inner;
  d.reset();
  if (decodeDns(b, p + 2, msgEnd, msgEnd, d) !== Status.OK) return false;
  d.inner = inner;
  if (msgEnd + 2 <= end) {
    d.tcpNext = msgEnd;
    d.tcpEnd = end;
  }
  return true;
}

/**
 * Copies the question name of an already decoded message into dst at dstOffset, uncompressed and
 * lower-cased, and returns its length (the DnsView's nameLength). Call only after decodeDns
 * returned OK: it trusts the checks made there.
 */
export function copyName(b: Uint8Array, d: DnsView, dst: Uint8Array, dstOffset: number): number {
  let p = d.nameOffset;
  let w = dstOffset;
  for (let hops = 0; hops <= MAX_POINTER_HOPS; ) {
    const len = b[p];
    if (len === 0) break;
    if ((len & 0xc0) === 0xc0) {
      p = d.msgOffset + (((len & 0x3f) << 8) | b[p + 1]);
      hops++;
      continue;
    }
    dst[w++] = len;
    for (let i = p + 1, e = p + 1 + len; i < e; i++) {
      const c = b[i];
      dst[w++] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    }
    p += len + 1;
  }
  dst[w++] = 0;
  return w - dstOffset;
}

/** Presentation form of an uncompressed wire name ("www.example.com."), escaping as RFC 4343 §2.1. */
export function nameToString(b: Uint8Array, o: number, len: number): string {
  const e = o + len;
  if (len <= 1) return '.';
  // Built as character codes and made a string once: a string grown one character at a time is
  // a chain of V8 cons-strings, which the lost lists and top names kept alive after a flood
  // (about 67 MiB of them).
  const out = NAME_CHARS;
  let n = 0;
  while (o < e) {
    const l = b[o++];
    if (l === 0) break;
    for (let i = 0; i < l && o < e; i++) {
      const c = b[o++];
      if (c === 0x2e || c === 0x5c) {
        out[n++] = 0x5c;
        out[n++] = c;
      } else if (c > 0x20 && c < 0x7f) {
        out[n++] = c;
      } else {
        out[n++] = 0x5c;
        out[n++] = 0x30 + Math.floor(c / 100);
        out[n++] = 0x30 + (Math.floor(c / 10) % 10);
        out[n++] = 0x30 + (c % 10);
      }
    }
    out[n++] = 0x2e;
  }
  return String.fromCharCode.apply(null, Array.from(out.subarray(0, n)));
}

/** Scratch for nameToString: a name is at most 255 octets, each at most four characters. */
const NAME_CHARS = new Uint16Array(MAX_NAME_LEN * 4);

const QTYPE_NAMES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV',
  35: 'NAPTR', 41: 'OPT', 43: 'DS', 46: 'RRSIG', 48: 'DNSKEY', 64: 'SVCB', 65: 'HTTPS', 255: 'ANY',
};
export function qtypeName(t: number): string {
  return QTYPE_NAMES[t] ?? `TYPE${t}`;
}

// IANA DNS RCODEs (RFC 1035, 2136, 6891, 2845, 2930, 4635, 7873); 16 is BADVERS in an OPT
// record, BADSIG in a TSIG one: a response carries the OPT one here.
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE', 'DSOTYPENI',
  'RCODE12', 'RCODE13', 'RCODE14', 'RCODE15', 'BADVERS', 'BADKEY', 'BADTIME', 'BADMODE', 'BADNAME', 'BADALG', 'BADTRUNC', 'BADCOOKIE'];
/** Slots counted per RCODE: the named ones, then one for every other (extended) value. */
export const RCODE_SLOTS = RCODE_NAMES.length + 1;
const RCODE_OTHER = RCODE_NAMES.length;
/** The counter slot of an RCODE (0 to 4095): its own where named, else the last. */
export function rcodeSlot(r: number): number {
  return r < RCODE_OTHER ? r : RCODE_OTHER;
}
export function rcodeName(slot: number): string {
  return RCODE_NAMES[slot] ?? 'OTHER';
}
