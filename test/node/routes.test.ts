// ip route get and bridge fdb parsing (outputs from the doctor fixtures, captured in lab
// namespaces), and the batched lookup on this machine.

import t from 'tap';
import * as fs from 'node:fs';
import { join } from 'node:path';

import { isMulticast, parseFdb, parseRouteGet, routeGet, vtepPeers } from '../../src/node/routes';

const FIX = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'node');
const read = (f: string) => fs.readFileSync(join(FIX, f), 'utf8');

t.test('ip -j route get: connected, via a gateway, local', async (t) => {
  const all = JSON.parse(read('vmxnet3-calico/ip-route-get.json')) as Record<string, unknown>;
  t.same(parseRouteGet(JSON.stringify(all['10.10.20.12'])), { dst: '10.10.20.12', type: 'unicast', dev: 'ens192', prefsrc: '10.10.20.11', gateway: null });
  t.same(parseRouteGet(JSON.stringify(all['10.10.0.53'])).gateway, '10.10.20.1');
  const local = JSON.parse(read('healthy/ip-route-get.json'))['127.0.0.53'];
  t.same(parseRouteGet(JSON.stringify(local)), { dst: '127.0.0.53', type: 'local', dev: 'lo', prefsrc: '127.0.0.1', gateway: null });
  for (const bad of ['', '[]', '{}', '[{"dev":"x"}]', 'RTNETLINK answers: Network is unreachable']) {
    t.throws(() => parseRouteGet(bad), { code: 'CSW_ERR_NODE' }, JSON.stringify(bad));
  }
});

t.test('bridge -j fdb show: the VTEPs of a VXLAN device', async (t) => {
  const e = parseFdb(read('vmxnet3-calico/bridge-fdb/vxlan.calico.json'));
  t.same(e.map((x) => x.dst), ['10.10.20.13', '10.10.20.12']);
  t.same(vtepPeers(e), ['10.10.20.13', '10.10.20.12']);
  // A default destination (all-zero MAC), a multicast group, duplicates and a bridge port entry.
  const mixed = parseFdb(JSON.stringify([
    { mac: '00:00:00:00:00:00', dst: '10.0.0.9', flags: ['self'], state: 'permanent' },
    { mac: 'aa:aa:aa:aa:aa:aa', dst: '10.0.0.9', flags: ['self'], state: 'permanent' },
    { mac: 'bb:bb:bb:bb:bb:bb', dst: '239.1.1.1', flags: ['self'], state: 'permanent' },
    { mac: 'cc:cc:cc:cc:cc:cc', ifname: 'cni0', master: 'cni0', state: '' },
    { dst: '10.0.0.1' },
  ]));
  t.equal(mixed.length, 4, 'entries without a MAC are skipped');
  t.same(vtepPeers(mixed), ['10.0.0.9'], 'unicast VTEPs once; no group, no bridge port');
  t.equal(mixed[3].ifname, 'cni0');
  t.throws(() => parseFdb('{'), { code: 'CSW_ERR_NODE' });
  t.throws(() => parseFdb('{}'), { code: 'CSW_ERR_NODE' });
  t.ok(isMulticast('ff02::1') && isMulticast('224.0.0.1') && !isMulticast('10.0.0.1') && !isMulticast('fd00::1'));
});

t.test('routeGet: one batch, answers matched to addresses', async (t) => {
  const r = routeGet(['127.0.0.1', 'not-an-address', '127.0.0.1', '::1', '10.0.0.1\nroute flush all']);
  t.equal(r.get('127.0.0.1')?.route?.type, 'local');
  t.equal(r.get('127.0.0.1')?.route?.dev, 'lo');
  t.equal(r.get('not-an-address')?.error, 'not an IP address');
  t.equal(r.get('10.0.0.1\nroute flush all')?.error, 'not an IP address', 'a line break never reaches ip -batch');
  t.ok(r.get('::1')?.route ?? r.get('::1')?.error, '::1 answered either way (IPv6 may be off)');
  t.same(routeGet([]).size, 0);
});
