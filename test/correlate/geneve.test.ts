// DNS inside Geneve through the correlator: transactions keyed by the inner addresses, a bad
// inner checksum blamed as geneve.*, the same packet seen decapsulated on the geneve device (a
// plain bad udp) blamed as the tunnel's inner layer, and the lost record saying which tunnel.

import t from 'tap';
import { DnsCorrelator } from '../../src/correlate/transactions';
import { mergePlain } from '../../src/correlate/outcome';
import { Decoder } from '../../src/decode/decoder';
import { DIR_RX, ENCAP_GENEVE, ENCAP_NONE, ENCAP_VXLAN, Frame, Layer, LAYER_NAMES } from '../../src/decode/frame';
import { build, defaultQuery, defaultResponse, geneveDnsSpec, plainDnsSpec, vxlanDnsSpec } from '../support/packets';

const T0 = 1_700_000_000_000_000;
const dec = new Decoder();
const f = new Frame();

function feed(c: DnsCorrelator, bytes: Buffer, tsUs: number, ifIndex = 0): Frame {
  dec.decode(bytes, 0, bytes.length, bytes.length, 1, DIR_RX, f);
  c.observe(bytes, f, tsUs, ifIndex);
  return f;
}

const opts = { options: [{ cls: 0x0102, type: 0x80, data: [0, 0, 0, 1] }] };
const q = (id: number, udpCsum?: 'flip'): Buffer => build(geneveDnsSpec({ ...opts, inner: { dns: defaultQuery('svc.cluster.local', id), ...(udpCsum ? { udpCsum } : {}) } })).bytes;
const r = (id: number): Buffer => build(geneveDnsSpec({ ...opts, inner: { dns: defaultResponse('svc.cluster.local', id) } })).bytes;

t.test('a query and its answer inside Geneve: one answered transaction, keyed by the inner addresses', async (t) => {
  const c = new DnsCorrelator({ timeoutUs: 1_000_000 });
  t.equal(feed(c, q(1), T0).encap, ENCAP_GENEVE);
  feed(c, r(1), T0 + 300);
  // The same exchange without a tunnel, between the same inner addresses: the same transaction's copies.
  feed(c, build(plainDnsSpec({ dns: defaultQuery('svc.cluster.local', 1) })).bytes, T0 + 100, 1);
  c.finish();
  t.equal(c.queries, 2);
  t.equal(c.answered, 1, 'one transaction, answered');
  t.equal(c.unanswered, 0);
  t.equal(c.retransmissions, 0, 'the decapsulated copy on another interface is the same packet');
  t.equal(c.latency.count, 1);
});

t.test('a bad inner checksum inside Geneve: lost to checksum, blamed as geneve.udp, the tunnel named', async (t) => {
  const c = new DnsCorrelator({ timeoutUs: 1_000_000 });
  feed(c, q(2, 'flip'), T0);
  c.finish();
  t.equal(c.lostToChecksum, 1);
  t.equal(c.lostByLayer[Layer.GENEVE_UDP], 1);
  const l = c.lost()[0];
  t.equal(l.layer, 'geneve.udp');
  t.equal(l.geneve, true);
  t.equal(l.vxlan, false);
});

t.test('seen decapsulated on the geneve device with a bad udp, and encapsulated on the underlay: blamed as geneve.udp', async (t) => {
  const c = new DnsCorrelator({ timeoutUs: 1_000_000 });
  // The underlay's copy is fine as far as the capture goes; the geneve device's copy is bad.
  feed(c, q(3), T0, 0);
  feed(c, build(plainDnsSpec({ dns: defaultQuery('svc.cluster.local', 3), udpCsum: 'flip' })).bytes, T0 + 50, 1);
  c.finish();
  t.equal(c.lostToChecksum, 1);
  t.equal(c.lost()[0].layer, 'geneve.udp', 'the plain layer shifted into the tunnel it was seen in');
  // And the shift itself: plain udp lands on vxlan.udp, geneve.udp, or stays udp.
  const udp = 1 << Layer.UDP;
  t.equal(mergePlain(0, udp, ENCAP_NONE), udp);
  t.equal(mergePlain(0, udp, ENCAP_VXLAN), 1 << Layer.VXLAN_UDP);
  t.equal(mergePlain(0, udp, ENCAP_GENEVE), 1 << Layer.GENEVE_UDP);
  t.equal(mergePlain(0, 1 << Layer.TCP, ENCAP_GENEVE), 1 << Layer.GENEVE_TCP, 'the widest bit fits the 16-bit masks');
  t.equal(LAYER_NAMES[Layer.GENEVE_TCP], 'geneve.tcp');
});

t.test('VXLAN and Geneve transactions side by side keep their own tunnel', async (t) => {
  const c = new DnsCorrelator({ timeoutUs: 1_000_000 });
  feed(c, q(4, 'flip'), T0);
  feed(c, build(vxlanDnsSpec({ inner: { dns: defaultQuery('other.cluster.local', 5), udpCsum: 'flip' } })).bytes, T0 + 10);
  c.finish();
  t.equal(c.lostByLayer[Layer.GENEVE_UDP], 1);
  t.equal(c.lostByLayer[Layer.VXLAN_UDP], 1);
  const byName = Object.fromEntries(c.lost().map((l) => [l.name, [l.layer, l.vxlan, l.geneve]]));
  t.same(byName, { 'svc.cluster.local.': ['geneve.udp', false, true], 'other.cluster.local.': ['vxlan.udp', true, false] });
});
