// ethtool -k / -i parsing, on the outputs the doctor fixtures hold verbatim: a veth and a vxlan
// device of the lab (ethtool 6.1, Linux 6.18), and the vmxnet3 NIC built from the driver's
// declared features (test/fixtures/node/README.md); plus the forms older ethtool prints.

import t from 'tap';
import * as fs from 'node:fs';
import { join } from 'node:path';

import { featureText, parseDriverInfo, parseFeatures, readDriverInfo, readFeatures } from '../../src/node/ethtool';

const FIX = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'node');
const read = (f: string) => fs.readFileSync(join(FIX, f), 'utf8');

t.test('ethtool -k of a vxlan device: offload on, tunnel segmentation fixed off', async (t) => {
  const f = parseFeatures(read('nat-offload/ethtool-k/vxlan0.txt'));
  t.same(f['tx-checksum-ip-generic'], { on: true, fixed: false, requested: null });
  t.same(f['tx-udp_tnl-segmentation'], { on: false, fixed: true, requested: null });
  t.same(f['tx-checksumming'], { on: true, fixed: false, requested: null }, 'the group line is a feature too');
  t.notOk(f['Features for vxlan0'], 'the header is no feature');
  t.ok(Object.keys(f).length > 50, 'every feature line is read');
});

t.test('ethtool -k of vmxnet3: checksum and tunnel offloads on and changeable', async (t) => {
  const f = parseFeatures(read('vmxnet3-calico/ethtool-k/ens192.txt'));
  for (const name of ['tx-checksum-ip-generic', 'tx-udp_tnl-segmentation', 'tx-udp_tnl-csum-segmentation']) {
    t.same(f[name], { on: true, fixed: false, requested: null }, name);
  }
  t.same(f['rx-vlan-filter'], { on: true, fixed: true, requested: null });
});

t.test('[requested on], warnings and blank lines', async (t) => {
  const f = parseFeatures('Features for x:\nCannot get device udp-fragmentation-offload settings: Operation not supported\n' +
    'tx-checksumming: off [requested on]\n\ttx-checksum-ip-generic: off [requested on]\n\n  highdma: on [fixed]\nbogus line\n');
  t.same(Object.keys(f), ['tx-checksumming', 'tx-checksum-ip-generic', 'highdma']);
  t.same(f['tx-checksum-ip-generic'], { on: false, fixed: false, requested: true });
  t.equal(featureText(f['tx-checksum-ip-generic']), 'off [requested on]');
  t.equal(featureText(f.highdma), 'on [fixed]');
  t.equal(featureText({ on: true, fixed: false, requested: true }), 'on');
  t.same(parseFeatures(''), {});
});

t.test('ethtool -i', async (t) => {
  t.same(parseDriverInfo(read('vmxnet3-calico/ethtool-i/ens192.txt')), { driver: 'vmxnet3', version: '1.7.0.0-k-NAPI', firmware: '', busInfo: '0000:0b:00.0' });
  t.same(parseDriverInfo(read('healthy/ethtool-i/eth0.txt')).driver, 'veth');
  t.throws(() => parseDriverInfo('version: 1\n'), { code: 'CSW_ERR_NODE' }, 'no driver line: a NodeError');
});

t.test('the real commands on this machine', async (t) => {
  const f = readFeatures('lo');
  t.ok(f.loopback?.on, 'lo has loopback on');
  t.throws(() => readFeatures('nosuchdev0'), { code: 'CSW_ERR_NODE', message: /running ethtool -k nosuchdev0: exit/ });
  t.throws(() => readDriverInfo('lo'), { code: 'CSW_ERR_NODE' }, 'lo has no driver information');
  t.throws(() => readFeatures('-K'), { code: 'CSW_ERR_NODE', message: /not an interface name/ }, 'an option is never passed as a name');
  t.throws(() => readFeatures('a b'), { message: /not an interface name/ });
});
