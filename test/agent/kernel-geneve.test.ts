// The agent on the kernel datapath with Geneve (root): the capture filter it loads counts Geneve
// per peer; csumwatch_packets_total{encap="geneve"} and csumwatch_vtep_packets_total come from the
// kernel's table, and a copy of a Geneve packet (DNS) decoded in user space is not counted twice.
// The filter is run by the kernel over built frames (BPF_PROG_TEST_RUN counts them under the
// namespace's loopback, which the agent captures).

import t from 'tap';
import pino from 'pino';

import { Agent } from '../../src/agent/agent';
import { DEFAULT_AGENT_CONFIG } from '../../src/agent/config';
import { DIR_INDEX_RX } from '../../src/agent/counters';
import { createRegistry } from '../../src/agent/registry';
import type { NetInterface } from '../../src/node/interfaces';
import { metric } from '../support/agent';
import { rootTest } from '../support/root';
import * as P from '../support/packets';

rootTest('the kernel Geneve counting tests');

const lo = { name: 'lo', ifindex: 1, kind: 'loopback', driver: '', mtu: 65536, up: true, mac: '00:00:00:00:00:00', addresses: [], vxlan: null, master: null, geneve: null } as unknown as NetInterface;

t.test('kernel datapath: Geneve counted in the kernel, per interface and per peer, once', async (t) => {
  const agent = new Agent({ ...DEFAULT_AGENT_CONFIG, interfaces: ['lo'], bpf: 'off', doctorInterval: 0, datapath: 'kernel', vtepSeries: 'all' }, {
    log: pino({ level: 'silent' }),
    watchLinks: false,
    listInterfaces: () => [lo],
  });
  agent.start();
  t.teardown(() => agent.stop());
  const k = agent.kfilter;
  if (!k) throw new Error('the kernel filter did not load');
  const from = (src: string, inner: P.FrameSpec, port = 6081): Buffer => {
    const spec = P.geneveSpec(inner, { genevePort: port });
    if (spec.ip.v !== 4) throw new Error('expected an IPv4 underlay');
    spec.ip.src = src;
    return P.build(spec).bytes;
  };
  const bulk = P.geneveSpec({ link: { kind: 'eth' }, ip: { v: 4, src: '10.244.1.5', dst: '10.244.0.7' }, l4: { kind: 'tcp', sport: 5201, dport: 40000, payload: Buffer.alloc(1200) } }).l4;
  const bulkInner = (bulk as P.UdpSpec).geneve!.inner;
  const dns = P.geneveDnsSpec();
  const dnsInner = (dns.l4 as P.UdpSpec).geneve!.inner;
  t.equal(k.run(from('10.220.0.1', bulkInner), 6).verdict, 0, 'Geneve bulk: counted, not copied');
  t.equal(k.run(from('10.220.0.2', bulkInner), 2).verdict, 0);
  const q = from('10.220.0.1', dnsInner);
  t.ok(k.run(q).verdict > 0, 'Geneve DNS: copied');
  // The copy as the socket would hand it over: decoded with the kernel having counted it.
  agent.ingest(agent.counters.slot('lo'), DIR_INDEX_RX, 1, q, 0, q.length, q.length, 1_700_000_000_000_000, 0, true);
  const vx = P.build(P.vxlanDnsSpec({ inner: {} })).bytes;
  k.run(vx, 3);
  const text = await createRegistry(agent, 'test').metrics();
  t.equal(metric(text, 'csumwatch_packets_total', { iface: 'lo', direction: 'rx', encap: 'geneve' }), 9, 'Geneve: the kernel\'s 9, the decoded copy not again');
  t.equal(metric(text, 'csumwatch_packets_total', { iface: 'lo', direction: 'rx', encap: 'vxlan' }), 3, 'VXLAN as before');
  t.equal(metric(text, 'csumwatch_vtep_packets_total', { peer: '10.220.0.1', direction: 'rx', result: 'ok' }), 7, 'per Geneve peer, from the kernel table');
  t.equal(metric(text, 'csumwatch_vtep_packets_total', { peer: '10.220.0.2', direction: 'rx', result: 'ok' }), 2);
  t.equal(metric(text, 'csumwatch_filter_packets_total', { what: 'geneve' }), 9, 'the filter\'s own Geneve count');
});
