// `csumwatch doctor` in the lab (root), run as a user runs it: the CLI inside a lab node's
// namespace with `ip netns exec`. Each scenario breaks the node the way the lab knows how, checks
// that the right finding appears with the right severity and exit status, applies the fix the
// finding names, and checks that it is gone (and, where the lab can show it, that DNS works again):
//   cswdoc1  offload on vs off; checksum errors rising on the receiver (sender's inner-udp fault)
//   cswdoc2  MTU: node1's underlay lowered under vxlan0
//   cswdoc3  NAT of the VXLAN port (--random-fully) while vxlan0's offload is on
//   cswdoc4  vxlan0 bound to the wrong underlay (eth1)
// The node's /etc and /var come from --host-root: a resolv.conf naming the lab's DNS server, as a
// node's names its site's resolver (the host's own names a server the lab's namespaces have no
// route to), and a kubelet configuration with the cluster DNS service address.
//
// Bounded: at most 300 queries per run, every doctor run limited to 60 s, every wait polled.

import t, { Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';

import { ANSWER_A, DEFAULT_CONFIG, LabConfig } from '../../src/lab/config';
import { dig } from '../../src/lab/dns';
import { run, sleepMs } from '../../src/lab/tools';
import { Lab, labUp } from '../../src/lab/lab';
import { rootTest } from '../support/root';

const BIN = join(__dirname, '..', '..', '..', 'bin', 'csumwatch');
const LABS = ['cswdoc1', 'cswdoc2', 'cswdoc3', 'cswdoc4'];
const procs = rootTest('the doctor lab tests (network namespaces, tc, BPF)', LABS);

interface Finding { check: string; severity: string; evidence: string; remediation: string }
interface Report {
  findings: Finding[];
  interfaces: Array<{ name: string; role: string; mtu: number }>;
  offload: Array<{ iface: string; feature: string; enabled: boolean }>;
  counters: { udp: number } | null;
}
interface Run { code: number | null; report: Report; err: string }

const root = fs.mkdtempSync(join(os.tmpdir(), 'cswdoc-'));
fs.mkdirSync(join(root, 'etc'));
fs.writeFileSync(join(root, 'etc', 'resolv.conf'), 'nameserver 10.244.0.2\n');
fs.mkdirSync(join(root, 'var', 'lib', 'kubelet'), { recursive: true });
fs.writeFileSync(join(root, 'var', 'lib', 'kubelet', 'config.yaml'), 'kind: KubeletConfiguration\nclusterDNS:\n- 10.96.0.10\nresolvConf: /etc/resolv.conf\n');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

const argv = (ns: string, interval: number, json = true, more: string[] = []) =>
  ['netns', 'exec', ns, process.execPath, BIN, 'doctor', ...(json ? ['--json'] : []), '--interval', String(interval), '--host-root', root, ...more];

/** `csumwatch doctor --json [more...]` in namespace ns, one reading of the counters. */
function doctor(ns: string, ...more: string[]): Run {
  const r = spawnSync('ip', argv(ns, 0, true, more), { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, report: JSON.parse(r.stdout) as Report, err: r.stderr };
}

/** The same with two readings `interval` s apart, started now; resolves when it exits. */
function doctorOver(ns: string, interval: number): Promise<Run> {
  const p = spawn('ip', argv(ns, interval), { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  let out = '';
  let err = '';
  p.stdout.on('data', (b) => (out += b));
  p.stderr.on('data', (b) => (err += b));
  const killer = setTimeout(() => p.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => p.on('close', (code) => {
    clearTimeout(killer);
    resolve({ code, report: JSON.parse(out) as Report, err });
  }));
}

const of = (r: Run, check: string) => r.report.findings.filter((f) => f.check === check);
const critical = (r: Run) => r.report.findings.some((f) => f.severity === 'critical');
const flag = (r: Run, iface: string, feature = 'tx-checksum-ip-generic') => r.report.offload.find((o) => o.iface === iface && o.feature === feature)?.enabled;

function up(name: string, c: Partial<LabConfig>): Lab {
  return labUp({ ...DEFAULT_CONFIG, ...c, name });
}

/** Every run here: exit 1 exactly when a finding is critical, nothing on stderr. */
function checkRun(t: Test, r: Run, what: string): void {
  t.equal(r.code, critical(r) ? 1 : 0, `${what}: exit ${critical(r) ? 1 : 0}`);
  t.equal(r.err, '', `${what}: nothing on stderr`);
}

t.test('offload on, then off with ethtool; errors rising on the receiver', async (t) => {
  const lab = up('cswdoc1', { offload: true });
  const n1 = lab.node(1).ns;
  const n2 = lab.node(2).ns;

  const on = doctor(n1);
  checkRun(t, on, 'offload on');
  t.same(of(on, 'offload').map((f) => f.severity), ['info'], 'offload on, no errors: info');
  t.match(of(on, 'offload')[0].evidence, /^vxlan0 \(VXLAN port 4789\): tx-checksum-ip-generic on; underlay eth0 \(veth\)/);
  t.match(of(on, 'offload')[0].remediation, /ethtool -K vxlan0 tx-checksum-ip-generic off/);
  t.equal(flag(on, 'vxlan0'), true);
  const text = spawnSync('ip', argv(n1, 0, false), { encoding: 'utf8', timeout: 60_000 });
  t.match(text.stdout, /\nINFO offload\n/, 'readable output');
  t.match(text.stdout, /\n  fix: now: ethtool -K vxlan0 tx-checksum-ip-generic off/);

  lab.setFeature(1, 'vxlan0', 'tx-checksum-ip-generic', false);
  const off = doctor(n1);
  checkRun(t, off, 'offload off');
  t.same(of(off, 'offload'), [], 'fixed with ethtool: the finding is gone');
  t.equal(flag(off, 'vxlan0'), false);
  t.same(off.report.findings, [], 'nothing else either');

  // node1 sends real checksums and damages some inner ones; node2 keeps offload on and counts
  // the damage (Udp InCsumErrors) while the doctor reads it twice.
  lab.setFeature(1, 'eth0', 'tx', false);
  const inj = lab.injector(1);
  inj.configure({ mode: 'inner-udp', probability: 0.5, vxlanPorts: [4789], innerPort: 53, direction: 'to' });
  const d0 = inj.stats().damagedTotal;
  const rising = doctorOver(n2, 4);
  sleepMs(700);
  const q = lab.dnsperf({ queries: 200, qps: 1000, prefix: 'rise' });
  const r = await rising;
  const damaged = inj.stats().damagedTotal - d0;
  t.ok(damaged > 0, `the injector damaged ${damaged} of ${q.sent} queries`);
  checkRun(t, r, 'errors rising, offload on');
  t.same(of(r, 'offload').map((f) => f.severity), ['critical'], 'offload on and errors rising: critical');
  t.match(of(r, 'offload')[0].evidence, new RegExp(`Udp InCsumErrors rose by ${damaged} in \\d\\.\\d s`), 'the rise is exactly the damaged count');

  lab.setFeature(2, 'vxlan0', 'tx-checksum-ip-generic', false);
  const rising2 = doctorOver(n2, 4);
  sleepMs(700);
  lab.dnsperf({ queries: 200, qps: 1000, prefix: 'rise2' });
  const r2 = await rising2;
  checkRun(t, r2, 'errors rising, offload off here');
  t.same(of(r2, 'offload').map((f) => f.severity), ['warning'], 'fixed here, still rising: the sender is elsewhere');
  t.match(of(r2, 'offload')[0].evidence, /come from a peer whose offload is on/);
  t.notOk(critical(r2));

  inj.configure({ mode: 'off', probability: 1, vxlanPorts: [4789], innerPort: 53, direction: 'to' });
  const calm = await doctorOver(n2, 1);
  checkRun(t, calm, 'fault off');
  t.same(of(calm, 'offload').map((f) => f.severity), ['info'], 'errors since boot, no longer rising: info');
  t.match(of(calm, 'offload')[0].evidence, /no rise in 1\.\d s/);
});

t.test('MTU: the underlay lowered under vxlan0, then restored', async (t) => {
  const lab = up('cswdoc2', {});
  const n1 = lab.node(1).ns;
  const ok = doctor(n1);
  checkRun(t, ok, 'healthy');
  t.same(ok.report.findings, [], 'a healthy lab node: no findings');
  // Were the lab's DNS server the cluster DNS service, the node's resolv.conf would loop through it.
  const loop = doctor(n1, '--cluster-dns', lab.dnsAddress);
  checkRun(t, loop, 'resolv.conf naming the cluster DNS');
  t.same(loop.report.findings.map((f) => `${f.check}:${f.severity}`), ['resolv:critical']);
  t.match(of(loop, 'resolv')[0].evidence, /^\/etc\/resolv\.conf names the cluster DNS service 10\.244\.0\.2 \(given by the caller\)/);
  // The kernel refuses a bound VXLAN device an MTU above its underlay's less the headroom...
  t.not(run('ip', ['-n', n1, 'link', 'set', 'vxlan0', 'mtu', '1500'], { allowFail: true }).status, 0, 'the kernel refuses vxlan0 mtu 1500 over eth0 1500');
  // ...but does not follow the underlay when its MTU drops later.
  run('ip', ['-n', n1, 'link', 'set', 'eth0', 'mtu', '1400']);
  const bad = doctor(n1);
  checkRun(t, bad, 'mismatch');
  t.same(bad.report.findings.map((f) => `${f.check}:${f.severity}`), ['mtu:critical']);
  t.match(of(bad, 'mtu')[0].evidence, /vxlan0 MTU 1450 is more than its underlay eth0's MTU 1400 minus the 50 bytes of VXLAN over IPv4 \(1350\)/);
  t.match(of(bad, 'mtu')[0].remediation, /ip link set vxlan0 mtu 1350/);
  // The fix the finding names first: the VXLAN MTU down to what the underlay carries.
  run('ip', ['-n', n1, 'link', 'set', 'vxlan0', 'mtu', '1350']);
  const fixed = doctor(n1);
  checkRun(t, fixed, 'fixed');
  t.same(of(fixed, 'mtu'), [], 'vxlan0 at 1350: gone');
  t.equal(fixed.report.interfaces.find((i) => i.name === 'vxlan0')?.mtu, 1350);
  t.same(dig(n1, lab.dnsAddress, 'mtu.lab.test'), [ANSWER_A], 'DNS through the tunnel works');
});

t.test('NAT of the VXLAN port with offload on, fixed with ethtool', async (t) => {
  const lab = up('cswdoc3', { nat: true });
  const n1 = lab.node(1).ns;
  const n2 = lab.node(2).ns;
  t.same(dig(n1, lab.dnsAddress, 'nat1.lab.test'), [], 'the bug: the query is lost');

  const bad = doctor(n1);
  checkRun(t, bad, 'NAT with offload on');
  t.same(of(bad, 'nat').map((f) => f.severity), ['critical']);
  t.match(of(bad, 'nat')[0].evidence, /conntrack entries for UDP port 4789 \(VXLAN\) have a translated source, e\.g\. 10\.200\.0\.1:\d+ → 10\.200\.0\.1:\d+ toward 10\.200\.0\.2, while vxlan0 has tx-checksum-ip-generic on/);
  t.match(of(bad, 'nat')[0].remediation, /^now: ethtool -K vxlan0 tx-checksum-ip-generic off/);
  t.equal(bad.code, 1);

  // The receiver's view meanwhile: every query dropped there, its own offload off.
  const recv = doctorOver(n2, 3);
  sleepMs(700);
  const q = lab.dnsperf({ queries: 50, qps: 500, prefix: 'natq' });
  const r = await recv;
  t.equal(q.lost, q.sent, 'every query lost');
  checkRun(t, r, 'the receiver');
  t.same(of(r, 'offload').map((f) => f.severity), ['warning']);
  t.match(of(r, 'offload')[0].evidence, new RegExp(`rose by ${q.sent} in`), 'one checksum error per lost query');
  t.match(of(r, 'offload')[0].evidence, /or from NAT of the outer header/);

  lab.setFeature(1, 'vxlan0', 'tx-checksum-ip-generic', false);
  t.same(dig(n1, lab.dnsAddress, 'nat2.lab.test'), [ANSWER_A], 'fixed: answered, still through the NAT');
  const fixed = doctor(n1);
  checkRun(t, fixed, 'fixed');
  t.notOk(critical(fixed), 'no critical finding');
  t.same(of(fixed, 'nat').map((f) => f.severity), ['info'], 'NAT still there, harmless with offload off: info');
  t.match(of(fixed, 'nat')[0].evidence, /vxlan0 compute their checksums themselves/);
  t.equal(fixed.code, 0);
});

t.test('wrong underlay: vxlan0 on eth1, recreated on eth0', async (t) => {
  const lab = up('cswdoc4', { bind: 'eth1' });
  const n = lab.node(1);
  const peer = lab.node(2);
  t.same(dig(n.ns, lab.dnsAddress, 'bind1.lab.test'), [], 'the query is lost');
  const bad = doctor(n.ns);
  checkRun(t, bad, 'wrong binding');
  t.same(bad.report.findings.map((f) => `${f.check}:${f.severity}`), ['binding:critical']);
  const f = of(bad, 'binding')[0];
  t.match(f.evidence, /sends from 10\.201\.0\.1, an address of eth1, but the route to peer VTEP 10\.200\.0\.2 leaves by eth0 with source 10\.200\.0\.1/);
  t.match(f.remediation, /local 10\.200\.0\.1 dev eth0/);

  // The fix the finding names: the device on eth0 with eth0's address (as the CNI would make it).
  const ip = (...a: string[]) => run('ip', ['-n', n.ns, ...a]);
  ip('link', 'del', 'vxlan0');
  ip('link', 'add', 'vxlan0', 'address', n.macVxlan, 'type', 'vxlan', 'id', '42', 'dstport', '4789', 'local', n.underlay, 'dev', 'eth0', 'nolearning', 'udpcsum');
  run('ip', ['netns', 'exec', n.ns, 'ethtool', '-K', 'vxlan0', 'tx', 'off']);
  ip('addr', 'add', `${n.overlay}/24`, 'dev', 'vxlan0');
  ip('link', 'set', 'vxlan0', 'up');
  ip('neigh', 'replace', peer.overlay, 'lladdr', peer.macVxlan, 'dev', 'vxlan0', 'nud', 'permanent');
  run('bridge', ['-n', n.ns, 'fdb', 'append', peer.macVxlan, 'dev', 'vxlan0', 'dst', peer.underlay, 'self', 'permanent']);
  const fixed = doctor(n.ns);
  checkRun(t, fixed, 'fixed');
  t.same(fixed.report.findings, [], 'recreated on eth0: no findings');
  t.same(dig(n.ns, lab.dnsAddress, 'bind2.lab.test'), [ANSWER_A], 'and DNS through the tunnel works');
});
