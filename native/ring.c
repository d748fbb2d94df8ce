// SPDX-License-Identifier: Apache-2.0
// csw_ring: the agent's own packet socket with a TPACKET_V3 ring, as an N-API addon.
//
// Why not libpcap here: libpcap drops what the kernel says of each packet's checksum in the
// ring's tp_status (TP_STATUS_CSUMNOTREADY: transmit offload pending, or a GRO-merged packet on
// receive; TP_STATUS_CSUM_VALID: verified by the NIC), and it cannot attach an eBPF socket filter.
// This addon makes no decisions: it opens the socket, maps the ring, attaches the filter program
// it is given, binds, and hands packets to JavaScript in batches (batch.h) as records of
//
//   u32 caplen | u32 wirelen | u32 ts_sec | u32 ts_usec | u32 meta | caplen bytes, padded to 4
//
// in host byte order, meta being CSW_META_* below. The socket is bound only after the filter is
// attached (it is created with protocol 0, which receives nothing), so no unfiltered packet ever
// enters the ring. A VLAN tag the NIC stripped (TP_STATUS_VLAN_VALID) is put back in the record,
// as libpcap does, so the record is the frame as it was on the wire.
//
// The addon holds a reference to the JavaScript batch buffer for as long as the capture runs
// (the use-after-free trap of the `cap` package).

#include "batch.h"
#include <uv.h>
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_ATTACH_BPF
#define SO_ATTACH_BPF 50
#endif

#define REC_HDR 20
/* Blocks handed over per readable event at most: bounds the time one busy capture holds the loop. */
#define MAX_BLOCKS 64

/* meta: the packet's direction (the values of DIR_RX and DIR_TX in src/decode/frame.ts). */
#define CSW_META_RX 1u
#define CSW_META_TX 2u
/* meta: the kernel's checksum status from tp_status; KNOWN: this source reports it (neither bit
 * set then means the kernel holds no partial checksum, so no guess from the length is needed). */
#define CSW_META_CSUM_NOTREADY 4u
#define CSW_META_CSUM_VALID 8u
#define CSW_META_CSUM_KNOWN 16u

struct ring {
	int fd;
	uint8_t *map;
	size_t map_len;
	uint32_t block_size;
	uint32_t block_nr;
	uint32_t next_block;
	uv_poll_t poll;
	napi_env env;
	struct batch batch;
	/* Cumulative PACKET_STATISTICS (the kernel resets them at each read). */
	double packets, drops, freezes;
	double clipped;
	int polling;
	int closed;
};

static napi_value throw_ring(napi_env env, const char *what, int err)
{
	char msg[256];
	if (err)
		snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
	else
		snprintf(msg, sizeof(msg), "%s", what);
	napi_throw_error(env, "CSW_ERR_RING", msg);
	return NULL;
}

static struct ring *get_ring(napi_env env, napi_value v)
{
	struct ring *r = NULL;
	if (napi_get_value_external(env, v, (void **)&r) != napi_ok || r == NULL) {
		napi_throw_type_error(env, "CSW_ERR_RING", "csw_ring: not a ring handle");
		return NULL;
	}
	if (r->closed) {
		napi_throw_error(env, "CSW_ERR_RING", "csw_ring: capture is closed");
		return NULL;
	}
	return r;
}

static struct ring *ring_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = want;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
		napi_throw_type_error(env, "CSW_ERR_RING", "csw_ring: too few arguments");
		return NULL;
	}
	return get_ring(env, argv[0]);
}

static void release_fd(struct ring *r)
{
	if (r->map) {
		munmap(r->map, r->map_len);
		r->map = NULL;
	}
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
}

static void on_poll_closed(uv_handle_t *h)
{
	struct ring *r = h->data;
	release_fd(r);
	if (r->closed == 2)
		free(r);
	else
		r->closed = 3;
}

/* Reads the kernel's counters into the cumulative ones. */
static int read_stats(struct ring *r)
{
	struct tpacket_stats_v3 st;
	socklen_t len = sizeof(st);
	memset(&st, 0, sizeof(st));
	if (r->fd < 0)
		return 0;
	if (getsockopt(r->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0)
		return -errno;
	r->packets += st.tp_packets;
	r->drops += st.tp_drops;
	r->freezes += st.tp_freeze_q_cnt;
	return 0;
}

static void close_ring(struct ring *r)
{
	if (r->closed)
		return;
	(void)read_stats(r);
	r->closed = 1;
	batch_release(&r->batch);
	if (r->polling) {
		r->polling = 0;
		uv_poll_stop(&r->poll);
		uv_close((uv_handle_t *)&r->poll, on_poll_closed);
		return;
	}
	release_fd(r);
	r->closed = 3;
}

static void finalize_ring(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	struct ring *r = data;
	if (!r->closed)
		close_ring(r);
	if (r->closed == 1)
		r->closed = 2; /* uv_close still pending: on_poll_closed frees */
	else
		free(r);
}

/* Appends one packet to the batch, flushing first when it does not fit. */
static void add_packet(struct ring *r, const struct tpacket3_hdr *h)
{
	struct batch *b = &r->batch;
	const uint8_t *data = (const uint8_t *)h + h->tp_mac;
	uint32_t caplen = h->tp_snaplen, wirelen = h->tp_len;
	uint32_t status = h->tp_status;
	int vlan = (status & TP_STATUS_VLAN_VALID) && caplen >= 12;
	const struct sockaddr_ll *sll = (const struct sockaddr_ll *)((const uint8_t *)h + TPACKET_ALIGN(sizeof(*h)));
	uint32_t meta = CSW_META_CSUM_KNOWN | (sll->sll_pkttype == PACKET_OUTGOING ? CSW_META_TX : CSW_META_RX);
	if (status & TP_STATUS_CSUMNOTREADY)
		meta |= CSW_META_CSUM_NOTREADY;
	if (status & TP_STATUS_CSUM_VALID)
		meta |= CSW_META_CSUM_VALID;
	uint32_t reclen = caplen + (vlan ? 4u : 0u);
	size_t need = REC_HDR + ((reclen + 3u) & ~3u);
	if (b->used + need > b->len)
		batch_flush(b);
	if (r->closed || b->buf == NULL)
		return;
	if (REC_HDR + (size_t)reclen > b->len) {
		/* larger than the whole batch buffer: cut, and say so */
		reclen = (uint32_t)((b->len - REC_HDR) & ~(size_t)3);
		r->clipped++;
		need = REC_HDR + reclen;
	}
	uint32_t hdr[5] = { reclen, wirelen + (vlan ? 4u : 0u), h->tp_sec, h->tp_nsec / 1000u, meta };
	uint8_t *out = b->buf + b->used;
	memcpy(out, hdr, REC_HDR);
	out += REC_HDR;
	if (vlan) {
		/* the 802.1Q (or 802.1ad) tag back between the MAC addresses and the ethertype */
		uint16_t tpid = htons((status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : ETH_P_8021Q);
		uint16_t tci = htons((uint16_t)h->hv1.tp_vlan_tci);
		memcpy(out, data, 12);
		memcpy(out + 12, &tpid, 2);
		memcpy(out + 14, &tci, 2);
		memcpy(out + 16, data + 12, reclen - 16);
	} else {
		memcpy(out, data, reclen);
	}
	b->used += need;
	b->count++;
}

/* Hands every block the kernel has retired to JavaScript; returns packets read. */
static int drain(struct ring *r)
{
	int total = 0;
	for (int n = 0; n < MAX_BLOCKS && !r->closed; n++) {
		struct tpacket_block_desc *bd = (struct tpacket_block_desc *)(r->map + (size_t)r->next_block * r->block_size);
		if ((__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0)
			break;
		uint32_t num = bd->hdr.bh1.num_pkts;
		const uint8_t *p = (const uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
		const uint8_t *end = (const uint8_t *)bd + r->block_size;
		for (uint32_t i = 0; i < num && !r->closed; i++) {
			const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)p;
			if (p + sizeof(*h) > end || p + h->tp_mac + h->tp_snaplen > end)
				break; /* never expected from the kernel; never read past the block */
			add_packet(r, h);
			total++;
			if (h->tp_next_offset == 0)
				break;
			p += h->tp_next_offset;
		}
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		r->next_block = (r->next_block + 1) % r->block_nr;
	}
	if (!r->closed)
		batch_flush(&r->batch);
	return total;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	(void)events;
	struct ring *r = h->data;
	napi_handle_scope scope;
	if (napi_open_handle_scope(r->env, &scope) != napi_ok)
		return;
	drain(r);
	/*
	 * libuv reports POLLERR as an error and stops polling. On a packet socket that is ENETDOWN:
	 * the interface went down (the socket is hooked again when it comes up, ring and filter
	 * intact) or away. Neither ends the capture: clear the socket's error and poll again.
	 */
	if (status < 0 && !r->closed) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		(void)getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		int rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
		if (rc != 0) {
			char msg[160];
			snprintf(msg, sizeof(msg), "polling the capture again after %s: %s",
				 soerr ? strerror(soerr) : uv_strerror(status), uv_strerror(rc));
			batch_error(&r->batch, msg);
		}
	}
	napi_close_handle_scope(r->env, scope);
}

/*
 * open(ifindex, blockBytes, blocks, timeoutMs, progFd) -> handle: a bound packet socket on the
 * interface with its ring mapped and the socket filter program progFd attached.
 */
static napi_value js_open(napi_env env, napi_callback_info info)
{
	size_t argc = 5;
	napi_value argv[5];
	int32_t ifindex = 0, block = 0, blocks = 0, timeout = 0, prog = -1;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
	    napi_get_value_int32(env, argv[0], &ifindex) != napi_ok || napi_get_value_int32(env, argv[1], &block) != napi_ok ||
	    napi_get_value_int32(env, argv[2], &blocks) != napi_ok || napi_get_value_int32(env, argv[3], &timeout) != napi_ok ||
	    napi_get_value_int32(env, argv[4], &prog) != napi_ok)
		return throw_ring(env, "csw_ring: open(ifindex, blockBytes, blocks, timeoutMs, progFd)", 0);
	long page = sysconf(_SC_PAGESIZE);
	if (ifindex <= 0 || block < page || (block & (block - 1)) != 0 || blocks < 2 || timeout < 1 || prog < 0)
		return throw_ring(env, "csw_ring: open: bad arguments (block size a power of two of at least a page, two blocks or more)", 0);

	struct ring *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return throw_ring(env, "csw_ring: out of memory", 0);
	r->fd = -1;
	const char *step = "creating the packet socket";
	/* Protocol 0: the socket receives nothing until bind() names one, after the filter is on. */
	r->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (r->fd < 0)
		goto fail;
	int v3 = TPACKET_V3;
	step = "selecting TPACKET_V3";
	if (setsockopt(r->fd, SOL_PACKET, PACKET_VERSION, &v3, sizeof(v3)) < 0)
		goto fail;
	struct tpacket_req3 req;
	memset(&req, 0, sizeof(req));
	req.tp_block_size = (unsigned)block;
	req.tp_block_nr = (unsigned)blocks;
	req.tp_frame_size = 2048; /* TPACKET_V3 packs by real size; the kernel only checks this divides the block */
	req.tp_frame_nr = (unsigned)(((size_t)block / req.tp_frame_size) * (size_t)blocks);
	req.tp_retire_blk_tov = (unsigned)timeout;
	step = "setting up the ring (PACKET_RX_RING)";
	if (setsockopt(r->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		goto fail;
	r->block_size = req.tp_block_size;
	r->block_nr = req.tp_block_nr;
	r->map_len = (size_t)req.tp_block_size * req.tp_block_nr;
	step = "mapping the ring";
	void *m = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, r->fd, 0);
	if (m == MAP_FAILED) /* MAP_LOCKED needs RLIMIT_MEMLOCK room; without it the ring may be swapped, nothing worse */
		m = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	r->map = m;
	step = "attaching the socket filter (SO_ATTACH_BPF)";
	if (setsockopt(r->fd, SOL_SOCKET, SO_ATTACH_BPF, &prog, sizeof(prog)) < 0)
		goto fail;
	struct sockaddr_ll sll;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = ifindex;
	step = "binding to the interface";
	if (bind(r->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto fail;
	r->env = env;
	napi_value ext;
	if (napi_create_external(env, r, finalize_ring, NULL, &ext) != napi_ok) {
		release_fd(r);
		free(r);
		return throw_ring(env, "csw_ring: napi_create_external failed", 0);
	}
	return ext;
fail:;
	int err = errno;
	release_fd(r);
	free(r);
	char what[128];
	snprintf(what, sizeof(what), "opening the ring on ifindex %d: %s", ifindex, step);
	return throw_ring(env, what, err);
}

/* start(handle, buffer, callback): batches go into buffer; callback(records, bytes) per batch. */
static napi_value js_start(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	struct ring *r = ring_args(env, info, 3, argv);
	if (r == NULL)
		return NULL;
	if (r->polling)
		return throw_ring(env, "csw_ring: capture already started", 0);
	uv_loop_t *loop = NULL;
	if (napi_get_uv_event_loop(env, &loop) != napi_ok)
		return throw_ring(env, "csw_ring: no event loop", 0);
	if (batch_start(env, &r->batch, argv[1], argv[2], "csw_ring", REC_HDR + 64, 4) < 0)
		return NULL;
	int rc = uv_poll_init(loop, &r->poll, r->fd);
	if (rc == 0) {
		r->poll.data = r;
		rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
		if (rc != 0)
			uv_close((uv_handle_t *)&r->poll, NULL);
	}
	if (rc != 0) {
		batch_release(&r->batch);
		char msg[128];
		snprintf(msg, sizeof(msg), "csw_ring: polling the capture: %s", uv_strerror(rc));
		return throw_ring(env, msg, 0);
	}
	r->polling = 1;
	return NULL;
}

/* dispatch(handle) -> packets read: drains now (a timer calls it, in case a wakeup is missed). */
static napi_value js_dispatch(napi_env env, napi_callback_info info)
{
	napi_value argv[1], out;
	struct ring *r = ring_args(env, info, 1, argv);
	if (r == NULL)
		return NULL;
	int n = r->batch.buf ? drain(r) : 0;
	napi_create_int32(env, n, &out);
	return out;
}

/* stats(handle) -> [passed, dropped, queueFreezes, clipped] since open (after close: as at close). */
static napi_value js_stats(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out, v;
	struct ring *r = NULL;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
	    napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || r == NULL)
		return throw_ring(env, "csw_ring: stats(handle)", 0);
	if (!r->closed) {
		int rc = read_stats(r);
		if (rc < 0)
			return throw_ring(env, "reading the ring's statistics", -rc);
	}
	napi_create_array_with_length(env, 4, &out);
	double vals[4] = { r->packets, r->drops, r->freezes, r->clipped };
	for (uint32_t i = 0; i < 4; i++) {
		napi_create_double(env, vals[i], &v);
		napi_set_element(env, out, i, v);
	}
	return out;
}

static napi_value js_close(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	struct ring *r = NULL;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
	    napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || r == NULL)
		return throw_ring(env, "csw_ring: close(handle)", 0);
	close_ring(r);
	return NULL;
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "dispatch", NULL, js_dispatch, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok)
		return NULL;
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
