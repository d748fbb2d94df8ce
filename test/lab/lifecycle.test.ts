// `csumwatch lab up|down|status|fault` as a user runs them (root): up twice is safe, down removes
// every namespace, process, pinned BPF object and file the lab made, also after `lab up` was
// killed halfway, and twice in a row. Runs the real bin/csumwatch in child processes.

import t, { Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';

import { cli } from '../support/cli';
import { rootTest } from '../support/root';

const ROOT = join(__dirname, '..', '..', '..');
const BIN = join(ROOT, 'bin', 'csumwatch');
const LAB = 'cswlc';

rootTest('the lab tests (network namespaces, tc, BPF)');

function sh(cmd: string, ...args: string[]): string {
  return spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '';
}

function labNamespaces(): string[] {
  return sh('ip', 'netns', 'list').split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(`${LAB}-`)).sort();
}

function hostLinks(): string[] {
  return sh('ip', '-o', 'link', 'show').split('\n').map((l) => l.split(': ')[1]).filter(Boolean).sort();
}

/** Processes anywhere on the host whose command line names the lab (dnsmasq's pid file does). */
function labProcesses(): string[] {
  const out: string[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(`csumwatch-lab/${LAB}`) || cmd.includes(`${LAB}-node`)) out.push(`${p} ${cmd.trim()}`);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function assertGone(t: Test, linksBefore: string[], what: string): void {
  t.same(labNamespaces(), [], `${what}: no namespace left`);
  t.same(labProcesses(), [], `${what}: no process left`);
  t.notOk(fs.existsSync(`/sys/fs/bpf/csumwatch-lab/${LAB}`), `${what}: no pinned BPF object left`);
  t.notOk(fs.existsSync(`/run/csumwatch-lab/${LAB}`), `${what}: no run directory left`);
  t.same(hostLinks(), linksBefore, `${what}: the host's links are as they were`);
}

const linksBefore = hostLinks();
t.teardown(() => {
  cli('lab', 'down', '--name', LAB);
});

t.test('down with nothing to remove', async (t) => {
  cli('lab', 'down', '--name', LAB);
  const r = cli('lab', 'down', '--name', LAB);
  t.equal(r.code, 0);
  t.match(r.err, /nothing to remove/);
  assertGone(t, linksBefore, 'before');
});

t.test('up twice, then down twice', async (t) => {
  let r = cli('lab', 'up', '--name', LAB);
  t.equal(r.code, 0, `first up: ${r.err.trim()}`);
  r = cli('lab', 'up', '--name', LAB);
  t.equal(r.code, 0, `second up: ${r.err.trim()}`);
  t.match(r.err, /replaced the lab that was up/, 'the second up says it replaced the first');
  t.same(labNamespaces(), [`${LAB}-node1`, `${LAB}-node2`, `${LAB}-sw`], 'one set of namespaces');
  const dnsmasq = labProcesses().filter((p) => p.includes('dnsmasq'));
  t.equal(dnsmasq.length, 1, 'one dnsmasq');
  for (const n of [1, 2]) {
    const f = sh('nsenter', `--net=/run/netns/${LAB}-node${n}`, 'tc', 'filter', 'show', 'dev', 'eth0', 'egress');
    t.match(f, /csw_inject/, `node${n}: the injector is on eth0 egress`);
  }
  t.same(hostLinks(), linksBefore, 'nothing on the host itself');

  r = cli('lab', 'status', '--name', LAB, '--json');
  t.equal(r.code, 0);
  const st = JSON.parse(r.out);
  t.equal(st.phase, 'up');
  t.equal(st.nodes.length, 2);
  t.equal(st.nodes[1].dns_server, true);
  t.equal(st.nodes[0].injector.config.mode, 'off');
  t.equal(st.nodes[0].offload.vxlan0['tx-checksum-ip-generic'], 'off', 'offload off by default');

  r = cli('lab', 'fault', 'outer-udp', '--name', LAB, '--probability', '1');
  t.equal(r.code, 0, r.err);
  sh('ip', 'netns', 'exec', `${LAB}-node1`, 'dig', '@10.244.0.2', '+short', '+tries=1', '+time=1', 'x.lab.test');
  r = cli('lab', 'status', '--name', LAB, '--json');
  const after = JSON.parse(r.out);
  t.equal(after.nodes[0].injector.config.mode, 'outer-udp');
  t.equal(after.nodes[0].injector.counters.damaged['outer-udp'], 1, 'one query damaged');
  t.equal(after.nodes[1].kernel.udp_in_csum_errors - st.nodes[1].kernel.udp_in_csum_errors, 1, 'and dropped by node2');

  r = cli('lab', 'down', '--name', LAB);
  t.equal(r.code, 0);
  t.match(r.err, /removed .*namespace/);
  assertGone(t, linksBefore, 'after down');
  r = cli('lab', 'down', '--name', LAB);
  t.equal(r.code, 0, 'down again');
  t.match(r.err, /nothing to remove/);
});

t.test('down after up was killed halfway', async (t) => {
  const child = spawn(process.execPath, [BIN, 'lab', 'up', '--name', LAB, '--nodes', '8'], { stdio: 'ignore' });
  const exited = new Promise((res) => child.on('exit', res));
  // Kill it once it has made some nodes but not all.
  let seen = false;
  for (let i = 0; i < 400 && !seen; i++) {
    seen = fs.existsSync(`/run/netns/${LAB}-node2`);
    if (!seen) await new Promise((r) => setTimeout(r, 10));
  }
  t.ok(seen, 'up got as far as node2');
  child.kill('SIGKILL');
  await exited;
  t.ok(labNamespaces().length > 0, 'it left namespaces behind');
  t.notOk(fs.existsSync(`/run/netns/${LAB}-node8`) && labProcesses().some((p) => p.includes('dnsmasq')), 'and was stopped before the end');

  let r = cli('lab', 'fault', 'inner-udp', '--name', LAB);
  t.equal(r.code, 1, 'fault refuses a half-built lab');
  t.match(r.err, /^csumwatch: lab cswlc: left half-built by an earlier run \(run `csumwatch lab down --name cswlc`\)\n$/);
  r = cli('lab', 'status', '--name', LAB);
  t.equal(r.code, 1, 'status says so too');
  t.match(r.err, /half-built/);

  // A capture left running in a namespace, as after a crash during a test.
  const cap = spawn('ip', ['netns', 'exec', `${LAB}-node1`, 'tcpdump', '-i', 'lo', '-w', '/dev/null'], { stdio: 'ignore', detached: true });
  cap.unref();
  await new Promise((res) => setTimeout(res, 300));
  r = cli('lab', 'down', '--name', LAB);
  t.equal(r.code, 0, r.err);
  assertGone(t, linksBefore, 'after the crash and down');
});

t.test('three nodes: every client node resolves through the tunnel', async (t) => {
  const r = cli('lab', 'up', '--name', LAB, '--nodes', '3');
  t.equal(r.code, 0, r.err);
  for (const n of [1, 2]) {
    const out = sh('ip', 'netns', 'exec', `${LAB}-node${n}`, 'dig', '@10.244.0.3', '+short', '+tries=2', '+time=1', `n${n}.lab.test`);
    t.equal(out.trim(), '10.9.9.9', `node${n} got its answer from node3`);
  }
  t.equal(cli('lab', 'down', '--name', LAB).code, 0);
  assertGone(t, linksBefore, 'after down');
});
