// SPDX-License-Identifier: Apache-2.0
// batch.h: records handed to JavaScript in batches, shared by the addons (pcap.c, bpf.c).
//
// JavaScript passes a Buffer and a callback once. Native code appends records into the Buffer
// and calls callback(records, bytesUsed) when it is full or the source is drained, or
// callback(-1, message) on an error. The batch holds a reference to the Buffer for as long as it
// runs, so V8 cannot free memory that native code writes into.
#ifndef CSW_NATIVE_BATCH_H
#define CSW_NATIVE_BATCH_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>

struct batch {
	napi_env env;
	napi_ref buf_ref;
	napi_ref cb_ref;
	napi_async_context actx;
	uint8_t *buf;
	size_t len;
	size_t used;
	uint32_t count;
};

/* Drops the references; safe to call twice. */
static inline void batch_release(struct batch *b)
{
	if (b->buf_ref) {
		napi_delete_reference(b->env, b->buf_ref);
		b->buf_ref = NULL;
	}
	if (b->cb_ref) {
		napi_delete_reference(b->env, b->cb_ref);
		b->cb_ref = NULL;
	}
	if (b->actx) {
		napi_async_destroy(b->env, b->actx);
		b->actx = NULL;
	}
	b->buf = NULL;
}

/* Returns 0, or -1 with a JavaScript exception pending. */
static inline int batch_start(napi_env env, struct batch *b, napi_value buffer, napi_value cb, const char *name,
			      size_t min_len, size_t align)
{
	void *data = NULL;
	size_t len = 0;
	bool is_buf = false;
	napi_valuetype t;
	if (napi_is_buffer(env, buffer, &is_buf) != napi_ok || napi_typeof(env, cb, &t) != napi_ok || !is_buf ||
	    t != napi_function) {
		napi_throw_type_error(env, "CSW_ERR_NATIVE", "want (handle, buffer, callback)");
		return -1;
	}
	if (napi_get_buffer_info(env, buffer, &data, &len) != napi_ok || len < min_len) {
		napi_throw_error(env, "CSW_ERR_NATIVE", "batch buffer too small");
		return -1;
	}
	napi_value rname, resource;
	b->env = env;
	if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &rname) != napi_ok ||
	    napi_create_object(env, &resource) != napi_ok ||
	    napi_async_init(env, resource, rname, &b->actx) != napi_ok ||
	    napi_create_reference(env, buffer, 1, &b->buf_ref) != napi_ok ||
	    napi_create_reference(env, cb, 1, &b->cb_ref) != napi_ok) {
		batch_release(b);
		napi_throw_error(env, "CSW_ERR_NATIVE", "setting up the batch callback failed");
		return -1;
	}
	b->buf = data;
	b->len = len & ~(align - 1);
	b->used = 0;
	b->count = 0;
	return 0;
}

/* Calls back with (a0, a1); an exception thrown by the callback is reported as uncaught. */
static inline void batch_call(struct batch *b, napi_value a0, napi_value a1)
{
	napi_env env = b->env;
	napi_value cb, recv, argv[2] = { a0, a1 }, result;
	if (b->cb_ref == NULL || napi_get_reference_value(env, b->cb_ref, &cb) != napi_ok || cb == NULL)
		return;
	napi_get_global(env, &recv);
	napi_make_callback(env, b->actx, recv, cb, 2, argv, &result);
	bool pending = false;
	napi_is_exception_pending(env, &pending);
	if (pending) {
		napi_value exc;
		napi_get_and_clear_last_exception(env, &exc);
		napi_fatal_exception(env, exc);
	}
}

/* Hands the records gathered so far to JavaScript: callback(records, bytesUsed). */
static inline void batch_flush(struct batch *b)
{
	if (b->cb_ref == NULL || b->count == 0)
		return;
	napi_value n, used;
	napi_create_uint32(b->env, b->count, &n);
	napi_create_uint32(b->env, (uint32_t)b->used, &used);
	b->count = 0;
	b->used = 0;
	batch_call(b, n, used);
}

/* Reports an error to JavaScript: callback(-1, message). */
static inline void batch_error(struct batch *b, const char *msg)
{
	if (b->cb_ref == NULL)
		return;
	napi_value n, m;
	napi_create_int32(b->env, -1, &n);
	napi_create_string_utf8(b->env, msg, NAPI_AUTO_LENGTH, &m);
	batch_call(b, n, m);
}

#endif /* CSW_NATIVE_BATCH_H */
