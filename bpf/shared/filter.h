/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * filter.h: what the capture filter (filter.bpf.c) shares with user space.
 *
 * The filter is a socket filter on the agent's own packet sockets. It counts every VXLAN and
 * Geneve packet per (interface, direction, encapsulation, remote VTEP) in a per-CPU hash
 * (struct csw_vtep_key -> struct csw_vtep_value), and passes to user space only the packets that
 * must be judged there: DNS (plain, or inside VXLAN or Geneve) and tunnel packets that are
 * suspect on their face. Everything else
 * is counted and never copied. The TypeScript side reads these layouts and constants from the
 * built object's BTF (scripts/bpf-gen.js writes src/bpf/generated/filter.ts), so constants user
 * space needs are enums, and filter.bpf.c names every type here with CSW_BTF_TYPE. Every field
 * has a fixed width, all padding is explicit, and there are no bitfields.
 */
#ifndef CSW_SHARED_FILTER_H
#define CSW_SHARED_FILTER_H

enum csw_filter_limits {
	CSW_FILTER_PORTS = 8, /* VXLAN, Geneve and DNS ports each in struct csw_filter_cfg */
};

/* csw_filter_cfg.flags */
enum csw_filter_flag {
	CSW_FILTER_COPY_VXLAN = 0x1, /* copy every VXLAN and Geneve packet (--vtep-packets all) */
};

/* Configuration written by user space before any socket uses the filter (array, key 0). */
struct csw_filter_cfg {
	__u16 vxlan_port[CSW_FILTER_PORTS]; /* host order; 0 = unused */
	__u16 geneve_port[CSW_FILTER_PORTS]; /* host order; 0 = unused */
	__u16 dns_port[CSW_FILTER_PORTS];   /* host order; 0 = unused */
	__u32 snaplen;                      /* bytes copied of a passed packet */
	__u32 flags;                        /* CSW_FILTER_* */
};

/* Directions (csw_vtep_key.dir), from the kernel's packet type. */
enum csw_vtep_dir {
	CSW_DIR_RX = 0,
	CSW_DIR_TX = 1,
};

/* The encapsulation (csw_vtep_key.encap). */
enum csw_encap {
	CSW_ENCAP_VXLAN = 0,  /* RFC 7348 */
	CSW_ENCAP_GENEVE = 1, /* RFC 8926 */
	CSW_ENCAPS = 2,
};

/*
 * A remote VTEP as one interface sees it in one direction, for one encapsulation. The
 * encapsulation is in the key rather than in a second table: it took a byte of the padding, so
 * the key keeps its size and a VXLAN key its bytes (encap 0, what the zeroed key already held:
 * the VXLAN fast path is unchanged), and one table, sized once (--max-peers), holds both, read in
 * one dump. A node running VXLAN and Geneve to the same peer (a migration) gets two entries.
 */
struct csw_vtep_key {
	__u32 ifindex;  /* the device the packet was seen on */
	__u8 family;    /* 4 or 6 */
	__u8 dir;       /* enum csw_vtep_dir */
	__u8 encap;     /* enum csw_encap */
	__u8 pad0;
	__u8 addr[16];  /* the outer source (received) or destination (sent); IPv4 in the first 4 */
};

/* Per-CPU counts of one key. */
struct csw_vtep_value {
	__u64 packets; /* as the kernel handles them: a GSO or GRO packet counts once, as the interface's counters count it */
	__u64 bytes;   /* skb->len, from the Ethernet header */
};

/* Why the filter passed a packet, or what it did with it (csw_filter_stats.n[]). */
enum csw_filter_stat {
	CSW_FS_SEEN = 0,        /* every packet the filter ran on */
	CSW_FS_DNS = 1,         /* plain DNS: passed */
	CSW_FS_TUNNEL_DNS = 2,  /* DNS inside VXLAN or Geneve: passed */
	CSW_FS_SUSPECT = 3,     /* VXLAN or Geneve whose header is wrong (I flag clear, Ver not 0, options past the datagram, cut short): passed */
	CSW_FS_VXLAN_COPY = 4,  /* other VXLAN passed because of CSW_FILTER_COPY_VXLAN */
	CSW_FS_VXLAN = 5,       /* VXLAN packets counted (all of them, passed or not) */
	CSW_FS_OVERFLOW = 6,    /* VXLAN or Geneve packets counted under the overflow entry: the peer table was full */
	CSW_FS_DROPPED = 7,     /* not passed */
	CSW_FS_GENEVE = 8,      /* Geneve packets counted (all of them, passed or not) */
	CSW_FS_GENEVE_COPY = 9, /* other Geneve passed because of CSW_FILTER_COPY_VXLAN */
	CSW_FILTER_STATS = 10,
};

/* Per-CPU filter counters (array, key 0). */
struct csw_filter_stats {
	__u64 n[CSW_FILTER_STATS];
};

#endif /* CSW_SHARED_FILTER_H */
