// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * inject.bpf.c: the lab's checksum fault injector.
 *
 * A tc program (clsact egress, cls_bpf direct-action) on a lab node's underlay interface. It
 * finds VXLAN packets on the configured UDP ports whose inner UDP port matches the filter, and
 * damages a sample of them in one of four ways (enum csw_inject_mode, bpf/shared/inject.h):
 *
 *   inner-udp    flip a bit of the inner UDP checksum
 *   inner-ipv4   flip a bit of the inner IPv4 header checksum
 *   outer-udp    flip a bit of the outer UDP checksum
 *   pseudo-only  set the inner UDP checksum to the pseudo-header sum alone: what leaves a NIC
 *                that was handed the packet for checksum offload and never completed it
 *
 * The outer UDP checksum (when not 0) ends up as a NIC would have sent it:
 *   inner-udp, inner-ipv4  true to the damaged bytes, so exactly one layer is wrong;
 *   pseudo-only            as local checksum offload computed it: over the inner checksum the
 *                          NIC should have written, as on the wire of a broken VMware host.
 * At this hook the outer checksum is either complete, or still pending: the vxlan device left
 * it to the underlay device, and it holds the pseudo-header sum until the stack completes it
 * in software after this hook (validate_xmit_skb), over the bytes as they are then. Which one
 * is pending comes from the kernel's sk_buff (ip_summed CHECKSUM_PARTIAL, csum_start), not
 * from the field's value, which a complete checksum can equal by chance. So a complete outer
 * checksum is updated for the damage (RFC 1624) in the inner modes and left alone for
 * pseudo-only; a pending one is left alone in the inner modes (the completion covers the
 * damage) and, for pseudo-only, offset by the same update so that the completion yields the
 * value without the damage.
 *
 * With transmit offload on the vxlan device the inner UDP checksum is the pending one, and is
 * completed after this hook over whatever was written into it: inner-udp and pseudo-only
 * cannot damage it, and count such packets in skipped_partial. inner-ipv4 and outer-udp still
 * damage; whether the receiver notices depends on the path (veth hands a pending checksum to a
 * receiver that trusts it; the IPv4 header checksum is always verified).
 *
 * Every packet is passed on (TC_ACT_OK); the counters are the ground truth the lab reads back.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "wire.h"
#include "shared/inject.h"
#include "shared/btf.h"

/* Every type of inject.h in the BTF, for src/bpf/generated/inject.ts. */
CSW_BTF_TYPE(enum csw_inject_mode, inject_mode);
CSW_BTF_TYPE(enum csw_inject_direction, inject_direction);
CSW_BTF_TYPE(enum csw_inject_limits, inject_limits);

#define CHECKSUM_PARTIAL 3 /* include/linux/skbuff.h */

/* Outer Ethernet (2 tags) + IPv6 + UDP + VXLAN + inner Ethernet + IPv6 + UDP. */
#define PULL_LEN (ETH_HLEN + 8 + IPV6_HLEN + UDP_HLEN + VXLAN_HLEN + ETH_HLEN + IPV6_HLEN + UDP_HLEN)

/* The kernel's sk_buff behind the context, to read which checksum is pending (kernel 6.2+). */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct csw_inject_cfg);
} csw_inject_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct csw_inject_stats);
} csw_inject_stats SEC(".maps");

/* An IP header and the UDP header after it, as offsets from skb->data. */
struct ip_udp {
	__u32 ip;       /* IP header */
	__u32 udp;      /* UDP header */
	__u32 addr;     /* source address; destination follows */
	__u32 addr_len; /* 4 or 16 */
	__u16 udp_len;  /* UDP length field */
	__u8 v6;
	__u8 pad0;
};

static __always_inline __u16 load16(const void *data, const void *data_end, __u32 off, int *ok)
{
	const __u8 *p = (const __u8 *)data + off;

	if ((const void *)(p + 2) > data_end) {
		*ok = 0;
		return 0;
	}
	return ((__u16)p[0] << 8) | p[1];
}

static __always_inline __u32 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s;
}

/*
 * parse_ip: the IP header at off (ethertype says which) and the UDP header after it.
 * Returns 0, or -1 for anything else (not UDP, IPv4 fragment, IPv6 extension header, short).
 */
static __always_inline int parse_ip(const void *data, const void *data_end, __u32 off, __u16 proto,
				    struct ip_udp *out)
{
	const __u8 *p = (const __u8 *)data + off;
	int ok = 1;

	if (proto == ETH_P_IP) {
		/* RFC 791 §3.1: version 4, IHL in 32-bit words, protocol at 9, addresses at 12. */
		if ((const void *)(p + 20) > data_end)
			return -1;
		if ((p[0] >> 4) != 4 || p[9] != IPPROTO_UDP)
			return -1;
		/* MF flag or a fragment offset: no UDP header here (RFC 791 §3.1). */
		if (((((__u16)p[6] << 8) | p[7]) & 0x3fff) != 0)
			return -1;
		__u32 ihl = (p[0] & 0x0f) * 4;
		if (ihl < 20)
			return -1;
		out->ip = off;
		out->udp = off + ihl;
		out->addr = off + 12;
		out->addr_len = 4;
		out->v6 = 0;
	} else if (proto == ETH_P_IPV6) {
		/* RFC 8200 §3: next header at 6, addresses at 8; only UDP directly after. */
		if ((const void *)(p + IPV6_HLEN) > data_end)
			return -1;
		if ((p[0] >> 4) != 6 || p[6] != IPPROTO_UDP)
			return -1;
		out->ip = off;
		out->udp = off + IPV6_HLEN;
		out->addr = off + 8;
		out->addr_len = 16;
		out->v6 = 1;
	} else {
		return -1;
	}
	if (out->udp > PULL_LEN)
		return -1;
	out->udp_len = load16(data, data_end, out->udp + 4, &ok);
	if (!ok || (const __u8 *)data + out->udp + UDP_HLEN > (const __u8 *)data_end)
		return -1;
	return 0;
}

/* The folded pseudo-header sum of a UDP header (RFC 768; RFC 8200 §8.1). */
static __always_inline __u32 pseudo_sum(const void *data, const void *data_end, const struct ip_udp *h,
					int *ok)
{
	__u32 s = IPPROTO_UDP + h->udp_len;
	__u32 i;

	/* Source and destination are adjacent in both versions: 2 × addr_len bytes. */
#pragma unroll
	for (i = 0; i < 32; i += 2) {
		if (i >= 2 * h->addr_len)
			break;
		s += load16(data, data_end, h->addr + i, ok);
	}
	return fold(s);
}

/* flip: one bit changed; never 0, which would read as "no checksum" for UDP over IPv4. */
static __always_inline __u16 flip(__u16 v)
{
	__u16 n = v ^ 0x0001;

	return n ? n : (v ^ 0x0002);
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for a 16-bit field changed from m to m'. */
static __always_inline __u16 csum_update(__u16 hc, __u16 old, __u16 new)
{
	__u32 s = (__u16)~hc + (__u16)~old + new;
	__u16 r = ~fold(s);

	return r ? r : 0xffff; /* a computed UDP checksum of 0 is sent as all ones (RFC 768) */
}

static __always_inline void count(__u64 *field)
{
	__sync_fetch_and_add(field, 1);
}

SEC("tc")
int csw_inject(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct csw_inject_cfg *cfgp = bpf_map_lookup_elem(&csw_inject_cfg, &key);
	struct csw_inject_stats *st = bpf_map_lookup_elem(&csw_inject_stats, &key);

	if (!cfgp || !st)
		return TC_ACT_OK;
	count(&st->seen);
	/* One copy: user space may rewrite the map while this packet is looked at. */
	struct csw_inject_cfg c = *cfgp;
	const struct csw_inject_cfg *cfg = &c;
	__u32 mode = cfg->mode;
	if (mode == CSW_INJECT_OFF || mode >= CSW_INJECT_MODES)
		return TC_ACT_OK;

	__u32 want = skb->len < PULL_LEN ? skb->len : PULL_LEN;
	if (bpf_skb_pull_data(skb, want) != 0) {
		count(&st->errors);
		return TC_ACT_OK;
	}
	const void *data = (const void *)(long)skb->data;
	const void *data_end = (const void *)(long)skb->data_end;
	int ok = 1;

	/* Outer Ethernet, with up to two 802.1Q/802.1ad tags left in the frame (IEEE 802.1Q §9). */
	__u32 off = 12;
	__u16 proto = load16(data, data_end, off, &ok);
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		off += 4;
		proto = load16(data, data_end, off, &ok);
	}
	off += 2;
	if (!ok)
		return TC_ACT_OK;

	struct ip_udp outer = {}, inner = {};
	if (parse_ip(data, data_end, off, proto, &outer) != 0)
		return TC_ACT_OK;
	__u16 dport = load16(data, data_end, outer.udp + 2, &ok);
	if (!ok || dport == 0 || (dport != cfg->vxlan_port[0] && dport != cfg->vxlan_port[1]))
		return TC_ACT_OK;

	/* VXLAN header, RFC 7348 §5: the I flag (0x08) says the VNI is valid. */
	__u32 vx = outer.udp + UDP_HLEN;
	const __u8 *vp = (const __u8 *)data + vx;
	if (vx > PULL_LEN || (const void *)(vp + VXLAN_HLEN + ETH_HLEN) > data_end)
		return TC_ACT_OK;
	if ((vp[0] & 0x08) == 0)
		return TC_ACT_OK;
	__u32 ieth = vx + VXLAN_HLEN;
	__u16 iproto = load16(data, data_end, ieth + 12, &ok);
	if (!ok || parse_ip(data, data_end, ieth + ETH_HLEN, iproto, &inner) != 0)
		return TC_ACT_OK;
	count(&st->vxlan);

	__u16 sport_in = load16(data, data_end, inner.udp, &ok);
	__u16 dport_in = load16(data, data_end, inner.udp + 2, &ok);
	__u16 csum_in = load16(data, data_end, inner.udp + 6, &ok);
	__u16 csum_out = load16(data, data_end, outer.udp + 6, &ok);
	if (!ok)
		return TC_ACT_OK;
	if (cfg->inner_port != 0) {
		int to = dport_in == cfg->inner_port, from = sport_in == cfg->inner_port;

		if ((cfg->direction == CSW_INJECT_DIR_TO && !to) ||
		    (cfg->direction == CSW_INJECT_DIR_FROM && !from) ||
		    (cfg->direction == CSW_INJECT_DIR_BOTH && !to && !from))
			return TC_ACT_OK;
	}
	count(&st->matched);

	__u32 pseudo = pseudo_sum(data, data_end, &inner, &ok);
	if (!ok)
		return TC_ACT_OK;
	/*
	 * Which checksum, if any, is still pending (see top): the kernel's own record of it,
	 * CHECKSUM_PARTIAL with csum_start at that UDP header (an offset from skb->head).
	 */
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	int pending_at = -1;
	if (BPF_CORE_READ_BITFIELD(kskb, ip_summed) == CHECKSUM_PARTIAL)
		pending_at = (int)kskb->csum_start - (int)(kskb->data - kskb->head);
	int outer_pending = pending_at == (int)outer.udp;
	int inner_pending = pending_at == (int)inner.udp;

	/* The sender left the checksum to offload: damage now would be summed over later. */
	if ((mode == CSW_INJECT_INNER_UDP || mode == CSW_INJECT_PSEUDO_ONLY) && inner_pending) {
		count(&st->skipped_partial);
		return TC_ACT_OK;
	}
	if (mode == CSW_INJECT_INNER_IPV4 && inner.v6) {
		count(&st->skipped_inapplicable);
		return TC_ACT_OK;
	}
	if (cfg->ppm < CSW_INJECT_PPM_ALL && bpf_get_prandom_u32() % CSW_INJECT_PPM_ALL >= cfg->ppm)
		return TC_ACT_OK;

	__u32 field_off, outer_off = outer.udp + 6;
	__u16 old, new;
	switch (mode) {
	case CSW_INJECT_INNER_UDP:
		field_off = inner.udp + 6;
		old = csum_in;
		new = flip(old);
		break;
	case CSW_INJECT_INNER_IPV4:
		field_off = inner.ip + 10; /* header checksum, RFC 791 §3.1 */
		old = load16(data, data_end, field_off, &ok);
		if (!ok)
			return TC_ACT_OK;
		new = flip(old);
		break;
	case CSW_INJECT_OUTER_UDP:
		field_off = outer_off;
		old = csum_out;
		new = flip(old);
		break;
	default: /* CSW_INJECT_PSEUDO_ONLY */
		field_off = inner.udp + 6;
		old = csum_in;
		new = pseudo;
		break;
	}

	__u16 be = bpf_htons(new);
	if (bpf_skb_store_bytes(skb, field_off, &be, sizeof(be), 0) != 0) {
		count(&st->errors);
		return TC_ACT_OK;
	}
	/* The outer checksum as a NIC would have sent it (see top). */
	int inner_mode = mode == CSW_INJECT_INNER_UDP || mode == CSW_INJECT_INNER_IPV4;
	if (csum_out != 0 && ((inner_mode && !outer_pending) || (mode == CSW_INJECT_PSEUDO_ONLY && outer_pending))) {
		__u16 fixed = bpf_htons(csum_update(csum_out, old, new));

		if (bpf_skb_store_bytes(skb, outer_off, &fixed, sizeof(fixed), 0) != 0) {
			count(&st->errors);
			return TC_ACT_OK;
		}
	}
	if (mode < CSW_INJECT_MODES) /* known, but the verifier wants it next to the index */
		count(&st->damaged[mode]);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
