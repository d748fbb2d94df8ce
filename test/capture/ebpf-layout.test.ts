// The layouts src/capture/ebpf.ts and src/capture/kfilter.ts use (from src/bpf/generated, written
// from the objects' BTF by the build) against the built objects as bpftool reads their BTF: every
// member, no bitfields, no hidden padding. Also the constants, the protocol enum, the maps' names,
// types and value sizes, and encodeTracerConfig's bytes. test/bpf/generated.test.ts checks that
// the committed generated files are what the build writes.

import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import {
  CFG_LAYOUT, DROP_CONSTANTS, DROP_PROTOS, encodeTracerConfig, EVENT_LAYOUT, FLOW_LAYOUT, STATS_LAYOUT,
} from '../../src/capture/ebpf';
import { FILTER_CFG_LAYOUT, FILTER_CONSTANTS, FILTER_STATS, VTEP_KEY_LAYOUT, VTEP_VALUE_LAYOUT } from '../../src/capture/kfilter';
import { ObjectBtf } from '../support/btf';

const OBJ = join(__dirname, '..', '..', 'bpf', 'drops.bpf.o');

if (!existsSync(OBJ)) {
  t.fail(`${OBJ} is not built: run \`npm run build\` (it needs clang, libbpf-dev and bpftool)`);
  process.exit(1);
}
const btf = new ObjectBtf(OBJ);

const STRUCTS: Array<[string, Record<string, number>]> = [
  ['csw_drop_event', EVENT_LAYOUT],
  ['csw_flow', FLOW_LAYOUT],
  ['csw_drop_cfg', CFG_LAYOUT],
  ['csw_drop_stats', STATS_LAYOUT],
];

for (const [name, layout] of STRUCTS) {
  t.test(`struct ${name}: TS and the BPF object agree`, (t) => {
    btf.checkStruct(t, name, layout);
    t.end();
  });
}

t.test('constants and the protocol enum', (t) => {
  const e = (name: string) => new Map((btf.named('ENUM', name)?.values ?? []).map((v) => [v.name, Number(v.val)]));
  const limits = e('csw_drop_limits');
  const flags = e('csw_drop_event_flag');
  const proto = e('csw_drop_proto');
  const scope = e('csw_drop_scope');
  t.same({
    countsSize: btf.named('STRUCT', 'csw_drop_counts')?.size, reasonSlots: limits.get('CSW_DROP_REASON_SLOTS'), protos: proto.get('CSW_DROP_PROTOS'),
    ports: limits.get('CSW_DROP_PORTS'), dnsBytes: limits.get('CSW_DNS_BYTES'),
    evFlow: flags.get('CSW_EV_FLOW'), evTunnel: flags.get('CSW_EV_TUNNEL'), evDecapped: flags.get('CSW_EV_DECAPPED'), evDns: flags.get('CSW_EV_DNS'),
    evFragment: flags.get('CSW_EV_FRAGMENT'), evPorts: flags.get('CSW_EV_PORTS'), evVni: flags.get('CSW_EV_VNI'), evGeneve: flags.get('CSW_EV_GENEVE'),
    scopeDnsOrVxlan: scope.get('CSW_SCOPE_DNS_OR_VXLAN'), scopeAll: scope.get('CSW_SCOPE_ALL'),
    protoVxlan: proto.get('CSW_PROTO_VXLAN'), protoGeneve: proto.get('CSW_PROTO_GENEVE'), protoUdp: proto.get('CSW_PROTO_UDP'),
  }, DROP_CONSTANTS, 'the object\'s BTF holds the constants TS uses');
  t.equal(CFG_LAYOUT.vxlan_port + DROP_CONSTANTS.ports * 2, CFG_LAYOUT.dns_port, 'CSW_DROP_PORTS u16 VXLAN ports');
  t.equal(EVENT_LAYOUT.size - EVENT_LAYOUT.dns, DROP_CONSTANTS.dnsBytes, 'CSW_DNS_BYTES of DNS message at the end of an event');
  const counts = btf.named('STRUCT', 'csw_drop_counts');
  t.equal(counts?.size, DROP_CONSTANTS.countsSize, 'sizeof(struct csw_drop_counts) in the object');
  t.equal(DROP_CONSTANTS.countsSize, DROP_CONSTANTS.reasonSlots * DROP_CONSTANTS.protos * 8, 'one u64 per reason slot and protocol');
  t.equal(DROP_PROTOS.length, DROP_CONSTANTS.protos, 'a label per protocol slot');
  t.equal(DROP_PROTOS.indexOf('vxlan'), DROP_CONSTANTS.protoVxlan);
  t.equal(DROP_PROTOS.indexOf('geneve'), DROP_CONSTANTS.protoGeneve);
  t.equal(DROP_PROTOS.indexOf('udp'), DROP_CONSTANTS.protoUdp);
  t.end();
});

t.test('maps: csw_ names, types, value sizes', (t) => {
  const sec = btf.named('DATASEC', '.maps');
  t.ok(sec, 'the object has a .maps section');
  const maps = new Map<string, { type: number; value: number }>();
  for (const v of sec?.vars ?? []) {
    const varTy = btf.type(v.type_id);
    const def = btf.resolve(varTy.type_id as number);
    const field = (n: string) => {
      const m = (def.members ?? []).find((x) => x.name === n);
      if (!m) return -1;
      const p = btf.resolve(m.type_id);
      // __uint(name, N) is a pointer to an array of N; __type(value, T) a pointer to T.
      const target = btf.resolve(p.type_id as number);
      return n === 'value' ? btf.sizeOf(p.type_id as number) : (target.nr_elems as number);
    };
    maps.set(varTy.name as string, { type: field('type'), value: field('value') });
  }
  t.same([...maps.keys()].sort(), ['csw_drop_cfg', 'csw_drop_counts', 'csw_drop_events', 'csw_drop_headroom', 'csw_drop_scratch', 'csw_drop_stats']);
  // enum bpf_map_type: ARRAY 2, PERCPU_ARRAY 6, RINGBUF 27.
  t.same(maps.get('csw_drop_cfg'), { type: 2, value: CFG_LAYOUT.size });
  t.same(maps.get('csw_drop_counts'), { type: 6, value: DROP_CONSTANTS.countsSize });
  t.same(maps.get('csw_drop_stats'), { type: 6, value: STATS_LAYOUT.size });
  t.same(maps.get('csw_drop_scratch'), { type: 6, value: EVENT_LAYOUT.size });
  t.equal(maps.get('csw_drop_events')?.type, 27);
  t.end();
});

t.test('encodeTracerConfig writes the bitmap, ports and scope at the struct offsets', (t) => {
  const b = encodeTracerConfig({ vxlanPorts: [4789, 8472], genevePorts: [6081], dnsPorts: [53], eventSlots: [3, 11, 40, 255], eventScope: 'all' });
  t.equal(b.length, CFG_LAYOUT.size);
  t.equal(b.readUInt32LE(CFG_LAYOUT.event_reasons), (1 << 3) | (1 << 11), 'slots 3 and 11 in word 0');
  t.equal(b.readUInt32LE(CFG_LAYOUT.event_reasons + 4), 1 << 8, 'slot 40 in word 1');
  t.equal(b.readUInt32LE(CFG_LAYOUT.event_reasons + 28), 0x80000000, 'slot 255 in the last word');
  t.same([0, 1, 2, 3].map((i) => b.readUInt16LE(CFG_LAYOUT.vxlan_port + i * 2)), [4789, 8472, 0, 0]);
  t.same([0, 1, 2, 3].map((i) => b.readUInt16LE(CFG_LAYOUT.dns_port + i * 2)), [53, 0, 0, 0]);
  t.same([0, 1, 2, 3].map((i) => b.readUInt16LE(CFG_LAYOUT.geneve_port + i * 2)), [6081, 0, 0, 0]);
  t.same([0, 1, 2, 3].map((i) => encodeTracerConfig({ vxlanPorts: [], dnsPorts: [], eventSlots: [] }).readUInt16LE(CFG_LAYOUT.geneve_port + i * 2)), [0, 0, 0, 0], 'no Geneve ports given: none');
  t.equal(b[CFG_LAYOUT.event_scope], DROP_CONSTANTS.scopeAll);
  t.equal(b.readUInt32LE(CFG_LAYOUT.wakeup_bytes), (1 << 20) / 4, 'the reader is woken when a quarter of the default ring waits');
  t.equal(encodeTracerConfig({ vxlanPorts: [], dnsPorts: [], eventSlots: [], ringBytes: 65536 }).readUInt32LE(CFG_LAYOUT.wakeup_bytes), 16384, 'a quarter of the ring given');
  t.equal(encodeTracerConfig({ vxlanPorts: [], dnsPorts: [], eventSlots: [], wakeupBytes: 0 }).readUInt32LE(CFG_LAYOUT.wakeup_bytes), 0, 'or at every event');
  t.equal(encodeTracerConfig({ vxlanPorts: [], dnsPorts: [], eventSlots: [] })[CFG_LAYOUT.event_scope], DROP_CONSTANTS.scopeDnsOrVxlan, 'DNS or tunnels by default');
  t.throws(() => encodeTracerConfig({ vxlanPorts: [1, 2, 3, 4, 5], dnsPorts: [], eventSlots: [] }), RangeError, 'five ports do not fit');
  t.throws(() => encodeTracerConfig({ vxlanPorts: [], dnsPorts: [], eventSlots: [256] }), RangeError, 'no slot 256');
  t.end();
});

// The capture filter's structs (bpf/shared/filter.h, mirrored in src/capture/kfilter.ts).
const FILTER_OBJ = join(__dirname, '..', '..', 'bpf', 'filter.bpf.o');
const filterBtf = new ObjectBtf(FILTER_OBJ);
const FILTER_STRUCTS: Array<[string, Record<string, number>]> = [
  ['csw_filter_cfg', FILTER_CFG_LAYOUT],
  ['csw_vtep_key', VTEP_KEY_LAYOUT],
  ['csw_vtep_value', VTEP_VALUE_LAYOUT],
];
for (const [name, layout] of FILTER_STRUCTS) {
  t.test(`struct ${name}: TS and the filter object agree`, (t) => {
    filterBtf.checkStruct(t, name, layout);
    t.end();
  });
}

t.test('filter constants and counters', (t) => {
  const e = (name: string) => new Map((filterBtf.named('ENUM', name)?.values ?? []).map((v) => [v.name, Number(v.val)]));
  t.same({
    ports: e('csw_filter_limits').get('CSW_FILTER_PORTS'), statsCount: e('csw_filter_stat').get('CSW_FILTER_STATS'),
    copyVxlan: e('csw_filter_flag').get('CSW_FILTER_COPY_VXLAN'), encaps: e('csw_encap').get('CSW_ENCAPS'),
  }, FILTER_CONSTANTS, 'the object\'s BTF holds the constants TS uses');
  t.same([...e('csw_vtep_dir')], [['CSW_DIR_RX', 0], ['CSW_DIR_TX', 1]], 'directions: received 0, sent 1');
  t.equal(filterBtf.named('STRUCT', 'csw_filter_stats')?.size, FILTER_CONSTANTS.statsCount * 8, 'one u64 per filter counter');
  t.equal(FILTER_STATS.length, FILTER_CONSTANTS.statsCount, 'a label per counter');
  t.same([...e('csw_encap')], [['CSW_ENCAP_VXLAN', 0], ['CSW_ENCAP_GENEVE', 1], ['CSW_ENCAPS', 2]], 'encapsulations: VXLAN 0 (a zeroed key), Geneve 1');
  t.equal(FILTER_CFG_LAYOUT.geneve_port - FILTER_CFG_LAYOUT.vxlan_port, FILTER_CONSTANTS.ports * 2, 'eight u16 VXLAN ports');
  t.equal(FILTER_CFG_LAYOUT.dns_port - FILTER_CFG_LAYOUT.geneve_port, FILTER_CONSTANTS.ports * 2, 'eight u16 Geneve ports');
  t.end();
});
