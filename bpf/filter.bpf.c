// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * filter.bpf.c: the capture filter, an eBPF socket filter on the agent's own packet sockets.
 *
 * Why a socket filter: it runs only for the agent's sockets, after the kernel has handed them
 * the packet (packet_rcv/tpacket_rcv, dev_queue_xmit_nit), and before any byte is copied. It
 * cannot change, drop or reorder anything on the node's datapath, and it never meets the CNI's
 * own tc or XDP programs. Its return value is how many bytes of the packet the socket keeps:
 * 0 keeps nothing.
 *
 * For every packet on the interface:
 *   - UDP to a VXLAN port (RFC 7348 §5; not from a DNS port: that is an answer to a client whose
 *     ephemeral port is a VXLAN port) is counted per (interface, direction, remote VTEP) in
 *     csw_vteps. It is passed to user space when it carries DNS (inner Ethernet, optional 802.1Q
 *     tag, IPv4 or IPv6, UDP or TCP to or from a DNS port), or when its VXLAN header is wrong on
 *     its face (I flag clear, cut short), or when user space asked for every VXLAN packet.
 *   - UDP to a Geneve port (RFC 8926; not from a DNS port) likewise, counted under its own
 *     encapsulation in the same table. Its header is walked (Ver, Opt Len × 4 bytes of options,
 *     protocol type): Transparent Ethernet Bridging (0x6558, inner Ethernet with up to two VLAN
 *     tags, as VXLAN's) or bare IPv4 or IPv6 (0x0800, 0x86DD), to the inner transport. Passed
 *     when it carries DNS, or when its header is wrong on its face (Ver not 0, options past the
 *     UDP datagram, cut short), or when user space asked for every tunnel packet. Over untagged
 *     IPv4 the fast path below reads its outer headers, as VXLAN's; the Geneve header and what
 *     follows it are read as on the general path.
 *   - UDP or TCP to or from a DNS port is passed.
 *   - Anything else is not.
 * Healthy bulk traffic is counted here and never copied; whether it was damaged on the way is the
 * kernel's own verdict, which the drop tracer (drops.bpf.c) reports.
 *
 * Socket filters read packet bytes with bpf_skb_load_bytes, from the Ethernet header (a packet
 * socket's skb data starts at the MAC header when the filter runs). Later IPv4 fragments carry no
 * ports and are not DNS here; IPv6 extension headers are followed (hop-by-hop, routing,
 * destination options, fragment: up to four).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "wire.h"
#include "shared/filter.h"
#include "shared/btf.h"

/* Every type of filter.h in the BTF, for src/bpf/generated/filter.ts. */
CSW_BTF_TYPE(enum csw_filter_limits, filter_limits);
CSW_BTF_TYPE(enum csw_filter_flag, filter_flag);
CSW_BTF_TYPE(enum csw_vtep_dir, vtep_dir);
CSW_BTF_TYPE(enum csw_filter_stat, filter_stat);
CSW_BTF_TYPE(enum csw_encap, encap);

#define PACKET_OUTGOING 4

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct csw_filter_cfg);
} csw_filter_cfg SEC(".maps");

/* Sized by user space before load (--max-peers per interface and direction, roughly). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct csw_vtep_key);
	__type(value, struct csw_vtep_value);
} csw_vteps SEC(".maps");

/* What the table had no room for, by encapsulation and direction: key encap * 2 + dir. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * CSW_ENCAPS);
	__type(key, __u32);
	__type(value, struct csw_vtep_value);
} csw_vtep_overflow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct csw_filter_stats);
} csw_filter_stats SEC(".maps");

/* The transport of an IP packet: where its header starts, or 0 for none (a later fragment). */
struct l4 {
	__u32 off;
	__u8 proto;
};

static __always_inline int is_port(const __u16 *ports, __u16 p)
{
#pragma unroll
	for (int i = 0; i < CSW_FILTER_PORTS; i++)
		if (ports[i] != 0 && ports[i] == p)
			return 1;
	return 0;
}

/*
 * The counters are per CPU and need no atomic add: a socket filter on a packet socket runs with
 * bottom halves off (receive: in the softirq, or netif_receive_skb's BH-off section; send:
 * dev_queue_xmit_nit under rcu_read_lock_bh), so nothing else on this CPU runs it meanwhile.
 * A locked add costs about 20 ns each, and a VXLAN packet took six.
 */
static __always_inline void stat(struct csw_filter_stats *s, int i)
{
	if (s && i >= 0 && i < CSW_FILTER_STATS)
		s->n[i]++;
}

/*
 * Finds the transport header of the IP packet at off (ethertype says which IP). Returns 0 and
 * fills t, or -1 when the packet is not IP, is cut short, or is a later fragment.
 */
static __always_inline int l4_of(struct __sk_buff *skb, __u32 off, __u16 ethertype, struct l4 *t)
{
	if (ethertype == ETH_P_IP) {
		__u8 h[10];
		__u16 frag;
		if (bpf_skb_load_bytes(skb, off, h, sizeof(h)) < 0)
			return -1;
		if ((h[0] >> 4) != 4 || (h[0] & 0xf) < 5)
			return -1;
		frag = ((__u16)h[6] << 8) | h[7];
		if (frag & 0x1fff) /* a later fragment: no transport header (RFC 791) */
			return -1;
		t->off = off + (h[0] & 0xf) * 4;
		t->proto = h[9];
		return 0;
	}
	if (ethertype == ETH_P_IPV6) {
		__u8 h[8];
		if (bpf_skb_load_bytes(skb, off, h, sizeof(h)) < 0 || (h[0] >> 4) != 6)
			return -1;
		__u8 next = h[6];
		__u32 o = off + 40;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			if (next != NEXTHDR_HOP && next != NEXTHDR_ROUTING && next != NEXTHDR_DEST && next != NEXTHDR_FRAGMENT)
				break;
			__u8 x[4];
			if (bpf_skb_load_bytes(skb, o, x, sizeof(x)) < 0)
				return -1;
			if (next == NEXTHDR_FRAGMENT) {
				/* RFC 8200 §4.5: fragment offset in the high 13 bits of octets 2-3 */
				if ((((__u16)x[2] << 8) | x[3]) & 0xfff8)
					return -1;
				next = x[0];
				o += 8;
			} else {
				next = x[0];
				o += ((__u32)x[1] + 1) * 8; /* RFC 8200 §4.3: length in 8-octet units, not counting the first */
			}
		}
		t->off = o;
		t->proto = next;
		return 0;
	}
	return -1;
}

/* The Ethernet header at off: the ethertype after up to two VLAN tags, and where IP starts. */
static __always_inline int ether_of(struct __sk_buff *skb, __u32 off, __u16 *ethertype, __u32 *l3)
{
	__u16 et;
	if (bpf_skb_load_bytes(skb, off + 12, &et, sizeof(et)) < 0)
		return -1;
	et = bpf_ntohs(et);
	off += ETH_HLEN;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (et != ETH_P_8021Q && et != ETH_P_8021AD)
			break;
		if (bpf_skb_load_bytes(skb, off + 2, &et, sizeof(et)) < 0)
			return -1;
		et = bpf_ntohs(et);
		off += 4;
	}
	*ethertype = et;
	*l3 = off;
	return 0;
}

/* Adds one packet to the remote VTEP's entry of key k (the overflow entry when the table is full). */
static __always_inline void count_key(struct __sk_buff *skb, struct csw_filter_stats *s, struct csw_vtep_key *k)
{
	struct csw_vtep_value *v = bpf_map_lookup_elem(&csw_vteps, k);
	if (!v) {
		struct csw_vtep_value first = { .packets = 1, .bytes = skb->len };
		if (bpf_map_update_elem(&csw_vteps, k, &first, BPF_NOEXIST) == 0)
			return;
		/* Another CPU added it meanwhile, or the table is full. */
		v = bpf_map_lookup_elem(&csw_vteps, k);
		if (!v) {
			__u32 d = (__u32)k->encap * 2 + k->dir;
			v = bpf_map_lookup_elem(&csw_vtep_overflow, &d);
			stat(s, CSW_FS_OVERFLOW);
			if (!v)
				return;
		}
	}
	v->packets++;
	v->bytes += skb->len;
}

/* Counts one VXLAN or Geneve packet for the remote VTEP; the outer IP header starts at l3. */
static __always_inline void count_vtep(struct __sk_buff *skb, struct csw_filter_stats *s, __u32 l3, __u16 ethertype, __u8 dir, __u8 encap)
{
	struct csw_vtep_key k = {};
	k.ifindex = skb->ifindex;
	k.dir = dir;
	k.encap = encap;
	if (ethertype == ETH_P_IP) {
		k.family = 4;
		if (bpf_skb_load_bytes(skb, l3 + (dir == CSW_DIR_RX ? 12 : 16), k.addr, 4) < 0)
			return;
	} else {
		k.family = 6;
		if (bpf_skb_load_bytes(skb, l3 + (dir == CSW_DIR_RX ? 8 : 24), k.addr, 16) < 0)
			return;
	}
	count_key(skb, s, &k);
}

/* count_vtep for an IPv4 peer address already read. */
static __always_inline void count_vtep4(struct __sk_buff *skb, struct csw_filter_stats *s, const __u8 *addr, __u8 dir, __u8 encap)
{
	struct csw_vtep_key k = {};
	k.ifindex = skb->ifindex;
	k.dir = dir;
	k.encap = encap;
	k.family = 4;
	k.addr[0] = addr[0];
	k.addr[1] = addr[1];
	k.addr[2] = addr[2];
	k.addr[3] = addr[3];
	count_key(skb, s, &k);
}

/* Whether the transport header at t is UDP or TCP to or from a DNS port. */
static __always_inline int is_dns(struct __sk_buff *skb, const struct l4 *t, const struct csw_filter_cfg *cfg)
{
	if (t->proto != IPPROTO_UDP && t->proto != IPPROTO_TCP)
		return 0;
	__u16 p[2];
	if (bpf_skb_load_bytes(skb, t->off, p, sizeof(p)) < 0)
		return 0;
	return is_port(cfg->dns_port, bpf_ntohs(p[0])) || is_port(cfg->dns_port, bpf_ntohs(p[1]));
}

/*
 * Whether the inner Ethernet frame read into inner (its header and 24 bytes after it) carries DNS,
 * where its layout allows reading it at fixed offsets (untagged, IPv4 without options): 1 or 0,
 * or -1 for another layout, which the caller walks instead.
 */
static __always_inline int inner_dns_fixed(const struct csw_filter_cfg *cfg, const __u8 *inner)
{
	if (inner[12] != 0x08 || inner[13] != 0x00 || inner[14] != 0x45)
		return -1;
	__u8 proto = inner[23];
	if ((((__u16)(inner[20] & 0x1f) << 8) | inner[21]) != 0 || (proto != IPPROTO_UDP && proto != IPPROTO_TCP))
		return 0;
	return is_port(cfg->dns_port, ((__u16)inner[34] << 8) | inner[35]) || is_port(cfg->dns_port, ((__u16)inner[36] << 8) | inner[37]);
}

/* A tunnel packet judged: DNS inside is copied; the rest too when user space asked (copy_stat). */
static __always_inline int tunnel_verdict(const struct csw_filter_cfg *cfg, struct csw_filter_stats *s, __u32 snap, int dns, int copy_stat)
{
	if (dns) {
		stat(s, CSW_FS_TUNNEL_DNS);
		return snap;
	}
	if (cfg->flags & CSW_FILTER_COPY_VXLAN) {
		stat(s, copy_stat);
		return snap;
	}
	stat(s, CSW_FS_DROPPED);
	return 0;
}

/*
 * What to do with a VXLAN packet once counted: its VXLAN header starts at vx. inner, when not
 * NULL, holds the inner Ethernet header and 24 bytes after it, already read (the fast path).
 */
static __always_inline int vxlan_verdict(struct __sk_buff *skb, const struct csw_filter_cfg *cfg, struct csw_filter_stats *s, __u32 snap, __u32 vx, __u8 flags, const __u8 *inner)
{
	if (!(flags & VXLAN_I_FLAG)) {
		stat(s, CSW_FS_SUSPECT);
		return snap;
	}
	int dns = inner ? inner_dns_fixed(cfg, inner) : -1;
	if (dns < 0) {
		__u16 iet;
		__u32 il3;
		struct l4 it = {};
		dns = ether_of(skb, vx + VXLAN_HLEN, &iet, &il3) == 0 && l4_of(skb, il3, iet, &it) == 0 && is_dns(skb, &it, cfg);
	}
	return tunnel_verdict(cfg, s, snap, dns, CSW_FS_VXLAN_COPY);
}

/*
 * What to do with a Geneve packet once counted: its UDP header starts at udp. RFC 8926 §3.4:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |        Virtual Network Identifier (VNI)       |    Reserved   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Variable-Length Options                    |
 *
 * Opt Len is 6 bits of 4-byte words, so the options end at most 252 bytes past the header: one
 * offset, no loop, nothing for the verifier to bound but the mask. A global function: the
 * verifier checks it once, where inlined into both the fast and the general path it made the
 * program too large.
 */
__noinline int csw_geneve_verdict(struct __sk_buff *skb, const struct csw_filter_cfg *cfg, struct csw_filter_stats *s, __u32 snap, __u32 udp)
{
	if (!cfg)
		return snap; /* never: the callers pass their map value, but the verifier wants the test */
	__u8 h[8 + GENEVE_HLEN]; /* the UDP header, then Geneve's */
	if (bpf_skb_load_bytes(skb, udp, h, sizeof(h)) < 0)
		goto suspect; /* cut short */
	__u32 dgram_end = udp + (((__u32)h[4] << 8) | h[5]); /* UDP Length, RFC 768 */
	if ((h[8] >> 6) != 0) /* Ver: 0 is the only version; an endpoint drops any other, §3.4 */
		goto suspect;
	__u32 inner = udp + 8 + GENEVE_HLEN + (__u32)(h[8] & 0x3f) * 4; /* Opt Len, §3.4 */
	if (inner > dgram_end)
		goto suspect; /* the options overrun the datagram */
	__u16 ptype = ((__u16)h[10] << 8) | h[11];
	__u16 iet = ptype;
	__u32 il3 = inner;
	struct l4 it = {};
	int dns = 0;
	if (ptype == ETH_P_TEB) {
		if (ether_of(skb, inner, &iet, &il3) < 0)
			iet = 0;
	}
	if (iet == ETH_P_IP || iet == ETH_P_IPV6)
		dns = l4_of(skb, il3, iet, &it) == 0 && is_dns(skb, &it, cfg);
	return tunnel_verdict(cfg, s, snap, dns, CSW_FS_GENEVE_COPY);
suspect:
	stat(s, CSW_FS_SUSPECT);
	return snap;
}

/*
 * The common case in one read (each bpf_skb_load_bytes costs about 10 ns, and the general path
 * takes eight for a VXLAN packet): untagged Ethernet and IPv4 without options, then for VXLAN
 * the inner Ethernet and IPv4 header and the inner ports, all at fixed offsets in FAST_LEN
 * bytes. Returns 1 with *verdict set when it decided, 0 to leave the packet to the general path
 * (having counted nothing).
 */
#define FAST_LEN 88
#define FAST_VX (ETH_HLEN + IPV4_HLEN + UDP_HLEN) /* the VXLAN or Geneve header */
#define FAST_INNER (FAST_VX + VXLAN_HLEN)

static __always_inline int fast_path(struct __sk_buff *skb, const struct csw_filter_cfg *cfg, struct csw_filter_stats *s, __u32 snap, int *verdict)
{
	__u8 h[FAST_LEN];
	if (skb->len < FAST_LEN || bpf_skb_load_bytes(skb, 0, h, FAST_LEN) < 0)
		return 0;
	if (h[12] != 0x08 || h[13] != 0x00 || h[14] != 0x45)
		return 0;
	if ((((__u16)(h[20] & 0x1f) << 8) | h[21]) != 0) /* a later fragment */
		return 0;
	__u8 proto = h[23];
	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
		return 0;
	__u16 sport = ((__u16)h[34] << 8) | h[35], dport = ((__u16)h[36] << 8) | h[37];
	int dns_src = is_port(cfg->dns_port, sport);
	if (proto == IPPROTO_UDP && !dns_src && is_port(cfg->vxlan_port, dport)) {
		__u8 dir = skb->pkt_type == PACKET_OUTGOING ? CSW_DIR_TX : CSW_DIR_RX;
		count_vtep4(skb, s, dir == CSW_DIR_RX ? &h[26] : &h[30], dir, CSW_ENCAP_VXLAN);
		stat(s, CSW_FS_VXLAN);
		*verdict = vxlan_verdict(skb, cfg, s, snap, FAST_VX, h[FAST_VX], &h[FAST_INNER]);
		return 1;
	}
	if (proto == IPPROTO_UDP && !dns_src && is_port(cfg->geneve_port, dport)) {
		/* After VXLAN's test, which costs VXLAN nothing; Geneve's options make the rest variable. */
		__u8 dir = skb->pkt_type == PACKET_OUTGOING ? CSW_DIR_TX : CSW_DIR_RX;
		count_vtep4(skb, s, dir == CSW_DIR_RX ? &h[26] : &h[30], dir, CSW_ENCAP_GENEVE);
		stat(s, CSW_FS_GENEVE);
		*verdict = csw_geneve_verdict(skb, cfg, s, snap, ETH_HLEN + IPV4_HLEN);
		return 1;
	}
	if (dns_src || is_port(cfg->dns_port, dport)) {
		stat(s, CSW_FS_DNS);
		*verdict = snap;
		return 1;
	}
	stat(s, CSW_FS_DROPPED);
	*verdict = 0;
	return 1;
}

SEC("socket")
int csw_capture_filter(struct __sk_buff *skb)
{
	__u32 zero = 0;
	const struct csw_filter_cfg *cfg = bpf_map_lookup_elem(&csw_filter_cfg, &zero);
	struct csw_filter_stats *s = bpf_map_lookup_elem(&csw_filter_stats, &zero);
	if (!cfg)
		return 0;
	stat(s, CSW_FS_SEEN);
	__u32 snap = cfg->snaplen;
	int verdict;
	if (fast_path(skb, cfg, s, snap, &verdict))
		return verdict;

	__u16 ethertype;
	__u32 l3;
	struct l4 t = {};
	if (ether_of(skb, 0, &ethertype, &l3) < 0 || l4_of(skb, l3, ethertype, &t) < 0)
		goto drop;
	if (t.proto != IPPROTO_UDP && t.proto != IPPROTO_TCP)
		goto drop;
	__u16 ports[2];
	if (bpf_skb_load_bytes(skb, t.off, ports, sizeof(ports)) < 0)
		goto drop;
	__u16 sport = bpf_ntohs(ports[0]), dport = bpf_ntohs(ports[1]);
	int dns_src = is_port(cfg->dns_port, sport);

	if (t.proto == IPPROTO_UDP && !dns_src && is_port(cfg->vxlan_port, dport)) {
		__u8 dir = skb->pkt_type == PACKET_OUTGOING ? CSW_DIR_TX : CSW_DIR_RX;
		count_vtep(skb, s, l3, ethertype, dir, CSW_ENCAP_VXLAN);
		stat(s, CSW_FS_VXLAN);
		__u32 vx = t.off + 8;
		__u8 flags;
		if (bpf_skb_load_bytes(skb, vx, &flags, 1) < 0) {
			stat(s, CSW_FS_SUSPECT); /* cut short */
			return snap;
		}
		return vxlan_verdict(skb, cfg, s, snap, vx, flags, NULL);
	}
	if (t.proto == IPPROTO_UDP && !dns_src && is_port(cfg->geneve_port, dport)) {
		__u8 dir = skb->pkt_type == PACKET_OUTGOING ? CSW_DIR_TX : CSW_DIR_RX;
		count_vtep(skb, s, l3, ethertype, dir, CSW_ENCAP_GENEVE);
		stat(s, CSW_FS_GENEVE);
		return csw_geneve_verdict(skb, cfg, s, snap, t.off);
	}
	if (dns_src || is_port(cfg->dns_port, dport)) {
		stat(s, CSW_FS_DNS);
		return snap;
	}
drop:
	stat(s, CSW_FS_DROPPED);
	return 0;
}
