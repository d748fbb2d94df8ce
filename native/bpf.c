// SPDX-License-Identifier: Apache-2.0
// csw_bpf: a thin N-API binding over libbpf for the agent's kernel programs.
//
// One call per libbpf operation: open an object, choose which programs load, size a map, load,
// attach (by the program's section, or to a tc hook in a given network namespace), pin and open
// pinned objects, look up and update map elements, read ring buffers, read an enum from the
// kernel's BTF. It knows no object's maps or structs: src/bpf/ holds those, generated from the
// objects' BTF. Failures return -errno (a negative number) instead of throwing; src/bpf/ turns
// them into typed errors and makes every decision. libbpf's own messages are kept and returned
// by log(), so an error can say what the verifier said.
//
// Ring buffer records reach JavaScript in batches (batch.h) as
//
//   u32 length | u32 0 | length bytes, padded to 8
//
// in host byte order.

#define _GNU_SOURCE /* setns */
#include "batch.h"
#include <uv.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/types.h>
#include <linux/bpf.h>

#define REC_HDR 8
/* The smallest batch buffer ringOpen takes; a record longer than the buffer is cut (ringClipped). */
#define RING_MIN_BUF 4096
#define LOG_SIZE 16384

/*
 * libbpf's messages since the last log() call, at most LOG_SIZE - 1 bytes of them: the newest,
 * since a verifier log ends with its reason and can run to megabytes.
 */
static char log_buf[LOG_SIZE];
static size_t log_len;

static void log_keep(const char *s, size_t n)
{
	if (n >= LOG_SIZE - 1) {
		memcpy(log_buf, s + n - (LOG_SIZE - 1), LOG_SIZE - 1);
		log_len = LOG_SIZE - 1;
		return;
	}
	if (log_len + n > LOG_SIZE - 1) {
		size_t drop = log_len + n - (LOG_SIZE - 1);
		memmove(log_buf, log_buf + drop, log_len - drop);
		log_len -= drop;
	}
	memcpy(log_buf + log_len, s, n);
	log_len += n;
}

static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n <= 0)
		return 0;
	char *s = malloc((size_t)n + 1);
	if (!s)
		return 0;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	log_keep(s, (size_t)n);
	free(s);
	return 0;
}

static napi_value num(napi_env env, double v)
{
	napi_value out;
	napi_create_double(env, v, &out);
	return out;
}

/* -errno of the last failed call, never 0. */
static napi_value fail(napi_env env, int err)
{
	if (err > 0)
		err = -err;
	return num(env, err != 0 ? err : -EINVAL);
}

static napi_value type_error(napi_env env, const char *usage)
{
	napi_throw_type_error(env, "CSW_ERR_NATIVE", usage);
	return NULL;
}

/* Fills argv[0..want); NULL with an exception pending when fewer came. */
static napi_value *args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *usage)
{
	size_t argc = want;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
		type_error(env, usage);
		return NULL;
	}
	return argv;
}

/* A string argument into out; -1 if not a string or too long. */
static int get_string(napi_env env, napi_value v, char *out, size_t len)
{
	size_t n = 0;
	if (napi_get_value_string_utf8(env, v, out, len, &n) != napi_ok)
		return -1;
	return n + 1 >= len ? -1 : 0;
}

static void *get_external(napi_env env, napi_value v)
{
	void *p = NULL;
	if (napi_get_value_external(env, v, &p) != napi_ok)
		return NULL;
	return p;
}

/* --- objects and links --- */

/* The first field of every struct held by an external of this addon: what it is. */
#define MAGIC_HANDLE 0x63737768u /* "cswh" */
#define MAGIC_RING 0x63737772u   /* "cswr" */

/* A libbpf object or link held by a JavaScript external; p is NULL once released. */
struct handle {
	uint32_t magic;
	void *p;
	void (*release)(void *);
};

static void close_object(void *p)
{
	bpf_object__close(p);
}

static void destroy_link(void *p)
{
	bpf_link__destroy(p);
}

static void release_handle(struct handle *h)
{
	if (h->p)
		h->release(h->p);
	h->p = NULL;
}

static void finalize_handle(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	release_handle(data);
	free(data);
}

/* p (NULL: errno says why) as an external released with release(); -errno on failure. */
static napi_value wrap(napi_env env, void *p, void (*release)(void *))
{
	if (p == NULL)
		return fail(env, errno);
	struct handle *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		release(p);
		return fail(env, ENOMEM);
	}
	h->magic = MAGIC_HANDLE;
	h->p = p;
	h->release = release;
	napi_value ext;
	if (napi_create_external(env, h, finalize_handle, NULL, &ext) != napi_ok) {
		release_handle(h);
		free(h);
		return fail(env, ENOMEM);
	}
	return ext;
}

/* The handle in v if it is of the kind release() says; NULL (no exception) otherwise. */
static struct handle *get_handle(napi_env env, napi_value v, void (*release)(void *))
{
	struct handle *h = get_external(env, v);
	return h != NULL && h->magic == MAGIC_HANDLE && h->release == release ? h : NULL;
}

static struct bpf_object *get_object(napi_env env, napi_value v)
{
	struct handle *h = get_handle(env, v, close_object);
	if (h == NULL || h->p == NULL) {
		napi_throw_type_error(env, "CSW_ERR_NATIVE", "csw_bpf: not an open BPF object");
		return NULL;
	}
	return h->p;
}

/*
 * The arguments of a call on an object and one of its programs or maps by name (argv[1]):
 * fills argv[0..want) and name; NULL with an exception pending on bad arguments.
 */
static struct bpf_object *object_and_name(napi_env env, napi_callback_info info, size_t want, napi_value *argv,
					  char *name, size_t len, const char *usage)
{
	if (!args(env, info, want, argv, usage))
		return NULL;
	struct bpf_object *obj = get_object(env, argv[0]);
	if (obj == NULL)
		return NULL;
	if (get_string(env, argv[1], name, len) < 0) {
		type_error(env, usage);
		return NULL;
	}
	return obj;
}

/* open(path, btfPath | null) -> object handle | -errno */
static napi_value js_open(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	char path[4096], btf[4096];
	napi_valuetype t;
	if (!args(env, info, 2, argv, "csw_bpf: open(path, btfPath | null)"))
		return NULL;
	if (get_string(env, argv[0], path, sizeof(path)) < 0 || napi_typeof(env, argv[1], &t) != napi_ok ||
	    (t != napi_null && get_string(env, argv[1], btf, sizeof(btf)) < 0))
		return type_error(env, "csw_bpf: open(path, btfPath | null)");
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = t == napi_null ? NULL : btf);
	return wrap(env, bpf_object__open_file(path, &opts), close_object);
}

/* close(object) and detach(link): release now (an object's links stay until detached); twice is safe. */
static napi_value release_call(napi_env env, napi_callback_info info, void (*release)(void *), const char *usage)
{
	napi_value argv[1];
	if (!args(env, info, 1, argv, usage))
		return NULL;
	struct handle *h = get_handle(env, argv[0], release);
	if (h == NULL)
		return type_error(env, usage);
	release_handle(h);
	return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info)
{
	return release_call(env, info, close_object, "csw_bpf: close(object)");
}

static napi_value js_detach(napi_env env, napi_callback_info info)
{
	return release_call(env, info, destroy_link, "csw_bpf: detach(link)");
}

/* setAutoload(object, program, load) -> 0 | -errno */
static napi_value js_set_autoload(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	char name[256];
	bool on = false;
	const char *usage = "csw_bpf: setAutoload(object, program, load)";
	struct bpf_object *obj = object_and_name(env, info, 3, argv, name, sizeof(name), usage);
	if (obj == NULL)
		return NULL;
	if (napi_get_value_bool(env, argv[2], &on) != napi_ok)
		return type_error(env, usage);
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
	if (p == NULL)
		return fail(env, ENOENT);
	int rc = bpf_program__set_autoload(p, on);
	return rc < 0 ? fail(env, rc) : num(env, 0);
}

/* setMaxEntries(object, map, entries) -> 0 | -errno (before load) */
static napi_value js_set_max_entries(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	char name[256];
	uint32_t n = 0;
	const char *usage = "csw_bpf: setMaxEntries(object, map, entries)";
	struct bpf_object *obj = object_and_name(env, info, 3, argv, name, sizeof(name), usage);
	if (obj == NULL)
		return NULL;
	if (napi_get_value_uint32(env, argv[2], &n) != napi_ok)
		return type_error(env, usage);
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	if (m == NULL)
		return fail(env, ENOENT);
	int rc = bpf_map__set_max_entries(m, n);
	return rc < 0 ? fail(env, rc) : num(env, 0);
}

/* load(object) -> 0 | -errno */
static napi_value js_load(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	if (!args(env, info, 1, argv, "csw_bpf: load(object)"))
		return NULL;
	struct bpf_object *obj = get_object(env, argv[0]);
	if (obj == NULL)
		return NULL;
	int rc = bpf_object__load(obj);
	return rc < 0 ? fail(env, rc) : num(env, 0);
}

/* mapFd(object, map) -> fd | -errno */
static napi_value js_map_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	char name[256];
	struct bpf_object *obj = object_and_name(env, info, 2, argv, name, sizeof(name), "csw_bpf: mapFd(object, map)");
	if (obj == NULL)
		return NULL;
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	if (m == NULL)
		return fail(env, ENOENT);
	int fd = bpf_map__fd(m);
	return fd < 0 ? fail(env, fd) : num(env, fd);
}

/* attach(object, program) -> link handle | -errno (attach point from the program's section) */
static napi_value js_attach(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	char name[256];
	struct bpf_object *obj = object_and_name(env, info, 2, argv, name, sizeof(name), "csw_bpf: attach(object, program)");
	if (obj == NULL)
		return NULL;
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
	if (p == NULL)
		return fail(env, ENOENT);
	return wrap(env, bpf_program__attach(p), destroy_link);
}

/* progFd(object, program) -> fd | -errno (after load: a socket filter is attached by its fd) */
static napi_value js_prog_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	char name[256];
	struct bpf_object *obj = object_and_name(env, info, 2, argv, name, sizeof(name), "csw_bpf: progFd(object, program)");
	if (obj == NULL)
		return NULL;
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
	if (p == NULL)
		return fail(env, ENOENT);
	int fd = bpf_program__fd(p);
	return fd < 0 ? fail(env, fd) : num(env, fd);
}

/*
 * recursionMisses(object, program) -> n | -errno: runs the kernel skipped because the program
 * was already running on that CPU (a drop in a softirq that interrupted a drop being traced).
 */
static napi_value js_recursion_misses(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	char name[256];
	struct bpf_object *obj = object_and_name(env, info, 2, argv, name, sizeof(name), "csw_bpf: recursionMisses(object, program)");
	if (obj == NULL)
		return NULL;
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
	if (p == NULL || bpf_program__fd(p) < 0)
		return fail(env, ENOENT);
	struct bpf_prog_info pi;
	__u32 len = sizeof(pi);
	memset(&pi, 0, sizeof(pi));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &pi, &len) < 0)
		return fail(env, errno);
	return num(env, (double)pi.recursion_misses);
}

/* --- maps --- */

static int get_buffer(napi_env env, napi_value v, void **data, size_t *len)
{
	bool is_buf = false;
	if (napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf)
		return -1;
	return napi_get_buffer_info(env, v, data, len) == napi_ok ? 0 : -1;
}

/*
 * The key and value sizes fd's map reads and writes (a per-CPU value is one slot of the value
 * size rounded up to 8 per possible CPU); -errno if the buffers are smaller, since the kernel
 * would copy past their end.
 */
static int check_sizes(int fd, size_t klen, size_t vlen)
{
	struct bpf_map_info mi;
	__u32 len = sizeof(mi);
	memset(&mi, 0, sizeof(mi));
	if (bpf_obj_get_info_by_fd(fd, &mi, &len) < 0)
		return -errno;
	size_t want = mi.value_size;
	switch (mi.type) {
	case BPF_MAP_TYPE_PERCPU_ARRAY:
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
	case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE: {
		int cpus = libbpf_num_possible_cpus();
		if (cpus < 0)
			return cpus;
		want = (size_t)((mi.value_size + 7) & ~7u) * (size_t)cpus;
		break;
	}
	default:
		break;
	}
	return klen < mi.key_size || vlen < want ? -EINVAL : 0;
}

/* lookup(fd, key, value) -> 0 | -errno, and update(fd, key, value, flags) -> 0 | -errno. */
static napi_value js_lookup(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	void *key, *val;
	size_t klen, vlen;
	int32_t fd;
	if (!args(env, info, 3, argv, "csw_bpf: lookup(fd, key, value)"))
		return NULL;
	if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || get_buffer(env, argv[1], &key, &klen) < 0 ||
	    get_buffer(env, argv[2], &val, &vlen) < 0)
		return type_error(env, "csw_bpf: lookup(fd, key, value)");
	int rc = check_sizes(fd, klen, vlen);
	if (rc < 0)
		return fail(env, rc);
	return bpf_map_lookup_elem(fd, key, val) < 0 ? fail(env, errno) : num(env, 0);
}

static napi_value js_update(napi_env env, napi_callback_info info)
{
	napi_value argv[4];
	void *key, *val;
	size_t klen, vlen;
	int32_t fd;
	uint32_t flags;
	if (!args(env, info, 4, argv, "csw_bpf: update(fd, key, value, flags)"))
		return NULL;
	if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || get_buffer(env, argv[1], &key, &klen) < 0 ||
	    get_buffer(env, argv[2], &val, &vlen) < 0 || napi_get_value_uint32(env, argv[3], &flags) != napi_ok)
		return type_error(env, "csw_bpf: update(fd, key, value, flags)");
	int rc = check_sizes(fd, klen, vlen);
	if (rc < 0)
		return fail(env, rc);
	return bpf_map_update_elem(fd, key, val, flags) < 0 ? fail(env, errno) : num(env, 0);
}

/*
 * testRun(progFd, data, repeat, flags, ifindex, batchSize) -> [retval, ns per run] | -errno:
 * BPF_PROG_TEST_RUN of a loaded program over the packet in data, repeat times in the kernel. With
 * ifindex > 0 the program is XDP and gets a struct xdp_md naming that device (in the calling
 * thread's network namespace) as where the frame came in; with flags BPF_F_TEST_XDP_LIVE_FRAMES
 * (2) each run's frame really leaves by its verdict, which is how the benchmarks generate packets
 * faster than any socket can. Blocks the calling thread for the whole run: callers bound repeat.
 */
static napi_value js_test_run(napi_env env, napi_callback_info info)
{
	static const char usage[] = "csw_bpf: testRun(progFd, data, repeat, flags, ifindex, batchSize)";
	napi_value argv[6];
	void *data;
	size_t len;
	int32_t fd;
	uint32_t repeat, flags, ifindex, batch;
	if (!args(env, info, 6, argv, usage))
		return NULL;
	if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || get_buffer(env, argv[1], &data, &len) < 0 ||
	    napi_get_value_uint32(env, argv[2], &repeat) != napi_ok || napi_get_value_uint32(env, argv[3], &flags) != napi_ok ||
	    napi_get_value_uint32(env, argv[4], &ifindex) != napi_ok || napi_get_value_uint32(env, argv[5], &batch) != napi_ok)
		return type_error(env, usage);
	struct xdp_md ctx = { .data = 0, .data_end = (__u32)len, .ingress_ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = data,
		.data_size_in = (__u32)len,
		.ctx_in = ifindex > 0 ? &ctx : NULL,
		.ctx_size_in = ifindex > 0 ? sizeof(ctx) : 0,
		.repeat = repeat,
		.flags = flags,
		.batch_size = batch);
	if (bpf_prog_test_run_opts(fd, &opts) < 0)
		return fail(env, errno);
	napi_value out;
	napi_create_array_with_length(env, 2, &out);
	napi_set_element(env, out, 0, num(env, opts.retval));
	napi_set_element(env, out, 1, num(env, opts.duration));
	return out;
}

/*
 * dump(fd, keys, values) -> n | -errno: every element of a hash map, keys packed into keys and
 * their values (per-CPU: one slot per possible CPU) into values, in the same order, as many as
 * fit. An element deleted between reading its key and its value is skipped; the map is never
 * changed. One call per scrape instead of one per element.
 */
static napi_value js_dump(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	uint8_t *keys, *vals;
	size_t klen, vlen;
	int32_t fd;
	const char *usage = "csw_bpf: dump(fd, keys, values)";
	if (!args(env, info, 3, argv, usage))
		return NULL;
	if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || get_buffer(env, argv[1], (void **)&keys, &klen) < 0 ||
	    get_buffer(env, argv[2], (void **)&vals, &vlen) < 0)
		return type_error(env, usage);
	struct bpf_map_info mi;
	__u32 len = sizeof(mi);
	memset(&mi, 0, sizeof(mi));
	if (bpf_obj_get_info_by_fd(fd, &mi, &len) < 0)
		return fail(env, errno);
	size_t ks = mi.key_size, vs = mi.value_size;
	if (mi.type == BPF_MAP_TYPE_PERCPU_HASH || mi.type == BPF_MAP_TYPE_LRU_PERCPU_HASH) {
		int cpus = libbpf_num_possible_cpus();
		if (cpus < 0)
			return fail(env, cpus);
		vs = (size_t)((mi.value_size + 7) & ~7u) * (size_t)cpus;
	}
	if (ks == 0 || vs == 0)
		return fail(env, EINVAL);
	size_t n = 0, cap = klen / ks < vlen / vs ? klen / ks : vlen / vs;
	const void *prev = NULL;
	while (n < cap) {
		uint8_t *k = keys + n * ks;
		if (bpf_map_get_next_key(fd, prev, k) < 0) {
			if (errno == ENOENT)
				break;
			return fail(env, errno);
		}
		prev = k;
		if (bpf_map_lookup_elem(fd, k, vals + n * vs) < 0) {
			if (errno == ENOENT)
				continue; /* deleted meanwhile; prev still walks on from its key */
			return fail(env, errno);
		}
		n++;
	}
	return num(env, (double)n);
}

/* mapInfo(fd) -> [type, keySize, valueSize, maxEntries] | -errno */
static napi_value js_map_info(napi_env env, napi_callback_info info)
{
	napi_value argv[1], out;
	int32_t fd;
	if (!args(env, info, 1, argv, "csw_bpf: mapInfo(fd)"))
		return NULL;
	if (napi_get_value_int32(env, argv[0], &fd) != napi_ok)
		return type_error(env, "csw_bpf: mapInfo(fd)");
	struct bpf_map_info mi;
	__u32 len = sizeof(mi);
	memset(&mi, 0, sizeof(mi));
	if (bpf_obj_get_info_by_fd(fd, &mi, &len) < 0)
		return fail(env, errno);
	double vals[4] = { mi.type, mi.key_size, mi.value_size, mi.max_entries };
	napi_create_array_with_length(env, 4, &out);
	for (uint32_t i = 0; i < 4; i++)
		napi_set_element(env, out, i, num(env, vals[i]));
	return out;
}

/* --- pinning --- */

/* pin(fd, path) -> 0 | -errno: pins a map or program fd at path on a bpffs (its directory must exist). */
static napi_value js_pin(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	char path[4096];
	int32_t fd;
	if (!args(env, info, 2, argv, "csw_bpf: pin(fd, path)"))
		return NULL;
	if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || get_string(env, argv[1], path, sizeof(path)) < 0)
		return type_error(env, "csw_bpf: pin(fd, path)");
	return bpf_obj_pin(fd, path) < 0 ? fail(env, errno) : num(env, 0);
}

/* objGet(path) -> fd | -errno: a new fd for the map or program pinned at path; the caller closes it. */
static napi_value js_obj_get(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	char path[4096];
	if (!args(env, info, 1, argv, "csw_bpf: objGet(path)"))
		return NULL;
	if (get_string(env, argv[0], path, sizeof(path)) < 0)
		return type_error(env, "csw_bpf: objGet(path)");
	int fd = bpf_obj_get(path);
	return fd < 0 ? fail(env, errno) : num(env, fd);
}

/* --- tc --- */

struct tc_job {
	const char *netns; /* a network namespace file (/run/netns/NAME), or NULL: the caller's */
	const char *ifname;
	enum bpf_tc_attach_point hook;
	int prog_fd;
	uint32_t priority;
	uint32_t handle;
	int rc;
};

/*
 * Creates the clsact qdisc on the device unless it has one, then attaches the program as a
 * direct-action cls_bpf filter, replacing the filter of that priority and handle. Runs on a
 * thread of its own when a namespace is given: setns moves only the calling thread, and that
 * thread ends here, so the JavaScript thread never leaves its namespace.
 */
static void *tc_attach_job(void *arg)
{
	struct tc_job *j = arg;
	if (j->netns != NULL) {
		int nsfd = open(j->netns, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
			j->rc = -errno;
			if (nsfd >= 0)
				close(nsfd);
			return NULL;
		}
		close(nsfd);
	}
	unsigned int ifindex = if_nametoindex(j->ifname);
	if (ifindex == 0) {
		j->rc = -errno;
		return NULL;
	}
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex, .attach_point = j->hook);
	int rc = bpf_tc_hook_create(&hook);
	if (rc < 0 && rc != -EEXIST) {
		j->rc = rc;
		return NULL;
	}
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = j->prog_fd, .priority = j->priority, .handle = j->handle,
		    .flags = BPF_TC_F_REPLACE);
	j->rc = bpf_tc_attach(&hook, &opts);
	return NULL;
}

/*
 * tcAttach(netnsPath | null, ifname, egress, progFd, priority, handle) -> 0 | -errno: a loaded
 * sched_cls program on the device's clsact egress (egress true) or ingress hook, direct action,
 * in the network namespace of netnsPath (null: the caller's). The filter holds the program: it
 * stays attached after the object is closed and the process exits, until the device goes.
 */
static napi_value js_tc_attach(napi_env env, napi_callback_info info)
{
	static const char usage[] = "csw_bpf: tcAttach(netnsPath | null, ifname, egress, progFd, priority, handle)";
	napi_value argv[6];
	char netns[4096], ifname[IF_NAMESIZE];
	napi_valuetype t;
	bool egress = false;
	int32_t fd;
	uint32_t prio, handle;
	if (!args(env, info, 6, argv, usage))
		return NULL;
	if (napi_typeof(env, argv[0], &t) != napi_ok || (t != napi_null && get_string(env, argv[0], netns, sizeof(netns)) < 0) ||
	    get_string(env, argv[1], ifname, sizeof(ifname)) < 0 || napi_get_value_bool(env, argv[2], &egress) != napi_ok ||
	    napi_get_value_int32(env, argv[3], &fd) != napi_ok || napi_get_value_uint32(env, argv[4], &prio) != napi_ok ||
	    napi_get_value_uint32(env, argv[5], &handle) != napi_ok)
		return type_error(env, usage);
	struct tc_job j = {
		.netns = t == napi_null ? NULL : netns,
		.ifname = ifname,
		.hook = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS,
		.prog_fd = fd,
		.priority = prio,
		.handle = handle,
		.rc = 0,
	};
	if (j.netns == NULL) {
		tc_attach_job(&j);
	} else {
		pthread_t th;
		int rc = pthread_create(&th, NULL, tc_attach_job, &j);
		if (rc != 0)
			return fail(env, rc);
		pthread_join(th, NULL);
	}
	return j.rc < 0 ? fail(env, j.rc) : num(env, 0);
}

/* --- ring buffers --- */

struct ring {
	uint32_t magic;
	/* Inside ring_buffer__consume: a callback that drains again would replay records. */
	int consuming;
	struct ring_buffer *rb;
	uv_poll_t poll;
	struct batch batch;
	/* Records cut short because one was larger than the whole batch buffer. */
	double clipped;
	int closed; /* 0 open, 1 closing (uv_close pending), 2 closed, 3 finalized while closing */
};

static int on_record(void *ctx, void *data, size_t size)
{
	struct ring *r = ctx;
	struct batch *b = &r->batch;
	if (r->closed || b->buf == NULL)
		return -1;
	size_t need = REC_HDR + ((size + 7) & ~(size_t)7);
	if (b->used + need > b->len) {
		batch_flush(b);
		if (r->closed || b->buf == NULL)
			return -1;
	}
	if (REC_HDR + size > b->len) {
		size = b->len - REC_HDR;
		need = b->len;
		r->clipped++;
	}
	uint32_t hdr[2] = { (uint32_t)size, 0 };
	memcpy(b->buf + b->used, hdr, REC_HDR);
	memcpy(b->buf + b->used + REC_HDR, data, size);
	b->used += need;
	b->count++;
	return 0;
}

/* Consumes what the ring holds and hands it over; returns records, or -errno. */
static int drain_ring(struct ring *r)
{
	if (r->consuming)
		return -EBUSY;
	r->consuming = 1;
	int n = ring_buffer__consume(r->rb);
	if (!r->closed)
		batch_flush(&r->batch);
	r->consuming = 0;
	return n;
}

static void on_ring_readable(uv_poll_t *h, int status, int events)
{
	(void)events;
	struct ring *r = h->data;
	napi_handle_scope scope;
	if (r->closed || napi_open_handle_scope(r->batch.env, &scope) != napi_ok)
		return;
	if (status < 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "polling the ring buffer: %s", uv_strerror(status));
		batch_error(&r->batch, msg);
	} else {
		int n = drain_ring(r);
		if (n < 0 && !r->closed) {
			char msg[128];
			snprintf(msg, sizeof(msg), "reading the ring buffer: %s", strerror(-n));
			batch_error(&r->batch, msg);
		}
	}
	napi_close_handle_scope(r->batch.env, scope);
}

static void on_ring_closed(uv_handle_t *h)
{
	struct ring *r = h->data;
	ring_buffer__free(r->rb);
	r->rb = NULL;
	if (r->closed == 3)
		free(r);
	else
		r->closed = 2;
}

/* Stops polling and frees the ring once libuv lets go of its descriptor; safe to call twice. */
static void close_ring(struct ring *r)
{
	if (r->closed)
		return;
	r->closed = 1;
	batch_release(&r->batch);
	uv_poll_stop(&r->poll);
	uv_close((uv_handle_t *)&r->poll, on_ring_closed);
}

static void finalize_ring(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	struct ring *r = data;
	close_ring(r);
	if (r->closed == 1)
		r->closed = 3; /* on_ring_closed frees */
	else
		free(r);
}

/* ringOpen(mapFd, buffer, callback) -> ring handle | -errno; callback(records, bytes) per batch */
static napi_value js_ring_open(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	int32_t fd;
	if (!args(env, info, 3, argv, "csw_bpf: ringOpen(mapFd, buffer, callback)"))
		return NULL;
	if (napi_get_value_int32(env, argv[0], &fd) != napi_ok)
		return type_error(env, "csw_bpf: ringOpen(mapFd, buffer, callback)");
	uv_loop_t *loop = NULL;
	if (napi_get_uv_event_loop(env, &loop) != napi_ok)
		return fail(env, EINVAL);
	struct ring *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return fail(env, ENOMEM);
	r->magic = MAGIC_RING;
	r->rb = ring_buffer__new(fd, on_record, r, NULL);
	if (r->rb == NULL) {
		int err = errno;
		free(r);
		return fail(env, err);
	}
	int rc = uv_poll_init(loop, &r->poll, ring_buffer__epoll_fd(r->rb));
	if (rc != 0) {
		ring_buffer__free(r->rb);
		free(r);
		return fail(env, -rc);
	}
	r->poll.data = r;
	/* From here a failure closes the poll handle; closed = 3 makes its callback free r. */
	if (batch_start(env, &r->batch, argv[1], argv[2], "csw_bpf_ring", RING_MIN_BUF, 8) < 0) {
		r->closed = 3;
		uv_close((uv_handle_t *)&r->poll, on_ring_closed);
		return NULL;
	}
	rc = uv_poll_start(&r->poll, UV_READABLE, on_ring_readable);
	napi_value ext;
	if (rc != 0 || napi_create_external(env, r, finalize_ring, NULL, &ext) != napi_ok) {
		close_ring(r);
		r->closed = 3;
		return fail(env, rc != 0 ? -rc : ENOMEM);
	}
	return ext;
}

static struct ring *get_ring(napi_env env, napi_callback_info info, napi_value *argv, const char *usage)
{
	if (!args(env, info, 1, argv, usage))
		return NULL;
	struct ring *r = get_external(env, argv[0]);
	if (r == NULL || r->magic != MAGIC_RING) {
		type_error(env, usage);
		return NULL;
	}
	return r;
}

/* ringConsume(ring) -> records | -errno: drains now (a timer calls it in case a wakeup is missed) */
static napi_value js_ring_consume(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct ring *r = get_ring(env, info, argv, "csw_bpf: ringConsume(ring)");
	if (r == NULL)
		return NULL;
	if (r->closed)
		return fail(env, EBADF);
	int n = drain_ring(r);
	return n < 0 ? fail(env, n) : num(env, n);
}

/* ringClipped(ring) -> records cut short */
static napi_value js_ring_clipped(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct ring *r = get_ring(env, info, argv, "csw_bpf: ringClipped(ring)");
	return r == NULL ? NULL : num(env, r->clipped);
}

static napi_value js_ring_close(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct ring *r = get_ring(env, info, argv, "csw_bpf: ringClose(ring)");
	if (r != NULL)
		close_ring(r);
	return NULL;
}

/* --- the kernel's BTF --- */

/* enumValues(btfPath | null, name) -> [[name, value], ...] | -errno (null: the running kernel's) */
static napi_value js_enum_values(napi_env env, napi_callback_info info)
{
	napi_value argv[2], out;
	char path[4096], name[256];
	napi_valuetype t;
	if (!args(env, info, 2, argv, "csw_bpf: enumValues(btfPath | null, name)"))
		return NULL;
	if (napi_typeof(env, argv[0], &t) != napi_ok || (t != napi_null && get_string(env, argv[0], path, sizeof(path)) < 0) ||
	    get_string(env, argv[1], name, sizeof(name)) < 0)
		return type_error(env, "csw_bpf: enumValues(btfPath | null, name)");
	struct btf *btf = t == napi_null ? btf__load_vmlinux_btf() : btf__parse(path, NULL);
	if (btf == NULL)
		return fail(env, errno);
	int id = btf__find_by_name_kind(btf, name, BTF_KIND_ENUM);
	if (id < 0) {
		btf__free(btf);
		return fail(env, id);
	}
	const struct btf_type *bt = btf__type_by_id(btf, id);
	const struct btf_enum *e = btf_enum(bt);
	uint32_t n = btf_vlen(bt);
	napi_create_array_with_length(env, n, &out);
	for (uint32_t i = 0; i < n; i++) {
		napi_value pair, s;
		napi_create_array_with_length(env, 2, &pair);
		napi_create_string_utf8(env, btf__name_by_offset(btf, e[i].name_off), NAPI_AUTO_LENGTH, &s);
		napi_set_element(env, pair, 0, s);
		napi_set_element(env, pair, 1, num(env, (uint32_t)e[i].val));
		napi_set_element(env, out, i, pair);
	}
	btf__free(btf);
	return out;
}

/* possibleCpus() -> n | -errno: per-CPU map values hold one slot per possible CPU */
static napi_value js_possible_cpus(napi_env env, napi_callback_info info)
{
	(void)info;
	int n = libbpf_num_possible_cpus();
	return n < 0 ? fail(env, n) : num(env, n);
}

/* log() -> libbpf's warnings and information since the last call */
static napi_value js_log(napi_env env, napi_callback_info info)
{
	(void)info;
	napi_value out;
	napi_create_string_utf8(env, log_buf, log_len, &out);
	log_len = 0;
	return out;
}

static napi_value js_version(napi_env env, napi_callback_info info)
{
	(void)info;
	char v[32];
	snprintf(v, sizeof(v), "%u.%u", libbpf_major_version(), libbpf_minor_version());
	napi_value out;
	napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &out);
	return out;
}

#define FN(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL }

static napi_value init(napi_env env, napi_value exports)
{
	libbpf_set_print(on_libbpf_print);
	napi_property_descriptor props[] = {
		FN("open", js_open),
		FN("close", js_close),
		FN("setAutoload", js_set_autoload),
		FN("setMaxEntries", js_set_max_entries),
		FN("load", js_load),
		FN("mapFd", js_map_fd),
		FN("recursionMisses", js_recursion_misses),
		FN("attach", js_attach),
		FN("detach", js_detach),
		FN("lookup", js_lookup),
		FN("update", js_update),
		FN("mapInfo", js_map_info),
		FN("dump", js_dump),
		FN("progFd", js_prog_fd),
		FN("testRun", js_test_run),
		FN("ringOpen", js_ring_open),
		FN("ringConsume", js_ring_consume),
		FN("ringClipped", js_ring_clipped),
		FN("ringClose", js_ring_close),
		FN("enumValues", js_enum_values),
		FN("pin", js_pin),
		FN("objGet", js_obj_get),
		FN("tcAttach", js_tc_attach),
		FN("possibleCpus", js_possible_cpus),
		FN("log", js_log),
		FN("version", js_version),
	};
	if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok)
		return NULL;
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
