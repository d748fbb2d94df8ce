// Readiness and the agent's own capture finding as the interface listing decides them: a node
// without a VXLAN device is ready, with an info finding; a listing that fails is not "no VXLAN
// device" (not ready, a critical finding that says why) until it works again.

import t from 'tap';
import { join } from 'node:path';
import pino from 'pino';

import { Agent } from '../../src/agent/agent';
import { DEFAULT_AGENT_CONFIG } from '../../src/agent/config';
import { agentFindings } from '../../src/agent/diagnosis';
import { FixtureInputs } from '../../src/doctor/inputs';
import type { NetInterface } from '../../src/node/interfaces';
import { FIX } from '../support/fed-agent';

t.test('no VXLAN device: ready; a failing listing: not ready, a critical finding, until it works', async (t) => {
  let fail: string | null = null;
  const none: NetInterface[] = [];
  const agent = new Agent({ ...DEFAULT_AGENT_CONFIG, bpf: 'off', doctorInterval: 0 }, {
    log: pino({ level: 'silent' }),
    watchLinks: false,
    procNet: join(FIX, 'node', 'proc-net'),
    doctorInputs: new FixtureInputs(join(FIX, 'node', 'vmxnet3-calico')),
    listInterfaces: () => {
      if (fail !== null) throw new Error(fail);
      return none;
    },
  });
  agent.start();
  t.teardown(() => agent.stop());
  const capture = () => agentFindings(agent).filter((f) => f.check === 'capture');
  t.ok(agent.ready(), 'no VXLAN device: ready');
  t.same(capture().map((f) => f.severity), ['info'], 'with an info finding');

  fail = 'running ip: not installed';
  agent.rescan();
  t.notOk(agent.ready(), 'the interfaces cannot be listed: not ready');
  const f = capture();
  t.same(f.map((x) => x.severity), ['critical'], 'a critical capture finding, not the info one');
  t.match(f[0]?.evidence ?? '', /could not be listed \(running ip: not installed\)/, 'saying why');

  fail = null;
  agent.rescan();
  t.ok(agent.ready(), 'listed again: ready');
  t.same(capture().map((x) => x.severity), ['info']);
});
