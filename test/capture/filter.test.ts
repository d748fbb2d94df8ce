// The capture filter, run by the real libpcap (tcpdump -r with the expression) over frames built
// for the purpose: what passes must be exactly the DNS and VXLAN the agent counts, in both modes,
// for every inner and outer IP version, IPv4 options, TCP DNS, flannel's port, fragments.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';

import { captureFilter } from '../../src/capture/filter';
import { build, geneveDns, plainDns, plainTcpSpec, vxlanDns, vxlanSpec } from '../support/packets';
import { writePcap } from '../support/pcap-writer';

interface Case {
  name: string;
  frame: Buffer;
  /** Passes with vtep 'all' / with vtep 'dns'. */
  all: boolean;
  dns: boolean;
}

const udpNonDns = { v: 4 as const, dport: 5000, sport: 40000 };
const cases: Case[] = [
  { name: 'plain DNS query over IPv4', frame: plainDns(), all: true, dns: true },
  { name: 'plain DNS query over IPv6', frame: plainDns({ v: 6 }), all: true, dns: true },
  { name: 'plain DNS over TCP', frame: build(plainTcpSpec({ dport: 53 })).bytes, all: true, dns: true },
  { name: 'plain UDP, not DNS', frame: plainDns(udpNonDns), all: false, dns: false },
  { name: 'plain TCP, not DNS', frame: build(plainTcpSpec({ dport: 443 })).bytes, all: false, dns: false },
  { name: 'VXLAN 4789, inner DNS over IPv4', frame: vxlanDns(), all: true, dns: true },
  { name: 'VXLAN 8472 (flannel), inner DNS', frame: vxlanDns({ vxlanPort: 8472 }), all: true, dns: true },
  { name: 'VXLAN, inner DNS response (source port 53)', frame: vxlanDns({ inner: { sport: 53, dport: 40000 } }), all: true, dns: true },
  { name: 'VXLAN, inner IPv4 with options (IHL 7), DNS', frame: vxlanDns({ inner: { ipOptions: [1, 1, 1, 1, 1, 1, 1, 1] } }), all: true, dns: true },
  { name: 'VXLAN, inner DNS over IPv6', frame: vxlanDns({ inner: { v: 6 } }), all: true, dns: true },
  { name: 'VXLAN over an IPv6 underlay, inner DNS', frame: vxlanDns({ outerV: 6 }), all: true, dns: true },
  { name: 'VXLAN over IPv6, inner DNS over IPv6', frame: vxlanDns({ outerV: 6, inner: { v: 6 } }), all: true, dns: true },
  { name: 'VXLAN, inner DNS over TCP', frame: build(vxlanSpec(plainTcpSpec({ dport: 53 }))).bytes, all: true, dns: true },
  { name: 'VXLAN, inner UDP not DNS', frame: vxlanDns({ inner: udpNonDns }), all: true, dns: false },
  { name: 'VXLAN, inner TCP not DNS', frame: build(vxlanSpec(plainTcpSpec({ dport: 443 }))).bytes, all: true, dns: false },
  { name: 'VXLAN over IPv6, inner UDP not DNS', frame: vxlanDns({ outerV: 6, inner: udpNonDns }), all: true, dns: false },
  { name: 'UDP from port 4789, not to it (not VXLAN)', frame: plainDns({ sport: 4789, dport: 5000 }), all: false, dns: false },
  { name: 'VXLAN to a port not configured', frame: vxlanDns({ vxlanPort: 4790 }), all: false, dns: false },
];

const BASE_S = 1_700_000_000;

/** 1-based numbers of the frames that pass: frame i was written at BASE_S + i µs. */
function passing(file: string, expr: string): number[] {
  const r = spawnSync('tcpdump', ['-r', file, '-nn', '-q', '-tt', expr], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tcpdump -r: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.trim()).map((l) => Math.round((Number(l.split(' ')[0]) - BASE_S) * 1e6));
}

const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-filter-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'cases.pcap');
writePcap(file, 1, cases.map((c, i) => ({ data: c.frame, tsUs: BASE_S * 1e6 + i + 1 })));

for (const vtep of ['all', 'dns'] as const) {
  t.test(`vtep ${vtep}: exactly the frames the agent counts pass`, async (t) => {
    const expr = captureFilter({ vxlanPorts: [4789, 8472], dnsPorts: [53], vtep });
    const got = new Set(passing(file, expr));
    cases.forEach((c, i) => t.equal(got.has(i + 1), c[vtep], c.name));
  });
}

t.test('a second DNS port and one VXLAN port', async (t) => {
  const expr = captureFilter({ vxlanPorts: [8472], dnsPorts: [53, 5000], vtep: 'dns' });
  const got = new Set(passing(file, expr));
  t.ok(got.has(cases.findIndex((c) => c.name === 'plain UDP, not DNS') + 1), 'port 5000 counts as DNS now');
  t.ok(got.has(cases.findIndex((c) => c.name === 'VXLAN, inner UDP not DNS') + 1) === false, 'on 4789: not VXLAN any more');
  t.ok(got.has(cases.findIndex((c) => c.name === 'VXLAN 8472 (flannel), inner DNS') + 1));
  t.notOk(got.has(cases.findIndex((c) => c.name === 'VXLAN 4789, inner DNS over IPv4') + 1), '4789 is not configured');
});

t.test('bad options are refused', async (t) => {
  t.throws(() => captureFilter({ vxlanPorts: [], dnsPorts: [], vtep: 'all' }), /no VXLAN or DNS port/);
  t.throws(() => captureFilter({ vxlanPorts: [70000], dnsPorts: [53], vtep: 'all' }), /not a port/);
});

t.test('Geneve ports: every Geneve packet passes, in either mode; none without them', async (t) => {
  const gv = [
    { name: 'Geneve 6081, inner DNS, an option', frame: geneveDns({ options: [{ cls: 0x0102, type: 0x80, data: [0, 0, 0, 1] }] }) },
    { name: 'Geneve 6081, inner UDP not DNS', frame: geneveDns({ inner: udpNonDns }) },
    { name: 'Geneve 6081 over IPv6, IP payload', frame: geneveDns({ outerV: 6, inner: { link: { kind: 'raw' } } }) },
  ];
  const other = { name: 'UDP from port 6081, not to it', frame: plainDns({ sport: 6081, dport: 5000 }) };
  const gfile = join(dir, 'geneve.pcap');
  writePcap(gfile, 1, [...gv, other].map((c, i) => ({ data: c.frame, tsUs: BASE_S * 1e6 + i + 1 })));
  for (const vtep of ['all', 'dns'] as const) {
    const got = new Set(passing(gfile, captureFilter({ vxlanPorts: [4789], genevePorts: [6081], dnsPorts: [53], vtep })));
    gv.forEach((c, i) => t.ok(got.has(i + 1), `${vtep}: ${c.name}`));
    t.notOk(got.has(gv.length + 1), `${vtep}: ${other.name}`);
  }
  const none = new Set(passing(gfile, captureFilter({ vxlanPorts: [4789], dnsPorts: [53], vtep: 'dns' })));
  t.notOk(none.has(2), 'no Geneve port: a Geneve packet without DNS does not pass');
  t.ok(captureFilter({ vxlanPorts: [], genevePorts: [6081], dnsPorts: [], vtep: 'all' }).includes('udp dst port 6081'), 'Geneve alone is something to capture');
});
