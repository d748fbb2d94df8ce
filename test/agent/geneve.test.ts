// The agent on a Geneve node: it captures each Geneve device and the underlay the route to its
// remote (or the default route) leaves by, and exports the node's Geneve VTEPs in
// csumwatch_vtep_info, as it does for VXLAN. (The kernel datapath's counting of Geneve:
// kernel-geneve.test.ts.)

import t from 'tap';
import pino from 'pino';

import { Agent } from '../../src/agent/agent';
import { DEFAULT_AGENT_CONFIG } from '../../src/agent/config';
import { createRegistry } from '../../src/agent/registry';
import type { PcapOptions } from '../../src/capture/pcap';
import type { BatchHandler, PacketSource } from '../../src/capture/source';
import { ROUTE_PROBE } from '../../src/doctor/run';
import type { NetInterface } from '../../src/node/interfaces';
import type { RouteResult } from '../../src/node/routes';
import { metric } from '../support/agent';

function iface(name: string, ifindex: number, kind: string, extra: Partial<NetInterface> = {}): NetInterface {
  return { name, ifindex, kind, driver: kind === 'physical' ? 'virtio_net' : '', mtu: 1500, up: true, mac: '02:00:00:00:00:0' + ifindex, addresses: [], vxlan: null, master: null, geneve: null, ...extra } as NetInterface;
}

/** A capture that delivers nothing: what the agent opened is what it captures. */
class NoSource implements PacketSource {
  readonly linkType = 1;
  start(_b: BatchHandler, _e: (m: string) => void): void {}
  poll(): number { return 0; }
  stats() { return { received: 0, dropped: 0, ifDropped: 0, clipped: 0 }; }
  close(): void {}
}

// An OVN-Kubernetes node: genev_sys_6081 (external), br-ex holding the node's address (the NIC
// is its port), and a point-to-point Geneve device to 192.168.7.9 that leaves by eth1.
const IFS: NetInterface[] = [
  iface('lo', 1, 'loopback'),
  iface('ens3', 2, 'physical', { master: 'ovs-system' }),
  iface('br-ex', 3, 'openvswitch', { addresses: [{ family: 'inet', address: '10.0.0.5', prefix: 24 }, { family: 'inet6', address: 'fe80::1', prefix: 64 }] }),
  iface('genev_sys_6081', 4, 'geneve', { mtu: 65000, geneve: { vni: null, port: 6081, remote: null, external: true, udpCsum: true } }),
  iface('eth1', 5, 'physical', { addresses: [{ family: 'inet', address: '192.168.7.2', prefix: 24 }] }),
  iface('gnv1', 6, 'geneve', { geneve: { vni: 7, port: 6090, remote: '192.168.7.9', external: false, udpCsum: false } }),
  iface('gnv-lost', 7, 'geneve', { geneve: { vni: 8, port: 6081, remote: '203.0.113.9', external: false, udpCsum: false } }),
];

function route(dev: string, prefsrc: string | null): RouteResult {
  return { route: { dst: '', type: 'unicast', dev, prefsrc, gateway: null } };
}

t.test('Geneve devices and their underlays are captured, and exported as VTEPs', async (t) => {
  const asked: string[][] = [];
  const opened: string[] = [];
  const agent = new Agent({ ...DEFAULT_AGENT_CONFIG, bpf: 'off', doctorInterval: 0, datapath: 'pcap' }, {
    log: pino({ level: 'silent' }),
    watchLinks: false,
    listInterfaces: () => IFS,
    routes: (addrs) => {
      asked.push([...addrs].sort());
      const m = new Map<string, RouteResult>();
      for (const a of addrs) m.set(a, a === ROUTE_PROBE ? route('br-ex', '10.0.0.5') : a === '192.168.7.9' ? route('eth1', null) : { error: 'RTNETLINK answers: Network is unreachable' });
      return m;
    },
    openSource: (o: PcapOptions) => {
      opened.push(`${o.device}/${o.direction}`);
      return new NoSource();
    },
  });
  agent.start();
  t.teardown(() => agent.stop());
  t.same(asked, [[ROUTE_PROBE, '192.168.7.9', '203.0.113.9'].sort()], 'one batch of route lookups: the remotes, and the default route for the external device');
  t.same(agent.captures().map((c) => [c.name, c.role, c.running]), [
    ['br-ex', 'underlay of genev_sys_6081', true],
    ['genev_sys_6081', 'geneve', true],
    ['eth1', 'underlay of gnv1', true],
    ['gnv1', 'geneve', true],
    ['gnv-lost', 'geneve', true],
  ], 'each Geneve device, and the device its route leaves by; a device without a route alone');
  t.same(opened.filter((o) => o.endsWith('/in')), ['br-ex/in', 'genev_sys_6081/in', 'eth1/in', 'gnv1/in', 'gnv-lost/in'], 'and each one opened');
  t.same(agent.vteps, [
    { iface: 'genev_sys_6081', address: '10.0.0.5', port: 6081, underlay: 'br-ex' },
    { iface: 'gnv1', address: '192.168.7.2', port: 6090, underlay: 'eth1' },
  ], "VTEPs: the route's source, else the underlay's global addresses; none without an underlay");
  const text = await createRegistry(agent, 'test').metrics();
  t.equal(metric(text, 'csumwatch_vtep_info', { address: '10.0.0.5', iface: 'genev_sys_6081', port: '6081', underlay: 'br-ex' }), 1, 'csumwatch_vtep_info for the sender join');
  t.equal(metric(text, 'csumwatch_vtep_info', { address: '192.168.7.2', iface: 'gnv1', port: '6090', underlay: 'eth1' }), 1);
});

t.test('route lookups that fail leave the Geneve devices captured alone', (t) => {
  const agent = new Agent({ ...DEFAULT_AGENT_CONFIG, bpf: 'off', doctorInterval: 0, datapath: 'pcap' }, {
    log: pino({ level: 'silent' }),
    watchLinks: false,
    listInterfaces: () => IFS,
    routes: () => { throw new Error('running ip: not installed'); },
    openSource: () => new NoSource(),
  });
  agent.start();
  t.teardown(() => agent.stop());
  t.same(agent.captures().map((c) => c.name), ['genev_sys_6081', 'gnv1', 'gnv-lost']);
  t.same(agent.vteps, []);
  t.end();
});
