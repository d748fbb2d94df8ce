// The soak's CI variant (root, in the lab): test/reliability/soak.ts for 3 minutes, faults every 15 s in a
// cycle (injector on and off, vxlan0 re-created, eth0 down and up, dnsmasq killed and
// restarted) under steady DNS load. Held to its verdict: RSS and descriptors flat over the
// second half, counters never backwards, no internal error, 4 packet sockets between faults,
// exit 0. The 30-minute run is `node dist/test/reliability/soak.js --minutes 30`.

import t from 'tap';

import { HEADER, row, soak } from './soak';
import { rootTest } from '../support/root';

const LAB = 'cswsk';
rootTest('the soak test', [LAB]);

t.test('3 minutes of faults under load: flat, monotonic, clean', async (t) => {
  const res = await soak({ minutes: 3, lab: LAB });
  t.comment(`${HEADER}\n${res.samples.map(row).join('\n')}\n${res.verdict.join('\n')}`);
  t.ok(res.faults >= 10, `${res.faults} faults applied (two full cycles)`);
  t.same(res.regressions, [], 'no counter series went backwards or vanished');
  t.equal(res.internalErrors, 0, 'no internal error');
  t.equal(res.exitCode, 0, 'exit 0 after SIGTERM');
  t.equal(res.sockets, 2, 'the kernel datapath: one ring per interface');
  t.ok(res.samples.filter((s) => !s.fault).every((s) => s.packetSockets === res.sockets), `${res.sockets} packet sockets between faults`);
  t.ok(res.samples.every((s) => s.bpf.progs >= 1), 'the tracer held throughout');
  t.ok(res.ok, res.verdict.join('; '));
});
