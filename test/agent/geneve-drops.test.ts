// The live agent and Geneve, end to end on real kernel drops (root). The agent runs in the
// receiving namespace of a Geneve pair (test/support/geneve-pair.ts: the receiver decapsulates
// UDP 6081 as geneve_rx would, this kernel having no geneve driver) and captures its gnv0, where
// the packets arrive still encapsulated (packet taps run before tc ingress decapsulates them).
//
// The sender sends DNS queries inside Geneve to the receiver, where nothing answers on port 53:
// some with a bad inner UDP checksum (the receiver's UDP drops them, udp_csum), the rest good
// (dropped for no socket). Every one is lost, and the agent must say why, exactly: checksum with
// the Geneve layer and the kernel's reason for the bad ones, kernel_drop with no_socket for the
// others; the bad inner checksums verified in user space and counted under geneve.udp; the
// per-peer counts from the kernel filter, the bad ones from the tracer's drops; and the drops
// listed with their Geneve tunnel.

import t from 'tap';
import { join } from 'node:path';
import * as fs from 'node:fs';
import * as os from 'node:os';

import { get, metric, startAgent, stopAgent, waitFor, waitReady } from '../support/agent';
import { ADDR_A, ADDR_B, genevePair, genevePayload, innerQuery } from '../support/geneve-pair';
import { rootTest } from '../support/root';

const procs = rootTest('the agent\'s Geneve drop tests');

const BASE = 'http://127.0.0.1:9475';
const DEBUG = 'http://127.0.0.1:9485';
const BAD = 24;
const GOOD = 12;

t.test('DNS inside Geneve, lost to bad inner checksums and to no socket: each cause exact, per peer', async (t) => {
  const pair = genevePair('cswgnva');
  t.teardown(() => pair.remove());
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-geneve-agent-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const agent = startAgent(pair.b, join(dir, 'agent.log'), [
    '--interface', 'gnv0', '--listen', '127.0.0.1:9475', '--debug-listen', '127.0.0.1:9485',
    '--dns-timeout', '1', '--lost', '1000', '--drops', '1000', '--vtep-series', 'all', '--doctor-interval', '0',
  ], procs);
  waitReady(pair.b, BASE);
  const scrape = () => get(pair.b, `${BASE}/metrics`).body;
  t.equal(metric(scrape(), 'csumwatch_datapath', { mode: 'kernel' }), 1, 'on the kernel datapath');

  // Options of several lengths: the agent's decoder and the kernel's tracer both read past them.
  const queries: Array<[Buffer, number]> = [];
  for (let i = 0; i < BAD; i++) queries.push([genevePayload(0x4242, i % 4, innerQuery(1 + i, true)), 6081]);
  for (let i = 0; i < GOOD; i++) queries.push([genevePayload(0x4242, i % 3, innerQuery(101 + i, false)), 6081]);
  pair.send(queries);

  const lostTotal = () => metric(scrape(), 'csumwatch_dns_lost_total');
  waitFor('every query to be judged lost', () => (lostTotal() >= BAD + GOOD ? true : undefined), 20_000);
  const m = scrape();
  t.equal(metric(m, 'csumwatch_packets_total', { iface: 'gnv0', direction: 'rx', encap: 'geneve' }), BAD + GOOD, 'every packet counted as Geneve on gnv0');
  t.equal(metric(m, 'csumwatch_checksums_total', { iface: 'gnv0', direction: 'rx', layer: 'geneve.udp', result: 'bad' }), BAD, 'the bad inner checksums verified in user space, under geneve.udp');
  t.equal(metric(m, 'csumwatch_dns_lost_total', { cause: 'checksum' }), BAD, 'lost to a checksum: the bad ones');
  t.equal(metric(m, 'csumwatch_dns_lost_total', { cause: 'kernel_drop' }), GOOD, 'lost to a kernel drop: the good ones, nobody listening');
  t.equal(lostTotal(), BAD + GOOD, 'and nothing else');
  t.equal(metric(m, 'csumwatch_dns_kernel_drops_total', { result: 'matched' }), BAD + GOOD, 'every drop tied to its transaction');
  t.equal(metric(m, 'csumwatch_vtep_packets_total', { peer: ADDR_A, direction: 'rx', result: 'bad' }), BAD, 'the peer\'s bad packets: the kernel\'s checksum drops');
  t.equal(metric(m, 'csumwatch_vtep_packets_total', { peer: ADDR_A, direction: 'rx', result: 'ok' }), GOOD, 'and the rest ok');

  const lost = JSON.parse(get(pair.b, `${DEBUG}/debug/lost`).body).lost as Array<Record<string, unknown>>;
  t.equal(lost.length, BAD + GOOD, '/debug/lost lists them all');
  const bad = lost.filter((l) => (l.id as number) <= BAD);
  t.ok(bad.every((l) => l.cause === 'checksum' && l.layer === 'geneve.udp' && l.reason === 'udp_csum' && l.geneve === true), 'the bad ones: checksum, geneve.udp, udp_csum, in Geneve');
  t.ok(lost.filter((l) => (l.id as number) > 100).every((l) => l.cause === 'kernel_drop' && l.reason === 'no_socket'), 'the good ones: kernel_drop, no_socket');

  const drops = JSON.parse(get(pair.b, `${DEBUG}/debug/drops`).body).drops as Array<Record<string, any>>;
  const csum = drops.filter((d) => d.reason === 'udp_csum');
  t.equal(csum.length, BAD, 'each checksum drop listed');
  t.ok(csum.every((d) => d.proto === 'udp' && d.flow?.dst === ADDR_B && d.tunnel?.encap === 'geneve' && d.tunnel.src === ADDR_A && d.tunnel.dport === 6081 && d.tunnel.decapsulated === true), 'dropped after decapsulation, its Geneve tunnel read back');
  t.equal(await stopAgent(agent), 0, 'the agent stops cleanly');
});
