// SIGUSR1 must not open the V8 inspector (root: a network namespace of the test's own). Node's
// default SIGUSR1 handler listens on 127.0.0.1:9229 for a debugger; in the agent's hostNetwork pod
// that is the node's loopback, open to every local process. The agent must log and carry on.

import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';

import { inNs, run, sleepMs } from '../../src/lab/tools';
import { rootTest } from '../support/root';
import { startAgent, stopAgent, waitFor, get } from '../support/agent';

const NS = 'cswsig';
const procs = rootTest('the signal test');

t.test('SIGUSR1 opens no inspector; the agent logs it and keeps serving', async (t) => {
  run('ip', ['netns', 'add', NS]);
  t.teardown(() => run('ip', ['netns', 'del', NS], { allowFail: true }));
  inNs(NS, 'ip', ['link', 'set', 'lo', 'up']);
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-sig-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'agent.log');
  const agent = startAgent(NS, log, ['--listen', '127.0.0.1:9482', '--bpf', 'off', '--doctor-interval', '0'], procs);
  waitFor('the agent to answer', () => (get(NS, 'http://127.0.0.1:9482/healthz').status === 200 ? true : undefined));
  // The agent is the child of `ip netns exec`, which execs it: the same pid.
  process.kill(agent.pid!, 'SIGUSR1');
  sleepMs(1000);
  const listening = inNs(NS, 'ss', ['-ltnH']).stdout;
  t.notMatch(listening, /:9229\b/, 'nothing listens on the inspector port');
  t.equal(get(NS, 'http://127.0.0.1:9482/healthz').status, 200, 'the agent still serves');
  t.match(fs.readFileSync(log, 'utf8'), /SIGUSR1 ignored: the agent opens no inspector/, 'and says why');
  t.equal(await stopAgent(agent), 0, 'it stops cleanly');
});
