// DNS over TCP through the lab (root): dnsperf -m tcp keeps one connection and pipelines its
// queries on it, so segments carry several messages, and a message may be split across segments.
// Each agent (kernel datapath, libpcap datapath) must count every query once, every answer, and
// lose exactly what dnsperf lost. Bounded: dnsperf by count and time.

import t from 'tap';
import { join } from 'node:path';

import { sleepMs } from '../../src/lab/tools';
import { labWithDir } from '../support/lab';
import { rootTest } from '../support/root';
import { get, metric, startAgent, stopAgent, waitReady } from '../support/agent';

const LAB = 'cswtc';
const NS = `${LAB}-node2`;
const QUERIES = 3000;

const procs = rootTest('the DNS-over-TCP test', [LAB]);

t.test('dnsperf over TCP: every pipelined query counted once, answered, none made up lost', async (t) => {
  const { lab, dir } = labWithDir(LAB, 'tcp-test');
  const kinds = [
    { name: 'kernel datapath', url: 'http://127.0.0.1:9479', args: ['--listen', '127.0.0.1:9479'] },
    { name: 'libpcap datapath', url: 'http://127.0.0.1:9480', args: ['--listen', '127.0.0.1:9480', '--datapath', 'pcap', '--bpf', 'off'] },
  ];
  const agents = kinds.map((k, i) => startAgent(NS, join(dir, `agent-${i}.log`), k.args, procs));
  for (const k of kinds) waitReady(NS, k.url);
  const perf = lab.dnsperf({ queries: QUERIES, qps: 1000, timeoutS: 2, prefix: 'tcp', tcp: true });
  t.ok(perf.sent === QUERIES && perf.completed > QUERIES * 0.9, `dnsperf -m tcp: ${perf.sent} sent, ${perf.completed} completed, ${perf.lost} lost`);
  sleepMs(6500); // past the agents' DNS timeout (5 s)
  const real = { server: lab.topo.dns };
  for (const [i, k] of kinds.entries()) {
    const page = get(NS, `${k.url}/metrics`).body;
    t.equal(metric(page, 'csumwatch_dns_queries_total', real), perf.sent, `${k.name}: each query counted once`);
    const answered = metric(page, 'csumwatch_dns_responses_total', real);
    const lost = metric(page, 'csumwatch_dns_lost_total', real);
    t.comment(`${k.name}: ${answered} answered, ${lost} lost; messages joined across segments ${metric(page, 'csumwatch_dns_tcp_stream_events_total', { event: 'joined' })}`);
    t.ok(answered >= perf.completed, `${k.name}: every answer dnsperf had (${answered})`);
    t.equal(answered + lost, perf.sent, `${k.name}: every query answered or lost`);
    t.ok(lost <= perf.lost, `${k.name}: no more lost than dnsperf lost (${lost})`);
    t.equal(metric(page, 'csumwatch_dns_orphan_responses_total'), 0, `${k.name}: no answer without its query`);
    t.equal(await stopAgent(agents[i]), 0, `${k.name}: stops cleanly`);
  }
});
