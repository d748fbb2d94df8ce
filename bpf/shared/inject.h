/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * inject.h: what the lab's fault injector (inject.bpf.c) shares with user space.
 *
 * Both structs are array map values with one entry (key 0), pinned by the lab; src/lab/inject.ts
 * writes the config and reads the counters through src/bpf. The TypeScript side reads these
 * layouts and constants from the built object's BTF (scripts/bpf-gen.js writes
 * src/bpf/generated/inject.ts), so constants are enums, and inject.bpf.c names every type here
 * with CSW_BTF_TYPE. Every field has a fixed width and all padding is explicit.
 */
#ifndef CSW_SHARED_INJECT_H
#define CSW_SHARED_INJECT_H

/* What to damage in a matched VXLAN packet. */
enum csw_inject_mode {
	CSW_INJECT_OFF = 0,
	CSW_INJECT_INNER_UDP = 1,   /* flip a bit of the inner UDP checksum */
	CSW_INJECT_INNER_IPV4 = 2,  /* flip a bit of the inner IPv4 header checksum */
	CSW_INJECT_OUTER_UDP = 3,   /* flip a bit of the outer UDP checksum */
	CSW_INJECT_PSEUDO_ONLY = 4, /* inner UDP checksum left holding the pseudo-header sum */
	CSW_INJECT_MODES = 5,
};

/* Which inner packets, by the inner UDP port filter. */
enum csw_inject_direction {
	CSW_INJECT_DIR_BOTH = 0, /* either inner port equals inner_port */
	CSW_INJECT_DIR_TO = 1,   /* inner destination port equals inner_port (DNS queries) */
	CSW_INJECT_DIR_FROM = 2, /* inner source port equals inner_port (DNS responses) */
};

enum csw_inject_limits {
	CSW_INJECT_PPM_ALL = 1000000, /* csw_inject_cfg.ppm that damages every matched packet */
};

struct csw_inject_cfg {
	__u32 mode;            /* enum csw_inject_mode */
	__u32 ppm;             /* probability, parts per million; CSW_INJECT_PPM_ALL damages all */
	__u16 vxlan_port[2];   /* outer UDP destination ports, host order; 0 = slot unused */
	__u16 inner_port;      /* inner UDP port filter, host order; 0 = any port */
	__u8 direction;        /* enum csw_inject_direction */
	__u8 pad0;
};

struct csw_inject_stats {
	__u64 seen;                         /* packets through the hook */
	__u64 vxlan;                        /* VXLAN on a configured port, headers parsed */
	__u64 matched;                      /* inner UDP passed the port and direction filter */
	__u64 damaged[CSW_INJECT_MODES];    /* damaged, by the mode in force at the time */
	__u64 skipped_partial;              /* inner UDP checksum still pending transmit offload */
	__u64 skipped_inapplicable;         /* the mode does not apply (inner-ipv4 on IPv6) */
	__u64 errors;                       /* pull or store failed */
};

#endif /* CSW_SHARED_INJECT_H */
