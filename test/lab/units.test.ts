// The lab's pure functions, no root and no namespaces: /proc/net/snmp, snmp6 and netstat parsing
// (this machine's files and hand-written text), dnsperf's summary, lab names and addresses, and
// the injector's counter and config bytes.

import t, { Test } from 'tap';
import { readFileSync } from 'node:fs';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { endianness } from 'node:os';

import {
  checkConfig, DEFAULT_CONFIG, LabConfig, nodeNs, ownsNs, podNs, switchNs, topology, Topology,
} from '../../src/lab/config';
import { parseDnsperf } from '../../src/lab/dns';
import { LabError } from '../../src/lab/tools';
import { decodeStats, encodeConfig, InjectConfig } from '../../src/lab/inject';
import { parseSnmp, parseSnmp6, snmpValue } from '../../src/node/snmp';

const LAB_ERR = { code: 'CSW_ERR_LAB' };

t.test('parseSnmp on this machine\'s /proc/net/snmp and /proc/net/netstat', (t) => {
  for (const file of ['/proc/net/snmp', '/proc/net/netstat']) {
    const text = readFileSync(file, 'utf8');
    const s = parseSnmp(text);
    // Every protocol is a names line and a values line: nothing is dropped.
    const names = text.split('\n').filter((l, i) => l !== '' && i % 2 === 0);
    t.same(Object.keys(s), names.map((l) => l.split(':')[0]), `${file}: every protocol`);
    for (const l of names) {
      const proto = l.split(':')[0];
      t.equal(Object.keys(s[proto] ?? {}).length, l.trim().split(/\s+/).length - 1, `${file}: every ${proto} counter`);
    }
    t.ok(Object.values(s).every((row) => Object.values(row).every(Number.isInteger)), `${file}: every value an integer`);
  }
  const s = parseSnmp(readFileSync('/proc/net/snmp', 'utf8'));
  for (const [proto, name] of [['Ip', 'InReceives'], ['Ip', 'InHdrErrors'], ['Udp', 'InDatagrams'], ['Udp', 'InCsumErrors'], ['Tcp', 'InSegs']]) {
    t.ok(Number.isInteger(s[proto]?.[name]) && s[proto][name] >= 0, `${proto} ${name} is a count`);
  }
  // Linux reports Tcp MaxConn as -1 (dynamic, RFC 4022): a negative value survives.
  t.equal(snmpValue(s, 'Tcp', 'MaxConn'), -1, 'Tcp MaxConn');
  const n = parseSnmp(readFileSync('/proc/net/netstat', 'utf8'));
  t.ok(Number.isInteger(n.IpExt?.InOctets), 'IpExt InOctets');
  t.ok(Number.isInteger(n.TcpExt?.TW), 'TcpExt TW');
  t.end();
});

t.test('parseSnmp6 on this machine\'s /proc/net/snmp6', (t) => {
  const text = readFileSync('/proc/net/snmp6', 'utf8');
  const s = parseSnmp6(text);
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const parsed = Object.values(s).reduce((n, row) => n + Object.keys(row).length, 0);
  t.equal(parsed, lines.length, 'every line');
  t.same(Object.keys(s).sort(), ['Icmp6', 'Ip6', 'Udp6', 'UdpLite6'], 'the four protocols');
  for (const [proto, name] of [['Ip6', 'InReceives'], ['Udp6', 'InDatagrams'], ['Udp6', 'InCsumErrors'], ['UdpLite6', 'InCsumErrors'], ['Icmp6', 'InMsgs']]) {
    t.ok(Number.isInteger(s[proto]?.[name]) && s[proto][name] >= 0, `${proto} ${name} is a count`);
  }
  t.end();
});

t.test('parseSnmp on hand-written text', (t) => {
  const udp = 'Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors\nUdp: 120 0 3 118 0 0 3\n';
  t.same(parseSnmp(udp), { Udp: { InDatagrams: 120, NoPorts: 0, InErrors: 3, OutDatagrams: 118, RcvbufErrors: 0, SndbufErrors: 0, InCsumErrors: 3 } });
  t.same(parseSnmp(udp.trimEnd()), parseSnmp(udp), 'no final newline');

  const ip = 'Ip: Forwarding DefaultTTL InReceives InHdrErrors\nIp: 1 64 5000 7\n';
  const tcp = 'Tcp: RtoAlgorithm MaxConn InSegs\nTcp: 1 -1 42\n';
  // Values line cut short: that pair is skipped, the pairs around it are read.
  const short = ip + 'Icmp: InMsgs InErrors InCsumErrors\nIcmp: 2 0\n' + udp;
  t.doesNotThrow(() => parseSnmp(short), 'a malformed pair does not throw');
  let s = parseSnmp(short);
  t.same(Object.keys(s), ['Ip', 'Udp'], 'a values line one short: skipped');
  t.equal(s.Ip.InHdrErrors, 7);
  t.equal(s.Udp.InCsumErrors, 3);
  // Names line with no values line after it.
  s = parseSnmp(ip + 'Icmp: InMsgs InErrors InCsumErrors\n' + udp);
  t.same(Object.keys(s), ['Ip', 'Udp'], 'no values line: skipped');
  t.equal(s.Udp.InDatagrams, 120, 'the next pair still read');
  // Values line whose protocol is not the names line's.
  s = parseSnmp(ip + 'Icmp: InMsgs InErrors\nIcmpMsg: 2 0\n' + tcp);
  t.same(Object.keys(s), ['Ip', 'Tcp'], 'protocols that differ: skipped');
  t.equal(s.Tcp.MaxConn, -1);
  t.same(parseSnmp('Udp: InDatagrams NoPorts InErrors\nUdp: 5 x 7\n'), {}, 'a line with a value that is no number is no values line: skipped');
  t.same(parseSnmp('Udp: 9 9\nUdp: InDatagrams NoPorts\nUdp: 1 2\n'), { Udp: { InDatagrams: 1, NoPorts: 2 } },
    'a stray values line before a names line: the real pair after it is still read');
  t.same(parseSnmp(''), {}, 'empty text');
  t.same(parseSnmp('garbage\n\nmore garbage here\n'), {}, 'no pairs at all');

  t.equal(snmpValue(s, 'Tcp', 'InSegs'), 42, 'snmpValue');
  t.equal(snmpValue(s, 'Tcp', 'InCsumErrors'), 0, 'snmpValue: a counter this kernel lacks is 0');
  t.equal(snmpValue(s, 'Icmp', 'InMsgs'), 0, 'snmpValue: a protocol missing is 0');
  t.equal(snmpValue({}, 'Udp', 'InCsumErrors'), 0, 'snmpValue: nothing parsed is 0');
  t.end();
});

t.test('parseSnmp6 on hand-written text', (t) => {
  const text = [
    'Ip6InReceives                   \t12',
    'Ip6InHdrErrors                  \t1',
    'Icmp6OutType133                 \t2',
    'Udp6InDatagrams                 \t9',
    'Udp6InCsumErrors                \t3',
    'UdpLite6InCsumErrors            \t4',
    'Udp6InErrors',
    'Udp6NoPorts                     \tx',
    'Udp6RcvbufErrors 5 6',
    'Tcp6InSegs                      \t8',
    'garbage',
    '',
  ].join('\n');
  t.doesNotThrow(() => parseSnmp6(text), 'malformed lines do not throw');
  const s = parseSnmp6(text);
  t.same(s, {
    Ip6: { InReceives: 12, InHdrErrors: 1 },
    Icmp6: { OutType133: 2 },
    Udp6: { InDatagrams: 9, InCsumErrors: 3 },
    UdpLite6: { InCsumErrors: 4 },
  }, 'counters by protocol; UdpLite6 is not Udp6; malformed lines skipped');
  t.equal(snmpValue(s, 'Udp6', 'InCsumErrors'), 3);
  t.equal(snmpValue(s, 'Udp6', 'NoPorts'), 0, 'a malformed counter reads as 0');
  t.end();
});

// dnsperf 2.10.0's output, as it prints it; the counts are the lab's usual run (300 queries, 30%
// of them lost).
const DNSPERF = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 10.244.0.2 -d /tmp/csw-lab/dnsperf-4242-q.txt -n 1 -c 1 -q 200 -t 1 -Q 3000 -l 11
[Status] Sending queries (to 10.244.0.2:53)
[Status] Started at: Sat Nov 21 23:01:52 2026
[Status] Stopping after 11.000000 seconds or 1 run through file
[Timeout] Query timed out: msg id 3
[Timeout] Query timed out: msg id 7
[Status] Testing complete (end of file)

Statistics:

  Queries sent:         300
  Queries completed:    210 (70.00%)
  Queries lost:         90 (30.00%)

  Response codes:       NOERROR 210 (100.00%)
  Average packet size:  request 36, response 52
  Run time (s):         1.101538
  Queries per second:   190.641376

  Average Latency (s):  0.000061 (min 0.000031, max 0.000413)
  Latency StdDev (s):   0.000040

`;

t.test('parseDnsperf', (t) => {
  t.same(parseDnsperf(DNSPERF), { sent: 300, completed: 210, lost: 90, rcodes: { NOERROR: 210 } });
  // Two response codes, as dnsperf joins them.
  const two = DNSPERF.replace('NOERROR 210 (100.00%)', 'NOERROR 200 (95.24%), REFUSED 10 (4.76%)');
  t.same(parseDnsperf(two).rcodes, { NOERROR: 200, REFUSED: 10 }, 'two response codes');
  // Every query lost: dnsperf leaves the response codes empty.
  const none = DNSPERF.replace('210 (70.00%)', '0 (0.00%)').replace('90 (30.00%)', '300 (100.00%)').replace('NOERROR 210 (100.00%)', '');
  t.same(parseDnsperf(none), { sent: 300, completed: 0, lost: 300, rcodes: {} }, 'every query lost');
  for (const label of ['Queries sent', 'Queries completed', 'Queries lost']) {
    const cut = DNSPERF.split('\n').filter((l) => !l.includes(label + ':')).join('\n');
    t.throws(() => parseDnsperf(cut), LAB_ERR, `no '${label}' line`);
    t.throws(() => parseDnsperf(cut), new RegExp(label), `the error names '${label}'`);
  }
  t.throws(() => parseDnsperf(''), LAB_ERR, 'no output');
  t.throws(() => parseDnsperf('Error: unable to open file: q.txt\n'), LAB_ERR, 'dnsperf failed');
  t.end();
});

const cfg = (c: Partial<LabConfig>): LabConfig => ({ ...DEFAULT_CONFIG, ...c });

/** Every node address of one kind lies in node1's subnet; returns that subnet's test. */
function subnet(t: Test, topo: Topology, kind: 'underlay' | 'second' | 'overlay'): BlockList {
  const v6 = (kind === 'overlay' ? topo.config.overlay : topo.config.underlay) === 'ipv6';
  const prefix = kind === 'overlay' ? topo.overlayPrefix : topo.underlayPrefix;
  const net = new BlockList();
  net.addSubnet(topo.nodes[0][kind], prefix, v6 ? 'ipv6' : 'ipv4');
  for (const n of topo.nodes) {
    t.ok(v6 ? isIPv6(n[kind]) : isIPv4(n[kind]), `node${n.index} ${kind} ${n[kind]} is ${v6 ? 'IPv6' : 'IPv4'}`);
    t.ok(net.check(n[kind], v6 ? 'ipv6' : 'ipv4'), `node${n.index} ${kind} ${n[kind]} in node1's /${prefix}`);
  }
  return net;
}

// Private ranges only (RFC 1918, RFC 4193): nothing the lab configures can route off the host.
const PRIVATE = new BlockList();
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');

function checkTopology(t: Test, topo: Topology): void {
  const c = topo.config;
  t.equal(topo.nodes.length, c.nodes, 'node count');
  t.same(topo.nodes.map((n) => n.index), Array.from({ length: c.nodes }, (_, i) => i + 1), 'nodes 1 to N');
  t.equal(topo.switchNs, `${c.name}-sw`, 'switch namespace');
  t.same(topo.nodes.map((n) => n.ns), topo.nodes.map((n) => `${c.name}-node${n.index}`), 'node namespaces');
  t.equal(topo.client, topo.nodes[0], 'node1 is the client');
  t.equal(topo.server, topo.nodes[c.nodes - 1], 'the last node is the server');
  const under = subnet(t, topo, 'underlay');
  const second = subnet(t, topo, 'second');
  const over = subnet(t, topo, 'overlay');
  const fam = (v6: boolean) => (v6 ? 'ipv6' : 'ipv4');
  const n1 = topo.nodes[0];
  t.notOk(under.check(n1.second, fam(c.underlay === 'ipv6')), 'the second network is not the underlay');
  t.notOk(second.check(n1.underlay, fam(c.underlay === 'ipv6')), 'the underlay is not the second network');
  if (c.overlay === c.underlay) {
    t.notOk(under.check(n1.overlay, fam(c.overlay === 'ipv6')), 'the overlay is not the underlay');
    t.notOk(over.check(n1.underlay, fam(c.overlay === 'ipv6')), 'the underlay is not the overlay');
    t.notOk(over.check(n1.second, fam(c.overlay === 'ipv6')), 'the second network is not the overlay');
  }
  const addrs = topo.nodes.flatMap((n) => [n.underlay, n.second, n.overlay]);
  t.equal(new Set(addrs).size, addrs.length, 'addresses unique');
  t.same(addrs.filter((a) => !PRIVATE.check(a, isIPv6(a) ? 'ipv6' : 'ipv4')), [], 'every address private');
  const macs = topo.nodes.flatMap((n) => [n.macEth0, n.macEth1, n.macVxlan]);
  t.equal(new Set(macs).size, macs.length, 'MACs unique');
  for (const m of macs) {
    t.match(m, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, `MAC ${m}`);
    t.equal(parseInt(m.slice(0, 2), 16) & 0x03, 0x02, `MAC ${m}: locally administered unicast`);
  }
  const ifs = topo.nodes.flatMap((n) => [n.swEth0, n.swEth1]);
  t.equal(new Set(ifs).size, ifs.length, 'switch-side interface names unique');
  t.ok(ifs.every((i) => i.length <= 15), 'switch-side interface names fit IFNAMSIZ');
  checkPod(t, topo, addrs, macs);
}

/** The DNS pod: its own subnet of the overlay's family, apart from every node network. */
function checkPod(t: Test, topo: Topology, nodeAddrs: string[], nodeMacs: string[]): void {
  const pod = topo.pod;
  if (!topo.config.pod) {
    t.equal(pod, null, 'no pod');
    t.equal(topo.dns, topo.server.overlay, 'DNS on the server\'s overlay address');
    return;
  }
  if (!pod) {
    t.fail('a pod');
    return;
  }
  const fam = topo.config.overlay;
  t.equal(pod.ns, `${topo.config.name}-pod`, 'pod namespace');
  t.equal(topo.dns, pod.address, 'DNS on the pod\'s address');
  const net = new BlockList();
  net.addSubnet(pod.subnet, pod.prefix, fam);
  for (const a of [pod.address, pod.gateway]) {
    t.ok(fam === 'ipv6' ? isIPv6(a) : isIPv4(a), `pod address ${a} in the overlay's family`);
    t.ok(net.check(a, fam), `pod address ${a} in the pod subnet`);
    t.ok(PRIVATE.check(a, fam), `pod address ${a} private`);
    t.notOk(nodeAddrs.includes(a), `pod address ${a} is no node's`);
  }
  t.not(pod.address, pod.gateway, 'pod and gateway differ');
  const over = new BlockList();
  over.addSubnet(topo.server.overlay, topo.overlayPrefix, fam);
  t.notOk(over.check(pod.address, fam), 'the pod subnet lies outside the overlay\'s: it is routed, not on-link');
  t.same(nodeAddrs.filter((a) => net.check(a, isIPv6(a) ? 'ipv6' : 'ipv4')), [], 'no node address in the pod subnet');
  for (const m of [pod.macNode, pod.macPod]) {
    t.match(m, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, `MAC ${m}`);
    t.equal(parseInt(m.slice(0, 2), 16) & 0x03, 0x02, `MAC ${m}: locally administered unicast`);
    t.notOk(nodeMacs.includes(m), `MAC ${m} is no node's`);
  }
  t.not(pod.macNode, pod.macPod, 'the veth ends\' MACs differ');
}

t.test('topology', (t) => {
  const d = topology(DEFAULT_CONFIG);
  t.same(d.nodes[1], {
    index: 2, ns: 'csw-node2', underlay: '10.200.0.2', second: '10.201.0.2', overlay: '10.244.0.2',
    macEth0: '02:00:0a:c8:00:02', macEth1: '02:00:0a:c9:00:02', macVxlan: '02:00:0a:f4:00:02', swEth0: 'n2e0', swEth1: 'n2e1',
  }, 'default lab, node2');
  t.equal(d.underlayPrefix, 24);
  t.equal(d.overlayPrefix, 24);
  checkTopology(t, d);

  const v6u = topology(cfg({ underlay: 'ipv6' }));
  t.same([v6u.client.underlay, v6u.client.second, v6u.client.overlay], ['fd00:200::1', 'fd00:201::1', '10.244.0.1'], 'IPv6 underlay');
  t.same([v6u.underlayPrefix, v6u.overlayPrefix], [64, 24]);
  checkTopology(t, v6u);

  const v6o = topology(cfg({ overlay: 'ipv6' }));
  t.same([v6o.server.underlay, v6o.server.second, v6o.server.overlay], ['10.200.0.2', '10.201.0.2', 'fd00:244::2'], 'IPv6 overlay');
  t.same([v6o.underlayPrefix, v6o.overlayPrefix], [24, 64]);
  checkTopology(t, v6o);

  const v6 = topology(cfg({ underlay: 'ipv6', overlay: 'ipv6' }));
  t.same([v6.server.underlay, v6.server.overlay], ['fd00:200::2', 'fd00:244::2'], 'IPv6 both');
  checkTopology(t, v6);

  const eight = topology(cfg({ name: 'a1234567', nodes: 8 }));
  t.equal(eight.server.ns, 'a1234567-node8', 'eight nodes: node8 serves');
  t.equal(eight.server.macVxlan, '02:00:0a:f4:00:08');
  checkTopology(t, eight);

  const pod = topology(cfg({ pod: true }));
  t.same(pod.pod, {
    ns: 'csw-pod', address: '10.244.100.2', gateway: '10.244.100.1', subnet: '10.244.100.0', prefix: 24,
    macNode: '02:00:0a:f4:64:01', macPod: '02:00:0a:f4:64:02',
  }, 'pod, IPv4 overlay');
  t.equal(pod.dns, '10.244.100.2');
  checkTopology(t, pod);
  const pod6 = topology(cfg({ pod: true, overlay: 'ipv6' }));
  t.match(pod6.pod, { address: 'fd00:244:100::2', gateway: 'fd00:244:100::1', subnet: 'fd00:244:100::', prefix: 64 }, 'pod, IPv6 overlay');
  t.equal(pod6.dns, 'fd00:244:100::2');
  checkTopology(t, pod6);
  checkTopology(t, topology(cfg({ pod: true, underlay: 'ipv6', nodes: 8 })));
  t.end();
});

t.test('checkConfig', (t) => {
  for (const c of [
    {}, { name: 'a' }, { name: 'a1234567' }, { name: 'z9' }, { nodes: 8 }, { port: 1 }, { port: 65535 }, { port: 8472 },
    { vni: 1 }, { vni: 0xffffff }, { nat: true }, { nat: true, overlay: 'ipv6' as const }, { pod: true }, { pod: true, overlay: 'ipv6' as const },
  ]) {
    t.doesNotThrow(() => checkConfig(cfg(c)), `accepts ${JSON.stringify(c)}`);
  }
  for (const c of [
    { name: '' }, { name: 'Csw' }, { name: '1lab' }, { name: 'a12345678' }, { name: 'a-b' }, { name: 'a_b' }, { name: 'a b' },
    { name: 'a.b' }, { name: 'csw\n' }, { nodes: 1 }, { nodes: 9 }, { nodes: 0 }, { nodes: 2.5 }, { nodes: NaN },
    { port: 0 }, { port: 65536 }, { port: 4789.5 }, { vni: 0 }, { vni: 0x1000000 },
    { nat: true, underlay: 'ipv6' as const }, { nat: true, underlay: 'ipv6' as const, overlay: 'ipv6' as const },
  ]) {
    const what = JSON.stringify(c, (_, v) => (Number.isNaN(v) ? 'NaN' : v));
    t.throws(() => checkConfig(cfg(c)), LAB_ERR, `rejects ${what}`);
    t.throws(() => topology(cfg(c)), LAB_ERR, `topology rejects ${what}`);
  }
  let err: unknown;
  try {
    checkConfig(cfg({ nodes: 9 }));
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof LabError, 'a LabError');
  t.match((err as Error).message, /^lab nodes: want 2 to 8, got 9$/, 'message: "doing x: cause"');
  t.end();
});

t.test('namespace names and ownership', (t) => {
  t.equal(nodeNs('csw', 3), 'csw-node3');
  t.equal(switchNs('csw'), 'csw-sw');
  t.equal(podNs('csw'), 'csw-pod');
  for (const ns of ['csw-sw', 'csw-node1', 'csw-node8', 'csw-pod']) t.ok(ownsNs('csw', ns), `csw owns ${ns}`);
  for (const ns of ['csw-pod1', 'csw-pods', 'cs-pod', 'csw2-pod', 'cswpod-node1', 'csw-node0', 'csw-node9', 'csw-node10', 'csw-node1x', 'csw-sw2', 'csw-node', 'xcsw-node1', 'cs-node1',
    'csw2-node1', 'csw2-sw', 'cswscn-node1', 'cswscn-sw', 'csw', '']) {
    t.notOk(ownsNs('csw', ns), `csw does not own '${ns}'`);
  }
  const mine = topology(cfg({ nodes: 8, pod: true }));
  const other = topology(cfg({ name: 'csw2', nodes: 8, pod: true }));
  const all = (x: Topology) => [x.switchNs, ...x.nodes.map((n) => n.ns), x.pod!.ns];
  for (const ns of all(mine)) {
    t.ok(ownsNs('csw', ns), `csw owns its ${ns}`);
    t.notOk(ownsNs('csw2', ns), `csw2 does not own ${ns}`);
  }
  t.same(all(other).filter((ns) => ownsNs('csw', ns)), [], 'csw owns none of csw2\'s');
  t.end();
});

t.test('decodeStats', (t) => {
  // struct csw_inject_stats by hand: seen, vxlan, matched, damaged[5], skipped_partial,
  // skipped_inapplicable, errors, each a u64 in host order.
  const b = Buffer.alloc(88);
  const put = (i: number, v: bigint) => (endianness() === 'LE' ? b.writeBigUInt64LE(v, 8 * i) : b.writeBigUInt64BE(v, 8 * i));
  [1000n, 900n, 300n, 0n, 11n, 22n, 33n, 2n ** 33n, 5n, 6n, 7n].forEach((v, i) => put(i, v));
  t.same(decodeStats(b), {
    seen: 1000, vxlan: 900, matched: 300,
    damaged: { off: 0, 'inner-udp': 11, 'inner-ipv4': 22, 'outer-udp': 33, 'pseudo-only': 2 ** 33 },
    damagedTotal: 66 + 2 ** 33, skippedPartial: 5, skippedInapplicable: 6, errors: 7,
  });
  t.equal(decodeStats(Buffer.alloc(88)).damagedTotal, 0, 'all zero');
  for (const n of [0, 80, 87, 89, 96]) t.throws(() => decodeStats(Buffer.alloc(n)), LAB_ERR, `${n} bytes`);
  t.end();
});

t.test('encodeConfig rejects what the injector cannot hold', (t) => {
  const ok: InjectConfig = { mode: 'inner-udp', probability: 0.5, vxlanPorts: [4789], innerPort: 53, direction: 'to' };
  for (const probability of [0, 1e-6, 0.5, 1]) {
    t.doesNotThrow(() => encodeConfig({ ...ok, probability }), `probability ${probability}`);
  }
  for (const probability of [-0.01, -1, 1.01, 2, NaN, Infinity, -Infinity]) {
    t.throws(() => encodeConfig({ ...ok, probability }), LAB_ERR, `probability ${probability}`);
  }
  t.doesNotThrow(() => encodeConfig({ ...ok, vxlanPorts: [4789, 8472] }), 'two ports');
  t.throws(() => encodeConfig({ ...ok, vxlanPorts: [4789, 8472, 4790] }), LAB_ERR, 'three ports');
  t.throws(() => encodeConfig({ ...ok, vxlanPorts: [] }), LAB_ERR, 'no port');
  t.end();
});
