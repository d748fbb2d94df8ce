// The kernel drop tracer and Geneve, for real (root). Two namespaces joined by a veth pair; the
// sender's transmit checksum offload is off, so the receiver verifies every checksum itself.
//
// Decapsulated: this kernel has no geneve driver, so bpf/geneve-decap.bpf.c (tc ingress on the
// receiver) decapsulates UDP 6081 as geneve_rx would leave the packet: the inner packet goes up
// the stack with the outer IP, UDP and Geneve headers (options included) in the headroom before
// its Ethernet header. A DNS query inside with a bad UDP checksum is dropped by the receiver's
// UDP (udp_csum); the tracer must tie the drop to the query and read the tunnel back for every
// options length, from none to the longest (63 words), without a VNI (the device is not a
// Geneve device, so nothing says the VNI survived).
//
// Still encapsulated: UDP 6082, a Geneve port for the tracer that nothing decapsulates, so the
// receiver drops it (no_socket) with the Geneve header on: proto geneve, the tunnel, the VNI and
// the inner flow and query, for an Ethernet and a bare IP payload; a Geneve version the tracer
// does not read is still counted as Geneve, with the outer flow only.
//
// Never a false tunnel: a Geneve packet decapsulated on a port the tracer was not given, and a
// DNS answer to a client whose ephemeral port is 6081, carry none.
//
// In the agent: the drops of a Geneve peer's packets for a checksum are that peer's, and
// /debug/drops says the tunnel was Geneve.

import t from 'tap';
import pino from 'pino';
import * as dnsPacket from 'dns-packet';

import { DEFAULT_AGENT_CONFIG } from '../../src/agent/config';
import { KernelDrops } from '../../src/agent/drops';
import {
  DropEvent, dropReasonNames, DropTracer, DROP_PROTOS, EV_DECAPPED, EV_DNS, EV_FLOW, EV_GENEVE, EV_PORTS, EV_TUNNEL, EV_VNI,
  FLOW_LAYOUT, REASON_SLOTS,
} from '../../src/capture/ebpf';
import { DnsCorrelator } from '../../src/correlate/transactions';
import { decodeDns } from '../../src/decode/dns';
import { DnsView } from '../../src/decode/frame';
import { rootTest } from '../support/root';
import { ADDR6_A, ADDR6_B, ADDR_A, ADDR_B, Datagram, genevePair, genevePayload, innerQuery } from '../support/geneve-pair';

rootTest('the eBPF Geneve tests');

const pair = genevePair('cswgnv');
t.teardown(() => pair.remove());
const [A, B] = [pair.a, pair.b];

const { names: REASONS } = dropReasonNames(null);
const UDP_CSUM = REASONS.indexOf('udp_csum');
const NO_SOCKET = REASONS.indexOf('no_socket');

interface Seen {
  slot: number;
  proto: string;
  flags: number;
  vni: number;
  flow: { src: string; dst: string; dport: number };
  tunnel: { src: string; dst: string; dport: number };
  dnsId: number | null;
}

function flowAt(ev: DropEvent, which: 'flow' | 'tunnel'): Seen['flow'] {
  const f = ev.flowAt(which);
  const v6 = ev.b[f + FLOW_LAYOUT.family] === 6;
  const ip = (o: number) => (v6
    ? new URL(`http://[${[...Array(8).keys()].map((i) => ev.b.readUInt16BE(f + o + i * 2).toString(16)).join(':')}]`).hostname.slice(1, -1)
    : [...ev.b.subarray(f + o, f + o + 4)].join('.'));
  return { src: ip(FLOW_LAYOUT.saddr), dst: ip(FLOW_LAYOUT.daddr), dport: ev.b.readUInt16LE(f + FLOW_LAYOUT.dport) };
}

function record(ev: DropEvent): Seen {
  let dnsId: number | null = null;
  if (ev.dnsLen > 0) {
    const d = new DnsView();
    decodeDns(ev.b, ev.dnsOffset, ev.dnsOffset + ev.dnsLen, ev.dnsOffset + 0xffff, d);
    dnsId = d.keyed ? d.id : -1;
  }
  return { slot: ev.slot, proto: DROP_PROTOS[ev.proto], flags: ev.flags, vni: ev.vni, flow: flowAt(ev, 'flow'), tunnel: flowAt(ev, 'tunnel'), dnsId };
}

/**
 * Traces the drops while ns sends to the other namespace; returns the events in the receiver's
 * namespace and the count deltas by [slot][proto].
 */
function traced(datagrams: Array<Datagram | [Buffer, number]>, o: { genevePorts?: number[]; from?: string } = {}): { events: Seen[]; delta: (reason: number, proto: string) => number } {
  const ns = o.from ?? A;
  const receiver = ns === A ? pair.netnsB : pair.netnsA;
  const tr = DropTracer.open({ vxlanPorts: [4789], genevePorts: o.genevePorts ?? [6081, 6082], dnsPorts: [53], eventSlots: [UDP_CSUM, NO_SOCKET], eventScope: 'all' });
  const events: Seen[] = [];
  const before = new Float64Array(REASON_SLOTS * DROP_PROTOS.length);
  const after = new Float64Array(REASON_SLOTS * DROP_PROTOS.length);
  try {
    tr.readCounts(before);
    tr.start((ev) => {
      if (ev.netns === receiver) events.push(record(ev));
    }, (msg) => { throw new Error(msg); });
    pair.send(datagrams, ns);
    tr.poll();
    tr.readCounts(after);
  } finally {
    tr.close();
  }
  const delta = (reason: number, proto: string) => {
    const i = reason * DROP_PROTOS.length + DROP_PROTOS.indexOf(proto as (typeof DROP_PROTOS)[number]);
    return after[i] - before[i];
  };
  return { events, delta };
}

t.test('decapsulated (as geneve_rx leaves it): the tunnel read back for every options length, the query tied', (t) => {
  const LENGTHS = [0, 1, 2, 5, 31, 32, 62, 63];
  const { events, delta } = traced(LENGTHS.map((words, i) => [genevePayload(0x1234, words, innerQuery(100 + i, true)), 6081]));
  t.equal(events.length, LENGTHS.length, 'one drop per query, all in the receiver\'s namespace');
  t.ok(delta(UDP_CSUM, 'udp') >= LENGTHS.length, 'counted as UDP checksum drops of UDP: the packet was no longer in a tunnel');
  LENGTHS.forEach((words, i) => {
    const e = events.find((x) => x.dnsId === 100 + i);
    t.ok(e, `${words} option words: the query's drop`);
    if (!e) return;
    t.equal(REASONS[e.slot], 'udp_csum', `${words} words: udp_csum`);
    t.equal(e.proto, 'udp');
    const want = EV_FLOW | EV_PORTS | EV_DNS | EV_TUNNEL | EV_DECAPPED | EV_GENEVE;
    t.equal(e.flags & ~EV_VNI, want, `${words} words: flow, ports, DNS, a decapsulated Geneve tunnel`);
    t.equal(e.flags & EV_VNI, 0, 'no VNI: the device is not the Geneve device');
    t.same(e.flow, { src: ADDR_A, dst: ADDR_B, dport: 53 }, 'the flow is the inner query');
    t.same(e.tunnel, { src: ADDR_A, dst: ADDR_B, dport: 6081 }, 'the tunnel is the outer UDP');
  });
  t.end();
});

t.test('a good inner checksum after decapsulation: dropped for no socket, the tunnel still read back', (t) => {
  const { events } = traced([[genevePayload(7, 2, innerQuery(200, false)), 6081]]);
  t.equal(events.length, 1);
  t.equal(REASONS[events[0]?.slot ?? -1], 'no_socket', 'nothing listens on port 53 in the receiver');
  t.equal((events[0]?.flags ?? 0) & (EV_TUNNEL | EV_DECAPPED | EV_GENEVE), EV_TUNNEL | EV_DECAPPED | EV_GENEVE);
  t.end();
});

t.test('decapsulated under an IPv6 underlay: the tunnel read back through the IPv6 header', (t) => {
  const { events } = traced([{ payload: genevePayload(5, 2, innerQuery(210, true)), port: 6081, v6: true }]);
  t.equal(events.length, 1);
  const e = events[0];
  t.equal(REASONS[e?.slot ?? -1], 'udp_csum');
  t.equal((e?.flags ?? 0) & (EV_TUNNEL | EV_DECAPPED | EV_GENEVE), EV_TUNNEL | EV_DECAPPED | EV_GENEVE);
  t.same(e?.flow, { src: ADDR_A, dst: ADDR_B, dport: 53 }, 'the inner IPv4 query');
  t.same(e?.tunnel, { src: ADDR6_A, dst: ADDR6_B, dport: 6081 }, 'the IPv6 tunnel');
  t.end();
});

t.test('never a false tunnel: another Geneve port than the tracer\'s, a DNS answer to a client on 6081', (t) => {
  const other = traced([[genevePayload(7, 2, innerQuery(220, true)), 6081]], { genevePorts: [6082] });
  t.equal(other.events.length, 1, 'the decapsulated query still dropped');
  t.equal((other.events[0]?.flags ?? 0) & EV_TUNNEL, 0, 'with no tunnel: 6081 is not a Geneve port here');
  t.equal(other.events[0]?.dnsId, 220, 'and tied to its query all the same');
  // An answer from B's port 53 to A's port 6081, where nothing listens: the DNS ID 0x0123 reads as
  // Geneve version 0 with one word of options, as a tunnel parser taking it for Geneve would.
  const answer = dnsPacket.encode({ type: 'response', id: 0x0123, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'a.geneve.test' }], answers: [{ type: 'A', name: 'a.geneve.test', data: '192.0.2.1' }] });
  const back = traced([{ payload: answer, port: 6081, from: 53 }], { from: B });
  t.equal(back.events.length, 1, 'the answer dropped in A');
  const e = back.events[0];
  t.equal(REASONS[e?.slot ?? -1], 'no_socket');
  t.equal(e?.proto, 'udp', 'UDP, not Geneve: it comes from a DNS port');
  t.equal((e?.flags ?? 0) & EV_TUNNEL, 0, 'no tunnel');
  t.equal(e?.dnsId, 0x0123, 'and its DNS message read');
  t.end();
});

t.test('still encapsulated: proto geneve, the tunnel with its VNI, the inner flow and query', (t) => {
  const { events, delta } = traced([
    [genevePayload(0xabcdef, 0, innerQuery(300, false)), 6082],
    [genevePayload(0x000101, 3, innerQuery(301, false)), 6082],
    [genevePayload(0x000202, 63, innerQuery(302, false)), 6082],
    [genevePayload(0x000303, 2, innerQuery(303, false), { raw: true }), 6082],
    [genevePayload(0x000404, 0, innerQuery(304, false), { version: 1 }), 6082],
  ]);
  t.equal(events.length, 5, 'five drops in the receiver');
  t.ok(delta(NO_SOCKET, 'geneve') >= 5, 'counted as no_socket drops of Geneve');
  const vnis: Record<number, number> = { 300: 0xabcdef, 301: 0x000101, 302: 0x000202, 303: 0x000303 };
  for (const id of [300, 301, 302, 303]) {
    const e = events.find((x) => x.dnsId === id);
    t.ok(e, `query ${id}: its drop`);
    if (!e) continue;
    t.equal(REASONS[e.slot], 'no_socket');
    t.equal(e.proto, 'geneve');
    t.equal(e.flags, EV_FLOW | EV_PORTS | EV_DNS | EV_TUNNEL | EV_VNI | EV_GENEVE, `query ${id}: flow, ports, DNS, a Geneve tunnel with its VNI`);
    t.equal(e.vni, vnis[id]);
    t.same(e.flow, { src: ADDR_A, dst: ADDR_B, dport: 53 }, 'the flow is the inner query');
    t.same(e.tunnel, { src: ADDR_A, dst: ADDR_B, dport: 6082 });
  }
  const v1 = events.find((x) => x.dnsId === null);
  t.ok(v1, 'Geneve version 1: dropped too');
  t.equal(v1?.proto, 'geneve', 'still counted as Geneve (by its port)');
  t.equal((v1?.flags ?? 0) & (EV_TUNNEL | EV_DNS), 0, 'but not entered: a version the tracer does not read');
  t.same(v1?.flow, { src: ADDR_A, dst: ADDR_B, dport: 6082 }, 'its flow is the outer one');
  t.end();
});

t.test('in the agent: checksum drops charged to the Geneve peer, /debug/drops names the tunnel', async (t) => {
  const peers: string[] = [];
  const drops = new KernelDrops({ ...DEFAULT_AGENT_CONFIG, genevePorts: [6081, 6082], bpfEventScope: 'dns-vxlan' }, {
    log: pino({ level: 'silent' }),
    dns: new DnsCorrelator(),
    onTunnelChecksumDrop: (w, family) => peers.push(family === 4 ? [w[0] >>> 24, (w[0] >>> 16) & 0xff, (w[0] >>> 8) & 0xff, w[0] & 0xff].join('.') : 'v6'),
  });
  drops.start();
  t.teardown(() => drops.stop());
  t.equal(drops.unavailable, null, 'the tracer runs');
  pair.send([[genevePayload(9, 2, innerQuery(400, true)), 6081], [genevePayload(9, 0, innerQuery(401, true)), 6081], [genevePayload(9, 0, innerQuery(402, false)), 6082]]);
  // The ring is drained every 100 ms.
  const deadline = Date.now() + 5000;
  const mine = () => drops.recentDrops().filter((d) => d.netns === pair.netnsB);
  while (mine().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const seen = mine();
  t.equal(seen.length, 3, 'three drops in the receiver');
  // Other drops on the machine may be charged too; none may name an address of this test's but A.
  t.same(peers.filter((p) => p.startsWith('10.231.')), [ADDR_A, ADDR_A], 'the two checksum drops charged to the peer that sent them, and nothing else here');
  const byId = (id: number) => seen.find((d) => d.dns?.id === id);
  t.match(byId(400), { reason: 'udp_csum', proto: 'udp', tunnel: { src: ADDR_A, dst: ADDR_B, dport: 6081, encap: 'geneve', vni: null, decapsulated: true } });
  t.match(byId(402), { reason: 'no_socket', proto: 'geneve', tunnel: { dport: 6082, encap: 'geneve', vni: 9, decapsulated: false }, flow: { dst: ADDR_B, dport: 53 } });
});
