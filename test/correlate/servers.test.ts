// Per-server series ranked by recent activity (issue: the first 256 servers seen used to keep
// their series forever). The address table under them can hand an index to another address; the
// ranking gives a full table's entries to recent servers, never takes one with a transaction in
// the table, and always keeps the pinned ones (the known CoreDNS pods). Counts of a server given
// up move into "(other servers)", so sums never go down.

import t from 'tap';
import { AddrTable, addrString, addrWords } from '../../src/correlate/addrtable';
import { OVERFLOW_SERVER, ServerStats } from '../../src/correlate/servers';
import { DnsCorrelator } from '../../src/correlate/transactions';
import { Decoder } from '../../src/decode/decoder';
import { Frame } from '../../src/decode/frame';
import { defaultQuery, defaultResponse, plainDns } from '../support/packets';

const S = 1e6; // µs per second

function key(a: string): [Int32Array, number] {
  const k = new Int32Array(4);
  return [k, addrWords(a, k)];
}

const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);

t.test('addrWords is addrString read back, for IPv4 and every IPv6 text form', async (t) => {
  for (const [text, canon] of [
    ['10.244.0.2', '10.244.0.2'], ['0.0.0.0', '0.0.0.0'], ['255.255.255.255', '255.255.255.255'],
    ['fd00:200::1', 'fd00:200::1'], ['::', '::'], ['::1', '::1'], ['FD00:0:0:0:0:0:0:A', 'fd00::a'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], ['::ffff:10.0.0.1', '::ffff:a00:1'], ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ]) {
    const [k, v] = key(text);
    t.equal(v, text.includes(':') ? 6 : 4, `${text}: its version`);
    t.equal(addrString(k, 0, v === 6), canon, `${text} reads back as ${canon}`);
  }
  t.equal(key('not an address')[1], 0, 'not an address: 0');
  t.equal(key('10.0.0.256')[1], 0);
});

t.test('an address table that hands entries over stays a correct map (random operations against a Map)', async (t) => {
  const cap = 64;
  const a = new AddrTable(cap, '(others)');
  const model = new Map<string, number>(); // address -> index
  let seed = 7;
  const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  let wrong = 0;
  for (let op = 0; op < 20_000; op++) {
    const addr = rnd(2) === 0 ? `10.0.${rnd(4)}.${rnd(50)}` : `fd00::${rnd(200).toString(16)}`;
    const [k, v] = key(addr);
    const canon = addrString(k, 0, v === 6);
    const got = a.find(k, v);
    const want = model.get(canon) ?? -1;
    if (got !== want) wrong++;
    if (got < 0) {
      if (a.size < cap) model.set(canon, a.lookupKey(k, v));
      else {
        const x = rnd(cap);
        model.delete(a.name(x));
        a.replace(x, k, v);
        model.set(canon, x);
      }
    }
  }
  t.equal(wrong, 0, 'every find answered as the model does');
  for (const [name, i] of model) {
    const [k, v] = key(name);
    t.equal(a.find(k, v), i, `${name} at ${i}`);
    t.equal(a.name(i), name);
  }
});

t.test('a full table gives the oldest idle entry to a new server, and its counts to (other servers)', async (t) => {
  const s = new ServerStats(4, 120 * S);
  const idx = (a: string, now: number) => s.indexOf(...key(a), now);
  for (let i = 0; i < 4; i++) s.queries[idx(`10.0.0.${i + 1}`, i * S)] += 10;
  t.equal(idx('10.0.0.2', 50 * S), 1, 'a known server keeps its entry, and is touched');
  t.equal(idx('10.0.0.9', 100 * S), 4, 'full, none idle for 2 minutes: the overflow entry');
  s.queries[4]++;
  t.equal(idx('10.0.0.9', 119 * S), 4, 'still none idle long enough');
  s.queries[4]++;
  const total = sum(s.queries);
  // 10.0.0.1 was last seen at 0 s: idle for 2 minutes at 120 s.
  t.equal(idx('10.0.0.9', 120 * S), 0, 'the oldest idle entry (10.0.0.1) goes to the new server');
  t.equal(s.table.name(0), '10.0.0.9');
  t.equal(s.queries[0], 0, 'its series starts from nothing');
  t.equal(s.queries[4], 12, "the old server's 10 queries are in (other servers)");
  t.equal(sum(s.queries), total, 'the sum over servers did not change');
  t.equal(s.replaced, 1);
  t.equal(s.table.name(s.capacity), OVERFLOW_SERVER);
  t.equal(idx('10.0.0.1', 121 * S), 4, 'the old server now counts into the overflow entry (none other is idle)');
  t.equal(idx('10.0.0.3', 122 * S), 2, 'the others kept theirs');
});

t.test('an entry with a transaction in the table is never handed over', async (t) => {
  const s = new ServerStats(2, 10 * S);
  const a = s.indexOf(...key('10.0.0.1'), 0);
  s.indexOf(...key('10.0.0.2'), 1 * S);
  s.live[a] = 1; // a transaction of 10.0.0.1 still in the table
  t.equal(s.indexOf(...key('10.0.0.3'), 20 * S), 1, 'the other idle entry goes, although it is younger');
  t.equal(s.indexOf(...key('10.0.0.4'), 40 * S), 1, 'and again: the busy one stays');
  t.equal(s.table.name(a), '10.0.0.1');
});

t.test('pinned servers take an entry at once and keep it; unpinned, they count in (other servers) until one idles', async (t) => {
  const s = new ServerStats(3, 120 * S);
  for (let i = 0; i < 3; i++) s.indexOf(...key(`10.0.0.${i + 1}`), 0);
  s.pin(['10.96.0.10', 'fd00::53', 'not an address']);
  t.equal(s.indexOf(...key('10.96.0.10'), 1 * S), 0, 'a pinned server gets the oldest entry at once');
  t.equal(s.indexOf(...key('fd00::53'), 2 * S), 1, 'an IPv6 pin too');
  t.equal(s.indexOf(...key('10.0.0.99'), 500 * S), 2, 'an unpinned one takes the only unpinned idle entry');
  t.equal(s.indexOf(...key('10.0.0.98'), 1000 * S), 2, 'and the next one takes it again: pinned entries are never given up, however idle');
  t.same([0, 1].map((i) => s.table.name(i)), ['10.96.0.10', 'fd00::53']);
  // Pinning an address already held marks its entry at once.
  s.pin(['10.0.0.98']);
  t.equal(s.indexOf(...key('10.0.0.97'), 2000 * S), 0, 'unpinned now: the oldest idle entry goes');
  t.equal(s.table.name(2), '10.0.0.98', 'the newly pinned entry stays');
});

t.test("2 000 one-packet queries to random addresses do not take the real server's series", async (t) => {
  // The reproduction, through the correlator: a CoreDNS answering 20 queries a second throughout,
  // and 2 000 queries to 2 000 random addresses in the first 10 seconds.
  const dec = new Decoder();
  const f = new Frame();
  const run = (servers: ServerStats, realFirstAt: number) => {
    const c = new DnsCorrelator({ servers, timeoutUs: 5 * S });
    const feed = (b: Buffer, ts: number) => {
      dec.decode(b, 0, b.length, b.length, 1, 0, f);
      c.observe(b, f, ts, 0);
    };
    let id = 1;
    for (let ms = 0; ms < 300_000; ms += 50) {
      const ts = 1_700_000_000 * S + ms * 1000;
      if (ms < 10_000) {
        for (let j = 0; j < 10; j++) feed(plainDns({ dst: `10.${(ms / 50) % 250}.${j}.${(ms / 1000) | 0}`, dns: defaultQuery('junk.test', id++ & 0xffff) }), ts);
      }
      if (ms >= realFirstAt) {
        const q = id++ & 0xffff;
        feed(plainDns({ dst: '10.244.0.2', dns: defaultQuery('real.test', q) }), ts);
        feed(plainDns({ src: '10.244.0.2', dns: defaultResponse('real.test', q) }), ts + 300);
      }
    }
    c.finish();
    return c;
  };
  const realOf = (s: ServerStats) => {
    for (let i = 0; i < s.table.count(); i++) if (s.table.name(i) === '10.244.0.2') return i;
    return -1;
  };
  // Seen first: it keeps its series through the flood (it never idles).
  let s = new ServerStats(256);
  run(s, 0);
  let i = realOf(s);
  t.ok(i >= 0 && i < 256, 'seen before the flood: the real server keeps its series');
  t.equal(s.queries[i], 6000, 'every one of its queries in it');
  t.equal(s.latencyCount[i], 6000);
  // First seen after the flood filled the table: (other servers) until the junk has idled 2 minutes.
  s = new ServerStats(256);
  run(s, 20_000);
  i = realOf(s);
  t.ok(i >= 0 && i < 256, 'seen after the flood: the real server gets a series once the junk idles');
  t.ok(s.queries[i] > 3000 && s.queries[i] < 5600, `its queries from then on (${s.queries[i]})`);
  t.equal(s.replaced, 1, 'one junk entry given up, not a churn of them');
  t.equal(sum(s.queries), 2000 + 5600, 'no query lost from the sums');
  // Pinned (a CoreDNS pod the agent knows): its own series from its first query.
  s = new ServerStats(256);
  s.pin(['10.244.0.2']);
  run(s, 20_000);
  i = realOf(s);
  t.equal(s.queries[i], 5600, 'pinned: every query in its own series');
});
