// SPDX-License-Identifier: Apache-2.0
// csw_pcap: a thin N-API binding over libpcap for the live agent.
//
// One call per libpcap operation; every decision (which interfaces, which filter, what a packet
// means) stays in TypeScript. Packets reach JavaScript in batches: each readable event of the
// capture's file descriptor drains libpcap into one Buffer that JavaScript owns and passes in,
// as records of
//
//   u32 caplen | u32 wirelen | u32 ts_sec | u32 ts_usec | u32 meta | caplen bytes, padded to 4
//
// (host byte order; meta is the direction set by setDirection, 1 received or 2 sent, as csw_ring
// writes it; libpcap says nothing of the kernel's checksum status), and the callback gets (records, bytesUsed) (batch.h). The binding holds a
// reference to that Buffer for as long as the capture runs, so V8 cannot free memory libpcap's
// callback writes into (the trap that breaks the `cap` package under load).

#include "batch.h"
#include <uv.h>
#include <pcap/pcap.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REC_HDR 20
/* Dispatch rounds per readable event: bounds the time one busy capture holds the event loop. */
#define MAX_ROUNDS 64

struct capture {
	pcap_t *p;
	uv_poll_t poll;
	napi_env env;
	struct batch batch;
	/* Records cut short because a packet was larger than the whole batch buffer. */
	double clipped;
	/* The record's meta word: the direction setDirection chose (0 until then). */
	uint32_t meta;
	int polling;
	int closed;
	char err[PCAP_ERRBUF_SIZE];
};

#define CHECK(call)                                                                            \
	do {                                                                                   \
		if ((call) != napi_ok) {                                                       \
			throw_status(env, #call);                                              \
			return NULL;                                                           \
		}                                                                              \
	} while (0)

static void throw_status(napi_env env, const char *what)
{
	const napi_extended_error_info *info = NULL;
	napi_get_last_error_info(env, &info);
	bool pending = false;
	napi_is_exception_pending(env, &pending);
	if (pending)
		return;
	char msg[256];
	snprintf(msg, sizeof(msg), "csw_pcap: %s failed: %s", what,
		 info && info->error_message ? info->error_message : "unknown");
	napi_throw_error(env, "CSW_ERR_PCAP", msg);
}

static napi_value throw_pcap(napi_env env, const char *msg)
{
	napi_throw_error(env, "CSW_ERR_PCAP", msg);
	return NULL;
}

static struct capture *get_capture(napi_env env, napi_value v)
{
	struct capture *c = NULL;
	if (napi_get_value_external(env, v, (void **)&c) != napi_ok || c == NULL) {
		napi_throw_type_error(env, "CSW_ERR_PCAP", "csw_pcap: not a capture handle");
		return NULL;
	}
	if (c->closed) {
		napi_throw_error(env, "CSW_ERR_PCAP", "csw_pcap: capture is closed");
		return NULL;
	}
	return c;
}

/*
 * The arguments of a call on a capture: fills argv[0..want) and returns the capture in argv[0],
 * or NULL with a JavaScript exception pending.
 */
static struct capture *capture_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = want;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
		throw_status(env, "napi_get_cb_info");
		return NULL;
	}
	if (argc < want) {
		napi_throw_type_error(env, "CSW_ERR_PCAP", "csw_pcap: too few arguments");
		return NULL;
	}
	return get_capture(env, argv[0]);
}

static void on_poll_closed(uv_handle_t *h)
{
	struct capture *c = h->data;
	pcap_close(c->p);
	c->p = NULL;
	/* The external's finalizer frees the struct once JavaScript drops the handle. */
	if (c->closed == 2)
		free(c);
	else
		c->closed = 3;
}

/* Releases everything but the struct itself; safe to call twice. */
static void close_capture(napi_env env, struct capture *c)
{
	if (c->closed)
		return;
	(void)env;
	c->closed = 1;
	batch_release(&c->batch);
	if (c->polling) {
		c->polling = 0;
		uv_poll_stop(&c->poll);
		uv_close((uv_handle_t *)&c->poll, on_poll_closed);
		return;
	}
	pcap_close(c->p);
	c->p = NULL;
	c->closed = 3;
}

static void finalize_capture(napi_env env, void *data, void *hint)
{
	(void)hint;
	struct capture *c = data;
	if (!c->closed)
		close_capture(env, c);
	if (c->closed == 1)
		c->closed = 2; /* uv_close still pending: on_poll_closed frees */
	else
		free(c);
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct capture *c = (struct capture *)user;
	struct batch *b = &c->batch;
	if (c->closed || b->buf == NULL) {
		if (c->p)
			pcap_breakloop(c->p);
		return;
	}
	uint32_t caplen = h->caplen;
	size_t need = REC_HDR + ((caplen + 3u) & ~3u);
	if (b->used + need > b->len) {
		batch_flush(b);
		if (c->closed || b->buf == NULL) {
			if (c->p)
				pcap_breakloop(c->p);
			return;
		}
	}
	if (REC_HDR + (size_t)caplen > b->len) {
		caplen = (uint32_t)((b->len - REC_HDR) & ~(size_t)3);
		c->clipped++;
		need = REC_HDR + caplen;
	}
	uint32_t hdr[5] = { caplen, h->len, (uint32_t)h->ts.tv_sec, (uint32_t)h->ts.tv_usec, c->meta };
	memcpy(b->buf + b->used, hdr, REC_HDR);
	memcpy(b->buf + b->used + REC_HDR, bytes, caplen);
	b->used += need;
	b->count++;
}

/* Drains what libpcap holds now; returns packets read, or -1 after reporting an error. */
static int drain(struct capture *c)
{
	int total = 0;
	for (int round = 0; round < MAX_ROUNDS && !c->closed; round++) {
		int n = pcap_dispatch(c->p, -1, on_packet, (u_char *)c);
		if (n == PCAP_ERROR_BREAK)
			break;
		if (n < 0) {
			snprintf(c->err, sizeof(c->err), "%s", pcap_geterr(c->p));
			batch_flush(&c->batch);
			if (!c->closed)
				batch_error(&c->batch, c->err);
			return -1;
		}
		if (n == 0)
			break;
		total += n;
	}
	if (!c->closed)
		batch_flush(&c->batch);
	return total;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	(void)events;
	struct capture *c = h->data;
	napi_handle_scope scope;
	if (napi_open_handle_scope(c->env, &scope) != napi_ok)
		return;
	/*
	 * libuv reports any POLLERR as EBADF and stops polling. On a packet socket that is the
	 * kernel's ENETDOWN: the interface went down (the socket is hooked again when it comes
	 * up, and keeps its ring) or away (it never sees a packet again; the agent notices the
	 * interface is gone and closes it). Neither is the capture's failure: read what the ring
	 * holds, clear the socket's error and poll again. Only an error libpcap itself reports, or
	 * a failure to poll again, ends the capture.
	 */
	if (drain(c) >= 0 && status < 0 && !c->closed) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		int fd = pcap_get_selectable_fd(c->p);
		if (fd >= 0)
			(void)getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		int rc = uv_poll_start(&c->poll, UV_READABLE, on_readable);
		if (rc != 0) {
			snprintf(c->err, sizeof(c->err), "polling the capture again after %s: %s",
				 soerr ? strerror(soerr) : uv_strerror(status), uv_strerror(rc));
			batch_error(&c->batch, c->err);
		}
	}
	napi_close_handle_scope(c->env, scope);
}

static int get_string(napi_env env, napi_value v, char *out, size_t len)
{
	size_t n = 0;
	if (napi_get_value_string_utf8(env, v, out, len, &n) != napi_ok)
		return -1;
	return n + 1 >= len ? -1 : 0;
}

/* open(device, snaplen, bufferBytes, timeoutMs) -> handle */
static napi_value js_open(napi_env env, napi_callback_info info)
{
	size_t argc = 4;
	napi_value argv[4];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	char dev[256];
	int32_t snaplen = 0, bufsize = 0, timeout = 0;
	if (argc < 4 || get_string(env, argv[0], dev, sizeof(dev)) < 0 ||
	    napi_get_value_int32(env, argv[1], &snaplen) != napi_ok ||
	    napi_get_value_int32(env, argv[2], &bufsize) != napi_ok ||
	    napi_get_value_int32(env, argv[3], &timeout) != napi_ok)
		return throw_pcap(env, "csw_pcap: open(device, snaplen, bufferBytes, timeoutMs)");

	struct capture *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return throw_pcap(env, "csw_pcap: out of memory");
	char msg[PCAP_ERRBUF_SIZE + 300];
	c->p = pcap_create(dev, c->err);
	if (c->p == NULL) {
		snprintf(msg, sizeof(msg), "opening %s: %s", dev, c->err);
		free(c);
		return throw_pcap(env, msg);
	}
	pcap_set_snaplen(c->p, snaplen);
	pcap_set_promisc(c->p, 0);
	pcap_set_timeout(c->p, timeout);
	pcap_set_buffer_size(c->p, bufsize);
	int rc = pcap_activate(c->p);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "opening %s: %s%s%s", dev, pcap_statustostr(rc),
			 pcap_geterr(c->p)[0] ? ": " : "", pcap_geterr(c->p));
		pcap_close(c->p);
		free(c);
		return throw_pcap(env, msg);
	}
	if (pcap_setnonblock(c->p, 1, c->err) < 0) {
		snprintf(msg, sizeof(msg), "opening %s: %s", dev, c->err);
		pcap_close(c->p);
		free(c);
		return throw_pcap(env, msg);
	}
	/*
	 * libpcap opens its socket without SOCK_CLOEXEC: every process the agent starts (ip monitor,
	 * the doctor's tools) would inherit it, keep it open after the capture is closed, and the
	 * kernel would go on copying packets into a ring nobody reads.
	 */
	int fd = pcap_get_selectable_fd(c->p);
	int fdflags = fd < 0 ? -1 : fcntl(fd, F_GETFD);
	if (fdflags < 0 || fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) < 0) {
		snprintf(msg, sizeof(msg), "opening %s: setting close-on-exec: %s", dev, strerror(errno));
		pcap_close(c->p);
		free(c);
		return throw_pcap(env, msg);
	}
	c->env = env;
	napi_value ext;
	if (napi_create_external(env, c, finalize_capture, NULL, &ext) != napi_ok) {
		pcap_close(c->p);
		free(c);
		throw_status(env, "napi_create_external");
		return NULL;
	}
	return ext;
}

static napi_value js_datalink(napi_env env, napi_callback_info info)
{
	napi_value argv[1], out;
	struct capture *c = capture_args(env, info, 1, argv);
	if (c == NULL)
		return NULL;
	CHECK(napi_create_int32(env, pcap_datalink(c->p), &out));
	return out;
}

/* setFilter(handle, expression): compiles (optimised) and installs it in the kernel. */
static napi_value js_set_filter(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct capture *c = capture_args(env, info, 2, argv);
	if (c == NULL)
		return NULL;
	size_t n = 0;
	CHECK(napi_get_value_string_utf8(env, argv[1], NULL, 0, &n));
	char *expr = malloc(n + 1);
	if (expr == NULL)
		return throw_pcap(env, "csw_pcap: out of memory");
	napi_get_value_string_utf8(env, argv[1], expr, n + 1, &n);
	struct bpf_program prog;
	char msg[PCAP_ERRBUF_SIZE + 64];
	if (pcap_compile(c->p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(msg, sizeof(msg), "compiling the filter: %s", pcap_geterr(c->p));
		free(expr);
		return throw_pcap(env, msg);
	}
	free(expr);
	int rc = pcap_setfilter(c->p, &prog);
	pcap_freecode(&prog);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "installing the filter: %s", pcap_geterr(c->p));
		return throw_pcap(env, msg);
	}
	return NULL;
}

/* start(handle, buffer, callback): batches go into buffer; callback(records, bytes) per batch. */
static napi_value js_start(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	struct capture *c = capture_args(env, info, 3, argv);
	if (c == NULL)
		return NULL;
	if (c->polling)
		return throw_pcap(env, "csw_pcap: capture already started");
	int fd = pcap_get_selectable_fd(c->p);
	if (fd < 0)
		return throw_pcap(env, "csw_pcap: capture has no selectable descriptor");
	uv_loop_t *loop = NULL;
	CHECK(napi_get_uv_event_loop(env, &loop));
	if (batch_start(env, &c->batch, argv[1], argv[2], "csw_pcap", REC_HDR + 64, 4) < 0)
		return NULL;
	int rc = uv_poll_init(loop, &c->poll, fd);
	if (rc == 0) {
		c->poll.data = c;
		rc = uv_poll_start(&c->poll, UV_READABLE, on_readable);
		if (rc != 0)
			uv_close((uv_handle_t *)&c->poll, NULL);
	}
	if (rc != 0) {
		batch_release(&c->batch);
		char msg[128];
		snprintf(msg, sizeof(msg), "csw_pcap: polling the capture: %s", uv_strerror(rc));
		return throw_pcap(env, msg);
	}
	c->polling = 1;
	return NULL;
}

/* dispatch(handle) -> packets read: drains now (a timer calls it, in case a wakeup is missed). */
static napi_value js_dispatch(napi_env env, napi_callback_info info)
{
	napi_value argv[1], out;
	struct capture *c = capture_args(env, info, 1, argv);
	if (c == NULL)
		return NULL;
	int n = c->batch.buf ? drain(c) : 0;
	CHECK(napi_create_int32(env, n, &out));
	return out;
}

/* stats(handle) -> [received, dropped, ifdropped, clipped] since open. */
static napi_value js_stats(napi_env env, napi_callback_info info)
{
	napi_value argv[1], out, v;
	struct capture *c = capture_args(env, info, 1, argv);
	if (c == NULL)
		return NULL;
	struct pcap_stat ps;
	memset(&ps, 0, sizeof(ps));
	if (pcap_stats(c->p, &ps) < 0) {
		char msg[PCAP_ERRBUF_SIZE + 32];
		snprintf(msg, sizeof(msg), "reading capture statistics: %s", pcap_geterr(c->p));
		return throw_pcap(env, msg);
	}
	CHECK(napi_create_array_with_length(env, 4, &out));
	double vals[4] = { ps.ps_recv, ps.ps_drop, ps.ps_ifdrop, c->clipped };
	for (uint32_t i = 0; i < 4; i++) {
		CHECK(napi_create_double(env, vals[i], &v));
		CHECK(napi_set_element(env, out, i, v));
	}
	return out;
}

/* setDirection(handle, inbound): only packets received (true) or sent (false) are delivered. */
static napi_value js_set_direction(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct capture *c = capture_args(env, info, 2, argv);
	if (c == NULL)
		return NULL;
	bool in = false;
	CHECK(napi_get_value_bool(env, argv[1], &in));
	if (pcap_setdirection(c->p, in ? PCAP_D_IN : PCAP_D_OUT) < 0) {
		char msg[PCAP_ERRBUF_SIZE + 32];
		snprintf(msg, sizeof(msg), "setting the direction: %s", pcap_geterr(c->p));
		return throw_pcap(env, msg);
	}
	c->meta = in ? 1u : 2u;
	return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	struct capture *c = NULL;
	if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&c) != napi_ok || c == NULL)
		return throw_pcap(env, "csw_pcap: close(handle)");
	close_capture(env, c);
	return NULL;
}

static napi_value js_lib_version(napi_env env, napi_callback_info info)
{
	(void)info;
	napi_value out;
	CHECK(napi_create_string_utf8(env, pcap_lib_version(), NAPI_AUTO_LENGTH, &out));
	return out;
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "datalink", NULL, js_datalink, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "setFilter", NULL, js_set_filter, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "setDirection", NULL, js_set_direction, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "dispatch", NULL, js_dispatch, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "libVersion", NULL, js_lib_version, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok)
		return NULL;
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
