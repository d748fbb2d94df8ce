// Two network namespaces joined by a veth pair, with Geneve decapsulated on the receiver, for the
// tests of Geneve on real kernel drops. This kernel has no geneve driver, so bpf/geneve-decap.bpf.c
// (tc ingress on B's gnv0) stands in for it: UDP 6081 carrying Geneve is decapsulated as geneve_rx
// leaves it, the outer IP, UDP and Geneve headers (options included) in the headroom before the
// inner packet's Ethernet header. A's transmit checksum offload is off, so B verifies every
// checksum itself (a veth otherwise hands over a pending checksum, which the receiver trusts).
// Neighbours are known from the start: a packet waiting for neighbour discovery would reach B
// after the test looked.

import { statSync } from 'node:fs';
import * as dnsPacket from 'dns-packet';

import { BpfObject, objectPath } from '../../src/bpf/object';
import * as Decap from '../../src/bpf/generated/geneve-decap';
import { inNs, run } from '../../src/lab/tools';
import * as P from './packets';

export const ADDR_A = '10.231.0.1';
export const ADDR_B = '10.231.0.2';
export const ADDR6_A = 'fd00:231::1';
export const ADDR6_B = 'fd00:231::2';

/** A datagram: its payload, the port it goes to, over IPv6 or not, and the sender's port (any). */
export interface Datagram { payload: Buffer; port: number; v6?: boolean; from?: number }

export interface GenevePair {
  a: string;
  b: string;
  /** The namespaces' inodes (a drop event's netns). */
  netnsA: number;
  netnsB: number;
  /** Sends the datagrams from namespace `from` (default A) to the other, in order; returns when all are sent. */
  send(datagrams: Array<Datagram | [Buffer, number]>, from?: string): void;
  /** Removes both namespaces (and with them the link and the tc program). */
  remove(): void;
}

/** Builds the pair as namespaces PREFIX-a and PREFIX-b (replacing any left over). */
export function genevePair(prefix: string): GenevePair {
  const a = `${prefix}-a`;
  const b = `${prefix}-b`;
  const remove = () => {
    for (const ns of [a, b]) run('ip', ['netns', 'del', ns], { allowFail: true });
  };
  remove();
  run('ip', ['netns', 'add', a]);
  run('ip', ['netns', 'add', b]);
  run('ip', ['link', 'add', 'gnv0', 'netns', a, 'type', 'veth', 'peer', 'name', 'gnv0', 'netns', b]);
  for (const [ns, addr, addr6] of [[a, ADDR_A, ADDR6_A], [b, ADDR_B, ADDR6_B]]) {
    run('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'gnv0']);
    run('ip', ['-n', ns, 'addr', 'add', `${addr6}/64`, 'dev', 'gnv0', 'nodad']);
    run('ip', ['-n', ns, 'link', 'set', 'gnv0', 'up']);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  const macOf = (ns: string): string => (JSON.parse(run('ip', ['-n', ns, '-j', 'link', 'show', 'gnv0']).stdout) as Array<{ address: string }>)[0].address;
  for (const [ns, peer, addr, addr6] of [[a, b, ADDR_B, ADDR6_B], [b, a, ADDR_A, ADDR6_A]]) {
    for (const to of [addr, addr6]) run('ip', ['-n', ns, 'neigh', 'replace', to, 'lladdr', macOf(peer), 'dev', 'gnv0', 'nud', 'permanent']);
  }
  inNs(a, 'ethtool', ['-K', 'gnv0', 'tx', 'off']);
  const decap = BpfObject.load(objectPath('geneve-decap'));
  try {
    decap.tcAttach(Decap.programs.csw_geneve_decap, { netns: b, dev: 'gnv0', direction: 'ingress', priority: 1, handle: 1 });
  } finally {
    decap.close();
  }
  const send = (datagrams: Array<Datagram | [Buffer, number]>, from = a): void => {
    const to = from === a ? { v4: ADDR_B, v6: ADDR6_B } : { v4: ADDR_A, v6: ADDR6_A };
    const all = datagrams.map((d) => (Array.isArray(d) ? { payload: d[0], port: d[1] } : d))
      .map((d) => ({ hex: d.payload.toString('hex'), port: d.port, v6: d.v6 === true, from: d.from ?? 0 }));
    const script = `
      const dgram = require('dgram');
      const to = ${JSON.stringify(to)};
      const all = ${JSON.stringify(all)};
      (async () => {
        for (const d of all) {
          const s = dgram.createSocket(d.v6 ? 'udp6' : 'udp4');
          await new Promise((res) => s.bind(d.from, res));
          await new Promise((res, rej) => s.send(Buffer.from(d.hex, 'hex'), d.port, d.v6 ? to.v6 : to.v4, (e) => (e ? rej(e) : res())));
          s.close();
        }
      })().catch((e) => { console.error(e); process.exit(1); });`;
    inNs(from, process.execPath, ['-e', script], { timeoutMs: 30_000 });
  };
  return { a, b, netnsA: statSync(`/run/netns/${a}`).ino, netnsB: statSync(`/run/netns/${b}`).ino, send, remove };
}

/** A DNS query from A to B (ID id, name q<id>.geneve.test), over UDP with its checksum right or flipped, IPv4, Ethernet. */
export function innerQuery(id: number, badUdp: boolean): P.DnsFrameOpts {
  return {
    link: { kind: 'eth' },
    src: ADDR_A, dst: ADDR_B, sport: 40000 + id, dport: 53,
    udpCsum: badUdp ? 'flip' : 'correct',
    dns: { type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: `q${id}.geneve.test` }] },
  };
}

/** Geneve options filling exactly `words` 4-byte words (each option at most 32 words). */
export function optionsOf(words: number): P.GeneveOption[] {
  const out: P.GeneveOption[] = [];
  for (let left = words; left > 0;) {
    const w = Math.min(left, 32);
    out.push({ cls: 0x0102, type: out.length, data: Array.from({ length: (w - 1) * 4 }, (_, i) => (i * 7 + w) & 0xff) });
    left -= w;
  }
  return out;
}

/** The UDP payload of a Geneve packet: header, `words` words of options, then the inner frame (bare IP with raw). */
export function genevePayload(vni: number, words: number, inner: P.DnsFrameOpts, o: { version?: number; raw?: boolean } = {}): Buffer {
  const spec = P.plainDnsSpec(o.raw ? { ...inner, link: { kind: 'raw' } } : inner);
  const g: P.GeneveSpec = { vni, options: optionsOf(words), inner: spec };
  if (o.version !== undefined) g.version = o.version;
  return Buffer.concat([P.geneveHeader(g, o.raw ? 0x0800 : 0x6558), P.build(spec).bytes]);
}
