// Agent configuration: defaults, a YAML file, CSUMWATCH_* variables and flags, later sources
// winning; every bad value refused with one line naming its source. And the CLI around it:
// usage errors exit 2 with one stderr line, --help exits 0.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';

import { DEFAULT_AGENT_CONFIG, FIELDS, loadConfig } from '../../src/agent/config';
import { BIN } from '../support/cli';

const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-config-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const yaml = (name: string, text: string) => {
  const p = join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};

t.test('defaults', async (t) => {
  const c = loadConfig({});
  t.same(c, DEFAULT_AGENT_CONFIG);
  t.same(c.vxlanPorts, [4789, 8472]);
  t.same(c.listen, { host: '0.0.0.0', port: 9475 });
  t.equal(c.bpf, 'auto');
  t.equal(c.datapath, 'auto', 'the kernel datapath where it loads');
  t.equal(c.vtepPackets, 'auto', 'dns on the kernel datapath, all on libpcap');
  t.ok(c.bpfEventReasons.includes('udp_csum') && c.bpfEventReasons.includes('vxlan_invalid_hdr'), 'checksum and tunnel reasons send events');
  t.same(loadConfig({ env: { CSUMWATCH_BPF_EVENT_REASON: 'udp_csum, ip_csum' } }).bpfEventReasons, ['udp_csum', 'ip_csum'], 'the list replaces the default set');
  t.not(c.vxlanPorts, DEFAULT_AGENT_CONFIG.vxlanPorts, 'a copy: changing it leaves the defaults alone');
});

t.test('--geneve-port: 6081 by default, repeatable, replaces the set, from each source', async (t) => {
  t.same(loadConfig({}).genevePorts, [6081]);
  t.same(loadConfig({ flags: { 'geneve-port': ['6081', '7081'] } }).genevePorts, [6081, 7081]);
  t.same(loadConfig({ env: { CSUMWATCH_GENEVE_PORT: '7081' } }).genevePorts, [7081]);
  t.same(loadConfig({ file: yaml('g.yaml', 'genevePorts: [6082]\n') }).genevePorts, [6082]);
  t.throws(() => loadConfig({ flags: { 'geneve-port': ['0'] } }), /geneve-port/);
});

t.test('file < environment < flags', async (t) => {
  const file = yaml('a.yaml', 'listen: "127.0.0.1:9000"\ninterfaces: [eth0, flannel.1]\nvxlanPorts: [8472]\ndnsTimeout: 2\nvtepPackets: dns\n');
  const c = loadConfig({
    file,
    env: { CSUMWATCH_DNS_TIMEOUT: '3', CSUMWATCH_VXLAN_PORT: '4789, 8472', CSUMWATCH_LOG_LEVEL: 'debug' },
    flags: { 'dns-timeout': '4', interface: ['vxlan.calico'] },
  });
  t.same(c.listen, { host: '127.0.0.1', port: 9000 }, 'file');
  t.equal(c.vtepPackets, 'dns', 'file');
  t.same(c.vxlanPorts, [4789, 8472], 'environment over file, comma-separated');
  t.equal(c.logLevel, 'debug', 'environment');
  t.equal(c.dnsTimeout, 4, 'flag over environment over file');
  t.same(c.interfaces, ['vxlan.calico'], 'flag replaces the list');
  t.equal(loadConfig({ flags: { listen: '[::1]:9475' } }).listen.host, '::1', 'IPv6 listen address');
  t.equal(loadConfig({ file: yaml('empty.yaml', '') }).dnsTimeout, 5, 'an empty file is no settings');
});

t.test('a file of many keys is read in linear time', async (t) => {
  // The yaml package's own duplicate check was quadratic: 60 000 keys took 25 s.
  const many = yaml('many.yaml', Array.from({ length: 60_000 }, (_, i) => `k${i}: 1`).join('\n') + '\n');
  const t0 = Date.now();
  t.throws(() => loadConfig({ file: many }), /unknown setting 'k0'/);
  t.ok(Date.now() - t0 < 10_000, `refused in ${Date.now() - t0} ms (bounded: the check is linear)`);
});

t.test('every setting has a distinct flag, variable and YAML key', async (t) => {
  for (const k of ['flag', 'env', 'yaml'] as const) t.equal(new Set(FIELDS.map((f) => f[k])).size, FIELDS.length, k);
  t.same(FIELDS.map((f) => f.key).sort(), Object.keys(DEFAULT_AGENT_CONFIG).sort(), 'every setting is configurable');
});

t.test('bad values: one line naming where they came from', async (t) => {
  const bad: Array<[Parameters<typeof loadConfig>[0], RegExp]> = [
    [{ flags: { 'vxlan-port': ['0'] } }, /^--vxlan-port: not a port number: 0$/],
    [{ flags: { 'dns-port': ['53x'] } }, /^--dns-port: not a port number: 53x$/],
    [{ flags: { listen: 'localhost' } }, /^--listen: expected HOST:PORT/],
    [{ flags: { listen: '0.0.0.0:70000' } }, /^--listen: expected HOST:PORT/],
    [{ flags: { 'dns-timeout': '0' } }, /^--dns-timeout: out of range 0.01\.\.3600: 0$/],
    [{ flags: { 'dns-capacity': '1.5' } }, /^--dns-capacity: not an integer: 1.5$/],
    [{ flags: { 'vtep-packets': 'some' } }, /^--vtep-packets: expected one of auto, all, dns: some$/],
    [{ env: { CSUMWATCH_DATAPATH: 'xdp' } }, /^CSUMWATCH_DATAPATH: expected one of auto, kernel, pcap: xdp$/],
    [{ flags: { interface: ['a/b'] } }, /^--interface: not an interface name: "a\/b"$/],
    [{ flags: { interface: ['sixteen-chars-xx'] } }, /not an interface name/],
    [{ env: { CSUMWATCH_SNAPLEN: '64' } }, /^CSUMWATCH_SNAPLEN: out of range 128\.\.262144: 64$/],
    [{ env: { CSUMWATCH_LOG_LEVEL: 'loud' } }, /^CSUMWATCH_LOG_LEVEL: expected one of/],
    [{ file: join(dir, 'missing.yaml') }, /^reading .*missing\.yaml: no such file$/],
    [{ file: yaml('bad.yaml', 'listen: [1, 2\n') }, /^reading .*bad\.yaml: not YAML: /],
    [{ file: yaml('list.yaml', '- a\n- b\n') }, /expected a mapping of settings$/],
    [{ file: yaml('unknown.yaml', 'dnsTimout: 2\n') }, /unknown setting 'dnsTimout' \(known: listen, /],
    [{ file: yaml('twice.yaml', 'dnsTimeout: 2\ndnsTimeout: 3\n') }, /: setting 'dnsTimeout' given twice$/],
    [{ file: yaml('huge.yaml', '#'.repeat((1 << 20) + 1)) }, /: larger than 1 MiB; a settings file is far smaller$/],
    [{ file: yaml('type.yaml', 'dnsTimeout: {a: 1}\n') }, /dnsTimeout: expected a single value$/],
    [{ flags: { 'bpf-ring': '1000' } }, /^--bpf-ring: not a power of 2: 1000$/],
    [{ flags: { 'cluster-dns': ['10.96.0.10', 'kube-dns'] } }, /^--cluster-dns: not an IP address: "kube-dns"$/],
    [{ flags: { 'doctor-interval': '-1' } }, /^--doctor-interval: out of range 0\.\.86400: -1$/],
    [{ flags: { 'bpf-ring': '32' } }, /^--bpf-ring: out of range 64\.\.1048576: 32$/],
    [{ flags: { bpf: 'on' } }, /^--bpf: expected one of auto, off: on$/],
    [{ flags: { 'bpf-attach': 'kprobe' } }, /^--bpf-attach: expected one of auto, tp_btf, raw_tp: kprobe$/],
    [{ flags: { 'bpf-event-reason': ['UDP_CSUM'] } }, /^--bpf-event-reason: not a lower-case name: "UDP_CSUM"$/],
    [{ env: { CSUMWATCH_BPF_EVENT_SCOPE: 'dns' } }, /^CSUMWATCH_BPF_EVENT_SCOPE: expected one of dns-vxlan, all: dns$/],
  ];
  for (const [src, re] of bad) {
    t.throws(() => loadConfig(src), { code: 'CSW_ERR_CONFIG', message: re }, re.source);
  }
});

t.test('csumwatch agent: --help, usage errors, a taken port', async (t) => {
  const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [BIN, 'agent', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });
  const help = run(['--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /--vtep-packets WORD/);
  t.match(help.stdout, /--datapath WORD/);
  t.match(help.stdout, /CSUMWATCH_DNS_TIMEOUT/);
  t.match(help.stdout, /--bpf-btf PATH/);
  t.match(help.stdout, /--bpf-event-reason WORD/);
  for (const [args, env, re] of [
    [['--bogus'], {}, /^csumwatch: unknown option '--bogus'/],
    [['--dns-timeout', 'soon'], {}, /^csumwatch: agent: --dns-timeout: not a number: soon$/],
    [[], { CSUMWATCH_LISTEN: 'nowhere' }, /^csumwatch: agent: CSUMWATCH_LISTEN: expected HOST:PORT/],
    [['--config', join(dir, 'missing.yaml')], {}, /^csumwatch: agent: reading .*: no such file$/],
    [['extra'], {}, /^csumwatch: unexpected argument 'extra'/],
    [['--config', '/dev/zero'], {}, /^csumwatch: agent: reading \/dev\/zero: not a regular file$/],
    // Checked against the running kernel's reasons (root, BTF): a typo is refused, not traced in silence.
    [['--bpf-event-reason', 'udp_csumm', '--listen', '127.0.0.1:0', '--interface', 'lo'], {}, /^csumwatch: agent: --bpf-event-reason: not a drop reason of this kernel: udp_csumm /],
  ] as const) {
    const r = run([...args], env);
    t.equal(r.status, 2, `${args.join(' ')} ${JSON.stringify(env)}: exit 2`);
    t.match(r.stderr.trim(), re);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }

  // A port already taken: exit 1, one line. (It listens on loopback only and sends nothing.)
  const net = await import('node:net');
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    const p = spawn(process.execPath, [BIN, 'agent', '--listen', `127.0.0.1:${port}`, '--interface', 'lo', '--log-level', 'fatal'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr: err });
    });
  });
  srv.close();
  t.equal(r.status, 1, 'port taken: exit 1');
  t.match(r.stderr.trim(), new RegExp(`^csumwatch: listening on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
});

t.test('--debug-listen is off unless given; --web-config is a path', async (t) => {
  t.equal(loadConfig({}).debugListen, null, 'off by default: /debug/* is served nowhere');
  t.same(loadConfig({ flags: { 'debug-listen': '127.0.0.1:9476' } }).debugListen, { host: '127.0.0.1', port: 9476 });
  t.same(loadConfig({ env: { CSUMWATCH_DEBUG_LISTEN: '[::1]:9476' } }).debugListen, { host: '::1', port: 9476 }, 'from the environment');
  t.equal(loadConfig({ file: yaml('dbg.yaml', 'debugListen: 127.0.0.1:9476\n'), flags: { 'debug-listen': 'off' } }).debugListen, null, "a flag of 'off' turns the file's off");
  t.throws(() => loadConfig({ flags: { 'debug-listen': '9476' } }), /--debug-listen: expected HOST:PORT/);
  t.equal(loadConfig({}).webConfig, '', 'no web config by default');
  t.equal(loadConfig({ flags: { 'web-config': '/etc/csumwatch/web.yml' } }).webConfig, '/etc/csumwatch/web.yml');
  t.equal(loadConfig({ env: { CSUMWATCH_WEB_CONFIG: '/w.yml' } }).webConfig, '/w.yml');
});
