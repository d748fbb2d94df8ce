// A real Agent that has seen real captures (the fixtures) through its ingest path, and the HTTP
// app over it with the dependencies the agent command gives it: for the server tests.

import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { Logger } from 'pino';

import { Agent } from '../../src/agent/agent';
import { DEFAULT_AGENT_CONFIG } from '../../src/agent/config';
import { DIR_INDEX_RX, DIR_INDEX_TX } from '../../src/agent/counters';
import { readCaptureFile } from '../../src/capture/replay';
import { FixtureInputs } from '../../src/doctor/inputs';
import { PodDirectory } from '../../src/kube/pods';
import { createRegistry } from '../../src/agent/registry';
import { build } from '../../src/server/app';
import { agentViews } from '../../src/agent/views';

export const FIX = join(__dirname, '..', '..', '..', 'test', 'fixtures');

/** The captures fed: interface, fixture file (in FIX), and the capturing node's own addresses. */
export const FEEDS = [
  // node2's underlay: 5 of 20 queries arrive with a bad inner UDP checksum, never answered.
  ['eth0', 'vxlan-bad-inner-udp-rx.pcap', ['10.200.0.2', '10.244.0.2']],
  // node2's vxlan device: the same kind of exchange after decapsulation.
  ['vxlan0', 'dns-on-vxlan-dev.pcap', ['10.200.0.2', '10.244.0.2']],
] as const;

/**
 * An agent that has seen two real captures of the server node. Plain pcap files carry no direction, so it comes
 * from the lab's addresses (test/fixtures/README.md): a frame whose IPv4 source (outer, or the
 * only one) is the capturing node's own was sent, any other was received.
 */
export function fedAgent(opts: { pods?: PodDirectory; log?: Logger } = {}): Agent {
  const agent = new Agent({ ...DEFAULT_AGENT_CONFIG, dnsTimeout: 5 }, {
    log: opts.log ?? pino({ level: 'silent' }),
    procNet: join(FIX, 'node', 'proc-net'),
    watchLinks: false,
    pods: opts.pods,
    // The doctor reads a vmxnet3 node's recorded state (test/fixtures/node/README.md).
    doctorInputs: new FixtureInputs(join(FIX, 'node', 'vmxnet3-calico')),
  });
  agent.doctor.run();
  let last = 0;
  for (const [iface, file, local] of FEEDS) {
    const slot = agent.counters.slot(iface);
    readCaptureFile(join(FIX, file), (r) => {
      const b = r.buf;
      const o = r.off + 26; // Ethernet, IPv4 source
      const src = `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
      const dir = (local as readonly string[]).includes(src) ? DIR_INDEX_TX : DIR_INDEX_RX;
      agent.ingest(slot, dir, r.linkType, b, r.off, r.capLen, r.wireLen, r.tsUs);
      last = Math.max(last, r.tsUs);
    });
  }
  // Time passes: every unanswered query times out.
  agent.dns.sweep(last + 6_000_000);
  return agent;
}

/** The app over the agent, with what src/cli/agent.ts passes to build() (but no onClose). */
export function appFor(agent: Agent, log?: Logger): FastifyInstance {
  return build({
    registry: createRegistry(agent, '0.0.0-test'),
    ...(log ? { log } : {}),
    ...agentViews(agent),
  });
}

/** The debug listener's app over the agent (--debug-listen): /debug/lost and /debug/drops. */
export function debugAppFor(agent: Agent, log?: Logger): FastifyInstance {
  return build({
    registry: createRegistry(agent, '0.0.0-test'),
    ...(log ? { log } : {}),
    ...agentViews(agent),
    listener: 'debug',
  });
}
