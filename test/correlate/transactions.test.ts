// The DNS correlator, fed with real packets: the 20 dig queries and answers of
// test/fixtures/vxlan4789-rx.pcap (VXLAN between two namespaces, real checksums), replayed in
// orders, copies and damages chosen per test, with the clock driven by the timestamps given.

import t from 'tap';
import { join } from 'node:path';
import { readCaptureFile } from '../../src/capture/replay';
import { CAUSE_CHECKSUM, CAUSE_KERNEL_DROP, LOST_CAUSES, ServerStats } from '../../src/correlate/servers';
import { DnsCorrelator, CorrelatorOptions, KernelDrop } from '../../src/correlate/transactions';
import { Decoder } from '../../src/decode/decoder';
import { Frame, Layer } from '../../src/decode/frame';

const FIXTURE = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'vxlan4789-rx.pcap');

interface Pkt { data: Buffer; query: boolean; id: number; }

function load(): { queries: Pkt[]; responses: Pkt[] } {
  const dec = new Decoder();
  const f = new Frame();
  const queries: Pkt[] = [];
  const responses: Pkt[] = [];
  readCaptureFile(FIXTURE, (r) => {
    const data = Buffer.from(r.buf.subarray(r.off, r.off + r.capLen));
    dec.decode(data, 0, data.length, r.wireLen, r.linkType, r.dir, f);
    const p = { data, query: f.dns.qr === 0, id: f.dns.id };
    (p.query ? queries : responses).push(p);
  });
  // Pair them: the i-th response answers the i-th query.
  responses.sort((a, b) => queries.findIndex((q) => q.id === a.id) - queries.findIndex((q) => q.id === b.id));
  return { queries, responses };
}

const { queries, responses } = load();
const T0 = 1_700_000_000_000_000;

/** Offsets in an IPv4/IPv4 VXLAN frame without options. */
const OUTER_UDP_CSUM = 14 + 20 + 6;
const INNER_UDP_CSUM_LO = 14 + 20 + 8 + 8 + 14 + 20 + 7;

/**
 * The frame as a broken offload delivers it: inner UDP checksum wrong, outer checksum 0 (Linux
 * vxlan's default, noudpcsum), so the inner checksum is what the receiver drops it for.
 */
function damaged(p: Pkt): Buffer {
  const b = Buffer.from(p.data);
  b[INNER_UDP_CSUM_LO] ^= 0x01;
  b[OUTER_UDP_CSUM] = 0;
  b[OUTER_UDP_CSUM + 1] = 0;
  return b;
}

class Harness {
  readonly c: DnsCorrelator;
  private readonly dec = new Decoder();
  private readonly f = new Frame();
  constructor(opts: CorrelatorOptions = {}) {
    this.c = new DnsCorrelator(opts);
  }
  feed(data: Buffer, tsUs: number, ifIndex = 0): void {
    this.dec.decode(data, 0, data.length, data.length, 1, 0, this.f);
    this.c.observe(data, this.f, tsUs, ifIndex);
  }
}

t.test('the fixture has 20 queries, each answered once', async (t) => {
  t.equal(queries.length, 20);
  t.equal(responses.length, 20);
  for (let i = 0; i < 20; i++) t.equal(responses[i].id, queries[i].id, `pair ${i}`);
});

t.test('every query answered: answered 20, latency measured from the first query', async (t) => {
  const h = new Harness();
  for (let i = 0; i < 20; i++) {
    h.feed(queries[i].data, T0 + i * 1000);
    h.feed(responses[i].data, T0 + i * 1000 + 250 + i);
  }
  h.c.finish();
  const c = h.c;
  t.equal(c.queries, 20);
  t.equal(c.responses, 20);
  t.equal(c.answeredA + c.answeredAAAA, 20, 'answers counted by question type (the fixture asks A and AAAA)');
  t.equal(c.answered, 20);
  t.equal(c.unanswered, 0);
  t.equal(c.lostToChecksum, 0);
  t.equal(c.rcodes[0], 20, 'NOERROR');
  t.equal(c.latency.count, 20);
  t.equal(c.latency.max, 269);
  t.ok(Math.abs(c.latency.quantile(0.5) - 259) <= 259 / 32, `p50 ${c.latency.quantile(0.5)} within 1/32 of 259`);
  t.equal(c.inFlight, 0, 'table empty after finish');
  t.same(c.lost(), []);
});

t.test('a damaged query with no answer is lost to checksum, with its name and layer', async (t) => {
  const h = new Harness();
  for (let i = 0; i < 20; i++) {
    if (i % 4 === 0) {
      h.feed(damaged(queries[i]), T0 + i * 1000);
    } else {
      h.feed(queries[i].data, T0 + i * 1000);
      h.feed(responses[i].data, T0 + i * 1000 + 300);
    }
  }
  h.c.finish();
  const c = h.c;
  t.equal(c.answered, 15);
  t.equal(c.unanswered, 5);
  t.equal(c.lostToChecksum, 5);
  t.equal(c.lostByLayer[Layer.UDP], 0, 'outer udp (checksum 0) is not the failing layer');
  t.equal(c.lostByLayer[Layer.VXLAN_UDP], 5);
  const lost = c.lost();
  t.equal(lost.length, 5);
  t.equal(lost[0].layer, 'vxlan.udp', 'failing layer named');
  t.equal(lost[0].pseudoOnly, false);
  t.equal(lost[0].cause, 'checksum');
  t.equal(lost[0].client, '10.244.0.1');
  t.equal(lost[0].server, '10.244.0.2');
  t.equal(lost[0].serverPort, 53);
  t.match(lost[0].name, /^q\d\d\.lab\.test\.$/);
  t.equal(lost[0].qtype, 'A');
  t.ok(lost[0].tsUs > lost[4].tsUs, 'newest first');
  t.equal(c.topLostNames(10).length, 5);
});

t.test('with the outer checksum on, the outermost failing layer is named', async (t) => {
  const h = new Harness();
  const b = Buffer.from(queries[0].data);
  b[INNER_UDP_CSUM_LO] ^= 0x01; // the outer UDP checksum covers this byte too
  h.feed(b, T0);
  h.c.finish();
  t.equal(h.c.lost()[0].layer, 'udp');
  t.equal(h.c.lostByLayer[Layer.UDP], 1);
});

t.test('a bad response is no answer; a later good one is', async (t) => {
  const h = new Harness();
  h.feed(queries[0].data, T0);
  h.feed(damaged(responses[0]), T0 + 100);
  h.feed(queries[1].data, T0 + 200);
  h.feed(damaged(responses[1]), T0 + 300);
  h.feed(queries[1].data, T0 + 1_000_200); // the client retries
  h.feed(responses[1].data, T0 + 1_000_300);
  h.c.finish();
  t.equal(h.c.answered, 1, 'query 1 answered after its retry');
  t.equal(h.c.unanswered, 1);
  t.equal(h.c.lostToChecksum, 1, 'query 0 lost: its only response was bad');
  t.equal(h.c.retransmissions, 1);
  t.equal(h.c.lost()[0].queries, 1);
});

t.test('retransmissions, copies on another interface, duplicates and orphans', async (t) => {
  const h = new Harness();
  h.feed(queries[0].data, T0, 0);
  h.feed(queries[0].data, T0 + 150, 1); // the same packet seen on the vxlan device
  h.feed(queries[0].data, T0 + 1_000_000, 0); // a real retry, one second later
  h.feed(responses[0].data, T0 + 1_000_400, 0);
  h.feed(responses[0].data, T0 + 1_000_450, 1); // the answer seen again
  h.feed(responses[5].data, T0 + 1_000_500, 0); // no query for it was captured
  h.c.finish();
  const c = h.c;
  t.equal(c.queries, 3, 'every query packet counted');
  t.equal(c.responses, 3);
  t.equal(c.retransmissions, 1, 'only the retry is a retransmission');
  t.equal(c.duplicateResponses, 1);
  t.equal(c.orphanResponses, 1);
  t.equal(c.answered + c.unanswered, 1, 'one transaction');
  t.equal(c.latency.max, 1_000_400, 'latency from the first query');
});

t.test('timeouts follow the clock given: sweep is injectable', async (t) => {
  const h = new Harness({ timeoutUs: 2_000_000 });
  h.feed(queries[0].data, T0);
  h.feed(queries[1].data, T0 + 500_000);
  h.c.sweep(T0 + 1_999_999);
  t.equal(h.c.unanswered, 0, 'not yet');
  h.c.sweep(T0 + 2_000_000);
  t.equal(h.c.unanswered, 1, 'the first timed out');
  t.equal(h.c.lost()[0].cause, 'timeout');
  // A response after the timeout finds nothing: it waits for a query that never comes, and
  // leaves as an orphan, not an answer.
  h.feed(responses[0].data, T0 + 2_100_000);
  h.feed(responses[1].data, T0 + 2_200_000);
  h.c.finish();
  t.equal(h.c.orphanResponses, 1);
  t.equal(h.c.answered, 1);
  t.equal(h.c.unanswered, 1);
});

t.test('observe sweeps by itself as capture time advances', async (t) => {
  const h = new Harness({ timeoutUs: 1_000_000 });
  h.feed(queries[0].data, T0);
  h.feed(queries[1].data, T0 + 5_000_000);
  t.equal(h.c.unanswered, 1);
  t.equal(h.c.inFlight, 1);
});

t.test('a full table evicts, counts it, and keeps the invariants', async (t) => {
  const h = new Harness({ capacity: 4 });
  for (let i = 0; i < 20; i++) h.feed(queries[i].data, T0 + i);
  t.equal(h.c.inFlight, 4);
  t.equal(h.c.evicted, 16);
  for (let i = 16; i < 20; i++) h.feed(responses[i].data, T0 + 100 + i);
  h.c.finish();
  t.equal(h.c.answered, 4, 'the four newest survived and were answered');
  t.equal(h.c.unanswered, 16);
  t.equal(h.c.answered + h.c.unanswered, 20);
  t.equal(h.c.lost()[0].cause, 'evicted');
});

t.test('answered transactions give way before pending ones', async (t) => {
  const h = new Harness({ capacity: 4 });
  for (let i = 0; i < 3; i++) {
    h.feed(queries[i].data, T0 + i * 10);
    h.feed(responses[i].data, T0 + i * 10 + 5);
  }
  h.feed(queries[3].data, T0 + 100); // table now full: 3 answered, 1 pending
  h.feed(queries[4].data, T0 + 110);
  h.feed(queries[5].data, T0 + 120);
  t.equal(h.c.evicted, 0, 'no pending transaction was evicted');
  t.equal(h.c.answered, 2, 'two lingering answered ones made room');
  h.c.finish();
  t.equal(h.c.answered + h.c.unanswered, 6);
});

// Issue 17's reproduction, as the agent's batches hand it over: each interface and direction in
// batches of its own, so one interface's copy of an answered query can come after a flood of
// unanswered queries has filled the table and pushed the answered transaction out. That copy
// must not open a new transaction, which would end lost.
t.test('a flood of unanswered queries cannot make an answered transaction look lost', async (t) => {
  const h = new Harness({ capacity: 4, timeoutUs: 5_000_000 });
  h.feed(responses[0].data, T0, 0); // eth0 tx batch first: the answer waits for its query
  h.feed(queries[0].data, T0 + 10, 0); // eth0 rx: answered
  h.feed(responses[0].data, T0 + 20, 1); // vxlan0 tx: a copy of the answer
  for (let i = 1; i < 12; i++) h.feed(queries[i].data, T0 + 100 + i, 2); // the flood, unanswered
  t.ok(h.c.evicted > 0, 'the flood filled the table and evicted');
  h.feed(queries[0].data, T0 + 500, 1); // vxlan0 rx: the query's other copy, after the flood
  h.c.finish();
  t.equal(h.c.answered, 1, 'the real query is answered');
  t.equal(h.c.answered + h.c.unanswered, 12, 'one transaction per distinct query: the late copy opened none');
  t.notOk(h.c.lost().some((l) => l.id === queries[0].id), 'and it is not in the lost list');
  t.equal(h.c.tombstoneHits, 1, 'the copy met the tombstone the eviction left');
  // Past the timeout the tombstone is gone: a query with that key then is a new transaction.
  const late = new Harness({ capacity: 2, timeoutUs: 1000 });
  late.feed(queries[0].data, T0, 0);
  late.feed(responses[0].data, T0 + 10, 0);
  late.feed(queries[1].data, T0 + 20, 0);
  late.feed(queries[2].data, T0 + 30, 0); // evicts the answered one
  late.feed(queries[0].data, T0 + 5000, 0);
  t.equal(late.c.tombstoneHits, 0, 'a tombstone lasts the timeout, no longer');
});

t.test('the lost list is bounded and newest first', async (t) => {
  const h = new Harness({ lostListSize: 3 });
  for (let i = 0; i < 10; i++) h.feed(queries[i].data, T0 + i);
  h.c.finish();
  const lost = h.c.lost();
  t.equal(lost.length, 3);
  t.equal(h.c.unanswered, 10);
  t.ok(lost[0].tsUs >= lost[1].tsUs && lost[1].tsUs >= lost[2].tsUs);
});

t.test('many transactions through a small table: index stays consistent', async (t) => {
  // Queries and answers interleaved with timeouts and evictions over 20 rounds; every response
  // that follows its query in time must still find it.
  const h = new Harness({ capacity: 8, timeoutUs: 50 });
  let ts = T0;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 20; i++) h.feed(queries[i].data, (ts += 1));
    for (let i = 12; i < 20; i++) h.feed(responses[i].data, (ts += 1));
    ts += 1000;
    h.c.sweep(ts);
  }
  h.c.finish();
  t.equal(h.c.answered + h.c.unanswered, 400, 'every query of every round is one transaction');
  t.equal(h.c.answered, 8 * 20, 'the 8 newest of each round were answered');
  t.equal(h.c.orphanResponses, 0);
  t.equal(h.c.inFlight, 0);
});

t.test('an inbound pseudo-header-only inner checksum is blamed, not the outer one computed over it', async (t) => {
  // Real bytes from test/fixtures/vxlan-tx-offload-on.pcap (sender side, offload on): the inner UDP
  // field holds the pseudo-header sum and the outer checksum was computed by local checksum
  // offload. Decoded as received, both fail; the cause is the inner offload that never completed.
  const { readCaptureFile: read } = require('../../src/capture/replay');
  const path = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'vxlan-tx-offload-on.pcap');
  const frames: Buffer[] = [];
  read(path, (r: { buf: Buffer; off: number; capLen: number }) => frames.push(Buffer.from(r.buf.subarray(r.off, r.off + r.capLen))));
  const dec = new Decoder();
  const f = new Frame();
  const c = new DnsCorrelator();
  dec.decode(frames[0], 0, frames[0].length, frames[0].length, 1, 1 /* received */, f);
  t.equal(f.csum[Layer.UDP], 1, 'outer bad when received');
  t.equal(f.csum[Layer.VXLAN_UDP], 1, 'inner bad when received');
  t.equal(f.pseudoOnlyBad, 1 << Layer.VXLAN_UDP);
  c.observe(frames[0], f, T0, 0);
  c.finish();
  t.equal(c.lost()[0].layer, 'vxlan.udp');
  t.equal(c.lost()[0].pseudoOnly, true);
  t.equal(c.lostPseudoOnly[Layer.VXLAN_UDP], 1);
});

t.test('an answer handed over before its query (live captures batch each direction apart)', async (t) => {
  const servers = new ServerStats();
  const h = new Harness({ servers, timeoutUs: 5_000_000 });
  // Capture times are right, arrival order is not: both copies of the answer come first.
  h.feed(responses[0].data, T0 + 400, 2);
  h.feed(responses[0].data, T0 + 450, 3);
  h.feed(queries[0].data, T0, 0);
  h.feed(queries[0].data, T0 + 50, 1);
  // An answer whose query never comes stays an orphan, not a transaction.
  h.feed(responses[1].data, T0 + 600, 2);
  h.c.sweep(T0 + 10_000_000);
  const c = h.c;
  t.equal(c.answered, 1, 'answered');
  t.equal(c.unanswered, 0, 'not lost');
  t.equal(c.orphanResponses, 1, 'the answer without a query');
  t.equal(c.duplicateResponses, 1);
  t.equal(c.retransmissions, 0, 'the query copy on the other interface is the same packet');
  t.equal(c.latency.max, 400, 'latency from the query to the answer');
  t.equal(servers.queries[0], 1, 'one query for the server');
  t.equal(servers.latencyCount[0], 1);
  t.equal(c.inFlight, 0);
});

// --- kernel drops (the eBPF tracer's events) ---

const REASONS = ['not_specified', 'no_socket', 'udp_csum', 'netfilter_drop'];
const reasonName = (r: number) => REASONS[r];

/**
 * What the tracer reports for packet p: its encapsulated flow and the DNS message's first bytes
 * (at most 127, as the tracer copies; fewer with `keep`).
 */
function kernelDrop(p: Pkt, reason: number, keep = 127): KernelDrop {
  const f = new Frame();
  new Decoder().decode(p.data, 0, p.data.length, p.data.length, 1, 0, f);
  const s = f.inner;
  return {
    b: p.data,
    family: s.ipVersion,
    srcOffset: s.srcOffset,
    dstOffset: s.ipOffset + 16,
    sport: s.srcPort,
    dport: s.dstPort,
    dnsOffset: f.dns.msgOffset,
    dnsLength: Math.min(keep, p.data.length - f.dns.msgOffset),
    reason,
  };
}

t.test('a query the kernel dropped is lost with cause kernel_drop and the reason, whichever comes first', async (t) => {
  const servers = new ServerStats(16);
  const h = new Harness({ reasonName, servers });
  // Query 0: the drop event before the capture hands the query over (the usual order live).
  t.equal(h.c.kernelDrop(kernelDrop(queries[0], 3), T0), false, 'not in the table yet: held');
  h.feed(queries[0].data, T0 + 50_000);
  // Query 1: the query first, then the drop.
  h.feed(queries[1].data, T0 + 1000);
  t.equal(h.c.kernelDrop(kernelDrop(queries[1], 1), T0 + 1100), true, 'found at once');
  // Query 2: answered.
  h.feed(queries[2].data, T0 + 2000);
  h.feed(responses[2].data, T0 + 2300);
  h.c.finish();
  const c = h.c;
  t.equal(c.unanswered, 2);
  t.equal(c.lostToKernelDrop, 2);
  t.equal(c.lostToChecksum, 0);
  t.equal(c.kernelDrops, 2);
  t.equal(c.kernelDropsMatched, 2);
  t.equal(c.kernelDropsUnmatched, 0);
  const lost = c.lost();
  t.same(lost.map((l) => [l.id, l.cause, l.reason]).sort(), [[queries[0].id, 'kernel_drop', 'netfilter_drop'], [queries[1].id, 'kernel_drop', 'no_socket']].sort());
  const srv = servers.table.lookupKey(new Int32Array([0x0af40002, 0, 0, 0]), 4);
  t.equal(servers.lost[srv * LOST_CAUSES.length + CAUSE_KERNEL_DROP], 2, 'per server, cause kernel_drop');
});

t.test('a checksum drop seen on the wire and by the kernel is one loss, cause checksum, with the reason', async (t) => {
  const servers = new ServerStats(16);
  const h = new Harness({ reasonName, servers });
  const bad = { ...queries[0], data: damaged(queries[0]) };
  h.c.kernelDrop(kernelDrop(bad, 2), T0);
  h.feed(bad.data, T0 + 30_000);
  h.c.finish();
  t.equal(h.c.unanswered, 1, 'one transaction lost');
  t.equal(h.c.lostToChecksum, 1);
  t.equal(h.c.lostToKernelDrop, 0, 'not a second time as a kernel drop');
  const l = h.c.lost()[0];
  t.equal(l.cause, 'checksum');
  t.equal(l.layer, 'vxlan.udp');
  t.equal(l.reason, 'udp_csum', 'the kernel confirms why');
  const srv = servers.table.lookupKey(new Int32Array([0x0af40002, 0, 0, 0]), 4);
  t.equal(servers.lost[srv * LOST_CAUSES.length + CAUSE_CHECKSUM], 1);
  t.equal(servers.lost[srv * LOST_CAUSES.length + CAUSE_KERNEL_DROP], 0);
});

t.test('a dropped first query whose retransmission is answered is not lost', async (t) => {
  const h = new Harness({ reasonName });
  h.c.kernelDrop(kernelDrop(queries[0], 1), T0);
  h.feed(queries[0].data, T0 + 10_000);
  h.feed(queries[0].data, T0 + 1_000_000, 0); // the client's retry, same ID and question
  h.feed(responses[0].data, T0 + 1_000_300);
  h.c.finish();
  t.equal(h.c.answered, 1);
  t.equal(h.c.unanswered, 0);
  t.equal(h.c.kernelDropsMatched, 1);
});

t.test('a dropped response marks its transaction too', async (t) => {
  const h = new Harness({ reasonName });
  h.feed(queries[0].data, T0);
  t.equal(h.c.kernelDrop(kernelDrop(responses[0], 2), T0 + 300), true, 'keyed the other way round by its QR bit');
  h.c.finish();
  t.equal(h.c.lost()[0].cause, 'kernel_drop');
  t.equal(h.c.lost()[0].reason, 'udp_csum');
});

t.test('a question cut short still finds its transaction by addresses, ports and ID', async (t) => {
  const h = new Harness({ reasonName });
  h.feed(queries[0].data, T0);
  h.feed(queries[1].data, T0 + 10);
  t.equal(h.c.kernelDrop(kernelDrop(queries[1], 1, 14), T0 + 20), true, 'header and two bytes of the name');
  h.c.finish();
  t.same(h.c.lost().filter((l) => l.cause === 'kernel_drop').map((l) => l.id), [queries[1].id]);
});

t.test('drops that never meet their transaction are counted unmatched after the timeout', async (t) => {
  const h = new Harness({ reasonName, timeoutUs: 1_000_000 });
  h.c.kernelDrop(kernelDrop(queries[0], 1), T0);
  h.c.kernelDrop(kernelDrop(queries[1], 1, 5), T0); // shorter than a DNS header: never keyed
  t.equal(h.c.kernelDropsUnmatched, 1, 'the unkeyable one at once');
  h.c.sweep(T0 + 999_000);
  t.equal(h.c.kernelDropsUnmatched, 1, 'the other waits for the timeout');
  h.c.sweep(T0 + 1_000_000);
  t.equal(h.c.kernelDropsUnmatched, 2);
  // Its query seen later starts a transaction of its own, not marked.
  h.feed(queries[0].data, T0 + 1_200_000);
  h.c.finish();
  t.equal(h.c.lost()[0].cause, 'end_of_capture');
  t.equal(h.c.lost()[0].reason, null);
  t.equal(h.c.kernelDropsMatched, 0);
});

t.test('a query dropped twice (its retry too): both drops wait together, and are matched or not together', async (t) => {
  const seen = new Harness({ reasonName, timeoutUs: 1_000_000 });
  seen.c.kernelDrop(kernelDrop(queries[0], 1), T0);
  seen.c.kernelDrop(kernelDrop(queries[0], 1), T0 + 500_000);
  seen.feed(queries[0].data, T0 + 600_000);
  t.equal(seen.c.kernelDropsMatched, 2, 'both matched once the query is seen');
  t.equal(seen.c.kernelDropsUnmatched, 0);
  const unseen = new Harness({ reasonName, timeoutUs: 1_000_000 });
  unseen.c.kernelDrop(kernelDrop(queries[0], 1), T0);
  unseen.c.kernelDrop(kernelDrop(queries[0], 1), T0 + 500_000);
  unseen.c.sweep(T0 + 1_600_000);
  t.equal(unseen.c.kernelDropsMatched, 0, 'never seen: none matched');
  t.equal(unseen.c.kernelDropsUnmatched, 2, 'both unmatched');
  t.equal(unseen.c.kernelDrops, 2);
});

t.test('a transaction open while the capture may have missed packets is unjudged, not lost', async (t) => {
  const h = new Harness({ timeoutUs: 1_000_000 });
  // Query 0 is open when the capture says it missed packets; query 1 starts after that.
  h.feed(queries[0].data, T0);
  h.c.unjudgedUntil(T0 + 500);
  h.feed(queries[1].data, T0 + 1000);
  // Query 2, open then too, is answered: answered stays answered.
  h.feed(queries[2].data, T0 + 100);
  h.feed(responses[2].data, T0 + 2000);
  // Query 3, open then too, had a bad checksum on the wire: that is evidence, so it is lost.
  h.feed(damaged(queries[3]), T0 + 200);
  h.c.sweep(T0 + 5_000_000);
  const c = h.c;
  t.equal(c.unjudged, 1, 'query 0: its answer may have been among the missed packets');
  t.equal(c.unanswered, 2, 'query 1 (after the gap) and query 3 (bad checksum) are lost');
  t.equal(c.lostToChecksum, 1);
  t.equal(c.answered, 1);
  t.same(c.lost().map((l) => l.id).sort(), [queries[1].id, queries[3].id].sort());
  // A later mark never moves back.
  c.unjudgedUntil(T0);
  h.feed(queries[4].data, T0 + 6_000_000);
  c.finish();
  t.equal(c.unjudged, 1, 'end of capture is not a gap: query 4 is lost');
  t.equal(c.unanswered, 3);
});

t.test('a kernel drop makes a transaction lost even inside a capture gap', async (t) => {
  const h = new Harness({ reasonName: (r) => `r${r}`, timeoutUs: 1_000_000 });
  h.feed(queries[0].data, T0);
  h.c.unjudgedUntil(T0 + 10);
  h.c.kernelDrop(kernelDrop(queries[0], 1), T0 + 5);
  h.c.sweep(T0 + 5_000_000);
  t.equal(h.c.unjudged, 0);
  t.equal(h.c.lostToKernelDrop, 1);
});
