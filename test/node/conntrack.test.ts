// conntrack entries: the NAT lab's real `conntrack -L -o extended` output (node1 masquerades the
// VXLAN port with --random-fully), the plain -L form and /proc/net/nf_conntrack's.

import t from 'tap';
import * as fs from 'node:fs';
import { join } from 'node:path';

import { parseConntrack, sourceTranslated } from '../../src/node/conntrack';

const FIX = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'node');
const read = (f: string) => fs.readFileSync(join(FIX, f), 'utf8');

t.test('the NAT lab: VXLAN entries with a translated source port', async (t) => {
  const all = parseConntrack(read('nat-offload/conntrack.txt'));
  const vx = all.filter((e) => e.original.dport === 4789);
  t.ok(vx.length >= 1, 'VXLAN entries');
  for (const e of vx) {
    t.equal(e.family, 'ipv4');
    t.equal(e.proto, 'udp');
    t.equal(e.original.src, '10.200.0.1');
    t.equal(e.reply.src, '10.200.0.2');
    t.ok(sourceTranslated(e), 'MASQUERADE --random-fully moved the source port');
    t.ok(e.flags.includes('UNREPLIED'));
  }
  const dns = all.filter((e) => e.original.dport === 53);
  t.ok(dns.length >= 1 && dns.every((e) => !sourceTranslated(e)), 'the inner DNS flows are not NATed');
});

t.test('the healthy lab: a VXLAN entry without NAT', async (t) => {
  const vx = parseConntrack(read('healthy/conntrack.txt')).filter((e) => e.original.dport === 4789);
  t.ok(vx.length >= 1);
  t.notOk(vx.some(sourceTranslated));
});

t.test('formats, other protocols, limits', async (t) => {
  const plain = 'udp      17 28 src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=4789 [UNREPLIED] src=10.0.0.2 dst=192.168.1.5 sport=4789 dport=1000 mark=0 use=1';
  const proc = 'ipv6     10 udp      17 20 src=fd00::1 dst=fd00::2 sport=5 dport=8472 src=fd00::2 dst=fd00::1 sport=8472 dport=5 [ASSURED] mark=0 zone=0 use=2';
  const icmp = 'ipv4     2 icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=7 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=7 mark=0 use=1';
  const e = parseConntrack([plain, proc, icmp, 'garbage', ''].join('\n'));
  t.equal(e.length, 2, 'ICMP (no ports) and garbage are skipped');
  t.equal(e[0].family, null);
  t.ok(sourceTranslated(e[0]), 'the address was translated');
  t.same(e[1].original, { src: 'fd00::1', dst: 'fd00::2', sport: 5, dport: 8472 });
  t.same(e[1].flags, ['ASSURED']);
  t.notOk(sourceTranslated(e[1]));
  t.equal(parseConntrack([plain, plain, plain].join('\n'), 2).length, 2, 'at most limit entries');
  t.equal(parseConntrack([plain, proc].join('\n'), 10, (x) => x.original.dport === 8472).length, 1, 'only what keep accepts');
});
