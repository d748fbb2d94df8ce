// resolv.conf, dnsmasq server= lines and the kubelet's configuration, on the files the doctor
// fixtures hold (systemd-resolved's generated files, a kubeadm KubeletConfiguration).

import t from 'tap';
import * as fs from 'node:fs';
import { join } from 'node:path';

import { parseKubeletConfig } from '../../src/node/kubelet';
import { isLoopback, parseDnsmasqServers, parseResolvConf, stripZone } from '../../src/node/resolv';

const FIX = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'node');
const read = (f: string) => fs.readFileSync(join(FIX, f), 'utf8');

t.test('systemd-resolved: the stub file and the upstream file', async (t) => {
  t.same(parseResolvConf(read('resolv-loop/etc/resolv.conf')), { nameservers: ['127.0.0.53'], search: ['corp.example'], options: ['edns0', 'trust-ad'] }, 'through the symlink');
  t.same(parseResolvConf(read('resolv-loop/run/systemd/resolve/resolv.conf')).nameservers, ['10.96.0.10', '10.200.0.254']);
});

t.test('resolv.conf details', async (t) => {
  const c = parseResolvConf('# comment\n; other comment\nnameserver 10.0.0.1 # trailing\nnameserver fe80::1%eth0\ndomain a.example\nsearch b.example c.example\noptions ndots:5\noptions timeout:2\nnameserver\nbogus x\n');
  t.same(c, { nameservers: ['10.0.0.1', 'fe80::1%eth0'], search: ['b.example', 'c.example'], options: ['ndots:5', 'timeout:2'] });
  t.same(parseResolvConf(''), { nameservers: [], search: [], options: [] });
  t.equal(stripZone('fe80::1%eth0'), 'fe80::1');
  t.equal(stripZone('10.0.0.1'), '10.0.0.1');
  for (const a of ['127.0.0.53', '127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1']) t.ok(isLoopback(a), a);
  for (const a of ['10.96.0.10', '::2', 'fe80::1%lo', 'localhost', '']) t.notOk(isLoopback(a), a);
});

t.test('dnsmasq: catch-all servers only', async (t) => {
  t.same(parseDnsmasqServers('server=10.96.0.10\nserver=/cluster.local/10.96.0.10\nserver=1.1.1.1#5353\nserver = fd00::53@eth0\n#server=9.9.9.9\nserver=/local/\nno-resolv\n'),
    ['10.96.0.10', '1.1.1.1', 'fd00::53']);
});

t.test('kubelet configuration', async (t) => {
  t.same(parseKubeletConfig(read('resolv-loop/var/lib/kubelet/config.yaml')), { clusterDNS: ['10.96.0.10'], resolvConf: '/etc/resolv.conf' });
  t.same(parseKubeletConfig('{"kind":"KubeletConfiguration","clusterDNS":["10.43.0.10",7]}'), { clusterDNS: ['10.43.0.10'], resolvConf: null }, 'JSON, no resolvConf');
  t.equal(parseKubeletConfig('kind: Pod\n'), null, 'another kind');
  t.equal(parseKubeletConfig(': : :\n\t- ['), null, 'not YAML');
  t.equal(parseKubeletConfig('just a string'), null);
});
