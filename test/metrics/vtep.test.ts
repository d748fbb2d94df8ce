// csumwatch_vtep_packets_total's series: with --vtep-series bad (the default) only peers a bad
// packet came from or went to, ok and bad both, kept once there; with 'all' every peer.
// csumwatch_vtep_peers counts the peers either way. A real Agent's ingest path and registry.

import t from 'tap';
import pino from 'pino';
import { Agent } from '../../src/agent/agent';
import { DEFAULT_AGENT_CONFIG } from '../../src/agent/config';
import { DIR_INDEX_RX } from '../../src/agent/counters';
import { createRegistry } from '../../src/agent/registry';
import { build, geneveDnsSpec, vxlanDnsSpec } from '../support/packets';
import { metric } from '../support/agent';

/** A VXLAN DNS query from peer `src`, its inner UDP checksum flipped when `bad`. */
function frame(src: string, bad: boolean): Buffer {
  const spec = vxlanDnsSpec({ inner: { udpCsum: bad ? 'flip' : 'correct' } });
  if (spec.ip.v !== 4) throw new Error('expected an IPv4 underlay');
  spec.ip.src = src;
  return build(spec).bytes;
}

function agentWith(series: 'bad' | 'all'): { agent: Agent; scrape: () => Promise<string> } {
  const agent = new Agent({ ...DEFAULT_AGENT_CONFIG, vtepSeries: series }, { log: pino({ level: 'silent' }), watchLinks: false });
  const reg = createRegistry(agent, 'test');
  return { agent, scrape: () => reg.metrics() };
}

function feed(agent: Agent, src: string, bad: boolean, n: number): void {
  const slot = agent.counters.slot('eth0');
  const b = frame(src, bad);
  for (let i = 0; i < n; i++) agent.ingest(slot, DIR_INDEX_RX, 1, b, 0, b.length, b.length, 1_700_000_000_000_000 + i);
}

const peerLines = (text: string) => text.split('\n').filter((l) => l.startsWith('csumwatch_vtep_packets_total{'));

t.test("--vtep-series bad: no series while every peer is healthy, a peer's four from its first bad packet", async (t) => {
  const { agent, scrape } = agentWith('bad');
  for (let p = 1; p <= 50; p++) feed(agent, `10.200.1.${p}`, false, 3);
  let text = await scrape();
  t.same(peerLines(text), [], '50 healthy peers, no per-peer series');
  t.equal(metric(text, 'csumwatch_vtep_peers'), 50, 'but counted');
  feed(agent, '10.200.1.7', true, 2);
  text = await scrape();
  t.equal(peerLines(text).length, 4, 'one peer: rx and tx, ok and bad');
  t.equal(metric(text, 'csumwatch_vtep_packets_total', { peer: '10.200.1.7', direction: 'rx', result: 'ok' }), 3, 'its ok packets from before');
  t.equal(metric(text, 'csumwatch_vtep_packets_total', { peer: '10.200.1.7', direction: 'rx', result: 'bad' }), 2);
  feed(agent, '10.200.1.7', false, 10);
  text = await scrape();
  t.equal(metric(text, 'csumwatch_vtep_packets_total', { peer: '10.200.1.7', direction: 'rx', result: 'ok' }), 13, 'kept after it is healthy again');
  t.equal(peerLines(text).length, 4);
});

t.test('--vtep-series all: every peer', async (t) => {
  const { agent, scrape } = agentWith('all');
  for (let p = 1; p <= 50; p++) feed(agent, `10.200.1.${p}`, p === 9, 1);
  const text = await scrape();
  t.equal(peerLines(text).length, 200);
  t.equal(metric(text, 'csumwatch_vtep_packets_total', { peer: '10.200.1.9', direction: 'rx', result: 'bad' }), 1);
  t.equal(metric(text, 'csumwatch_vtep_packets_total', { peer: '10.200.1.10', direction: 'rx', result: 'ok' }), 1);
  t.equal(metric(text, 'csumwatch_vtep_peers'), 50);
});

t.test('Geneve tunnels: peers by the outer address, packets by encap, checksums and reasons under geneve.*', async (t) => {
  const { agent, scrape } = agentWith('bad');
  const slot = agent.counters.slot('eth0');
  const at = 1_700_000_000_000_000;
  const geneve = (src: string, bad: boolean): Buffer => {
    const spec = geneveDnsSpec({ options: [{ cls: 0x0102, type: 0x80, data: [0, 0, 0, 1] }], inner: { udpCsum: bad ? 'flip' : 'correct' } });
    if (spec.ip.v !== 4) throw new Error('expected an IPv4 underlay');
    spec.ip.src = src;
    return build(spec).bytes;
  };
  const ingest = (b: Buffer, n = 1): void => { for (let i = 0; i < n; i++) agent.ingest(slot, DIR_INDEX_RX, 1, b, 0, b.length, b.length, at + i); };
  ingest(geneve('10.200.2.1', false), 4);
  ingest(geneve('10.200.2.1', true), 1);
  ingest(geneve('10.200.2.2', false), 2);
  ingest(frame('10.200.1.1', false), 3);
  // Opt Len pointing past the datagram: malformed, by its name, outside the tunnel.
  const lying = geneve('10.200.2.3', false);
  lying[14 + 20 + 8] = 0x3f;
  ingest(lying);
  const text = await scrape();
  t.equal(metric(text, 'csumwatch_vtep_peers'), 3, 'two Geneve peers and one VXLAN peer: a frame whose header lies is no tunnel of a peer');
  t.equal(metric(text, 'csumwatch_vtep_packets_total', { peer: '10.200.2.1', direction: 'rx', result: 'bad' }), 1);
  t.equal(metric(text, 'csumwatch_vtep_packets_total', { peer: '10.200.2.1', direction: 'rx', result: 'ok' }), 4);
  t.equal(metric(text, 'csumwatch_packets_total', { iface: 'eth0', direction: 'rx', encap: 'geneve' }), 7);
  t.equal(metric(text, 'csumwatch_packets_total', { iface: 'eth0', direction: 'rx', encap: 'vxlan' }), 3);
  t.equal(metric(text, 'csumwatch_packets_total', { iface: 'eth0', direction: 'rx', encap: 'none' }), 1, 'the lying header never made it a tunnel');
  t.equal(metric(text, 'csumwatch_checksums_total', { iface: 'eth0', direction: 'rx', layer: 'geneve.udp', result: 'ok' }), 6);
  t.equal(metric(text, 'csumwatch_checksums_total', { iface: 'eth0', direction: 'rx', layer: 'geneve.udp', result: 'bad' }), 1);
  t.equal(metric(text, 'csumwatch_checksums_total', { iface: 'eth0', direction: 'rx', layer: 'vxlan.udp', result: 'ok' }), 3);
  t.equal(metric(text, 'csumwatch_decode_errors_total', { iface: 'eth0', reason: 'geneve_options_overrun' }), 1);
});
