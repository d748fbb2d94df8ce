// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * drops.bpf.c: the kernel drop tracer.
 *
 * Runs on the kfree_skb tracepoint, which the kernel fires for every packet it frees as
 * dropped, with the reason (enum skb_drop_reason, include/net/dropreason-core.h). Two programs
 * with one body: tp_btf (BTF-typed arguments) and, where BTF tracing programs cannot attach,
 * the raw tracepoint. User space loads one of them.
 *
 * For every drop it counts (reason, protocol) in a per-CPU array: exact at any rate, no
 * events. For the reasons user space selects (csw_drop_cfg.event_reasons) it also sends an
 * event on the ring buffer with the packet's flow, device, network namespace, and for DNS the
 * message's first bytes, so user space can name the transaction that was lost. A full ring
 * buffer is counted (csw_drop_stats.lost), never silent. The reader is woken only once
 * csw_drop_cfg.wakeup_bytes wait (waking it at every event costs a drop flood about 5 µs per
 * drop); user space drains on a timer as well, so an event waits at most that long.
 *
 * Headers are read from the skb's linear data with bpf_probe_read_kernel at the offsets the
 * stack recorded (network_header, mac_header), never past skb->tail. A drop can happen while
 * the packet is still encapsulated in VXLAN or Geneve (outer UDP checksum: the flow is then the
 * inner one and the outer one is the tunnel) or after vxlan_rcv or geneve_rx decapsulated it
 * (inner UDP or IPv4 checksum, in the node's or a pod's namespace): then the outer headers
 * usually still sit in the headroom just before the inner Ethernet header, and are read from
 * there when they look like IP/UDP/VXLAN or IP/UDP/Geneve to a configured port (CSW_EV_DECAPPED).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "wire.h"
#include "shared/drops.h"
#include "shared/btf.h"

/* Every type of drops.h in the BTF, for src/bpf/generated/drops.ts. */
CSW_BTF_TYPE(enum csw_drop_limits, drop_limits);
CSW_BTF_TYPE(enum csw_drop_proto, drop_proto);
CSW_BTF_TYPE(enum csw_drop_scope, drop_scope);
CSW_BTF_TYPE(enum csw_drop_event_flag, drop_event_flag);
CSW_BTF_TYPE(struct csw_drop_event, drop_event);

#define NO_HEADER 0xffff /* an unset skb header offset ((typeof(skb->mac_header))~0U) */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The kernel's enum skb_drop_reason by a local flavor: CO-RE finds SKB_CONSUMED's value in the
 * running kernel's BTF by name, and the object builds where the build host's vmlinux.h lacks it.
 */
enum skb_drop_reason___csw {
	SKB_CONSUMED___csw = 1,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct csw_drop_cfg);
} csw_drop_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct csw_drop_counts);
} csw_drop_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct csw_drop_stats);
} csw_drop_stats SEC(".maps");

/*
 * The headroom before a decapsulated packet's Ethernet header, searched for a Geneve header of
 * any options length: the longest Geneve header, UDP, and room for the smallest IP header before
 * them (which is read from the packet, not from here). Indexes into it are masked with
 * HEADROOM_MASK (the verifier's bound), and the buffer has room for a header past the mask.
 */
#define GENEVE_WINDOW (GENEVE_HLEN + GENEVE_MAX_OPT_WORDS * 4 + UDP_HLEN + IPV4_HLEN)
#define HEADROOM_MASK 511
struct headroom {
	__u8 b[HEADROOM_MASK + 1 + GENEVE_HLEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct headroom);
} csw_drop_headroom SEC(".maps");

/* The event being built (too large for the 512-byte stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct csw_drop_event);
} csw_drop_scratch SEC(".maps");

/* User space may resize it before load (bpf_map__set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} csw_drop_events SEC(".maps");

/* Where the packet's bytes are: skb->head and the end of the linear data, as an offset. */
struct pkt {
	unsigned char *head;
	__u32 end;
};

static __always_inline int rd(void *dst, __u32 size, const struct pkt *p, __u32 off)
{
	if (off + size > p->end || off + size < off)
		return -1;
	return bpf_probe_read_kernel(dst, size, p->head + off) ? -1 : 0;
}

static __always_inline int port_in(const __u16 *ports, __u16 port)
{
	if (port == 0)
		return 0;
	for (int i = 0; i < CSW_DROP_PORTS; i++)
		if (ports[i] == port)
			return 1;
	return 0;
}

/*
 * The IP header at off (ethertype says which version) into f, and the ports after it; *ip_end
 * is where the IP packet ends by its own length field (Ethernet padding follows it).
 * Returns the transport header's offset, 0 when there is none to read (not UDP/TCP, or a later
 * fragment), or -1 when the header is not there or not IP.
 */
static __always_inline int parse_ip(const struct pkt *p, __u32 off, __u16 ethertype, struct csw_flow *f,
				    __u16 *flags, __u32 *ip_end)
{
	__u8 h[IPV6_HLEN];
	__u32 l4;

	if (ethertype == ETH_P_IP) {
		/* RFC 791 §3.1: version and IHL, protocol at 9, addresses at 12 and 16. */
		if (rd(h, IPV4_HLEN, p, off))
			return -1;
		if ((h[0] >> 4) != 4 || (h[0] & 0x0f) < 5)
			return -1;
		f->family = 4;
		f->l4 = h[9];
		__builtin_memcpy(f->saddr, &h[12], 4);
		__builtin_memcpy(f->daddr, &h[16], 4);
		l4 = off + (h[0] & 0x0f) * 4;
		*ip_end = off + (((__u32)h[2] << 8) | h[3]);
		/* A fragment offset: no transport header here (RFC 791 §3.1). */
		if (((((__u16)h[6] << 8) | h[7]) & 0x1fff) != 0) {
			*flags |= CSW_EV_FRAGMENT;
			return 0;
		}
	} else if (ethertype == ETH_P_IPV6) {
		/* RFC 8200 §3: next header at 6, addresses at 8 and 24; extension headers not walked. */
		if (rd(h, IPV6_HLEN, p, off))
			return -1;
		if ((h[0] >> 4) != 6)
			return -1;
		f->family = 6;
		f->l4 = h[6];
		__builtin_memcpy(f->saddr, &h[8], 16);
		__builtin_memcpy(f->daddr, &h[24], 16);
		l4 = off + IPV6_HLEN;
		*ip_end = l4 + (((__u32)h[4] << 8) | h[5]);
	} else {
		return -1;
	}
	if (f->l4 != IPPROTO_UDP && f->l4 != IPPROTO_TCP)
		return 0;
	__u8 ports[4];
	if (rd(ports, 4, p, l4))
		return 0;
	f->sport = ((__u16)ports[0] << 8) | ports[1];
	f->dport = ((__u16)ports[2] << 8) | ports[3];
	*flags |= CSW_EV_PORTS;
	return l4;
}

static __always_inline __u8 proto_of(__u16 ethertype, const struct csw_flow *f, __u16 flags)
{
	if (ethertype == ETH_P_ARP)
		return CSW_PROTO_ARP;
	if (f->family == 0)
		return CSW_PROTO_OTHER;
	if (flags & CSW_EV_FRAGMENT)
		return CSW_PROTO_IP;
	switch (f->l4) {
	case IPPROTO_UDP:
		return CSW_PROTO_UDP;
	case IPPROTO_TCP:
		return CSW_PROTO_TCP;
	case IPPROTO_ICMP:
		return CSW_PROTO_ICMP;
	case IPPROTO_ICMPV6:
		return CSW_PROTO_ICMPV6;
	}
	return CSW_PROTO_IP;
}

/* The VNI: bytes 4 to 6 of a VXLAN (RFC 7348 §5) or a Geneve (RFC 8926 §3.4) header alike. */
static __always_inline __u32 vni_of(const __u8 *h)
{
	return ((__u32)h[4] << 16) | ((__u32)h[5] << 8) | h[6];
}

/* Tunnel kinds: which header follows the outer UDP header. */
enum tunnel_kind {
	TUNNEL_NONE = 0,
	TUNNEL_VXLAN = 1,
	TUNNEL_GENEVE = 2,
};

/*
 * RFC 8926 §3.4: version 0 in the top two bits of the first byte, the options length in 4-byte
 * words in its low six, the protocol type in bytes 2 and 3, the VNI in bytes 4 to 6. Returns the
 * header's length with its options, or -1 for another version.
 */
static __always_inline int geneve_hlen(const __u8 *g)
{
	if ((g[0] >> 6) != 0)
		return -1;
	return GENEVE_HLEN + (g[0] & 0x3f) * 4;
}

/*
 * The packet at l4 is UDP to a VXLAN or Geneve port: make its flow the tunnel and parse the
 * encapsulated packet into ev->flow. Returns the encapsulated packet's transport offset (as
 * parse_ip). A global function, verified once (see csw_geneve_before).
 */
__noinline int csw_enter_tunnel(const struct pkt *p, struct csw_drop_event *ev, __u32 l4, __u32 *ip_end, int kind)
{
	if (!p || !ev || !ip_end)
		return -1;
	__u8 v[VXLAN_HLEN]; /* VXLAN's header, or Geneve's before its options: 8 bytes both */
	__u32 inner;	    /* where the encapsulated packet starts */
	__u16 inner_type;   /* its ethertype */

	if (rd(v, sizeof(v), p, l4 + UDP_HLEN))
		return -1;
	if (kind == TUNNEL_GENEVE) {
		int hlen = geneve_hlen(v);
		inner_type = ((__u16)v[2] << 8) | v[3];
		/* Only what an endpoint would decapsulate: version 0, carrying Ethernet or IP. */
		if (hlen < 0 || (inner_type != ETH_P_TEB && inner_type != ETH_P_IP && inner_type != ETH_P_IPV6))
			return -1;
		inner = l4 + UDP_HLEN + hlen;
	} else {
		if ((v[0] & VXLAN_I_FLAG) == 0)
			return -1;
		inner = l4 + UDP_HLEN + VXLAN_HLEN;
		inner_type = ETH_P_TEB;
	}
	/* An Ethernet frame (VXLAN always; Geneve by its protocol type) says what it carries. */
	if (inner_type == ETH_P_TEB) {
		__u8 et[2];
		if (rd(et, sizeof(et), p, inner + 12))
			return -1;
		inner_type = ((__u16)et[0] << 8) | et[1];
		inner += ETH_HLEN;
	}
	/* A tunnel for sure: its flow becomes the tunnel, and the flags describe the inner packet. */
	ev->vni = vni_of(v);
	ev->tunnel = ev->flow;
	__builtin_memset(&ev->flow, 0, sizeof(ev->flow));
	ev->flags = CSW_EV_TUNNEL | CSW_EV_VNI | (kind == TUNNEL_GENEVE ? CSW_EV_GENEVE : 0);
	int r = parse_ip(p, inner, inner_type, &ev->flow, &ev->flags, ip_end);
	if (r >= 0 && ev->flow.family != 0)
		ev->flags |= CSW_EV_FLOW;
	return r;
}

/*
 * The outer IPv4 or IPv6 header that ends at udp (the outer UDP header's offset), into t.
 * Returns 0, or -1 when neither is there. Stale bytes in the headroom must not pass for a
 * tunnel: the IP header's length must end the packet exactly where the UDP header's length
 * does (GRO, merging a tunnel's packets, updates both).
 */
static __always_inline int outer_ip_before(const struct pkt *p, __u32 udp, struct csw_flow *t)
{
	__u16 fl = 0;
	__u32 outer_end = 0;
	__u8 len[2];

	if (rd(len, sizeof(len), p, udp + 4))
		return -1;
	__u32 udp_end = udp + (((__u32)len[0] << 8) | len[1]);
	if (udp >= IPV4_HLEN && parse_ip(p, udp - IPV4_HLEN, ETH_P_IP, t, &fl, &outer_end) == (int)udp &&
	    t->l4 == IPPROTO_UDP && outer_end == udp_end)
		return 0;
	__builtin_memset(t, 0, sizeof(*t));
	fl = 0;
	if (udp >= IPV6_HLEN && parse_ip(p, udp - IPV6_HLEN, ETH_P_IPV6, t, &fl, &outer_end) == (int)udp &&
	    t->l4 == IPPROTO_UDP && outer_end == udp_end)
		return 0;
	return -1;
}

/*
 * After geneve_rx the inner Ethernet header is at mac, and the Geneve header, its options, UDP
 * and the outer IP header lie before it. The options' length is unknown from here: each length
 * from 0 to 63 words is tried, shortest first, on one copy of the headroom; the first whose
 * header's own Opt Len says that length and whose protocol type is Ethernet is the candidate, taken
 * when a UDP header to one of the Geneve ports long enough for it precedes it (else none is:
 * option bytes that look like a header hide the real one, a miss and never a false tunnel).
 * Sets ev->vni and returns the UDP header's offset, or 0.
 *
 * A global function: the verifier checks it once, not once per path that reaches it (inlined,
 * its 64 rounds times handle()'s paths exceed the verifier's limit).
 */
__noinline int csw_geneve_before(__u64 head, __u32 mac, const struct csw_drop_cfg *cfg, struct csw_drop_event *ev)
{
	__u32 zero = 0;
	struct headroom *w = bpf_map_lookup_elem(&csw_drop_headroom, &zero);
	if (!w || !cfg || !ev || head == 0)
		return 0;
	/* The window ends at mac; near the head of the buffer it is shorter. */
	__u64 n = mac < GENEVE_WINDOW ? mac : GENEVE_WINDOW;
	barrier_var(n); /* keeps the bound below, which the compiler knows and the verifier does not */
	if (n < GENEVE_HLEN + UDP_HLEN + IPV4_HLEN || n > GENEVE_WINDOW ||
	    bpf_probe_read_kernel(w->b, n, (const void *)(head + mac - n)))
		return 0;
	/* The shortest length whose header says so: one test per length keeps the verifier's work small. */
	__u32 words = 0;
	for (; words <= GENEVE_MAX_OPT_WORDS; words++) {
		if (n < UDP_HLEN + IPV4_HLEN + GENEVE_HLEN + words * 4)
			return 0;
		const __u8 *g = &w->b[(n - GENEVE_HLEN - words * 4) & HEADROOM_MASK];
		if ((((__u32)g[0] << 16) | ((__u32)g[2] << 8) | g[3]) == ((words << 16) | ETH_P_TEB))
			break;
	}
	if (words > GENEVE_MAX_OPT_WORDS)
		return 0;
	/* Then its UDP header: to a Geneve port, and long enough to cover the inner Ethernet header. */
	const __u8 *g = &w->b[(n - GENEVE_HLEN - words * 4) & HEADROOM_MASK];
	const __u8 *u = &w->b[(n - GENEVE_HLEN - UDP_HLEN - words * 4) & HEADROOM_MASK];
	__u16 dport = ((__u16)u[2] << 8) | u[3];
	__u16 ulen = ((__u16)u[4] << 8) | u[5];
	if (!port_in(cfg->geneve_port, dport) || ulen < UDP_HLEN + GENEVE_HLEN + words * 4 + ETH_HLEN)
		return 0;
	ev->vni = vni_of(g);
	return mac - GENEVE_HLEN - UDP_HLEN - words * 4;
}

/*
 * After decapsulation the inner Ethernet header is at mac_header; look for UDP + VXLAN right
 * before it, else UDP + Geneve with its options (csw_geneve_before), and an IPv4 (20-byte) or IPv6
 * header before that, and read them into ev->tunnel. The VNI is trusted only while the packet
 * is still on the tunnel device that decapsulated it: a node forwarding it on (into a pod)
 * writes the new Ethernet header from its aligned header cache (neigh_hh_output copies 16 bytes
 * for 14), over the two bytes before it (VXLAN's last two, the VNI's low byte among them).
 */
static __always_inline void recover_tunnel(const struct pkt *p, struct csw_drop_event *ev,
					   const struct csw_drop_cfg *cfg, __u32 mac, int dev_kind)
{
	__u8 uv[UDP_HLEN + VXLAN_HLEN];
	struct csw_flow t = {};
	__u32 udp = 0;
	__u16 geneve = 0;

	if (mac >= UDP_HLEN + VXLAN_HLEN + IPV4_HLEN && !rd(uv, sizeof(uv), p, mac - sizeof(uv)) &&
	    port_in(cfg->vxlan_port, ((__u16)uv[2] << 8) | uv[3]) && (uv[UDP_HLEN] & VXLAN_I_FLAG)) {
		udp = mac - sizeof(uv);
		ev->vni = vni_of(&uv[UDP_HLEN]);
	}
	if (udp == 0 && cfg->geneve_port[0] != 0) {
		udp = csw_geneve_before((__u64)p->head, mac, cfg, ev);
		geneve = CSW_EV_GENEVE;
	}
	if (udp == 0 || outer_ip_before(p, udp, &t)) {
		ev->vni = 0;
		return;
	}
	ev->tunnel = t;
	ev->flags |= CSW_EV_TUNNEL | CSW_EV_DECAPPED | geneve;
	if (dev_kind == (geneve ? TUNNEL_GENEVE : TUNNEL_VXLAN))
		ev->flags |= CSW_EV_VNI;
	else
		ev->vni = 0;
}

/* The tunnel kind of dev by its rtnl_link_ops kind ("vxlan", "geneve"), else TUNNEL_NONE. */
static __always_inline int dev_tunnel_kind(struct net_device *dev)
{
	char kind[8] = {};
	const char *k = BPF_CORE_READ(dev, rtnl_link_ops, kind);
	if (!k || bpf_probe_read_kernel_str(kind, sizeof(kind), k) < 0)
		return TUNNEL_NONE;
	if (kind[0] == 'v' && kind[1] == 'x' && kind[2] == 'l' && kind[3] == 'a' && kind[4] == 'n' && kind[5] == 0)
		return TUNNEL_VXLAN;
	if (kind[0] == 'g' && kind[1] == 'e' && kind[2] == 'n' && kind[3] == 'e' && kind[4] == 'v' && kind[5] == 'e' &&
	    kind[6] == 0)
		return TUNNEL_GENEVE;
	return TUNNEL_NONE;
}

/*
 * Copies the start of the DNS message whose transport header is at l4, up to where the message
 * ends: the linear data, the IP packet's length (not the Ethernet padding after it) and for UDP
 * its length field. Returns 0, or -1 when the message is not in the linear data.
 */
static __always_inline int read_dns(const struct pkt *p, struct csw_drop_event *ev, __u32 l4, __u32 ip_end)
{
	struct pkt q = *p;
	if (ip_end < q.end)
		q.end = ip_end;
	__u32 off = l4 + UDP_HLEN;
	if (ev->flow.l4 == IPPROTO_UDP) {
		__u8 len[2];
		if (rd(len, 2, &q, l4 + 4))
			return -1;
		__u32 udp_end = l4 + (((__u32)len[0] << 8) | len[1]);
		if (udp_end < q.end)
			q.end = udp_end;
	} else {
		/* RFC 793 §3.1 data offset, then the 2-byte length prefix (RFC 1035 §4.2.2). */
		__u8 doff;
		if (rd(&doff, 1, &q, l4 + 12))
			return -1;
		off = l4 + (doff >> 4) * 4 + 2;
	}
	if (off >= q.end)
		return -1;
	/* 64-bit arithmetic: clang 14 otherwise re-extends an unclamped copy of a 32-bit n. */
	__u64 n = (__u64)q.end - off;
	if (n > CSW_DNS_BYTES - 1)
		n = CSW_DNS_BYTES - 1;
	if (n < 12)
		return -1;
	if (bpf_probe_read_kernel(ev->dns, n, q.head + off))
		return -1;
	ev->dns_len = n;
	ev->flags |= CSW_EV_DNS;
	return 0;
}

static __always_inline void count(__u32 slot, __u8 proto)
{
	__u32 zero = 0;
	struct csw_drop_counts *c = bpf_map_lookup_elem(&csw_drop_counts, &zero);
	/*
	 * One bound on the flat index, kept from the compiler (which knows slot and proto are in
	 * range and would drop it) for the verifier (which does not).
	 */
	__u32 i = slot * CSW_DROP_PROTOS + proto;
	barrier_var(i);
	if (c && i < CSW_DROP_REASON_SLOTS * CSW_DROP_PROTOS)
		__sync_fetch_and_add(&c->n[0][0] + i, 1);
}

static __always_inline int handle(struct sk_buff *skb, __u32 reason)
{
	__u32 zero = 0;

	/* Older kernels pass freed-but-consumed packets through here too. */
	if (bpf_core_enum_value_exists(enum skb_drop_reason___csw, SKB_CONSUMED___csw) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason___csw, SKB_CONSUMED___csw))
		return 0;

	struct csw_drop_cfg *cfg = bpf_map_lookup_elem(&csw_drop_cfg, &zero);
	struct csw_drop_stats *st = bpf_map_lookup_elem(&csw_drop_stats, &zero);
	struct csw_drop_event *ev = bpf_map_lookup_elem(&csw_drop_scratch, &zero);
	if (!cfg || !st || !ev)
		return 0;
	__sync_fetch_and_add(&st->drops, 1);

	__u32 slot = reason < CSW_DROP_REASON_OTHER ? reason : CSW_DROP_REASON_OTHER;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->reason = reason;

	struct pkt p = {
		.head = BPF_CORE_READ(skb, head),
		.end = BPF_CORE_READ(skb, tail),
	};
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 mac = BPF_CORE_READ(skb, mac_header);
	__u16 ethertype = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	int l4 = -1;
	__u32 ip_end = 0;
	int decapped = 0; /* an Ethernet header right before the IP one: maybe out of a tunnel */

	if (nh != NO_HEADER && p.head)
		l4 = parse_ip(&p, nh, ethertype, &ev->flow, &ev->flags, &ip_end);
	if (l4 >= 0 && ev->flow.family != 0) {
		ev->flags |= CSW_EV_FLOW;
		int kind = TUNNEL_NONE;
		/* Not from a DNS port: that is an answer to a client whose ephemeral port is a tunnel's. */
		if (l4 > 0 && ev->flow.l4 == IPPROTO_UDP && !port_in(cfg->dns_port, ev->flow.sport))
			kind = port_in(cfg->vxlan_port, ev->flow.dport)    ? TUNNEL_VXLAN
			       : port_in(cfg->geneve_port, ev->flow.dport) ? TUNNEL_GENEVE
									   : TUNNEL_NONE;
		if (kind != TUNNEL_NONE) {
			ev->proto = kind == TUNNEL_GENEVE ? CSW_PROTO_GENEVE : CSW_PROTO_VXLAN;
			l4 = csw_enter_tunnel(&p, ev, l4, &ip_end, kind);
		} else if (mac != NO_HEADER && nh == mac + ETH_HLEN) {
			decapped = 1;
		}
	} else if (nh != NO_HEADER && (ethertype == ETH_P_IP || ethertype == ETH_P_IPV6)) {
		__sync_fetch_and_add(&st->unparsed, 1);
	}
	if (ev->proto != CSW_PROTO_VXLAN && ev->proto != CSW_PROTO_GENEVE)
		ev->proto = proto_of(ethertype, &ev->flow, ev->flags);
	count(slot, ev->proto);

	if ((cfg->event_reasons[(slot >> 5) & 7] & (1u << (slot & 31))) == 0)
		return 0;
	/* Only an event needs the tunnel a packet came out of: a count does not pay for the search. */
	if (decapped) {
		struct net_device *d = BPF_CORE_READ(skb, dev);
		recover_tunnel(&p, ev, cfg, mac, d ? dev_tunnel_kind(d) : TUNNEL_NONE);
	}
	if (l4 > 0 && (ev->flags & CSW_EV_PORTS) &&
	    (port_in(cfg->dns_port, ev->flow.sport) || port_in(cfg->dns_port, ev->flow.dport)) &&
	    read_dns(&p, ev, l4, ip_end) < 0)
		__sync_fetch_and_add(&st->dns_short, 1);
	if (cfg->event_scope == CSW_SCOPE_DNS_OR_VXLAN && !(ev->flags & (CSW_EV_DNS | CSW_EV_TUNNEL)))
		return 0;

	ev->ts_ns = bpf_ktime_get_ns();
	ev->len = BPF_CORE_READ(skb, len);
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	if (dev) {
		ev->ifindex = BPF_CORE_READ(dev, ifindex);
		bpf_probe_read_kernel_str(ev->ifname, sizeof(ev->ifname), &dev->name);
		ev->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	} else {
		struct sock *sk = BPF_CORE_READ(skb, sk);
		if (sk)
			ev->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	}
	__u64 wake = 0;
	if (cfg->wakeup_bytes)
		wake = bpf_ringbuf_query(&csw_drop_events, BPF_RB_AVAIL_DATA) + sizeof(*ev) >= cfg->wakeup_bytes
			       ? BPF_RB_FORCE_WAKEUP
			       : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&csw_drop_events, ev, sizeof(*ev), wake))
		__sync_fetch_and_add(&st->lost, 1);
	else
		__sync_fetch_and_add(&st->events, 1);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(csw_kfree_skb_btf, struct sk_buff *skb, void *location, __u32 reason)
{
	return handle(skb, reason);
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(csw_kfree_skb_raw, struct sk_buff *skb, void *location, int reason)
{
	return handle(skb, reason);
}
