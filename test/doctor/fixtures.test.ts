// Every check through runDoctor on the machine fixtures in test/fixtures/node/<machine>/ (what
// each was made from: test/fixtures/node/README.md): the right finding on each broken machine and
// nothing on the healthy one, severities that rise with the evidence, inputs that cannot be read,
// and the report's JSON and text.

import t from 'tap';
import * as fs from 'node:fs';
import { join } from 'node:path';

import { CsumCounters, DoctorReport, hasCritical, readCounters, runDoctor } from '../../src/doctor/run';
import { Finding } from '../../src/doctor/finding';
import { DoctorInputs, FixtureInputs } from '../../src/doctor/inputs';
import { toJson, toText } from '../../src/doctor/report';
import { NodeError } from '../../src/node/interfaces';

const FIX = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'node');
const machine = (m: string) => new FixtureInputs(join(FIX, m));
const NOW = 1_700_000_000_000;
const now = () => NOW;

/** base with some of its methods replaced. */
function over(base: DoctorInputs, o: Partial<DoctorInputs>): DoctorInputs {
  return {
    interfaces: () => base.interfaces(),
    features: (i) => base.features(i),
    driverInfo: (i) => base.driverInfo(i),
    fdb: (d) => base.fdb(d),
    routes: (a) => base.routes(a),
    conntrack: (p) => base.conntrack(p),
    readFile: (p) => base.readFile(p),
    readLink: (p) => base.readLink(p),
    listDir: (p) => base.listDir(p),
    ...o,
  };
}

/** The machine's earlier reading (proc/net/snmp.before), taken `seconds` before NOW. */
function before(m: string, seconds: number): CsumCounters {
  const base = machine(m);
  const earlier = over(base, { readFile: (p) => base.readFile(p === '/proc/net/snmp' ? '/proc/net/snmp.before' : p) });
  return readCounters(earlier, () => NOW - seconds * 1000);
}

const only = (r: DoctorReport, check: string): Finding[] => r.findings.filter((f) => f.check === check);
const summary = (r: DoctorReport) => r.findings.map((f) => `${f.check}:${f.severity}`);

t.test('healthy: a lab node, offload off, resolved forwarding to a site resolver', async (t) => {
  const r = runDoctor(machine('healthy'), { now });
  t.same(r.findings, [], 'no findings');
  t.notOk(hasCritical(r));
  t.same(r.interfaces.map((i) => [i.name, i.role, i.kind, i.driver, i.mtu]), [['vxlan0', 'vxlan', 'vxlan', 'vxlan', 1450], ['eth0', 'underlay', 'veth', 'veth', 1500]]);
  t.same(r.interfaces[0].vxlan, { vni: 42, port: 4789, local: '10.200.0.1', link: 'eth0', underlay: 'eth0' });
  t.same(r.interfaces[1].underlayOf, ['vxlan0']);
  t.same(r.offload.find((o) => o.iface === 'vxlan0' && o.feature === 'tx-checksum-ip-generic'), { iface: 'vxlan0', feature: 'tx-checksum-ip-generic', enabled: false, fixed: false });
  t.same(r.offload.find((o) => o.iface === 'eth0' && o.feature === 'tx-udp_tnl-segmentation'), { iface: 'eth0', feature: 'tx-udp_tnl-segmentation', enabled: true, fixed: false });
  t.same(r.counters, { udp: 0, udp6: 0, atMs: NOW });
  t.match(toText(r), /no findings/);
});

t.test('vmxnet3: offload on, Udp InCsumErrors rising: critical, with every way to fix it', async (t) => {
  const r = runDoctor(machine('vmxnet3-calico'), { now, previous: before('vmxnet3-calico', 2) });
  t.same(summary(r), ['offload:critical', 'vxlan_port:warning']);
  const f = r.findings[0];
  t.match(f.evidence, /vxlan\.calico \(VXLAN port 4789\): tx-checksum-ip-generic on/);
  t.match(f.evidence, /underlay ens192 \(vmxnet3\): .*tx-udp_tnl-segmentation on, tx-udp_tnl-csum-segmentation on/);
  t.match(f.evidence, /VMware vmxnet3/);
  t.match(f.evidence, /Udp InCsumErrors rose by 55 in 2\.0 s \(8467 since boot\)/);
  for (const fix of [
    'ethtool -K vxlan.calico tx-checksum-ip-generic off',
    'ethtool -K ens192 tx-udp_tnl-segmentation off tx-udp_tnl-csum-segmentation off',
    'ChecksumOffloadBroken=true', 'FELIX_FEATUREDETECTOVERRIDE', 'TransmitChecksumOffload=false', 'OriginalName=vxlan.calico',
    'nmcli connection modify <connection of ens192> ethtool.feature-tx-checksum-ip-generic off',
  ]) t.ok(f.remediation.includes(fix), `remediation names ${fix}`);
  t.ok(hasCritical(r));
  t.same(r.interfaces.map((i) => [i.name, i.kind, i.driver]), [['vxlan.calico', 'vxlan', 'vxlan'], ['ens192', 'physical', 'vmxnet3']]);
  t.same(r.offload.filter((o) => o.iface === 'ens192' && o.enabled).map((o) => o.feature), ['tx-checksum-ip-generic', 'tx-udp_tnl-segmentation', 'tx-udp_tnl-csum-segmentation']);
  // And Calico's default port, 4789, over a VMware NIC: the NSX collision.
  const p = only(r, 'vxlan_port')[0];
  t.match(p.evidence, /^vxlan\.calico sends VXLAN on UDP 4789 over ens192 \(vmxnet3, VMware's paravirtual NIC\): on vSphere with NSX/);
  t.match(p.evidence, /everything but ICMP/);
  t.match(p.remediation, /^with Calico \(its default VXLAN port is 4789\): kubectl patch felixconfiguration default --type merge -p '\{"spec":\{"vxlanPort":4799\}\}'/);
  t.match(p.remediation, /every node must move at once/);
  t.match(p.remediation, /flannel#2388/);
});

t.test('vmxnet3: severity rises with the evidence', async (t) => {
  const base = machine('vmxnet3-calico');
  const zeroSnmp = base.readFile('/proc/net/snmp.before')!.replace(/^Udp: (\d+) (\d+) \d+ (\d+) (\d+) (\d+) \d+/m, 'Udp: $1 $2 0 $3 $4 $5 0');
  const clean = over(base, { readFile: (p) => (p === '/proc/net/snmp' ? zeroSnmp : base.readFile(p)) });
  const sev = (inputs: DoctorInputs, previous: CsumCounters | null = null) => only(runDoctor(inputs, { now, previous }), 'offload').map((f) => f.severity);
  t.same(sev(clean), ['warning'], 'vmxnet3 with offload on, no errors: warning');
  t.same(sev(base), ['critical'], 'and errors counted since boot (one reading): critical');
  t.same(sev(base, before('vmxnet3-calico', 2)), ['critical'], 'and rising: critical');
  const flat: CsumCounters = { udp: 8467, udp6: 0, atMs: NOW - 2000 };
  t.match(only(runDoctor(base, { now, previous: flat }), 'offload')[0].evidence, /8467 since boot, no rise in 2\.0 s/);
  // The workaround in place: the VXLAN device computes its checksums; the NIC still segments tunnels.
  const fixed = over(clean, {
    features: (i) => {
      const f = base.features(i);
      return i === 'vxlan.calico' ? { ...f, 'tx-checksum-ip-generic': { on: false, fixed: false, requested: null } } : f;
    },
  });
  const info = only(runDoctor(fixed, { now }), 'offload');
  t.same(info.map((f) => f.severity), ['info'], 'offload off on vxlan.calico: info about the NIC\'s tunnel segmentation');
  t.match(info[0].remediation, /^on the NIC: ethtool -K ens192 tx-udp_tnl-segmentation off/);
  t.notMatch(info[0].remediation, /tx-checksum-ip-generic off/, 'no command for what is already off');
});

t.test('wrong binding: local address on eth1, routes to the peer by eth0', async (t) => {
  const r = runDoctor(machine('wrong-binding'), { now });
  t.same(summary(r), ['binding:critical']);
  const f = r.findings[0];
  t.match(f.evidence, /vxlan0 \(VNI 42, port 4789, local 10\.201\.0\.1, dev eth1\) sends from 10\.201\.0\.1, an address of eth1, but the route to peer VTEP 10\.200\.0\.2 leaves by eth0 with source 10\.200\.0\.1 \(1 of 1 peer VTEP checked\)/);
  t.match(f.evidence, /rp_filter/);
  t.match(f.remediation, /local 10\.200\.0\.1 dev eth0/);
  t.match(f.remediation, /--iface=eth0/);
  t.match(f.remediation, /IP_AUTODETECTION_METHOD=interface=eth0/);
  const withNode = runDoctor(machine('wrong-binding'), { now, nodeAddress: '10.200.0.1' });
  t.same(summary(withNode), ['binding:critical', 'binding:warning'], 'and the node\'s address known: a warning too');
  t.match(only(withNode, 'binding')[1].evidence, /the node's address is 10\.200\.0\.1 \(eth0\)/);
  t.same(summary(runDoctor(machine('healthy'), { now, nodeAddress: '10.200.0.1' })), [], 'healthy with its node address: nothing');
});

t.test('MTU: the underlay lowered under the VXLAN device', async (t) => {
  const r = runDoctor(machine('mtu-mismatch'), { now });
  t.same(summary(r), ['mtu:critical']);
  t.match(r.findings[0].evidence, /vxlan0 MTU 1450 is more than its underlay eth0's MTU 1400 minus the 50 bytes of VXLAN over IPv4 \(1350\)/);
  t.match(r.findings[0].evidence, /large DNS answers/);
  t.match(r.findings[0].remediation, /ip link set vxlan0 mtu 1350/);
});

t.test('resolv.conf loop: resolved forwards to the cluster DNS service, the kubelet hands pods the stub', async (t) => {
  const r = runDoctor(machine('resolv-loop'), { now });
  t.same(summary(r), ['resolv:critical', 'resolv:warning']);
  t.match(r.findings[0].evidence, /\/etc\/resolv\.conf \(a link to \.\.\/run\/systemd\/resolve\/stub-resolv\.conf\) points at the systemd-resolved stub 127\.0\.0\.53, which forwards to the cluster DNS service 10\.96\.0\.10 \(\/run\/systemd\/resolve\/resolv\.conf; cluster DNS from clusterDNS in \/var\/lib\/kubelet\/config\.yaml\)/);
  t.match(r.findings[0].remediation, /Domains=~cluster\.local/);
  t.match(r.findings[1].evidence, /gives pods with dnsPolicy Default, CoreDNS among them, \/etc\/resolv\.conf, whose nameserver 127\.0\.0\.53/);
  t.match(r.findings[1].remediation, /resolvConf: \/run\/systemd\/resolve\/resolv\.conf/);

  // Without the kubelet's file: unknown, unless the caller says.
  const base = machine('resolv-loop');
  const noKubelet = over(base, { readFile: (p) => (p.startsWith('/var/lib/kubelet') ? null : base.readFile(p)) });
  t.same(summary(runDoctor(noKubelet, { now })), ['resolv:info']);
  t.match(runDoctor(noKubelet, { now }).findings[0].evidence, /cluster DNS service address is unknown/);
  const given = runDoctor(noKubelet, { now, clusterDns: ['10.96.0.10'] });
  t.same(summary(given), ['resolv:critical']);
  t.match(given.findings[0].evidence, /given by the caller/);
  // The agent's pod names it in its own resolv.conf: used only when the kubelet's file does not.
  const pod = { addresses: ['10.96.0.10'], source: "the agent pod's /etc/resolv.conf (dnsPolicy ClusterFirstWithHostNet)" };
  const fromPod = runDoctor(noKubelet, { now, clusterDnsFallback: pod });
  t.same(summary(fromPod), ['resolv:critical']);
  t.match(fromPod.findings[0].evidence, /cluster DNS from the agent pod's \/etc\/resolv\.conf/);
  const kubeletWins = runDoctor(base, { now, clusterDnsFallback: { addresses: ['10.99.9.9'], source: 'elsewhere' } });
  t.match(kubeletWins.findings[0].evidence, /cluster DNS service 10\.96\.0\.10 .*clusterDNS in \/var\/lib\/kubelet\/config\.yaml/, 'the kubelet configuration wins over the fallback');
  // The same cluster DNS named directly in /etc/resolv.conf.
  const direct = over(noKubelet, { readFile: (p) => (p === '/etc/resolv.conf' ? 'nameserver 10.96.0.10\n' : noKubelet.readFile(p)), readLink: () => null });
  const d = runDoctor(direct, { now, clusterDns: ['10.96.0.10'] });
  t.same(summary(d), ['resolv:critical']);
  t.match(d.findings[0].evidence, /^\/etc\/resolv\.conf names the cluster DNS service 10\.96\.0\.10/);
});

t.test('IPv6 nameserver on a node without IPv6; AAAA answers', async (t) => {
  const r = runDoctor(machine('ipv6-nameserver'), { now });
  t.same(summary(r), ['ipv6:warning']);
  t.match(r.findings[0].evidence, /nameserver fd00:53::53 \(\/etc\/resolv\.conf\) is IPv6, and this node has no route to it \(RTNETLINK answers: Network is unreachable\)/);
  const answers = runDoctor(machine('ipv6-nameserver'), { now, dnsAnswers: { a: 10, aaaa: 4 } });
  t.same(summary(answers), ['ipv6:warning', 'ipv6:warning']);
  t.match(answers.findings[1].evidence, /4 AAAA answers \(and 10 A\) were seen, but this node has no IPv6 route/);
  t.same(summary(runDoctor(machine('healthy'), { now, dnsAnswers: { a: 10, aaaa: 0 } })), [], 'no AAAA answers: nothing');
});

t.test('NAT of the VXLAN outer header with offload on', async (t) => {
  const r = runDoctor(machine('nat-offload'), { now });
  t.same(summary(r), ['nat:critical', 'offload:info']);
  t.match(r.findings[0].evidence, /^\d+ of \d+ conntrack entries for UDP port 4789 \(VXLAN\) have a translated source, e\.g\. 10\.200\.0\.1:\d+ → 10\.200\.0\.1:\d+ toward 10\.200\.0\.2, while vxlan0 has tx-checksum-ip-generic on/);
  t.match(r.findings[0].evidence, /63-second/);
  t.match(r.findings[0].remediation, /ethtool -K vxlan0 tx-checksum-ip-generic off/);
  t.match(r.findings[0].remediation, /iptables -t nat -I POSTROUTING -p udp --dport 4789 -j RETURN/);
  // The receiving node: its errors rise, its own offload is off.
  const recv = runDoctor(machine('nat-receiver'), { now, previous: before('nat-receiver', 1) });
  t.same(summary(recv), ['offload:warning']);
  t.match(recv.findings[0].evidence, /Udp InCsumErrors rose by 3 in 1\.0 s/);
  t.match(recv.findings[0].evidence, /come from a peer whose offload is on, or from NAT/);
  t.same(summary(runDoctor(machine('nat-receiver'), { now })), ['offload:info'], 'one reading: errors since boot, not known to rise');
});

t.test('inputs that cannot be read become findings, not crashes', async (t) => {
  const base = machine('nat-offload');
  const fail = (what: string) => () => {
    throw new NodeError(`running ${what}: not installed`);
  };
  const noTools = over(base, { features: fail('ethtool'), driverInfo: fail('ethtool'), conntrack: fail('conntrack'), routes: fail('ip'), fdb: fail('bridge') });
  const r = runDoctor(noTools, { now });
  t.same(summary(r).sort(), ['binding:warning', 'binding:warning', 'nat:info', 'offload:warning'].sort());
  t.match(only(r, 'offload')[0].evidence, /vxlan0: could not read its offload features: running ethtool: not installed/);
  t.match(only(r, 'nat')[0].evidence, /conntrack could not be read \(running conntrack: not installed\)/);
  t.ok(only(r, 'binding').some((f) => /route lookups failed/.test(f.evidence)), 'routes: one warning, no false "no route"');
  t.same(r.offload, [], 'no flags without ethtool');
  const noProc = over(machine('healthy'), { readFile: (p) => (p.startsWith('/proc/') ? null : machine('healthy').readFile(p)) });
  const p = runDoctor(noProc, { now });
  t.equal(p.counters, null);
  t.same(summary(p), ['offload:info']);
  t.throws(() => runDoctor(over(base, { interfaces: fail('ip') })), { code: 'CSW_ERR_NODE' }, 'without links nothing can be checked: throws');
  t.throws(() => runDoctor(new FixtureInputs(join(FIX, 'no-such-machine'))), { code: 'CSW_ERR_NODE' });
  t.throws(() => machine('healthy').routes(['192.0.2.77']), { message: /has no lookup for 192\.0\.2\.77/ }, 'a lookup the fixture lacks is the fixture\'s fault');
});

t.test('no VXLAN device: said once, the resolver checks still run', async (t) => {
  const base = machine('resolv-loop');
  const r = runDoctor(over(base, { interfaces: () => base.interfaces().filter((i) => i.kind !== 'vxlan') }), { now });
  t.same(summary(r), ['resolv:critical', 'resolv:warning', 'offload:info']);
  t.match(only(r, 'offload')[0].evidence, /^no VXLAN or Geneve device/);
  t.same(r.interfaces, []);
});

t.test('the report: JSON for scripts, text for people', async (t) => {
  const r = runDoctor(machine('vmxnet3-calico'), { now, previous: before('vmxnet3-calico', 2) });
  const j = JSON.parse(JSON.stringify(toJson(r)));
  t.same(Object.keys(j), ['findings', 'interfaces', 'offload', 'counters']);
  t.same(Object.keys(j.findings[0]), ['check', 'severity', 'evidence', 'remediation']);
  t.same(j.offload[0], { iface: 'vxlan.calico', feature: 'tx-checksum-ip-generic', enabled: true, fixed: false });
  const text = toText(r);
  t.match(text, /^csumwatch doctor: 1 critical, 1 warning, 0 info; VXLAN devices: vxlan\.calico\n/);
  t.match(text, /\nCRITICAL offload\n/);
  t.match(text, /\n  fix: now: ethtool -K vxlan\.calico tx-checksum-ip-generic off/);
  t.match(text, /\ninterfaces \(name, kind, driver, MTU, state\)\n  vxlan\.calico  vxlan/);
  t.match(text, /\n  ens192        physical vmxnet3 +mtu 1500  up +underlay of vxlan\.calico\n/);
  t.match(text, /Udp InCsumErrors 8467/);
  for (const line of text.split('\n')) t.ok(line.length <= 110, `no overlong line: ${line.slice(0, 40)}`);
  t.same(fs.readdirSync(FIX).filter((d) => fs.existsSync(join(FIX, d, 'ip-link.json'))).sort(),
    ['antrea-vmxnet3', 'healthy', 'ipv6-nameserver', 'mtu-mismatch', 'nat-offload', 'nat-receiver', 'ovn-vmxnet3', 'resolv-loop', 'vmxnet3-calico', 'wrong-binding'], 'every machine is tested here');
});

/** base with the named devices' transmit checksum offload (tx-checksum-ip-generic) set. */
function withOffload(base: DoctorInputs, set: Record<string, boolean>): DoctorInputs {
  return over(base, {
    features: (i) => {
      const f = base.features(i);
      return i in set ? { ...f, 'tx-checksum-ip-generic': { on: set[i], fixed: false, requested: null } } : f;
    },
  });
}

/** base with Udp InCsumErrors 0 in /proc/net/snmp. */
function clean(base: DoctorInputs): DoctorInputs {
  const zero = base.readFile('/proc/net/snmp')!.replace(/^Udp: (\d+) (\d+) \d+ (\d+) (\d+) (\d+) \d+/m, 'Udp: $1 $2 0 $3 $4 $5 0');
  return over(base, { readFile: (p) => (p === '/proc/net/snmp' ? zero : base.readFile(p)) });
}

t.test('OVN-Kubernetes: Geneve over vmxnet3 in br-ex, errors rising: critical, with OpenShift\'s fix', async (t) => {
  const r = runDoctor(machine('ovn-vmxnet3'), { now, previous: before('ovn-vmxnet3', 2) });
  t.same(summary(r), ['offload:critical']);
  const f = r.findings[0];
  t.match(f.evidence, /^genev_sys_6081 \(Geneve port 6081\): tx-checksum-ip-generic on; underlay ens192 \(vmxnet3, port of br-ex, and the default route leaves by br-ex\): .*tx-udp_tnl-segmentation on/);
  t.match(f.evidence, /VMware vmxnet3/);
  t.match(f.evidence, /Udp InCsumErrors rose by 35 in 2\.0 s \(3141 since boot\)/);
  for (const fix of [
    'now: ethtool -K genev_sys_6081 tx-checksum-ip-generic off',
    'ethtool -K ens192 tx-udp_tnl-segmentation off tx-udp_tnl-csum-segmentation off',
    'openshift/machine-config-operator#2734', 'ethtool -K ens192 tx-checksum-ip-generic off (with ens192\'s on, that is not in effect on this node)',
    'Open vSwitch creates genev_sys_6081 again', 'KERNEL=="genev_sys_6081"', 'as a file of a MachineConfig', 'OriginalName=genev_sys_6081',
  ]) t.ok(f.remediation.includes(fix), `remediation names ${fix}`);
  t.notMatch(f.remediation, /Calico|flannel|Antrea/, 'no other CNI\'s setting');
  t.same(r.interfaces.map((i) => [i.name, i.role, i.kind, i.driver]), [['genev_sys_6081', 'geneve', 'geneve', 'geneve'], ['ens192', 'underlay', 'physical', 'vmxnet3']]);
  t.same(r.interfaces[0].geneve, { vni: null, port: 6081, remote: null, external: true, underlay: 'ens192' });
  t.equal(r.interfaces[0].vxlan, null);
  t.same(r.interfaces[1].underlayOf, ['genev_sys_6081']);
  t.same(r.offload.filter((o) => o.iface === 'genev_sys_6081').map((o) => [o.feature, o.enabled]), [
    ['tx-checksum-ip-generic', true], ['tx-checksum-ipv4', false], ['tx-checksum-ipv6', false], ['tx-udp_tnl-segmentation', false], ['tx-udp_tnl-csum-segmentation', false],
  ]);
  const text = toText(r);
  t.match(text, /^csumwatch doctor: 1 critical, 0 warning, 0 info; VXLAN devices: none; Geneve devices: genev_sys_6081\n/);
  t.match(text, /\n  genev_sys_6081 +geneve +geneve +mtu 65000 up +Geneve external port 6081, underlay ens192\n/);
  t.match(text, /\n  ens192 +physical vmxnet3 +mtu 1500 +up +underlay of genev_sys_6081\n/);
  for (const line of text.split('\n')) t.ok(line.length <= 110, `no overlong line: ${line.slice(0, 40)}`);

  // The node's address given: the device holding it, no route needed.
  const known = runDoctor(machine('ovn-vmxnet3'), { now, nodeAddress: '10.10.30.11' });
  t.match(known.findings[0].evidence, /underlay ens192 \(vmxnet3, port of br-ex, and br-ex holds the node's address 10\.10\.30\.11\)/);
  // No route lookups: said, not guessed.
  const noRoutes = runDoctor(over(machine('ovn-vmxnet3'), { routes: () => { throw new NodeError('running ip: not installed'); } }), { now });
  t.match(only(noRoutes, 'offload')[0].evidence, /underlay: not found \(route lookups failed\)/);
  t.same(noRoutes.interfaces.map((i) => i.name), ['genev_sys_6081']);
});

t.test('OVN-Kubernetes: OpenShift\'s fix in place, the NIC\'s checksum offload off', async (t) => {
  const fixed = withOffload(clean(machine('ovn-vmxnet3')), { ens192: false });
  const r = runDoctor(fixed, { now });
  t.same(summary(r), ['offload:info'], 'the device\'s offload alone: info, vmxnet3 no longer blamed');
  t.match(r.findings[0].evidence, /ens192 has transmit checksum offload off \(tx-checksum-ip-generic, tx-checksum-ipv4, tx-checksum-ipv6\), so the kernel completes every checksum before it/);
  t.notMatch(r.findings[0].evidence, /VMware vmxnet3, the NIC of/);
  // Errors rising all the same: critical, whatever the mitigation.
  const rising = runDoctor(withOffload(machine('ovn-vmxnet3'), { ens192: false }), { now, previous: before('ovn-vmxnet3', 2) });
  t.same(summary(rising), ['offload:critical']);
  // The device's own offload off: nothing (the NIC's tunnel segmentation aside).
  const off = runDoctor(withOffload(clean(machine('ovn-vmxnet3')), { genev_sys_6081: false }), { now });
  t.same(summary(off), ['offload:info']);
  t.match(off.findings[0].evidence, /genev_sys_6081 computes its checksums itself; ens192 still segments tunnel packets/);
});

t.test('Antrea: Geneve over vmxnet3, no errors: warning, with Antrea\'s switch', async (t) => {
  const r = runDoctor(machine('antrea-vmxnet3'), { now });
  t.same(summary(r), ['offload:warning']);
  const f = r.findings[0];
  t.match(f.evidence, /^genev_sys_6081 \(Geneve port 6081\): tx-checksum-ip-generic on; underlay ens192 \(vmxnet3, the default route leaves by it\)/);
  t.match(f.remediation, /persistent with Antrea: disableTXChecksumOffload: true in antrea-agent\.conf \(ConfigMap antrea-config, or the Helm value disableTXChecksumOffload=true\)/);
  t.match(f.remediation, /disableUdpTunnelOffload: true in the same file turns UDP tunnel offload off on ens192/);
  t.match(f.remediation, /or, for genev_sys_6081 alone: a udev rule/);
  t.notMatch(f.remediation, /OpenShift|machine-config/);
  // Antrea's switch in effect: antrea-gw0's offload off with the Pods' interfaces.
  const on = runDoctor(withOffload(machine('antrea-vmxnet3'), { 'antrea-gw0': false }), { now });
  t.same(summary(on), ['offload:info']);
  t.match(on.findings[0].evidence, /antrea-gw0 has tx-checksum-ip-generic off: Antrea's disableTXChecksumOffload is in effect/);
  // Without antrea-gw0 the device names no CNI: the CNI-independent fixes only.
  const base = machine('antrea-vmxnet3');
  const anon = runDoctor(over(base, { interfaces: () => base.interfaces().filter((i) => i.name !== 'antrea-gw0') }), { now });
  t.match(anon.findings[0].remediation, /persistent: for a device the CNI recreates, a udev rule, \/etc\/udev\/rules\.d\/90-geneve-csum\.rules/);
  t.notMatch(anon.findings[0].remediation, /Antrea/);
});

/** vmxnet3-calico with vxlan.calico renamed name (and made external, no local address, when external). */
function renamed(name: string, o: { port?: number; external?: boolean; driver?: string; mac?: string } = {}): DoctorInputs {
  const base = machine('vmxnet3-calico');
  const orig = (i: string) => (i === name ? 'vxlan.calico' : i);
  return over(base, {
    interfaces: () => base.interfaces().map((i) => {
      if (i.name === 'ens192') return { ...i, mac: o.mac ?? i.mac };
      if (i.name !== 'vxlan.calico') return i;
      const v = i.vxlan!;
      return { ...i, name, vxlan: { ...v, port: o.port ?? v.port, ...(o.external ? { local: null, link: null } : {}) } };
    }),
    features: (i) => base.features(orig(i)),
    driverInfo: (i) => (i === 'ens192' && o.driver ? { ...base.driverInfo(i), driver: o.driver } : base.driverInfo(orig(i))),
    fdb: (d) => base.fdb(orig(d)),
  });
}

t.test('VXLAN on 4789 over a VMware NIC: each CNI\'s port setting', async (t) => {
  const flannel = only(runDoctor(renamed('flannel.1'), { now }), 'vxlan_port');
  t.same(flannel.map((f) => f.severity), ['warning']);
  t.match(flannel[0].remediation, /^with flannel \(its default is 8472, so 4789 was set on purpose\): set "Port": 4799 in the Backend of net-conf\.json \(ConfigMap kube-flannel-cfg\)/);
  // Cilium's device is external: its NIC is found by the route to its first peer VTEP.
  const r = runDoctor(renamed('cilium_vxlan', { external: true }), { now });
  const cilium = only(r, 'vxlan_port');
  t.match(cilium[0].evidence, /^cilium_vxlan sends VXLAN on UDP 4789 over ens192/);
  t.match(cilium[0].remediation, /^with Cilium: tunnel-port: "4799" in ConfigMap cilium-config \(Helm value tunnelPort=4799\)/);
  t.match(only(r, 'offload')[0].evidence, /underlay ens192 \(vmxnet3, the route to 10\.10\.20\.13 leaves by it\)/);
  t.match(only(r, 'offload')[0].remediation, /persistent: cilium-agent creates cilium_vxlan when it starts, so a udev rule/);
  t.same(only(r, 'mtu'), [], 'no MTU judged against a routed underlay');
  // Another port, or no VMware NIC: nothing. A VMware MAC with another driver: found.
  t.same(only(runDoctor(renamed('flannel.1', { port: 8472 }), { now }), 'vxlan_port'), []);
  t.same(only(runDoctor(renamed('flannel.1', { driver: 'virtio_net', mac: '52:54:00:12:34:56' }), { now }), 'vxlan_port'), []);
  const e1000 = only(runDoctor(renamed('vxlan.x', { driver: 'e1000', mac: '00:0C:29:aa:bb:cc' }), { now }), 'vxlan_port');
  t.match(e1000[0].evidence, /over ens192 \(a MAC address in VMware's range 00:0c:29 \(driver e1000\)\)/);
  t.match(e1000[0].remediation, /^move the VXLAN port in the CNI's configuration \(Calico: FelixConfiguration vxlanPort; flannel/);
});
