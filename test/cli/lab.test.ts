// `csumwatch lab` usage as a user meets it: help, and every kind of bad usage answered with exit
// 2 and one stderr line, before anything is built.

import t from 'tap';

import { cli as run, usageErrors } from '../support/cli';

t.test('help', async (t) => {
  const r = run('lab', '--help');
  t.equal(r.code, 0);
  for (const word of ['demo', 'up', 'down', 'status', 'fault', '--probability', '--direction', '--nat', '--bind', '--pod']) {
    t.match(r.out, word, `help mentions ${word}`);
  }
  t.match(run('--help').out, /lab COMMAND/, 'the top-level help lists lab');
});

t.test('bad usage: exit 2, one line, no stack', async (t) => {
  const cases: [string[], RegExp][] = [
    [['lab'], /no command/],
    [['lab', 'bogus'], /unknown command 'bogus'/],
    [['lab', 'up', '--nodes', '9'], /2 to 8/],
    [['lab', 'up', '--nodes', 'x'], /whole number/],
    [['lab', 'up', '--port', '0'], /not a port/],
    [['lab', 'up', '--underlay', 'ipx'], /ipv4 or ipv6/],
    [['lab', 'up', '--bind', 'eth5'], /eth0 or eth1/],
    [['lab', 'up', '--name', 'Bad_Name'], /lab name/],
    [['lab', 'down', '--name', '..'], /--name: lab name '\.\.'/],
    [['lab', 'down', '--name', ''], /--name: lab name ''/],
    [['lab', 'demo', '--name', '../x'], /--name: lab name/],
    [['lab', 'status', '--name', '.*'], /--name: lab name/],
    [['lab', 'fault', 'off', '--probability', ''], /0 to 1/],
    [['lab', 'fault', 'off', '--probability', '1e-1'], /0 to 1/],
    [['lab', 'up', '--nat', '--underlay', 'ipv6'], /IPv4 underlay/],
    [['lab', 'up', 'extra'], /unexpected argument/],
    [['lab', 'down', '--nodes', '3'], /--nodes does not apply/],
    [['lab', 'fault', 'inner-udp', '--pod'], /--pod does not apply/],
    [['lab', 'fault'], /no mode/],
    [['lab', 'fault', 'melt'], /unknown mode 'melt'/],
    [['lab', 'fault', 'inner-udp', '--probability', '1.5'], /0 to 1/],
    [['lab', 'fault', 'inner-udp', '--direction', 'sideways'], /to, from or both/],
    [['lab', 'fault', 'inner-udp', '--port', '99999'], /not a port/],
    [['lab', 'up', '--bogus'], /unknown option/i],
  ];
  usageErrors(t, cases);
});

t.test('status of a lab that is not up: exit 1, one line', async (t) => {
  const r = run('lab', 'status', '--name', 'nosuch');
  t.equal(r.code, 1);
  t.match(r.err, /^csumwatch: lab nosuch: not up/);
  t.equal(r.err.split('\n').filter((l) => l !== '').length, 1);
  const f = run('lab', 'fault', 'inner-udp', '--name', 'nosuch');
  t.equal(f.err, 'csumwatch: lab nosuch: not up (run `csumwatch lab up --name nosuch`)\n', 'lab fault: the command it suggests names the lab');
});
