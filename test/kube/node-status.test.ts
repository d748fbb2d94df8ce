// Node conditions and Events (src/kube/node-status.ts) with the real @kubernetes/client-node
// against the tests' local API server (test/kube/apiserver.ts): the strategic merge patch of
// nodes/NAME/status and its content type, conditions True while a critical finding stands and
// False after, Events on the Node when a condition turns (and none for a healthy start), the
// heartbeat, and an API that refuses (403) or is gone: counted, logged once, tried again.

import t from 'tap';
import pino from 'pino';
import { Writable } from 'node:stream';

import type { Finding } from '../../src/doctor/finding';
import { kubeConfigForServer } from '../../src/kube/pods';
import { NODE_CONDITIONS, NodeReporter, PEER_REASON } from '../../src/kube/node-status';
import { ApiServer } from './apiserver';

const NODE = 'worker-1';

function logger(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  return { log: pino({ level: 'info' }, sink), lines };
}

const offload: Finding = {
  check: 'offload',
  severity: 'critical',
  evidence: 'vxlan0 has tx-checksum-ip-generic on and Udp InCsumErrors rose by 40 in 2.0 s',
  remediation: 'ethtool -K vxlan0 tx-checksum-ip-generic off',
};
const mtuWarning: Finding = { check: 'mtu', severity: 'warning', evidence: 'the MTU is tight', remediation: 'raise it' };

t.test('a critical finding sets its condition True with the evidence and fix, and an Event; the fix sets it False', async (t) => {
  const server = await ApiServer.start();
  t.teardown(() => server.close());
  const { log } = logger();
  let clock = Date.parse('2026-12-06T10:00:00Z');
  const r = new NodeReporter({ kubeConfig: kubeConfigForServer(server.url, { token: 'node-token' }), nodeName: NODE, log, heartbeatMs: 300_000, now: () => new Date(clock) });

  // A healthy start: every condition False, in one patch; no Event.
  await r.report([mtuWarning]);
  t.equal(server.writes.length, 1, 'one write');
  const first = server.writes[0];
  t.equal(first.method, 'PATCH');
  t.equal(first.path, `/api/v1/nodes/${NODE}/status`);
  t.equal(first.contentType, 'application/strategic-merge-patch+json', 'a strategic merge patch: conditions merge by type, the kubelet\'s stay');
  t.equal(first.auth, 'Bearer node-token');
  t.same([...server.conditions.keys()].sort(), Object.values(NODE_CONDITIONS).sort(), 'every condition the agent owns is set');
  t.ok([...server.conditions.values()].every((c) => c.status === 'False'), 'all False: a warning sets nothing');

  // The same again: nothing to write before the heartbeat.
  clock += 60_000;
  await r.report([mtuWarning]);
  t.equal(server.writes.length, 1, 'unchanged: no write');

  // The offload breaks.
  clock += 60_000;
  await r.report([offload, mtuWarning]);
  const c = server.conditions.get('VXLANChecksumOffloadBroken')!;
  t.equal(c.status, 'True');
  t.equal(c.reason, 'CsumwatchCriticalOffloadFinding');
  t.match(c.message, /Udp InCsumErrors rose by 40.*Fix: ethtool -K vxlan0 tx-checksum-ip-generic off/, 'the evidence and the fix, for kubectl describe node');
  t.equal(c.lastTransitionTime, '2026-12-06T10:02:00Z');
  t.equal(server.conditions.get('VXLANMisbound')!.status, 'False', 'the others stay False');
  const events = () => server.writes.filter((w) => w.method === 'POST');
  t.equal(events().length, 1, 'one Event');
  const ev = events()[0].body as Record<string, any>;
  t.equal(events()[0].path, '/api/v1/namespaces/default/events', 'in default, where the kubelet records a Node\'s events');
  t.same(ev.involvedObject, { apiVersion: 'v1', kind: 'Node', name: NODE, uid: NODE });
  t.equal(ev.type, 'Warning');
  t.equal(ev.reason, 'VXLANChecksumOffloadBroken');
  t.equal(ev.source.component, 'csumwatch');
  t.match(ev.message, /Fix: ethtool -K vxlan0/);

  // Still broken a minute later: no new Event; the transition time stays.
  clock += 60_000;
  await r.report([offload]);
  t.equal(events().length, 1, 'no Event while it stands');
  // Past the heartbeat: written again, transition time unchanged, heartbeat new.
  clock += 300_000;
  const before = server.writes.length;
  await r.report([offload]);
  t.equal(server.writes.length, before + 1, 'the heartbeat patch');
  t.equal(server.conditions.get('VXLANChecksumOffloadBroken')!.lastTransitionTime, '2026-12-06T10:02:00Z');
  t.equal(server.conditions.get('VXLANChecksumOffloadBroken')!.lastHeartbeatTime, '2026-12-06T10:08:00Z');

  // Fixed.
  clock += 60_000;
  await r.report([]);
  t.equal(server.conditions.get('VXLANChecksumOffloadBroken')!.status, 'False');
  t.equal(events().length, 2, 'an Event for the fix');
  const fixed = events()[1].body as Record<string, any>;
  t.equal(fixed.type, 'Normal');
  t.equal(fixed.reason, 'VXLANChecksumOffloadBrokenResolved');
  t.same(r.stats, { patches: 4, patchErrors: 0, events: 2, eventErrors: 0, listErrors: 0, lastError: null });
});

t.test('an API that refuses or is gone: counted, logged once, written at the next report', async (t) => {
  const server = await ApiServer.start();
  t.teardown(() => server.close());
  const { log, lines } = logger();
  const r = new NodeReporter({ kubeConfig: kubeConfigForServer(server.url), nodeName: NODE, log });
  const forbidden = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `nodes "${NODE}" is forbidden: User "system:serviceaccount:csumwatch:csumwatch" cannot patch resource "nodes/status"`, reason: 'Forbidden', code: 403 });
  server.replyWrite({ status: 403, json: forbidden }, { status: 403, json: forbidden }, { status: 403, json: forbidden });
  await r.report([offload]);
  await r.report([offload]);
  t.equal(r.stats.patchErrors, 2, 'both patches refused');
  t.equal(r.stats.eventErrors, 1, 'the Event too');
  t.match(r.stats.lastError, /HTTP 403/);
  t.equal(lines.filter((l) => l.level === 40).length, 2, 'logged once per distinct error (the patch, the event), not per attempt');
  await r.report([offload]);
  t.equal(server.conditions.get('VXLANChecksumOffloadBroken')?.status, 'True', 'written once the API accepts');
  t.equal(server.writes.filter((w) => w.method === 'POST' && w.path.endsWith('/events')).length, 2, 'the refused Event is recorded then too');
  t.equal(r.stats.events, 1);
  t.equal(r.stats.lastError, null);
  t.ok(lines.some((l) => /written again/.test(String(l.msg))), 'and said');

  await server.close();
  await r.report([]);
  t.ok(r.stats.patchErrors >= 3, 'the API gone: counted');
  t.match(r.stats.lastError, /(patching node worker-1's conditions|recording an event on node worker-1): .*(ECONNREFUSED|request to)/);
});

t.test("a peer whose VXLAN packets arrive bad gets an Event on its own Node, found by its address", async (t) => {
  const server = await ApiServer.start();
  t.teardown(() => server.close());
  const node = (name: string, ...ips: string[]) => ({ metadata: { name }, status: { addresses: [...ips.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: name }] } });
  server.nodeList = JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [node(NODE, '10.200.0.1'), node('worker-2', '10.200.0.2', 'fd00:200::2'), node('worker-3', '10.200.0.3')] });
  const { log } = logger();
  let clock = Date.parse('2026-12-06T10:00:00Z');
  const r = new NodeReporter({ kubeConfig: kubeConfigForServer(server.url), nodeName: NODE, log, now: () => new Date(clock) });
  const events = () => server.writes.filter((w) => w.method === 'POST').map((w) => w.body as Record<string, any>);

  await r.peers([{ address: '10.200.0.2', rxOk: 1000, rxBad: 0 }, { address: '10.200.0.3', rxOk: 1000, rxBad: 0 }]);
  t.equal(events().length, 0, 'the first look is the baseline');
  clock += 60_000;
  // worker-2 (by its IPv6 VTEP address): 60 of 120 bad; worker-3: 3 of 1003; an unknown peer: all bad.
  await r.peers([
    { address: '10.200.0.2', rxOk: 1000, rxBad: 0 }, { address: 'fd00:200::2', rxOk: 60, rxBad: 60 },
    { address: '10.200.0.3', rxOk: 2000, rxBad: 3 }, { address: '10.9.9.9', rxOk: 0, rxBad: 500 },
  ]);
  clock += 60_000;
  await r.peers([
    { address: '10.200.0.2', rxOk: 1000, rxBad: 0 }, { address: 'fd00:200::2', rxOk: 120, rxBad: 120 },
    { address: '10.200.0.3', rxOk: 3000, rxBad: 6 }, { address: '10.9.9.9', rxOk: 0, rxBad: 1000 },
  ]);
  const ev = events();
  t.equal(ev.length, 1, 'one Event: worker-2; worker-3 is below a tenth, the unknown peer has no Node');
  t.same(ev[0].involvedObject, { apiVersion: 'v1', kind: 'Node', name: 'worker-2', uid: 'worker-2' }, 'on the sending node');
  t.equal(ev[0].reason, PEER_REASON);
  t.equal(ev[0].type, 'Warning');
  t.equal(ev[0].source.host, NODE, 'recorded by this node');
  t.match(ev[0].message, new RegExp(`node ${NODE} received 60 of 120 VXLAN packets from this node's VTEP fd00:200::2 with bad checksums`));
  t.equal(server.nodeLists, 1, 'the nodes listed once');
  clock += 60_000;
  await r.peers([{ address: 'fd00:200::2', rxOk: 180, rxBad: 180 }]);
  t.equal(events().length, 1, 'not again within 10 minutes');
  clock += 600_000;
  await r.peers([{ address: 'fd00:200::2', rxOk: 240, rxBad: 240 }]);
  t.equal(events().length, 2, 'again after 10 minutes while it lasts');
  t.equal(server.nodeLists, 2, 'the node list refreshed after 5 minutes');
});
