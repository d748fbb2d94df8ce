// The image, where no container engine exists (root, lab). scripts/build-image.sh, what the
// Dockerfile's build stage runs, stages the image's /opt/csumwatch. The staged agent then runs in
// the receiving node of a lab exactly as the DaemonSet `kubectl apply -k deploy/` renders runs it:
// its args, its hostPath mounts (the node's resolv.conf, systemd-resolved's directory, the
// kubelet's configuration file), a read-only root filesystem, UID 0 with only the four
// capabilities it adds, no new privileges. It must capture, trace kernel drops, run the doctor and
// count an injected checksum fault as the injector counts it. Then each capability is taken away
// in turn, and the feature docs/install.md's table says needs it must stop (and nothing else), so
// the list is both enough and no longer than it has to be; and deploy/components/conntrack's
// NET_ADMIN is what conntrack's netlink dump needs.

import t, { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';

import { DEFAULT_CONFIG } from '../../src/lab/config';
import { Lab, labUp } from '../../src/lab/lab';
import { get as getIn, metric, stopAgent, waitFor } from '../support/agent';
import { addedCapabilities, checkInjectedFault, buildImage, renderWith, startContained } from '../support/deploy';
import { rootTest } from '../support/root';

const LAB = 'cswimg';
const NS = `${LAB}-node2`;
const BASE = 'http://127.0.0.1:9475';
const procs = rootTest('the image tests', [LAB]);
const get = (path: string) => getIn(NS, `${BASE}${path}`);

interface Finding { check: string; severity: string; evidence: string }

/**
 * Waits until the doctor's first run shows in the metrics (its offload flags for vxlan0: it ran
 * ethtool in the container); returns /readyz's status and body, the metrics and the findings.
 */
function settle(): { ready: { status: number; body: { captures: Array<{ name: string; running: boolean; error: string | null }> } }; metrics: string; findings: Finding[] } {
  const metrics = waitFor('the doctor\'s first run', () => {
    const m = get('/metrics');
    return m.status === 200 && m.body.includes('csumwatch_offload_enabled{iface="vxlan0"') ? m.body : undefined;
  });
  const r = get('/readyz');
  return { ready: { status: r.status, body: JSON.parse(r.body) }, metrics, findings: JSON.parse(get('/diagnosis').body).findings };
}

const loaded = (m: string) => metric(m, 'csumwatch_bpf_program_loaded');

t.test('the staged image runs as the DaemonSet runs it, with only the capabilities it adds', async (t) => {
  const lab: Lab = labUp({ ...DEFAULT_CONFIG, name: LAB });
  const scratch = join(lab.dir, 'image-test');
  const stage = join(scratch, 'opt-csumwatch');
  fs.mkdirSync(scratch, { recursive: true });

  buildImage(stage);
  t.ok(fs.existsSync(join(stage, 'dist', 'native', 'csw_pcap.node')) && fs.existsSync(join(stage, 'dist', 'native', 'csw_bpf.node')), 'the addons are built from source');
  t.ok(fs.existsSync(join(stage, 'dist', 'bpf', 'drops.bpf.o')), 'the BPF object is built from source');
  for (const dev of ['typescript', 'tap', 'fast-check', 'dns-packet']) t.notOk(fs.existsSync(join(stage, 'node_modules', dev)), `no dev dependency in the image (${dev})`);
  for (const dep of ['fastify', 'prom-client', 'pino', 'yaml', '@kubernetes/client-node']) t.ok(fs.existsSync(join(stage, 'node_modules', dep)), `runtime dependency ${dep} staged`);

  const caps = addedCapabilities();
  t.same([...caps].sort(), ['bpf', 'net_raw', 'perfmon', 'sys_resource'], 'the DaemonSet adds these four');

  await t.test('all four: capture, kernel drops, doctor, and the injected fault counted', async (t) => {
    const agent = startContained(NS, stage, join(scratch, 'all'), join(scratch, 'agent-all.log'), procs);
    const s = settle();
    t.equal(s.ready.status, 200, '/readyz: ready');
    t.same(s.ready.body.captures.map((c) => [c.name, c.running]), [['eth0', true], ['vxlan0', true]], 'captures the underlay and the vxlan device');
    t.equal(metric(s.metrics, 'csumwatch_bpf_program_loaded', { program: 'tp_btf/kfree_skb' }), 1, 'the kfree_skb tracer is loaded (tp_btf)');
    t.notOk(s.findings.some((f) => f.check === 'doctor' || f.check === 'bpf' || f.check === 'capture'), `no finding about the agent itself: ${JSON.stringify(s.findings.filter((f) => ['doctor', 'bpf', 'capture'].includes(f.check)))}`);
    // Without NET_ADMIN the NAT check reads /proc/net/nf_conntrack, which this kernel has.
    t.ok(fs.existsSync('/proc/net/nf_conntrack'), 'this kernel has /proc/net/nf_conntrack');
    t.notOk(s.findings.some((f) => f.check === 'nat' && /could not be read/.test(f.evidence)), `the nat check read conntrack: ${JSON.stringify(s.findings.filter((f) => f.check === 'nat'))}`);
    // The doctor read the node's resolver files through the DaemonSet's mounts (a stub's upstream
    // list it could not read would say so).
    t.notOk(s.findings.some((f) => f.check === 'resolv' && /could not be read/.test(f.evidence)), `the resolv check read its files: ${JSON.stringify(s.findings.filter((f) => f.check === 'resolv'))}`);

    checkInjectedFault(t, lab, get, 'img');

    t.equal(await stopAgent(agent), 0, 'SIGTERM: exit 0');
    const log = fs.readFileSync(join(scratch, 'agent-all.log'), 'utf8');
    t.notMatch(log, /EROFS|read-only file system/i, 'it never tried to write to the read-only root filesystem');
    t.notMatch(log, /"level":(50|60)/, 'no error logged');
  });

  // What each capability buys, measured: without it, this and only this stops.
  const without = (cap: string) => caps.filter((c) => c !== cap);
  const run = async (t: Test, cap: string) => {
    const agent = startContained(NS, stage, join(scratch, cap), join(scratch, `agent-no-${cap}.log`), procs, without(cap));
    const s = settle();
    t.equal(await stopAgent(agent), 0, 'it still serves, and stops cleanly');
    return s;
  };

  await t.test('without NET_RAW: no capture (packet sockets); the tracer still runs', async (t) => {
    const s = await run(t, 'net_raw');
    t.equal(s.ready.status, 503, '/readyz: not ready');
    t.ok(s.ready.body.captures.every((c) => !c.running && /Operation not permitted/.test(c.error ?? '')), 'every capture: Operation not permitted');
    t.ok(s.findings.some((f) => f.check === 'capture' && /Operation not permitted/.test(f.evidence)), 'a capture finding says why');
    t.equal(loaded(s.metrics), 1, 'the tracer is loaded');
  });

  for (const cap of ['bpf', 'perfmon']) {
    await t.test(`without ${cap.toUpperCase()}: no kernel drop tracer; capture still runs`, async (t) => {
      const s = await run(t, cap);
      t.equal(s.ready.status, 200, '/readyz: ready (capture runs)');
      t.equal(loaded(s.metrics), 0, 'neither program is loaded');
      t.ok(s.findings.some((f) => f.check === 'bpf' && /EPERM/.test(f.evidence)), 'a bpf finding says EPERM');
    });
  }

  await t.test('deploy/components/conntrack: NET_ADMIN is what conntrack\'s netlink dump needs; the agent runs with it', async (t) => {
    const objs = renderWith(['conntrack']);
    const withCt = addedCapabilities(objs);
    t.same([...withCt].sort(), ['bpf', 'net_admin', 'net_raw', 'perfmon', 'sys_resource'], 'the component adds NET_ADMIN to the four');
    const agent = startContained(NS, stage, join(scratch, 'conntrack'), join(scratch, 'agent-conntrack.log'), procs, undefined, objs);
    const s = settle();
    t.equal(await stopAgent(agent), 0, 'it serves, and stops cleanly');
    t.equal(s.ready.status, 200);
    t.equal(loaded(s.metrics), 1);
    t.notOk(s.findings.some((f) => f.check === 'nat' && /could not be read/.test(f.evidence)), 'the nat check read conntrack');
    // The doctor's NAT check runs `conntrack -L`; without NET_ADMIN it falls back to
    // /proc/net/nf_conntrack, which kernels built without CONFIG_NF_CONNTRACK_PROCFS lack.
    const ct = (c: string[]) => spawnSync('ip', ['netns', 'exec', NS, 'setpriv', '--bounding-set', ['-all', ...c.map((x) => `+${x}`)].join(','), '--inh-caps', '-all', '--', 'conntrack', '-L'], { encoding: 'utf8' });
    t.match(ct(caps).stderr, /CAP_NET_ADMIN/, 'conntrack -L with the base\'s four: refused');
    t.equal(ct(withCt).status, 0, 'conntrack -L with the component\'s NET_ADMIN: works');
  });

  await t.test('without SYS_RESOURCE: on kernels from 5.11 on, BPF memory is charged to the cgroup, not RLIMIT_MEMLOCK', async (t) => {
    const [major, minor] = release().split('.').map(Number);
    t.ok(major > 5 || (major === 5 && minor >= 11), `this kernel (${release()}) charges BPF maps to memcg`);
    const s = await run(t, 'sys_resource');
    t.equal(s.ready.status, 200);
    t.equal(loaded(s.metrics), 1, 'the tracer loads without it here; before 5.11 libbpf must raise RLIMIT_MEMLOCK, which needs it');
  });
});
