/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * wire.h: the numbers on the wire every program here reads packets by: ethertypes, IP protocol
 * numbers and header lengths, from the RFCs and IEEE registries that define them (vmlinux.h
 * holds the kernel's types but none of its #defines). Numbers user space must also know are
 * enums in the headers under bpf/shared instead.
 */
#ifndef CSW_WIRE_H
#define CSW_WIRE_H

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_P_TEB 0x6558 /* Transparent Ethernet Bridging: an Ethernet frame follows (Geneve) */

#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_DEST 60

#define IPV4_HLEN 20 /* without options */
#define IPV6_HLEN 40
#define UDP_HLEN 8
#define VXLAN_HLEN 8  /* RFC 7348 §5 */
#define VXLAN_I_FLAG 0x08 /* the flags octet's I bit: a valid VNI */
#define GENEVE_HLEN 8 /* RFC 8926 §3.4, before its options */
#define GENEVE_MAX_OPT_WORDS 63 /* the 6-bit Opt Len, in 4-byte words */

/* tc actions (include/uapi/linux/pkt_cls.h). */
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

#endif /* CSW_WIRE_H */
