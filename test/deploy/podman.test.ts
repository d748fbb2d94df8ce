// The image as a container (root, lab). No Docker engine runs here, but Debian's buildah and podman
// do: scripts/build-image-local.sh builds the Dockerfile's runtime stage from a debootstrapped
// Debian 12, the pinned Node LTS and scripts/build-image.sh's staging; podman then runs it in the
// receiving node of a lab (its network namespace stands for the host network) with the
// DaemonSet's securityContext, memory limit, hostPath volumes, env and args (podmanRunArgs). It
// must serve /metrics and /readyz, capture both interfaces, run the doctor (ethtool in the image),
// write nothing, and stop with exit 0 on podman stop's SIGTERM.
// seccomp RuntimeDefault is the runtime's own profile. Podman's (containers-common) admits bpf()
// and perf_event_open() only to CAP_SYS_ADMIN in Debian 12's version, so there the BPF that
// CAP_BPF and CAP_PERFMON were added for is refused: the test reads which the profile says and
// holds the agent to it (libpcap fallback and a bpf finding, or the kernel datapath). Then it runs
// again with that profile admitting bpf() to CAP_BPF and perf_event_open() to CAP_PERFMON, and the
// kernel datapath, the drop tracer and an injected fault's count must all be there.

import t, { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';

import { DEFAULT_CONFIG } from '../../src/lab/config';
import { Lab, labUp } from '../../src/lab/lab';
import { get as getIn, metric, waitFor } from '../support/agent';
import { addedCapabilities, checkInjectedFault, podmanRunArgs, ROOT } from '../support/deploy';
import { rootTest } from '../support/root';

const LAB = 'cswpm';
const NS = `${LAB}-node2`;
const BASE = 'http://127.0.0.1:9475';
// Its own container storage, so that nothing here touches the machine's images or containers.
const PODMAN_ROOT = '/var/tmp/csumwatch-podman-test';
const IMAGE = 'localhost/csumwatch:test';
const PROFILE = '/usr/share/containers/seccomp.json';
rootTest('the podman image tests', [LAB]);
const get = (path: string) => getIn(NS, `${BASE}${path}`);
const podman = (...args: string[]) =>
  spawnSync('podman', ['--root', join(PODMAN_ROOT, 'storage'), '--runroot', join(PODMAN_ROOT, 'run'), ...args], { encoding: 'utf8', timeout: 120_000 });
const names: string[] = [];
t.teardown(() => {
  for (const n of names) podman('rm', '-f', '-t', '0', n);
  podman('image', 'prune', '-f'); // the previous run's image, untagged by this one's
});
const forwarding = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();

interface Finding { check: string; severity: string; evidence: string }
type Rule = { names: string[]; action: string; includes?: { caps?: string[] }; excludes?: { caps?: string[] } };

/** Whether seccomp profile p lets a container with capability cap (and without CAP_SYS_ADMIN) call syscall. */
function admits(p: { syscalls: Rule[] }, syscall: string, cap: string): boolean {
  return p.syscalls.some((r) => r.action === 'SCMP_ACT_ALLOW' && r.names.includes(syscall)
    && (r.includes?.caps ?? []).every((c) => c === cap) && !(r.excludes?.caps ?? []).includes(cap));
}

/** Runs the container, waits for the doctor's first run in the metrics; returns what it serves. */
function start(name: string, seccomp?: string): { ready: { status: number; body: { captures: Array<{ name: string; running: boolean; error: string | null }> } }; metrics: string; findings: Finding[] } {
  names.push(name);
  podman('rm', '-f', '-t', '0', name);
  const r = podman(...podmanRunArgs(NS, IMAGE, name, seccomp));
  if (r.status !== 0) throw new Error(`podman run: ${r.stderr}`);
  const metrics = waitFor('the doctor\'s first run', () => {
    const m = get('/metrics');
    return m.status === 200 && m.body.includes('csumwatch_offload_enabled{iface="vxlan0"') ? m.body : undefined;
  }, 30_000);
  const ready = get('/readyz');
  return { ready: { status: ready.status, body: JSON.parse(ready.body) }, metrics, findings: JSON.parse(get('/diagnosis').body).findings };
}

/** podman stop (SIGTERM, the image's default stop signal), then the exit code and the log. */
function stop(t: Test, name: string): string {
  const s = podman('stop', '-t', '10', name);
  t.equal(s.status, 0, `podman stop ${name}`);
  t.equal(podman('inspect', '--format', '{{.State.ExitCode}}', name).stdout.trim(), '0', 'SIGTERM: exit 0');
  const log = podman('logs', name);
  return log.stdout + log.stderr;
}

t.test('the image built by buildah runs under podman as the DaemonSet runs it', async (t) => {
  const missing = ['podman', 'buildah', 'debootstrap', 'runc'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
  if (missing.length > 0) {
    t.fail(`${missing.join(', ')} missing: scripts/setup.sh installs them`);
    return;
  }
  const lab: Lab = labUp({ ...DEFAULT_CONFIG, name: LAB });
  const scratch = join(lab.dir, 'podman-test');
  fs.mkdirSync(scratch, { recursive: true });

  const b = spawnSync('bash', [join(ROOT, 'scripts', 'build-image-local.sh'), IMAGE], {
    encoding: 'utf8', timeout: 15 * 60_000, env: { ...process.env, CSUMWATCH_PODMAN_ROOT: PODMAN_ROOT },
  });
  t.equal(b.status, 0, `scripts/build-image-local.sh: ${b.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  if (b.status !== 0) return;
  const cfg = JSON.parse(podman('image', 'inspect', '--format', '{{json .Config}}', IMAGE).stdout);
  t.same(cfg.Entrypoint, ['/opt/csumwatch/bin/csumwatch'], 'the Dockerfile\'s entry point');
  t.ok((cfg.Env as string[]).includes('NODE_ENV=production'), 'and its ENV');
  // --network none: podman's default network is a CNI bridge that sets the host's
  // net.ipv4.ip_forward to 1, which every namespace made afterwards inherits (the labs' too).
  const nodeIn = podman('run', '--rm', '--network', 'none', '--runtime', 'runc', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--entrypoint', 'node', IMAGE, '--version');
  t.equal(nodeIn.stdout.trim(), process.version, `the image's node is the one the tests run (${process.version})`);

  const profile = JSON.parse(fs.readFileSync(PROFILE, 'utf8')) as { syscalls: Rule[] };
  const bpfOk = admits(profile, 'bpf', 'CAP_BPF') && admits(profile, 'perf_event_open', 'CAP_PERFMON');

  await t.test(`RuntimeDefault as podman has it (${PROFILE}: bpf() ${bpfOk ? 'admitted' : 'refused'} to CAP_BPF without CAP_SYS_ADMIN)`, async (t) => {
    const s = start('csw-podman-default');
    t.equal(s.ready.status, 200, '/readyz: ready');
    t.same(s.ready.body.captures.map((c) => [c.name, c.running]), [['eth0', true], ['vxlan0', true]], 'captures the underlay and the vxlan device');
    t.equal(metric(s.metrics, 'csumwatch_datapath', { mode: bpfOk ? 'kernel' : 'pcap' }), 1, `datapath: ${bpfOk ? 'kernel' : 'the libpcap fallback'}`);
    t.equal(metric(s.metrics, 'csumwatch_bpf_program_loaded', { program: 'tp_btf/kfree_skb' }), bpfOk ? 1 : 0, `the kfree_skb tracer ${bpfOk ? 'loads' : 'cannot load'}`);
    if (!bpfOk) t.ok(s.findings.some((f) => f.check === 'bpf' && /EPERM/.test(f.evidence)), 'a bpf finding says EPERM');
    const log = stop(t, 'csw-podman-default');
    t.notMatch(log, /"level":(50|60)/, 'no error logged');
  });

  await t.test('RuntimeDefault admitting bpf() to CAP_BPF and perf_event_open() to CAP_PERFMON: the kernel datapath', async (t) => {
    const p = JSON.parse(JSON.stringify(profile)) as { syscalls: Rule[] };
    for (const r of p.syscalls) r.names = r.names.filter((n) => n !== 'bpf' && n !== 'perf_event_open');
    p.syscalls = p.syscalls.filter((r) => r.names.length > 0);
    p.syscalls.push(
      { names: ['bpf', 'perf_event_open'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_BPF'] } },
      { names: ['perf_event_open'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_PERFMON'] } },
    );
    const file = join(scratch, 'seccomp-bpf.json');
    fs.writeFileSync(file, JSON.stringify(p));
    const s = start('csw-podman-bpf', file);
    t.equal(s.ready.status, 200, '/readyz: ready');
    t.equal(metric(s.metrics, 'csumwatch_datapath', { mode: 'kernel' }), 1, 'datapath: kernel');
    t.equal(metric(s.metrics, 'csumwatch_bpf_program_loaded', { program: 'tp_btf/kfree_skb' }), 1, 'the kfree_skb tracer is loaded (tp_btf)');
    t.notOk(s.findings.some((f) => ['doctor', 'bpf', 'capture'].includes(f.check)), 'no finding about the agent itself');

    // What the container got: the added capabilities (less any this machine's own bounding set
    // lacks: runc cannot give what it does not have), no new privileges, seccomp, read-only /.
    const status = podman('exec', 'csw-podman-bpf', 'cat', '/proc/1/status').stdout;
    const bnd = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)$/m.exec(status)?.[1] ?? '0'}`);
    const ours = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'}`);
    const bit: Record<string, number> = { net_admin: 12, net_raw: 13, sys_resource: 24, perfmon: 38, bpf: 39 };
    const want = addedCapabilities().reduce((m, c) => m | (1n << BigInt(bit[c])), 0n) & ours;
    t.equal(bnd.toString(16), want.toString(16), `capabilities: ${addedCapabilities().filter((c) => (want >> BigInt(bit[c])) & 1n).join(', ')}`);
    t.match(status, /^NoNewPrivs:\s+1$/m, 'no new privileges');
    t.match(status, /^Seccomp:\s+2$/m, 'a seccomp filter');
    t.match(podman('exec', 'csw-podman-bpf', 'touch', '/opt/csumwatch/x').stderr, /Read-only file system/, 'the root filesystem is read-only');

    checkInjectedFault(t, lab, get, 'pm');

    const log = stop(t, 'csw-podman-bpf');
    t.notMatch(log, /EROFS|read-only file system/i, 'it never tried to write to the read-only root filesystem');
    t.notMatch(log, /"level":(50|60)/, 'no error logged');
  });

  t.equal(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), forwarding, 'the host\'s net.ipv4.ip_forward is as it was');
  t.notOk(fs.existsSync('/sys/class/net/cni-podman0'), 'no podman bridge on the host');
});
