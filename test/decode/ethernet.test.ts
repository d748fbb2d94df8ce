// Link layers: Ethernet II with tags and padding, Linux cooked v1/v2 with their packet types,
// raw IP and BSD loopback.

import t from 'tap';
import { Csum } from '../../src/decode/checksum';
import { LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL, LINKTYPE_RAW } from '../../src/decode/decoder';
import { DIR_RX, DIR_TX, DIR_UNKNOWN, Layer } from '../../src/decode/frame';
import { Status, statusName } from '../../src/decode/status';
import { build, ETHERTYPE_IPV4, ethernet, hex, plainDns, plainDnsSpec, plainTcp, sll, sll2 } from '../support/packets';
import { decodeVector } from './fixtures/harness';

const st = (s: Status): string => statusName(s);

// Ethernet II 02:00:00:00:00:0a -> 02:00:00:00:00:0b, IPv4 10.0.0.1 -> 10.0.0.53, UDP 40000 -> 53,
// DNS query A example.com (id 0x1234). Checksums checked with tshark.
const Q4 = hex(`
  02 00 00 00 00 0b 02 00 00 00 00 0a 08 00                    # Ethernet
  45 00 00 39 1c 46 00 00 40 11 4a 39 0a 00 00 01 0a 00 00 35  # IPv4
  9c 40 00 35 00 25 6d 57                                      # UDP
  12 34 01 00 00 01 00 00 00 00 00 00 07 65 78 61 6d 70 6c 65  # DNS
  03 63 6f 6d 00 00 01 00 01
`);

t.test('Ethernet II, IPv4, UDP, DNS query: the literal vector', (t) => {
  const s = decodeVector(t, Q4);
  t.equal(s.status, st(Status.OK));
  t.equal(s.vlanTags, 0);
  t.equal(s.csum[Layer.IPV4], Csum.OK);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.equal(s.outer.ipOffset, 14);
  t.equal(s.outer.l4Offset, 34);
  t.equal(s.dns.present, true);
  t.equal(s.dns.id, 0x1234);
  t.same(Q4, plainDns(), 'the builder produces the same bytes');
  t.end();
});

t.test('802.1Q and 802.1ad tags', (t) => {
  // 802.1Q VLAN 100 (tag 81 00 00 64) in front of the same IPv4 datagram.
  const q = hex(`02 00 00 00 00 0b 02 00 00 00 00 0a  81 00 00 64  08 00`);
  const one = Buffer.concat([q, Q4.subarray(14)]);
  let s = decodeVector(t, one);
  t.equal(s.status, st(Status.OK));
  t.equal(s.vlanTags, 1);
  t.equal(s.outer.ipOffset, 18);
  t.equal(s.csum[Layer.UDP], Csum.OK);

  // QinQ: 802.1ad S-tag 10, then 802.1Q C-tag 20.
  const qinq = plainDns({ link: { kind: 'eth', vlans: [{ tpid: 0x88a8, vid: 10 }, { tpid: 0x8100, vid: 20, pcp: 5 }] } });
  s = decodeVector(t, qinq);
  t.equal(s.status, st(Status.OK));
  t.equal(s.vlanTags, 2);
  t.equal(s.outer.ipOffset, 22);
  t.equal(s.csum[Layer.IPV4], Csum.OK);
  t.equal(s.csum[Layer.UDP], Csum.OK);

  // Pre-standard 0x9100 outer tag.
  s = decodeVector(t, plainDns({ link: { kind: 'eth', vlans: [{ tpid: 0x9100, vid: 10 }, { tpid: 0x8100, vid: 20 }] } }));
  t.equal(s.vlanTags, 2);
  t.equal(s.csum[Layer.UDP], Csum.OK);

  // Four tags are accepted, five are not.
  const tags = (n: number) => Array.from({ length: n }, (_, i) => ({ tpid: 0x8100, vid: i + 1 }));
  s = decodeVector(t, plainDns({ link: { kind: 'eth', vlans: tags(4) } }));
  t.equal(s.status, st(Status.OK));
  t.equal(s.vlanTags, 4);
  s = decodeVector(t, plainDns({ link: { kind: 'eth', vlans: tags(5) } }));
  t.equal(s.status, st(Status.VLAN_TOO_MANY_TAGS));

  // A tag header cut by the frame end (the frame itself is that short).
  s = decodeVector(t, hex('02 00 00 00 00 0b 02 00 00 00 00 0a 81 00 00'));
  t.equal(s.status, st(Status.ETHERNET_TOO_SHORT));
  t.end();
});

t.test('not IP', (t) => {
  // ARP request, padded to 60 bytes.
  const arp = ethernet(hex('0001 0800 06 04 0001  02 00 00 00 00 0a  0a 00 00 01  00 00 00 00 00 00  0a 00 00 35'), 0x0806, { pad: { to: 60, byte: 0 } });
  let s = decodeVector(t, arp);
  t.equal(s.status, st(Status.NOT_IP));
  t.same(s.csum, [-1, -1, -1, -1, -1, -1, -1, -1, -1]);
  // An 802.3 length field (0x0026) instead of an EtherType: LLC frame.
  s = decodeVector(t, ethernet(Buffer.alloc(38, 0x42), 0x0026));
  t.equal(s.status, st(Status.NOT_IP));
  // Too short for an Ethernet header at all.
  s = decodeVector(t, hex('02 00 00 00 00 0b 02 00 00 00 00 0a 08'));
  t.equal(s.status, st(Status.ETHERNET_TOO_SHORT));
  t.end();
});

t.test('Ethernet padding is trimmed by the IP total length', (t) => {
  // UDP with a 4-byte payload: 46 bytes, padded to the 60-byte minimum with 0xee (nonzero).
  const spec = plainDnsSpec({ dport: 9999, dns: Buffer.from('ping') });
  spec.link = { kind: 'eth', pad: { to: 60, byte: 0xee } };
  const udp = build(spec).bytes;
  t.equal(udp.length, 60);
  let s = decodeVector(t, udp);
  t.equal(s.status, st(Status.OK));
  t.equal(s.csum[Layer.IPV4], Csum.OK);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.equal(s.outer.ipEnd, 46);

  // TCP SYN with no options: 54 bytes, padded with 0x5a. TCP runs to the datagram end, so the
  // padding would break the checksum if it were not trimmed.
  const syn = plainTcp({ flags: 0x02, payload: Buffer.alloc(0), link: { kind: 'eth', pad: { to: 60, byte: 0x5a } } });
  t.equal(syn.length, 60);
  s = decodeVector(t, syn);
  t.equal(s.status, st(Status.OK));
  t.equal(s.csum[Layer.TCP], Csum.OK);
  t.equal(s.outer.l4End, 54);

  // The padding is not covered by any checksum: flipping a padding byte changes nothing.
  const syn2 = Buffer.from(syn);
  syn2[58] ^= 0xff;
  t.same(decodeVector(t, syn2).csum, s.csum);

  // A VXLAN-sized trailer of garbage after an IPv6 datagram (some drivers pass trailers up).
  const v6 = Buffer.concat([plainTcp({ v: 6 }), Buffer.alloc(7, 0x99)]);
  s = decodeVector(t, v6);
  t.equal(s.status, st(Status.OK));
  t.equal(s.csum[Layer.TCP], Csum.OK);
  t.end();
});

t.test('Linux cooked v1: packet type gives the direction', (t) => {
  const datagram = Q4.subarray(14);
  // Packet type 4 (PACKET_OUTGOING), ARPHRD_ETHER, address length 6, then the IPv4 datagram.
  const out = hex(`00 04 00 01 00 06 02 00 00 00 00 0a 00 00 08 00`);
  let s = decodeVector(t, Buffer.concat([out, datagram]), { linkType: LINKTYPE_LINUX_SLL });
  t.equal(s.status, st(Status.OK));
  t.equal(s.dir, DIR_TX);
  t.equal(s.outer.ipOffset, 16);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.same(Buffer.concat([out, datagram]), sll(datagram, ETHERTYPE_IPV4, 4), 'the builder writes the same header');

  for (const [pkt, dir] of [[0, DIR_RX], [1, DIR_RX], [2, DIR_RX], [3, DIR_RX], [4, DIR_TX]] as const) {
    s = decodeVector(t, sll(datagram, ETHERTYPE_IPV4, pkt), { linkType: LINKTYPE_LINUX_SLL, dir: DIR_UNKNOWN });
    t.equal(s.dir, dir, `packet type ${pkt}`);
  }
  // The capture's packet type wins over the direction passed in.
  s = decodeVector(t, sll(datagram, ETHERTYPE_IPV4, 0), { linkType: LINKTYPE_LINUX_SLL, dir: DIR_TX });
  t.equal(s.dir, DIR_RX, 'type 0 passed as TX is RX');
  s = decodeVector(t, sll(datagram, ETHERTYPE_IPV4, 4), { linkType: LINKTYPE_LINUX_SLL, dir: DIR_RX });
  t.equal(s.dir, DIR_TX, 'type 4 passed as RX is TX');

  // A VLAN tag put back by libpcap: protocol 0x8100, then the TCI and the real EtherType.
  s = decodeVector(t, sll(Buffer.concat([hex('20 07 08 00'), datagram]), 0x8100, 0), { linkType: LINKTYPE_LINUX_SLL });
  t.equal(s.status, st(Status.OK));
  t.equal(s.vlanTags, 1);
  t.equal(s.outer.ipOffset, 20);
  t.equal(s.csum[Layer.UDP], Csum.OK);

  // Too short for the cooked header.
  s = decodeVector(t, hex('00 04 00 01 00 06 02 00 00 00 00 0a 00 00 08'), { linkType: LINKTYPE_LINUX_SLL });
  t.equal(s.status, st(Status.SLL_TOO_SHORT));
  t.end();
});

t.test('Linux cooked v2: packet type gives the direction', (t) => {
  const datagram = Q4.subarray(14);
  // Protocol 0x0800, reserved, ifindex 2, ARPHRD_ETHER, packet type 0 (PACKET_HOST), address length 6, address.
  const host = hex(`08 00 00 00 00 00 00 02 00 01 00 06 02 00 00 00 00 0a 00 00`);
  let s = decodeVector(t, Buffer.concat([host, datagram]), { linkType: LINKTYPE_LINUX_SLL2 });
  t.equal(s.status, st(Status.OK));
  t.equal(s.dir, DIR_RX);
  t.equal(s.outer.ipOffset, 20);
  t.equal(s.csum[Layer.UDP], Csum.OK);
  t.same(Buffer.concat([host, datagram]), sll2(datagram, ETHERTYPE_IPV4, 0), 'the builder writes the same header');

  s = decodeVector(t, sll2(datagram, ETHERTYPE_IPV4, 4), { linkType: LINKTYPE_LINUX_SLL2 });
  t.equal(s.dir, DIR_TX);
  s = decodeVector(t, sll2(datagram, ETHERTYPE_IPV4, 3), { linkType: LINKTYPE_LINUX_SLL2, dir: DIR_TX });
  t.equal(s.dir, DIR_RX, 'PACKET_OTHERHOST is received');

  // A VLAN tag: protocol 0x8100, the payload starts with the TCI and the real EtherType.
  const tagged = sll2(Buffer.concat([hex('00 64 08 00'), datagram]), 0x8100, 0);
  s = decodeVector(t, tagged, { linkType: LINKTYPE_LINUX_SLL2 });
  t.equal(s.status, st(Status.OK));
  t.equal(s.vlanTags, 1);
  t.equal(s.outer.ipOffset, 24);
  t.equal(s.csum[Layer.UDP], Csum.OK);

  s = decodeVector(t, host.subarray(0, 19), { linkType: LINKTYPE_LINUX_SLL2 });
  t.equal(s.status, st(Status.SLL_TOO_SHORT));
  t.end();
});

t.test('raw IP and BSD loopback', (t) => {
  const v4 = Q4.subarray(14);
  for (const lt of [LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4]) {
    const s = decodeVector(t, v4, { linkType: lt });
    t.equal(s.status, st(Status.OK), `link type ${lt}`);
    t.equal(s.outer.ipOffset, 0);
    t.equal(s.csum[Layer.UDP], Csum.OK);
  }
  const v6 = plainDns({ v: 6 }).subarray(14);
  for (const lt of [LINKTYPE_RAW, LINKTYPE_IPV6]) {
    const s = decodeVector(t, v6, { linkType: lt });
    t.equal(s.status, st(Status.OK), `IPv6, link type ${lt}`);
    t.equal(s.outer.ipVersion, 6);
    t.equal(s.csum[Layer.UDP], Csum.OK);
  }
  // LINKTYPE_IPV6 carrying IPv4 bytes.
  t.equal(decodeVector(t, v4, { linkType: LINKTYPE_IPV6 }).status, st(Status.IPV6_VERSION_MISMATCH));
  // Raw IP with version 5.
  t.equal(decodeVector(t, Buffer.concat([hex('55'), v4.subarray(1)]), { linkType: LINKTYPE_RAW }).status, st(Status.NOT_IP));

  // Loopback: AF_INET as 02 00 00 00 (little-endian writer) and 00 00 00 02 (big-endian).
  for (const fam of ['02 00 00 00', '00 00 00 02']) {
    const s = decodeVector(t, Buffer.concat([hex(fam), v4]), { linkType: LINKTYPE_NULL });
    t.equal(s.status, st(Status.OK), `AF_INET ${fam}`);
    t.equal(s.outer.ipOffset, 4);
    t.equal(s.csum[Layer.UDP], Csum.OK);
  }
  // AF_INET6 is 10, 24, 28 or 30 depending on the system.
  for (const fam of ['0a 00 00 00', '18 00 00 00', '00 00 00 1c', '1e 00 00 00']) {
    const s = decodeVector(t, Buffer.concat([hex(fam), v6]), { linkType: LINKTYPE_NULL });
    t.equal(s.status, st(Status.OK), `AF_INET6 ${fam}`);
    t.equal(s.csum[Layer.UDP], Csum.OK);
  }
  t.equal(decodeVector(t, Buffer.concat([hex('07 00 00 00'), v4]), { linkType: LINKTYPE_NULL }).status, st(Status.NOT_IP));

  // A link type the decoder does not know.
  t.equal(decodeVector(t, Q4, { linkType: 147 }).status, st(Status.LINK_TYPE_UNSUPPORTED));
  t.equal(decodeVector(t, Q4, { linkType: LINKTYPE_ETHERNET }).status, st(Status.OK));
  t.end();
});
