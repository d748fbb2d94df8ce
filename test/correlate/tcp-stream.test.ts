// DNS over TCP read as a stream (RFC 7766 §8): pipelined messages in one segment, a message split
// across segments (the length apart from the message, a large answer over three segments), copies
// of each segment on a second interface, a missing segment, a segment with a bad checksum, and
// the bounds of what is kept between segments.

import t from 'tap';
import * as dnsPacket from 'dns-packet';
import { DnsCorrelator } from '../../src/correlate/transactions';
import { MAX_TAIL, TcpStreams } from '../../src/correlate/tcpstreams';
import { Decoder } from '../../src/decode/decoder';
import { Frame } from '../../src/decode/frame';
import { Status } from '../../src/decode/status';
import { defaultQuery, plainTcp } from '../support/packets';

const CLIENT = '10.244.1.5';
const SERVER = '10.244.0.2';
const T0 = 1_700_000_000_000_000;

/** DNS messages framed for TCP: each a 2-byte length and the message. */
function framed(msgs: dnsPacket.Packet[]): Buffer {
  return Buffer.concat(msgs.map((m) => {
    const b = dnsPacket.encode(m);
    const l = Buffer.alloc(2);
    l.writeUInt16BE(b.length);
    return Buffer.concat([l, b]);
  }));
}

/** The answer to defaultQuery(name, id): n TXT records of about 200 bytes. */
function answer(name: string, id: number, n = 1): dnsPacket.Packet {
  const answers: dnsPacket.Answer[] = [];
  for (let i = 0; i < n; i++) answers.push({ type: 'TXT', name, data: 'x'.repeat(200) + i });
  return { type: 'response', id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: [{ type: 'A', name }], answers };
}

class Stream {
  readonly c = new DnsCorrelator({ timeoutUs: 2_000_000 });
  readonly statuses: number[] = [];
  private readonly dec = new Decoder();
  private readonly f = new Frame();
  private seqOut = 1000;
  private seqIn = 50_000;
  ts = T0;

  /** The handshake, as a capture from before the connection sees it: both streams start known. */
  handshake(ifs = [0]): this {
    const syn = this.segment(Buffer.alloc(0), true, this.seqOut - 1, 'correct', 0x02);
    const synAck = this.segment(Buffer.alloc(0), false, this.seqIn - 1, 'correct', 0x12);
    for (const i of ifs) this.feed(syn, i);
    for (const i of ifs) this.feed(synAck, i);
    this.statuses.length = 0;
    return this;
  }

  /** Segments of the client's byte stream (query direction), split at the given lengths. */
  client(bytes: Buffer, cuts: number[] = [], ifs = [0]): Buffer[] {
    return this.send(bytes, cuts, ifs, true);
  }

  server(bytes: Buffer, cuts: number[] = [], ifs = [0]): Buffer[] {
    return this.send(bytes, cuts, ifs, false);
  }

  feed(seg: Buffer, ifIndex = 0): void {
    this.dec.decode(seg, 0, seg.length, seg.length, 1, 0, this.f);
    this.statuses.push(this.f.status);
    this.c.observe(seg, this.f, (this.ts += 100), ifIndex);
  }

  segment(payload: Buffer, toServer: boolean, seq: number, csum: 'correct' | 'flip' = 'correct', flags = 0x18): Buffer {
    return plainTcp(toServer
      ? { src: CLIENT, dst: SERVER, sport: 40001, dport: 53, seq, payload, csum, flags }
      : { src: SERVER, dst: CLIENT, sport: 53, dport: 40001, seq, payload, csum, flags });
  }

  private send(bytes: Buffer, cuts: number[], ifs: number[], toServer: boolean): Buffer[] {
    const segs: Buffer[] = [];
    let at = 0;
    for (const len of [...cuts, bytes.length]) {
      const piece = bytes.subarray(at, Math.min(bytes.length, len === bytes.length ? len : at + len));
      if (piece.length === 0) break;
      const seq = toServer ? this.seqOut : this.seqIn;
      const seg = this.segment(piece, toServer, seq);
      if (toServer) this.seqOut += piece.length;
      else this.seqIn += piece.length;
      for (const i of ifs) this.feed(seg, i);
      segs.push(seg);
      at += piece.length;
    }
    return segs;
  }
}

t.test('20 pipelined queries in one segment and their 20 answers in another: 20 transactions', async (t) => {
  const s = new Stream().handshake();
  const qs = Array.from({ length: 20 }, (_, i) => defaultQuery(`q${i}.lab.test`, 100 + i));
  s.client(framed(qs));
  s.server(framed(qs.map((q) => answer(q.questions![0].name, q.id!))));
  s.c.finish();
  t.equal(s.c.queries, 20);
  t.equal(s.c.responses, 20);
  t.equal(s.c.answered, 20, 'every query answered');
  t.equal(s.c.orphanResponses, 0);
  t.same(s.statuses, [Status.OK, Status.OK]);
});

t.test('the length in one segment, the message in the next (a client writing them apart)', async (t) => {
  const s = new Stream().handshake();
  const q = framed([defaultQuery('apart.lab.test', 7)]);
  s.client(q, [2]);
  s.server(framed([answer('apart.lab.test', 7)]), [2]);
  s.c.finish();
  t.equal(s.c.queries, 1);
  t.equal(s.c.answered, 1, 'answered: both messages were joined');
  t.equal(s.c.tcp.joined, 2);
  t.same(s.statuses, [Status.OK, Status.OK, Status.OK, Status.OK], 'no segment is truncated or malformed: they are whole segments');
  t.equal(s.c.tcp.bytes, 0, 'nothing kept once the messages are read');
  t.equal(s.c.tcp.size, 2, 'both directions followed');
});

t.test('a large answer over three segments, after two pipelined queries, seen on two interfaces', async (t) => {
  const s = new Stream().handshake();
  const qs = [defaultQuery('big.lab.test', 1), defaultQuery('small.lab.test', 2)];
  s.client(framed(qs), [], [0, 1]);
  const big = answer('big.lab.test', 1, 20);
  const bytes = framed([answer('small.lab.test', 2), big]);
  t.ok(bytes.length > 3000, `the answers take ${bytes.length} bytes`);
  // Three segments; the first holds the small answer whole and the big one's start. Each segment
  // is seen on interface 0, then its copy on interface 1 (underlay and vxlan device).
  s.server(bytes, [1400, 1400], [0, 1]);
  s.c.finish();
  t.equal(s.c.answered, 2, 'both answered');
  t.equal(s.c.unanswered, 0);
  t.equal(s.c.orphanResponses, 0);
  t.equal(s.c.retransmissions, 0, 'a copy on the other interface is no retransmission');
  t.equal(s.c.duplicateResponses, 0, 'the copies continue nothing and are not read again');
  t.equal(s.c.queries, 2, 'the queries once each');
  t.equal(s.c.tcp.joined, 1, 'the big answer joined from three segments');
  t.equal(s.c.tcp.bytes, 0);
});

t.test('a missing segment: the message it held is not made up, the stream reads on', async (t) => {
  const s = new Stream().handshake();
  const q = framed([defaultQuery('gap.lab.test', 9)]);
  const segs = s.client(Buffer.concat([q, framed([defaultQuery('after.lab.test', 10)])]), [10, q.length - 10], []);
  s.feed(segs[0]); // the first piece of query 9 ...
  s.feed(segs[2]); // ... its second piece never came: query 10, whole, in the third
  s.c.finish();
  t.equal(s.c.queries, 1, 'query 10 only');
  t.equal(s.c.unanswered, 1);
  t.equal(s.c.lost()[0].name, 'after.lab.test.');
  t.equal(s.c.tcp.gaps, 1, 'one message lost to the missing segment');
});

t.test('a segment with a bad checksum is not part of the stream; its retransmission is', async (t) => {
  const s = new Stream().handshake();
  const bytes = framed([defaultQuery('retx.lab.test', 11)]);
  const first = s.segment(bytes.subarray(0, 10), true, 1000);
  const badRest = s.segment(bytes.subarray(10), true, 1010, 'flip');
  const rest = s.segment(bytes.subarray(10), true, 1010);
  s.feed(first);
  s.feed(badRest);
  t.equal(s.c.queries, 0, 'the damaged segment completes nothing');
  s.feed(rest);
  t.equal(s.c.queries, 1, 'the good one does');
  s.c.finish();
});

t.test('bounds: at most `flows` flows, 64 KiB a message, maxBytes held in all; quiet flows are let go', async (t) => {
  const streams = new TcpStreams(5_000_000, 4, 3000);
  const b = Buffer.alloc(2000, 7);
  const key = (i: number) => Buffer.from([10, 0, 0, i, 10, 0, 0, 100]);
  const find = (st: TcpStreams, i: number, now = T0 + 20) => st.find(key(i), 4, 0, 4, 40000, 53, now);
  for (let i = 0; i < 6; i++) streams.track(find(streams, i), b, 0, 500, 1000, T0 + i);
  t.equal(streams.size, 4, 'four flows at most');
  t.equal(streams.dropped, 2, 'the two least recently seen gave way, with their tails');
  t.equal(find(streams, 0), -1, 'flow 0 went');
  const f5 = find(streams, 5);
  t.ok(f5 >= 0, 'flow 5 is followed');
  t.equal(streams.next(f5), 1000);
  t.equal(streams.bytes, 2000);
  t.equal(streams.append(f5, b, 0, 2000, 3000, T0 + 10), false, 'past 3000 bytes held in all: its tail is given up');
  t.equal(streams.bytes, 1500);
  t.equal(streams.size, 4, 'the flow is still followed');
  t.equal(streams.next(f5), 3000, 'from where the segment ended');
  const big = new TcpStreams(5_000_000, 2, 1 << 20);
  const f = big.track(find(big, 1), Buffer.alloc(60_000), 0, 60_000, 0, T0);
  t.equal(big.append(f, Buffer.alloc(MAX_TAIL - 60_000), 0, MAX_TAIL - 60_000, 1, T0), true, 'a whole message of 2 + 65535 bytes');
  t.equal(big.append(f, b, 0, 1, 2, T0), true, 'and a byte of the next: held until read');
  t.equal(big.append(f, b, 0, 1, 3, T0), false, 'a tail past 2 + 65535 bytes is no DNS message: given up');
  const g = big.track(find(big, 2), b, 0, 10, 10, T0);
  t.equal(big.append(g, Buffer.alloc(70_000), 0, 70_000, 70_010, T0), false, 'nor a segment over 64 KiB');
  for (const i of [2, 3, 4, 5]) t.equal(find(streams, i, T0 + 10_000_000), -1, `flow ${i}, quiet for the timeout, is no longer followed`);
  t.equal(streams.size, 0);
  t.equal(streams.gaps, 3, 'the tails of flows 2 to 4 never completed');
  t.equal(streams.bytes, 0);
});

t.test('a one-byte segment ends a message (the last byte past the MSS)', async (t) => {
  const s = new Stream().handshake();
  s.client(framed([defaultQuery('onebyte.lab.test', 21)]));
  const bytes = framed([answer('onebyte.lab.test', 21, 7)]);
  s.server(bytes, [bytes.length - 1]);
  s.c.finish();
  t.equal(s.c.answered, 1, 'answered: its last byte came alone');
  t.equal(s.c.tcp.gaps, 0);
});

t.test('a new connection on the same ports starts at its own SYN, and FIN ends a flow', async (t) => {
  const s = new Stream().handshake();
  s.client(framed([defaultQuery('first.lab.test', 31)]));
  s.server(framed([answer('first.lab.test', 31)]));
  // The client closes; a new connection reuses the port, its ISN far behind the old one.
  s.feed(s.segment(Buffer.alloc(0), true, 999_000_000, 'correct', 0x11));
  const syn2 = s.segment(Buffer.alloc(0), true, 99, 'correct', 0x02);
  s.feed(syn2);
  const q2 = framed([defaultQuery('second.lab.test', 32)]);
  s.feed(s.segment(q2, true, 100));
  s.feed(s.segment(Buffer.alloc(0), false, 7, 'correct', 0x12));
  s.feed(s.segment(framed([answer('second.lab.test', 32)]), false, 8));
  s.c.finish();
  t.equal(s.c.queries, 2, 'the second connection\'s query is read');
  t.equal(s.c.answered, 2);
});

t.test('a retransmission that carries new bytes too: the new message once, the old one not again', async (t) => {
  const s = new Stream().handshake();
  const q1 = framed([defaultQuery('old.lab.test', 41)]);
  const q2 = framed([defaultQuery('new.lab.test', 42)]);
  s.feed(s.segment(q1, true, 1000));
  s.feed(s.segment(Buffer.concat([q1, q2]), true, 1000)); // unacknowledged q1 sent again with q2
  s.c.finish();
  t.equal(s.c.queries, 2, 'two queries, not three');
  t.equal(s.c.retransmissions, 0);
});

t.test('followed from mid-connection: a segment that starts mid-message makes up nothing', async (t) => {
  const s = new Stream(); // no handshake seen: the capture started during the connection
  const a = framed([answer('mid.lab.test', 51, 10)]);
  const b = framed([defaultQuery('next.lab.test', 52)]);
  s.feed(s.segment(a.subarray(700), true, 5700)); // the end of a message whose start was not seen
  s.feed(s.segment(b, true, 5700 + a.length - 700));
  s.c.finish();
  t.equal(s.c.queries, 1, 'the next whole message is read');
  t.equal(s.c.unkeyed + s.c.orphanResponses, 0, 'no message made of the middle of one');
  t.equal(s.c.lost()[0]?.name, 'next.lab.test.');
});
