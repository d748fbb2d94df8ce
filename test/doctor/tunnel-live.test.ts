// `csumwatch doctor` on a tunnel device bound to nothing, in a real namespace (root): the NIC is
// found by the routes the kernel answers, not by the device's settings. This kernel has no Geneve
// (the Geneve machines are fixtures, test/fixtures/node/README.md), so the device is Cilium's
// shape of VXLAN: an external (collect-metadata) device, `cilium_vxlan`, on UDP 4789, with no
// local address and no bound device. Its packets leave by br0 (the node's address and default
// route), whose MAC is in VMware's range: the vxlan_port finding, with Cilium's setting.
//   cswdg-live   the node; cswdg-livep the other end of its veth

import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';

import { rootTest } from '../support/root';

const BIN = join(__dirname, '..', '..', '..', 'bin', 'csumwatch');
const NS = 'cswdg-live';
const PEER = 'cswdg-livep';
rootTest('the tunnel doctor test (network namespaces)');

interface Finding { check: string; severity: string; evidence: string; remediation: string }
interface Report { findings: Finding[]; interfaces: Array<{ name: string; role: string; vxlan: { underlay: string | null } | null }> }

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

function teardown(): void {
  for (const ns of [NS, PEER]) spawnSync('ip', ['netns', 'del', ns]);
}

const root = fs.mkdtempSync(join(os.tmpdir(), 'cswdg-'));
fs.mkdirSync(join(root, 'etc'));
fs.writeFileSync(join(root, 'etc', 'resolv.conf'), 'nameserver 10.10.50.1\n');
t.teardown(() => {
  teardown();
  fs.rmSync(root, { recursive: true, force: true });
});

teardown();
ip('netns', 'add', NS);
ip('netns', 'add', PEER);
ip('-n', NS, 'link', 'set', 'lo', 'up');
ip('link', 'add', 'eth0', 'netns', NS, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', PEER);
ip('-n', NS, 'link', 'add', 'br0', 'address', '00:50:56:8a:6f:41', 'type', 'bridge');
ip('-n', NS, 'link', 'set', 'eth0', 'master', 'br0');
for (const [ns, dev] of [[NS, 'eth0'], [NS, 'br0'], [PEER, 'eth0']]) ip('-n', ns, 'link', 'set', dev, 'up');
ip('-n', NS, 'addr', 'add', '10.10.50.11/24', 'dev', 'br0');
ip('-n', NS, 'route', 'add', 'default', 'via', '10.10.50.1', 'dev', 'br0');
ip('-n', NS, 'link', 'add', 'cilium_vxlan', 'type', 'vxlan', 'external', 'dstport', '4789');
ip('-n', NS, 'link', 'set', 'cilium_vxlan', 'up');

function doctor(...more: string[]): Report {
  const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, BIN, 'doctor', '--json', '--interval', '0', '--host-root', root, ...more], { encoding: 'utf8', timeout: 60_000 });
  if (r.stderr !== '') throw new Error(`doctor: ${r.stderr}`);
  return JSON.parse(r.stdout) as Report;
}
const only = (r: Report, check: string) => r.findings.filter((f) => f.check === check);

t.test('an external VXLAN device: its NIC by the default route, the port by Cilium\'s setting', async (t) => {
  const r = doctor();
  const [port] = only(r, 'vxlan_port');
  t.equal(port?.severity, 'warning');
  t.match(port?.evidence, /^cilium_vxlan sends VXLAN on UDP 4789 over br0 \(a MAC address in VMware's range 00:50:56 \(driver bridge\)\)/);
  t.match(port?.remediation, /^with Cilium: tunnel-port: "4799" in ConfigMap cilium-config/);
  const [off] = only(r, 'offload');
  t.match(off?.evidence, /^cilium_vxlan \(VXLAN port 4789\): tx-checksum-ip-generic on; underlay br0 \(bridge, the default route leaves by it\)/, 'the kernel\'s answer for the default route');
  t.match(off?.remediation, /cilium-agent creates cilium_vxlan when it starts/);
  t.same(only(r, 'mtu'), [], 'no MTU judged against a routed underlay');
  t.same(r.interfaces.map((i) => [i.name, i.role, i.vxlan?.underlay ?? null]), [['cilium_vxlan', 'vxlan', null]], 'the report\'s VXLAN underlay stays the bound one');
});

t.test('the node\'s address given: the device holding it; no route: said', async (t) => {
  const given = only(doctor('--node-ip', '10.10.50.11'), 'offload');
  t.match(given[0]?.evidence, /underlay br0 \(bridge, it holds the node's address 10\.10\.50\.11\)/);
  ip('-n', NS, 'route', 'del', 'default');
  const r = doctor();
  t.match(only(r, 'offload')[0]?.evidence, /underlay: not found \(no route to 192\.0\.2\.1: RTNETLINK answers: Network is unreachable\)/);
  t.same(only(r, 'vxlan_port'), [], 'no NIC: no port finding');
});
