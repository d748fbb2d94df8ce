/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * drops.h: what the kernel drop tracer (drops.bpf.c) shares with user space.
 *
 * The tracer counts every packet the kernel frees as dropped, by drop reason and protocol, in
 * a per-CPU array (struct csw_drop_counts), and sends one struct csw_drop_event per packet on
 * a ring buffer for the reasons user space selects in struct csw_drop_cfg. The TypeScript side
 * reads these layouts and constants from the built object's BTF (scripts/bpf-gen.js writes
 * src/bpf/generated/drops.ts), so constants user space needs are enums, not #defines, and
 * drops.bpf.c names every type here with CSW_BTF_TYPE. Every field has a fixed width, all
 * padding is explicit, and there are no bitfields.
 */
#ifndef CSW_SHARED_DROPS_H
#define CSW_SHARED_DROPS_H

/*
 * Drop reasons are numbered by the running kernel (enum skb_drop_reason, which grows and is
 * renumbered between releases). Values below CSW_DROP_REASON_SLOTS - 1 each own a slot; the
 * last slot holds every other value, including subsystem reasons (high 16 bits set).
 */
enum csw_drop_limits {
	CSW_DROP_REASON_SLOTS = 256,
	CSW_DROP_REASON_OTHER = CSW_DROP_REASON_SLOTS - 1,
	CSW_DROP_PORTS = 4,  /* VXLAN, Geneve and DNS ports each in struct csw_drop_cfg */
	CSW_DNS_BYTES = 128, /* a power of 2; up to CSW_DNS_BYTES - 1 bytes are copied */
};

/* The protocol of a dropped packet, as the tracer classifies it. */
enum csw_drop_proto {
	CSW_PROTO_OTHER = 0,  /* not IP, not ARP, or no network header */
	CSW_PROTO_ARP = 1,
	CSW_PROTO_IP = 2,     /* IPv4 or IPv6 carrying something below, or a later fragment */
	CSW_PROTO_UDP = 3,
	CSW_PROTO_TCP = 4,
	CSW_PROTO_ICMP = 5,
	CSW_PROTO_ICMPV6 = 6,
	CSW_PROTO_VXLAN = 7,  /* still encapsulated: UDP to a configured VXLAN port */
	CSW_PROTO_GENEVE = 8, /* still encapsulated: UDP to a configured Geneve port */
	CSW_DROP_PROTOS = 9,
};

/* Per-CPU drop counts (one entry, key 0): n[reason slot][enum csw_drop_proto]. */
struct csw_drop_counts {
	__u64 n[CSW_DROP_REASON_SLOTS][CSW_DROP_PROTOS];
};

/* Per-CPU tracer counters (one entry, key 0); increments are atomic (a softirq may nest). */
struct csw_drop_stats {
	__u64 drops;     /* packets through the tracer, consumed ones excluded */
	__u64 events;    /* events written to the ring buffer */
	__u64 lost;      /* events the ring buffer had no room for */
	__u64 unparsed;  /* IP packets whose header is not in the linear data, or not IP after all */
	__u64 dns_short; /* DNS packets whose message is not in the linear data: no DNS bytes sent */
};

/* Which events to send (event_scope). */
enum csw_drop_scope {
	CSW_SCOPE_DNS_OR_VXLAN = 0, /* only packets carrying DNS, or in a tunnel (VXLAN, Geneve) */
	CSW_SCOPE_ALL = 1,          /* every packet dropped for a selected reason */
};

/* Configuration written by user space before it attaches the tracer (array, one entry, key 0). */
struct csw_drop_cfg {
	__u32 event_reasons[CSW_DROP_REASON_SLOTS / 32]; /* bitmap over reason slots */
	__u16 vxlan_port[CSW_DROP_PORTS];                 /* host order; 0 = unused */
	__u16 dns_port[CSW_DROP_PORTS];                   /* host order; 0 = unused */
	__u16 geneve_port[CSW_DROP_PORTS];                /* host order; 0 = unused */
	__u8 event_scope;                                 /* enum csw_drop_scope */
	__u8 pad0[3];
	/*
	 * Wake the reader only once this many bytes wait in the ring buffer (0: at every event).
	 * A wakeup costs the dropping CPU several microseconds; user space drains on a timer too.
	 */
	__u32 wakeup_bytes;
};

/* An IP flow: family, transport protocol, ports (host order) and addresses (network order). */
struct csw_flow {
	__u8 family;  /* 4, 6, or 0 when unknown */
	__u8 l4;      /* IP protocol number */
	__u16 sport;
	__u16 dport;
	__u16 pad0;
	__u8 saddr[16]; /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
};

/* Event flags (csw_drop_event.flags). */
enum csw_drop_event_flag {
	CSW_EV_FLOW = 0x01,      /* flow is valid */
	CSW_EV_TUNNEL = 0x02,    /* tunnel is valid: the packet was or had been VXLAN or Geneve */
	CSW_EV_DECAPPED = 0x04,  /* dropped after decapsulation; tunnel read from the headroom */
	CSW_EV_DNS = 0x08,       /* dns holds the first dns_len bytes of a DNS message */
	CSW_EV_FRAGMENT = 0x10,  /* a non-first IP fragment: no ports */
	CSW_EV_PORTS = 0x20,     /* flow.sport and flow.dport are valid */
	CSW_EV_VNI = 0x40,       /* vni is valid (after forwarding, an L2 rewrite may overwrite it) */
	CSW_EV_GENEVE = 0x80,    /* the tunnel is Geneve (RFC 8926), not VXLAN */
};

/*
 * One dropped packet. flow is the packet the drop is about: the encapsulated one for VXLAN or
 * Geneve (before or after decapsulation), else the packet itself; tunnel is the outer flow.
 */
struct csw_drop_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 reason;     /* raw enum skb_drop_reason value */
	__u32 netns;      /* inode number of the network namespace (of the device, else socket) */
	__u32 ifindex;    /* device index in that namespace; 0 if none */
	__u32 len;        /* skb->len */
	__u32 vni;        /* VXLAN or Geneve network identifier when CSW_EV_VNI */
	__u16 flags;      /* CSW_EV_* */
	__u8 proto;       /* enum csw_drop_proto */
	__u8 dns_len;     /* bytes valid in dns */
	char ifname[16];
	struct csw_flow flow;
	struct csw_flow tunnel;
	__u8 dns[CSW_DNS_BYTES]; /* the DNS message from its header (ID, flags, counts, question) */
};

#endif /* CSW_SHARED_DROPS_H */
