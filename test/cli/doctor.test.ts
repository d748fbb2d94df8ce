// `csumwatch doctor` as a user meets it: help, bad usage (exit 2, one stderr line, nothing run),
// and a run on this machine whose exit status follows its findings.

import t from 'tap';

import { cli as run, usageErrors } from '../support/cli';

t.test('help', async (t) => {
  const r = run('doctor', '--help');
  t.equal(r.code, 0);
  for (const word of ['--json', '--interval', '--cluster-dns', '--node-ip', '--host-root', 'offload', 'binding', 'mtu', 'vxlan_port', 'Geneve', 'resolv', 'ipv6', 'nat', 'exit status']) {
    t.match(r.out, word, `help mentions ${word}`);
  }
  t.match(run('doctor', '-h').out, /usage: csumwatch doctor/);
  t.match(run('--help').out, /\n  doctor  /, 'the top-level help lists doctor');
});

t.test('bad usage: exit 2, one line, no stack', async (t) => {
  const cases: [string[], RegExp][] = [
    [['doctor', '--bogus'], /unknown option/i],
    [['doctor', 'extra'], /unexpected argument/i],
    [['doctor', '--interval', 'x'], /--interval: want 0 to 60 seconds, got 'x'/],
    [['doctor', '--interval', '61'], /want 0 to 60/],
    [['doctor', '--interval', '-1'], /want 0 to 60|argument missing|ambiguous/i],
    [['doctor', '--cluster-dns', 'kube-dns'], /--cluster-dns: not an IP address: 'kube-dns'/],
    [['doctor', '--node-ip', '10.0.0'], /--node-ip: not an IP address/],
    [['doctor', '--host-root', ''], /--host-root: empty/],
    [['doctor', '--json=yes'], /does not take an argument|unexpected|unknown/i],
  ];
  usageErrors(t, cases, { quiet: true });
});

t.test('a run on this machine: JSON, and the exit status follows the findings', async (t) => {
  const r = run('doctor', '--json', '--interval', '0');
  const j = JSON.parse(r.out);
  t.same(Object.keys(j), ['findings', 'interfaces', 'offload', 'counters']);
  const critical = j.findings.some((f: { severity: string }) => f.severity === 'critical');
  t.equal(r.code, critical ? 1 : 0, 'exit 1 exactly when a finding is critical');
  t.equal(r.err, '');
  const text = run('doctor', '--interval', '0', '--cluster-dns', '10.96.0.10');
  t.match(text.out, /^csumwatch doctor: \d+ critical, \d+ warning, \d+ info; VXLAN devices: /);
});
