// Interface discovery: parsing `ip -d -j link` / `ip -j addr` as iproute2 prints them (fixtures
// captured from a lab node and from this VM's host namespace), sysfs drivers, and (root) a
// live lab, where what is found must be what the lab built.

import t from 'tap';
import * as fs from 'node:fs';
import { join } from 'node:path';

import { DEFAULT_CONFIG } from '../../src/lab/config';
import { labDown, labUp } from '../../src/lab/lab';
import { geneveDevices, listInterfaces, nicPortsOf, parseInterfaces, readDrivers, underlayOf, vxlanDevices } from '../../src/node/interfaces';

const FIX = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'node');
const read = (f: string) => fs.readFileSync(join(FIX, f), 'utf8');

t.test('a lab node: veth underlay, vxlan0 bound to eth0', async (t) => {
  const ifs = parseInterfaces(read('ip-link-lab-node1.json'), read('ip-addr-lab-node1.json'));
  t.same(ifs.map((i) => [i.name, i.kind, i.driver]), [['lo', 'loopback', 'loopback'], ['eth0', 'veth', 'veth'], ['eth1', 'veth', 'veth'], ['vxlan0', 'vxlan', 'vxlan']]);
  const vx = ifs.find((i) => i.name === 'vxlan0')!;
  t.same(vx.vxlan, { vni: 42, port: 4789, local: '10.200.0.1', remote: null, link: 'eth0', udpCsum: true, learning: false });
  t.equal(vx.mtu, 1450);
  t.equal(vx.up, true);
  t.equal(vx.mac, '02:00:0a:f4:00:01');
  t.same(vx.addresses, [{ family: 'inet', address: '10.244.0.1', prefix: 24 }]);
  t.same(vxlanDevices(ifs).map((i) => i.name), ['vxlan0']);
  t.equal(underlayOf(vx, ifs)?.name, 'eth0');
  t.equal(underlayOf(ifs[1], ifs), null, 'not a VXLAN device: no underlay');
});

t.test('IPv6 underlay, port 8472, no outer checksum', async (t) => {
  const ifs = parseInterfaces(read('ip-link-lab-v6-8472.json'), read('ip-addr-lab-v6-8472.json'));
  const vx = vxlanDevices(ifs)[0];
  t.same(vx.vxlan, { vni: 42, port: 8472, local: 'fd00:200::1', remote: null, link: 'eth0', udpCsum: false, learning: false });
  t.equal(vx.mtu, 1430, 'IPv6 underlay: 20 more bytes of header');
  t.same(ifs.find((i) => i.name === 'eth0')!.addresses, [{ family: 'inet6', address: 'fd00:200::1', prefix: 64 }]);
  // Bound device missing from the list: fall back to the device holding the local address.
  const unbound = { ...vx, vxlan: { ...vx.vxlan!, link: null } };
  t.equal(underlayOf(unbound, ifs)?.name, 'eth0');
  t.equal(underlayOf({ ...vx, vxlan: { ...vx.vxlan!, link: null, local: 'fd00::77' } }, ifs), null);
});

t.test('a VM host: a physical NIC on a bus, with its driver', async (t) => {
  const ifs = parseInterfaces(read('ip-link-host-virtio.json'), '[]', { eth0: 'virtio_net' });
  const eth0 = ifs.find((i) => i.name === 'eth0')!;
  t.equal(eth0.kind, 'physical');
  t.equal(eth0.driver, 'virtio_net');
  t.equal(ifs.find((i) => i.name === 'ifb0')!.kind, 'ifb');
  const noDriver = parseInterfaces(read('ip-link-host-virtio.json'), '[]');
  t.equal(noDriver.find((i) => i.name === 'eth0')!.driver, 'unknown', 'physical without a sysfs link: unknown');
});

t.test('Geneve: Open vSwitch\'s external genev_sys_6081, its NIC in br-ex (ovn-vmxnet3)', async (t) => {
  const ifs = parseInterfaces(read('ovn-vmxnet3/ip-link.json'), read('ovn-vmxnet3/ip-addr.json'));
  const gv = geneveDevices(ifs);
  t.same(gv.map((i) => [i.name, i.kind, i.mtu, i.master]), [['genev_sys_6081', 'geneve', 65000, 'ovs-system']]);
  t.same(gv[0].geneve, { vni: null, port: 6081, remote: null, external: true, udpCsum: false }, 'external: no VNI of its own');
  t.equal(gv[0].vxlan, null);
  t.same(vxlanDevices(ifs), [], 'a Geneve device is no VXLAN device');
  const byName = (n: string) => ifs.find((i) => i.name === n)!;
  t.same(['br-ex', 'br-int', 'ovs-system', 'ovn-k8s-mp0'].map((n) => byName(n).kind), ['openvswitch', 'openvswitch', 'openvswitch', 'openvswitch']);
  t.equal(byName('ens192').master, 'ovs-system');
  t.equal(byName('br-ex').master, null);
  t.same(byName('br-ex').addresses, [{ family: 'inet', address: '10.10.30.11', prefix: 24 }]);
  t.same(nicPortsOf(byName('br-ex'), ifs).map((i) => i.name), ['ens192'], 'an OVS bridge stands for the NICs in ovs-system');
  t.same(nicPortsOf(byName('ens192'), ifs), [], 'a NIC has no ports');
  t.same(nicPortsOf(gv[0], ifs), [], 'nor has a tunnel, though it is a port of ovs-system itself');
});

t.test('Geneve: linkinfo as each iproute2 prints it', async (t) => {
  const link = (name: string, data: object) => JSON.stringify([{ ifindex: 7, ifname: name, mtu: 1450, linkinfo: { info_kind: 'geneve', info_data: data } }]);
  const one = (name: string, data: object) => parseInterfaces(link(name, data), '[]')[0].geneve;
  // ip link add genev0 type geneve id 5 remote 10.1.1.2 dstport 6081 (iproute2 6.1's fields)
  t.same(one('genev0', { id: 5, remote: '10.1.1.2', ttl: 0, df: 'unset', port: 6081, udp_csum: false, udp_zero_csum6_tx: false, udp_zero_csum6_rx: false }),
    { vni: 5, port: 6081, remote: '10.1.1.2', external: false, udpCsum: false });
  t.same(one('genev6', { id: 9, remote6: 'fd00::2', ttl: 0, port: 7081, udp_csum: true }), { vni: 9, port: 7081, remote: 'fd00::2', external: false, udpCsum: true });
  // Older iproute2 printed only "external" for a collect-metadata device: the port from OVS's name, else the kernel's default.
  t.same(one('genev_sys_6090', { external: true }), { vni: null, port: 6090, remote: null, external: true, udpCsum: false });
  t.same(one('cilium_geneve', { external: true }), { vni: null, port: 6081, remote: null, external: true, udpCsum: false });
  const br = parseInterfaces(JSON.stringify([
    { ifindex: 2, ifname: 'eth0', parentbus: 'pci', master: 'br0' },
    { ifindex: 3, ifname: 'veth1', master: 'br0', linkinfo: { info_kind: 'veth' } },
    { ifindex: 4, ifname: 'br0', linkinfo: { info_kind: 'bridge' } },
  ]), '[]');
  t.same(nicPortsOf(br[2], br).map((i) => i.name), ['eth0'], 'a Linux bridge: its NIC ports, not its veths');
});

t.test('bad input: a NodeError, never a crash', async (t) => {
  for (const [link, addr] of [['not json', '[]'], ['{}', '[]'], ['[]', 'nope']]) {
    t.throws(() => parseInterfaces(link, addr), { code: 'CSW_ERR_NODE' }, `${link} / ${addr}`);
  }
  const ifs = parseInterfaces('[{"ifname":"x"},{"ifindex":3},{"ifindex":4,"ifname":"v","linkinfo":{"info_kind":"vxlan"}}]',
    '[{"ifname":"v","addr_info":[{"family":"inet","local":"1.2.3.4"},{"family":"packet"}]}]');
  t.same(ifs.map((i) => i.name), ['v'], 'entries without a name or an index are skipped');
  t.same(ifs[0].vxlan, { vni: 0, port: 8472, local: null, remote: null, link: null, udpCsum: false, learning: false }, 'a VXLAN device with no data: the kernel\'s defaults');
  t.same(ifs[0].addresses, [], 'addresses without a prefix length are skipped');
});

t.test('drivers from this machine\'s sysfs', async (t) => {
  const names = fs.readdirSync('/sys/class/net');
  const drivers = readDrivers(names);
  t.notOk('lo' in drivers, 'lo has no driver link');
  for (const n of names) {
    if (fs.existsSync(`/sys/class/net/${n}/device/driver`)) t.match(drivers[n], /^[\w-]+$/, `${n}: ${drivers[n]}`);
  }
  const here = listInterfaces();
  t.ok(here.some((i) => i.kind === 'loopback'), 'listInterfaces sees this namespace, lo included');
});

t.test('a live lab (root): discovery finds what the lab built', async (t) => {
  if (process.getuid?.() !== 0) {
    t.fail('needs root (network namespaces)');
    return;
  }
  const name = 'cswif';
  t.teardown(() => {
    labDown(name);
  });
  labUp({ ...DEFAULT_CONFIG, name, port: 8472, vni: 1 });
  let vx = vxlanDevices(listInterfaces({ ns: `${name}-node2` }))[0];
  t.same(vx.vxlan, { vni: 1, port: 8472, local: '10.200.0.2', remote: null, link: 'eth0', udpCsum: true, learning: false });
  labUp({ ...DEFAULT_CONFIG, name, bind: 'eth1' });
  const ifs = listInterfaces({ ns: `${name}-node1` });
  vx = vxlanDevices(ifs)[0];
  t.equal(vx.vxlan?.link, 'eth1', 'the wrong binding shows');
  t.equal(vx.vxlan?.local, '10.201.0.1');
  t.equal(underlayOf(vx, ifs)?.name, 'eth1');
});
