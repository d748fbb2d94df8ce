// The address table behind the per-server and per-peer series: dense indexes, names built once,
// and the overflow entry past the bound.

import t from 'tap';
import { AddrTable } from '../../src/correlate/addrtable';

t.test('addresses get dense indexes; past the bound, the overflow entry', async (t) => {
  const a = new AddrTable(2, '(others)');
  const b = Buffer.from([0, 10, 0, 0, 1, 10, 0, 0, 2, 10, 0, 0, 3]);
  t.equal(a.count(), 0);
  t.equal(a.lookup(b, 1, 4), 0);
  t.equal(a.lookup(b, 5, 4), 1);
  t.equal(a.lookup(b, 1, 4), 0, 'the same address, the same index');
  t.equal(a.count(), 3, 'full: the overflow entry is reported too');
  t.equal(a.lookup(b, 9, 4), 2, 'a third address: the overflow index');
  t.equal(a.lookup(b, 9, 4), 2);
  t.same([0, 1, 2].map((i) => a.name(i)), ['10.0.0.1', '10.0.0.2', '(others)']);
  t.equal(a.count(), 3);
});

t.test('IPv6 and IPv4 are told apart and named per RFC 5952', async (t) => {
  const a = new AddrTable(4, '(others)');
  const v6 = Buffer.from('fd000200000000000000000000000001', 'hex');
  const v4 = Buffer.from([0xfd, 0, 2, 0]);
  t.equal(a.lookup(v6, 0, 6), 0);
  t.equal(a.lookup(v4, 0, 4), 1, 'same first word, other family: another entry');
  t.same([a.name(0), a.name(1)], ['fd00:200::1', '253.0.2.0']);
});
