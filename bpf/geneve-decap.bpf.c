// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * geneve-decap.bpf.c: Geneve decapsulation for tests on kernels without the geneve driver.
 *
 * The kernel drop tracer (drops.bpf.c) reads a decapsulated packet's tunnel back from the
 * headroom before its Ethernet header, where geneve_rx leaves the outer IP header, UDP, and the
 * Geneve header with its options. This kernel has no geneve driver (`ip link add ... type
 * geneve`: "Unknown device type") and modules cannot be loaded, so tests stand this tc program
 * (ingress, direct action) in for it, as vlan-tag.bpf.c stands in for 802.1Q.
 *
 * For an IPv4 or IPv6 packet (no IPv4 options, no IPv6 extension headers) to UDP port 6081
 * carrying Geneve version 0 with protocol type 0x6558 (Ethernet), it removes the outer IP and
 * UDP headers, the Geneve header with its options and the inner Ethernet header with one
 * bpf_skb_adjust_room(BPF_ADJ_ROOM_MAC): the outer Ethernet header is moved forward over the
 * inner one, so the packet goes up the stack as the inner IP packet, and the bytes before its
 * Ethernet header are the outer IP, UDP and Geneve headers, in place, as geneve_rx leaves them.
 * Everything else passes untouched.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "wire.h"

#define GENEVE_PORT 6081

SEC("tc")
int csw_geneve_decap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 ip_len;

	if ((void *)(eth + 1) > end)
		return TC_ACT_OK;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
		    (ip->frag_off & bpf_htons(0x3fff)) != 0)
			return TC_ACT_OK;
		ip_len = IPV4_HLEN;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_UDP)
			return TC_ACT_OK;
		ip_len = IPV6_HLEN;
	} else {
		return TC_ACT_OK;
	}
	struct udphdr *udp = data + ETH_HLEN + ip_len;
	__u8 *g = (__u8 *)(udp + 1);
	if (g + GENEVE_HLEN > (__u8 *)end || udp->dest != bpf_htons(GENEVE_PORT))
		return TC_ACT_OK;
	/* RFC 8926 §3.4: version 0, options length in 4-byte words, protocol type. */
	if ((g[0] >> 6) != 0 || g[2] != (ETH_P_TEB >> 8) || g[3] != (ETH_P_TEB & 0xff))
		return TC_ACT_OK;
	__u32 opts = (g[0] & 0x3f) * 4;
	__u8 *inner = g + GENEVE_HLEN + opts;
	if (inner + ETH_HLEN > (__u8 *)end)
		return TC_ACT_OK;
	__u16 inner_type = ((__u16)inner[12] << 8) | inner[13];
	__u64 flags = 0;
	/* The stack reads the packet's protocol from the skb: say when the family changes. */
	if (inner_type == ETH_P_IP && eth->h_proto != bpf_htons(ETH_P_IP))
		flags = BPF_F_ADJ_ROOM_DECAP_L3_IPV4;
	else if (inner_type == ETH_P_IPV6 && eth->h_proto != bpf_htons(ETH_P_IPV6))
		flags = BPF_F_ADJ_ROOM_DECAP_L3_IPV6;
	else if (inner_type != ETH_P_IP && inner_type != ETH_P_IPV6)
		return TC_ACT_OK;
	__s32 len = ip_len + UDP_HLEN + GENEVE_HLEN + opts + ETH_HLEN;
	if (bpf_skb_adjust_room(skb, -len, BPF_ADJ_ROOM_MAC, flags))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
