// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vlan-tag.bpf.c: 802.1Q tagging for the lab's VLAN underlay on kernels without
 * CONFIG_VLAN_8021Q.
 *
 * The lab (src/lab/) and test/fixtures/make/make-fixtures.sh attach this one tc program (direct
 * action) to both the egress and the ingress hook of each underlay veth: on egress it pushes
 * VLAN 100 (IEEE 802.1Q, TPID 0x8100), on ingress it pops it again before the stack looks at
 * the frame. Packet taps see the tagged
 * frame on both sides: egress taps run after tc egress, ingress taps before tc ingress.
 * Only used when `ip link add ... type vlan` is not available.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "wire.h"

#define CSW_LAB_VLAN_ID 100

SEC("tc")
int csw_vlan_tag(struct __sk_buff *skb)
{
	if (skb->vlan_present) {
		/* ingress: a tagged frame from the peer */
		if ((skb->vlan_tci & 0x0fff) == CSW_LAB_VLAN_ID)
			bpf_skb_vlan_pop(skb);
		return TC_ACT_OK;
	}
	if (skb->ingress_ifindex != 0)
		return TC_ACT_OK; /* ingress, untagged: leave it alone */
	if (bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), CSW_LAB_VLAN_ID) != 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
