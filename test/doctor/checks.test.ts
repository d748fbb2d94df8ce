// Each check as the pure function it is, on small typed inputs: the cases the machine fixtures
// do not reach (other drivers, IPv6 underlays, dnsmasq stubs, link-local nameservers, missing
// routes, unknown offload) and the boundaries (MTU exactly at the limit, one peer or many).

import t from 'tap';

import { checkBinding } from '../../src/doctor/binding';
import { cniOf } from '../../src/doctor/cni';
import { raise, rank } from '../../src/doctor/finding';
import { checkIpv6 } from '../../src/doctor/ipv6';
import { checkMtu, underlayFamily } from '../../src/doctor/mtu';
import { checkNat } from '../../src/doctor/nat';
import { checkOffload, DeviceOffload } from '../../src/doctor/offload';
import { checkResolv, ResolvInput } from '../../src/doctor/resolv';
import { checkVxlanPort, vmwareNic } from '../../src/doctor/vxlan-port';
import { ConntrackEntry } from '../../src/node/conntrack';
import { Features } from '../../src/node/ethtool';
import { IfAddress, NetInterface } from '../../src/node/interfaces';
import { RouteResult } from '../../src/node/routes';

function iface(name: string, o: Partial<NetInterface> = {}): NetInterface {
  return { name, ifindex: 1, kind: 'physical', mtu: 1500, up: true, mac: '', driver: 'virtio_net', addresses: [], vxlan: null, ...o };
}
const v4 = (address: string, prefix = 24): IfAddress => ({ family: 'inet', address, prefix });
const v6 = (address: string, prefix = 64): IfAddress => ({ family: 'inet6', address, prefix });
function vxlan(name: string, local: string | null, link: string | null, o: Partial<NetInterface> = {}): NetInterface {
  return iface(name, { kind: 'vxlan', driver: 'vxlan', mtu: 1450, vxlan: { vni: 1, port: 8472, local, remote: null, link, udpCsum: false, learning: false }, ...o });
}
const route = (dev: string, prefsrc: string, type = 'unicast'): RouteResult => ({ route: { dst: '', type, dev, prefsrc, gateway: null } });
const features = (on: Record<string, boolean>): Features =>
  Object.fromEntries(Object.entries(on).map(([k, v]) => [k, { on: v, fixed: false, requested: null }]));

t.test('severity helpers', async (t) => {
  t.equal(raise('info'), 'warning');
  t.equal(raise('warning', 5), 'critical');
  t.ok(rank('critical') > rank('warning') && rank('warning') > rank('info'));
});

t.test('offload: drivers, unknown counters, missing underlay', async (t) => {
  const vx: DeviceOffload = { name: 'flannel.1', driver: 'vxlan', features: features({ 'tx-checksum-ip-generic': true }) };
  const e1000: DeviceOffload = { name: 'ens33', driver: 'e1000', features: features({ 'tx-checksum-ipv4': true }) };
  const none = { total: 0, rise: 0, seconds: 2 };
  const [f] = checkOffload({ vxlan: vx, port: 8472, underlay: e1000, errors: none });
  t.equal(f.severity, 'info', 'an emulated NIC is named, not blamed');
  t.match(f.evidence, /emulated Intel e1000/);
  t.match(f.evidence, /tx-checksum-ipv4 on/);
  t.match(f.remediation, /flannel recreates flannel\.1 at every start, so a udev rule/);
  t.match(f.remediation, /KERNEL=="flannel\.1", RUN\+="\/usr\/sbin\/ethtool -K flannel\.1 tx-checksum-ip-generic off"/);
  const [g] = checkOffload({ vxlan: vx, port: 8472, underlay: null, errors: { total: null, rise: null, seconds: null } });
  t.match(g.evidence, /underlay: not found/);
  t.match(g.evidence, /Udp InCsumErrors: unreadable/);
  t.notMatch(g.remediation, /nmcli/, 'no NIC to name');
  const [h] = checkOffload({ vxlan: { ...vx, features: null, error: 'no such device' }, port: 8472, underlay: e1000, errors: none });
  t.equal(h.severity, 'warning');
  t.match(h.evidence, /could not read its offload features: no such device/);
  const off = { ...vx, features: features({ 'tx-checksum-ip-generic': false }) };
  t.same(checkOffload({ vxlan: off, port: 8472, underlay: e1000, errors: none }), [], 'offload off, no errors: nothing');
  const [w] = checkOffload({ vxlan: off, port: 8472, underlay: e1000, errors: { total: 9, rise: 4, seconds: 2 } });
  t.equal(w.severity, 'warning', 'errors rising with offload off here: a peer\'s doing');
  t.match(w.remediation, /^find the sender/);
  const [c] = checkOffload({ vxlan: vx, port: 8472, underlay: e1000, errors: { total: 9, rise: 4, seconds: 2 } });
  t.equal(c.severity, 'critical', 'rising with offload on: critical whatever the driver');
});

t.test('binding: local address nowhere, no route, bound elsewhere, many peers', async (t) => {
  const eth0 = iface('eth0', { addresses: [v4('10.0.0.5')] });
  const eth1 = iface('eth1', { addresses: [v4('10.1.0.5')] });
  const ifs = [eth0, eth1];
  const base = { interfaces: ifs, peersTotal: 1, nodeAddress: null };
  const gone = checkBinding({ ...base, vxlan: vxlan('flannel.1', '10.9.9.9', 'eth0'), peers: ['10.0.0.6'], routes: new Map([['10.0.0.6', route('eth0', '10.0.0.5')]]) });
  t.same(gone.map((f) => f.severity), ['critical']);
  t.match(gone[0].evidence, /its local address 10\.9\.9\.9 is on no interface of this node/);

  const unreachable = checkBinding({
    ...base, peersTotal: 2, vxlan: vxlan('flannel.1', '10.0.0.5', 'eth0'), peers: ['10.7.0.1', '10.7.0.2'],
    routes: new Map<string, RouteResult>([['10.7.0.1', { error: 'RTNETLINK answers: Network is unreachable' }], ['10.7.0.2', route('eth0', '10.0.0.5', 'blackhole')]]),
  });
  t.same(unreachable.map((f) => f.severity), ['critical']);
  t.match(unreachable[0].evidence, /no route to peer VTEPs 10\.7\.0\.1 \(RTNETLINK answers: Network is unreachable\), 10\.7\.0\.2 \(blackhole\) \(2 of 2 peer VTEPs checked\)/);

  const bound = checkBinding({ ...base, vxlan: vxlan('flannel.1', '10.0.0.5', 'eth1'), peers: ['10.0.0.6'], routes: new Map([['10.0.0.6', route('eth0', '10.0.0.5')]]) });
  t.same(bound.map((f) => f.severity), ['warning'], 'bound to eth1, address and routes on eth0: unicast works, a warning');
  t.match(bound[0].evidence, /is bound to eth1, but its local address 10\.0\.0\.5 is on eth0, and the routes to its peers leave by eth0, not eth1/);

  const peers = ['10.1.0.6', '10.1.0.7', '10.1.0.8', '10.1.0.9', '10.1.0.10'];
  const many = checkBinding({ ...base, peersTotal: 40, vxlan: vxlan('flannel.1', '10.0.0.5', 'eth0'), peers, routes: new Map(peers.map((p) => [p, route('eth1', '10.1.0.5')])) });
  t.same(many.map((f) => f.severity), ['critical']);
  t.match(many[0].evidence, /peer VTEPs 10\.1\.0\.6, 10\.1\.0\.7, 10\.1\.0\.8 and 2 more leaves by eth1 with source 10\.1\.0\.5 \(5 of 40 peer VTEPs checked\)/);
  t.match(many[0].remediation, /--iface-can-reach=10\.1\.0\.6/);

  t.same(checkBinding({ ...base, vxlan: vxlan('cilium_vxlan', null, null), peers: [], routes: new Map() }), [], 'nothing bound, no local address: the routes decide, nothing to check');
  t.same(checkBinding({ ...base, vxlan: eth0, peers: [], routes: new Map() }), [], 'not a VXLAN device');
});

t.test('MTU: IPv4 50, IPv6 70, the boundary, the family', async (t) => {
  const ul = iface('eth0', { addresses: [v6('fd00::5')] });
  t.same(checkMtu({ vxlan: vxlan('vx', 'fd00::5', 'eth0', { mtu: 1430 }), underlay: ul }), [], 'IPv6 at the limit: fine');
  const [f] = checkMtu({ vxlan: vxlan('vx', 'fd00::5', 'eth0', { mtu: 1450 }), underlay: ul });
  t.equal(f.severity, 'critical');
  t.match(f.evidence, /minus the 70 bytes of VXLAN over IPv6 \(1430\)/);
  t.same(checkMtu({ vxlan: vxlan('vx', '10.0.0.5', 'eth0', { mtu: 1450 }), underlay: iface('eth0') }), [], 'IPv4 at the limit: fine');
  t.equal(checkMtu({ vxlan: vxlan('vx', '10.0.0.5', 'eth0', { mtu: 1451 }), underlay: iface('eth0') }).length, 1, 'one byte over: found');
  t.same(checkMtu({ vxlan: vxlan('vx', '10.0.0.5', null), underlay: null }), [], 'no underlay: nothing to compare');
  t.equal(underlayFamily(vxlan('vx', null, 'eth0'), ul), 'ipv6', 'no local address: the underlay\'s only family');
  t.equal(underlayFamily(vxlan('vx', null, 'eth0'), iface('eth0', { addresses: [v4('10.0.0.5'), v6('fe80::1')] })), 'ipv4', 'link-local IPv6 does not count');
});

t.test('resolv: dnsmasq stubs, unreadable upstreams, the kubelet\'s own file', async (t) => {
  const base: ResolvInput = {
    etc: { path: '/etc/resolv.conf', link: null, conf: { nameservers: ['127.0.0.1'], search: [], options: [] } },
    stub: { kind: 'dnsmasq', address: '127.0.0.1', path: '/etc/dnsmasq.conf', upstreams: ['10.43.0.10'] },
    clusterDns: { addresses: ['10.43.0.10'], source: 'given by the caller' },
    kubelet: null,
  };
  const [f] = checkResolv(base);
  t.equal(f.severity, 'critical');
  t.match(f.evidence, /points at the dnsmasq stub 127\.0\.0\.1, which forwards to the cluster DNS service 10\.43\.0\.10 \(\/etc\/dnsmasq\.conf/);
  t.match(f.remediation, /the server= line/);
  const unread = checkResolv({ ...base, stub: { ...base.stub!, upstreams: null } });
  t.same(unread.map((x) => x.severity), ['info']);
  t.match(unread[0].evidence, /whose upstream servers could not be read/);
  const kube = checkResolv({
    ...base, stub: null, etc: { ...base.etc, conf: { nameservers: ['10.0.0.2'], search: [], options: [] } },
    kubelet: { path: '/var/lib/kubelet/config.yaml', resolvConf: '/etc/kubernetes/resolv.conf', nameservers: ['10.43.0.10'] },
  });
  t.same(kube.map((x) => x.severity), ['critical']);
  t.match(kube[0].evidence, /gives pods with dnsPolicy Default, CoreDNS among them, \/etc\/kubernetes\/resolv\.conf, which names the cluster DNS service 10\.43\.0\.10: CoreDNS forwards to itself/);
  t.same(checkResolv({ ...base, stub: null, etc: { ...base.etc, conf: null } }), [], 'no resolv.conf at all: nothing to say here');
});

t.test('nameservers: all unroutable, link-local, route types', async (t) => {
  const eth0 = iface('eth0', { addresses: [v6('fe80::5')] });
  const down = iface('eth1', { up: false, addresses: [v6('fe80::6')] });
  const routes = new Map<string, RouteResult>([
    ['10.255.0.53', { error: 'RTNETLINK answers: Network is unreachable' }],
    ['fd00::53', route('lo', '::1', 'unreachable')],
  ]);
  const all = checkIpv6({ nameservers: [{ address: '10.255.0.53', from: '/etc/resolv.conf' }, { address: 'fd00::53', from: '/etc/resolv.conf' }], routes, interfaces: [eth0], answers: null });
  t.same(all.map((f) => `${f.check}:${f.severity}`), ['resolv:critical', 'ipv6:critical'], 'none reachable: critical, each under its family\'s check');
  t.match(all[0].evidence, /no nameserver it names can be reached/);
  t.match(all[1].evidence, /no route to it \(unreachable route\)/);
  const ll = checkIpv6({
    nameservers: [{ address: 'fe80::1%eth0', from: 'f' }, { address: 'fe80::1%eth1', from: 'f' }, { address: 'fe80::1%eth9', from: 'f' }, { address: 'fe80::1%eth0', from: 'g' }],
    routes: new Map(), interfaces: [eth0, down], answers: null,
  });
  t.same(ll.map((f) => f.severity), ['warning', 'warning'], 'a zone that is down or missing; the same address once');
  t.match(ll[0].evidence, /eth1 is down/);
  t.match(ll[1].evidence, /no interface eth9/);
});

t.test('nat: offload off or unknown, nothing translated, conntrack unreadable, truncated', async (t) => {
  const entry = (sport: number, replyDport: number): ConntrackEntry => ({
    family: 'ipv4', proto: 'udp', flags: [],
    original: { src: '10.0.0.5', dst: '10.0.0.6', sport, dport: 8472 },
    reply: { src: '10.0.0.6', dst: '10.0.0.5', sport: 8472, dport: replyDport },
  });
  const dev = { name: 'flannel.1', port: 8472, offloadOn: false };
  const nat = { entries: [entry(1000, 2000), entry(1001, 1001)], source: 'conntrack', truncated: true };
  const [off] = checkNat({ devices: [dev], conntrack: nat });
  t.equal(off.severity, 'info');
  t.match(off.evidence, /^1\+ of 2 conntrack entries for UDP port 8472 \(VXLAN\) have a translated source, e\.g\. 10\.0\.0\.5:1000 → 10\.0\.0\.5:2000 toward 10\.0\.0\.6; flannel\.1 compute their checksums themselves/);
  t.match(checkNat({ devices: [{ ...dev, offloadOn: null }], conntrack: nat })[0].evidence, /offload unknown/);
  t.same(checkNat({ devices: [dev], conntrack: { entries: [entry(1001, 1001)], source: 'conntrack', truncated: false } }), [], 'no translation: nothing');
  t.same(checkNat({ devices: [{ ...dev, port: 4789 }], conntrack: nat }), [], 'entries for another port: nothing');
  t.same(checkNat({ devices: [], conntrack: null }), [], 'no VXLAN device: nothing');
  const [u] = checkNat({ devices: [dev], conntrack: null, error: 'running conntrack: not installed' });
  t.equal(u.severity, 'info');
  t.match(u.remediation, /apt install conntrack/);
});

t.test('cni: told from the device names', async (t) => {
  const names = (...n: string[]) => n.map((x) => iface(x));
  const g = iface('genev_sys_6081', { kind: 'geneve' });
  t.equal(cniOf(vxlan('vxlan.calico', null, null), []), 'calico');
  t.equal(cniOf(vxlan('flannel.1', null, null), []), 'flannel');
  t.equal(cniOf(vxlan('flannel.42', null, null), []), 'flannel');
  t.equal(cniOf(vxlan('cilium_vxlan', null, null), []), 'cilium');
  t.equal(cniOf(iface('cilium_geneve', { kind: 'geneve' }), []), 'cilium');
  t.equal(cniOf(g, names('br-int', 'antrea-gw0')), 'antrea', 'antrea-gw0 decides, though its bridge is br-int too');
  t.equal(cniOf(g, names('br-int', 'ovn-k8s-mp0', 'br-ex')), 'ovn-kubernetes');
  t.equal(cniOf(g, names('br-int')), null, 'br-int alone: some OVS-based CNI, not named');
  t.equal(cniOf(vxlan('vxlan0', null, null), names('antrea-gw0')), null, 'an unknown device name: no CNI, whatever is around it');
  t.equal(cniOf(vxlan('flannel.x', null, null), []), null);
});

t.test('vxlan_port: 4789 over a VMware NIC, and nothing else', async (t) => {
  const nic = { name: 'ens192', driver: 'vmxnet3', mac: '00:50:56:01:02:03' };
  const at = (port: number) => vxlan('flannel.1', null, null, { vxlan: { vni: 1, port, local: null, remote: null, link: null, udpCsum: false, learning: false } });
  const [f] = checkVxlanPort({ vxlan: at(4789), underlay: nic, cni: 'flannel' });
  t.equal(f.check, 'vxlan_port');
  t.equal(f.severity, 'warning', 'never critical: the hypervisor cannot be seen from the node');
  t.match(f.evidence, /whether NSX is there cannot be seen from the node/);
  t.same(checkVxlanPort({ vxlan: at(8472), underlay: nic, cni: 'flannel' }), [], '8472: not this finding');
  t.same(checkVxlanPort({ vxlan: at(4789), underlay: null, cni: 'flannel' }), [], 'no underlay: nothing to judge');
  t.same(checkVxlanPort({ vxlan: iface('ens192'), underlay: nic, cni: null }), [], 'not a VXLAN device');
  t.same(checkVxlanPort({ vxlan: at(4789), underlay: { ...nic, driver: 'ena', mac: '0a:1b:2c:3d:4e:5f' }, cni: null }), [], 'not VMware');
  t.equal(vmwareNic({ driver: 'vmxnet3', mac: '' }), 'vmxnet3, VMware\'s paravirtual NIC');
  t.match(vmwareNic({ driver: 'e1000e', mac: '00:05:69:00:00:01' }) ?? '', /range 00:05:69 \(driver e1000e\)/);
  t.equal(vmwareNic({ driver: 'virtio_net', mac: '00:50:57:00:00:01' }), null, 'next to VMware\'s range is not in it');
  const [c] = checkVxlanPort({ vxlan: at(4789), underlay: nic, cni: 'calico' });
  t.match(c.remediation, /"vxlanPort":4799/);
  t.match(c.remediation, /firewalls and security groups between nodes must pass UDP 4799/);
});

t.test('offload: Geneve, each CNI\'s fix, and a mitigation', async (t) => {
  const vmxnet3: DeviceOffload = { name: 'ens192', driver: 'vmxnet3', features: features({ 'tx-checksum-ip-generic': true, 'tx-udp_tnl-segmentation': true }) };
  const gv = (name: string): DeviceOffload => ({ name, driver: 'geneve', features: features({ 'tx-checksum-ip-generic': true }) });
  const none = { total: 0, rise: 0, seconds: 2 };
  const [c] = checkOffload({ vxlan: gv('cilium_geneve'), port: 6081, underlay: vmxnet3, errors: none, encap: 'Geneve', cni: 'cilium', underlayNote: 'the default route leaves by it' });
  t.equal(c.severity, 'warning', 'vmxnet3 below, no errors: warning, as for VXLAN');
  t.match(c.evidence, /^cilium_geneve \(Geneve port 6081\): tx-checksum-ip-generic on; underlay ens192 \(vmxnet3, the default route leaves by it\): /);
  t.match(c.remediation, /persistent: cilium-agent creates cilium_geneve when it starts, so a udev rule, \/etc\/udev\/rules\.d\/90-geneve-csum\.rules/);
  t.notMatch(c.remediation, /Calico|Antrea|OpenShift/);
  const [o] = checkOffload({ vxlan: gv('genev_sys_6081'), port: 6081, underlay: { ...vmxnet3, driver: 'virtio_net' }, errors: none, encap: 'Geneve', cni: 'ovn-kubernetes' });
  t.notMatch(o.remediation, /machine-config-operator/, 'OpenShift\'s vmxnet3 fix named only over vmxnet3');
  t.match(o.remediation, /Open vSwitch creates genev_sys_6081 again/);
  const m = 'ens192 has transmit checksum offload off';
  const [x] = checkOffload({ vxlan: gv('genev_sys_6081'), port: 6081, underlay: vmxnet3, errors: none, encap: 'Geneve', cni: null, mitigation: m });
  t.equal(x.severity, 'info', 'mitigated: the driver raises nothing');
  t.match(x.evidence, /ens192 has transmit checksum offload off; Udp InCsumErrors/);
  const [y] = checkOffload({ vxlan: gv('genev_sys_6081'), port: 6081, underlay: vmxnet3, errors: { total: 9, rise: 4, seconds: 2 }, encap: 'Geneve', cni: null, mitigation: m });
  t.equal(y.severity, 'critical', 'rising errors outweigh any mitigation');
  const off = { ...gv('genev_sys_6081'), features: features({ 'tx-checksum-ip-generic': false }) };
  const [z] = checkOffload({ vxlan: off, port: 6081, underlay: vmxnet3, errors: none, encap: 'Geneve', mitigation: m });
  t.equal(z.severity, 'info', 'offload off: only the NIC\'s tunnel segmentation is left to say');
  t.notMatch(z.evidence, /transmit checksum offload off/, 'a mitigation is only named where the device\'s offload is on');
  const [u] = checkOffload({ vxlan: gv('genev0'), port: 6081, underlay: null, errors: none, encap: 'Geneve', underlayMissing: 'no route to 10.1.1.2: RTNETLINK answers: Network is unreachable' });
  t.match(u.evidence, /underlay: not found \(no route to 10\.1\.1\.2: RTNETLINK answers: Network is unreachable\)/);
});
