/* The N-API face of the socket layer (src/wire/native.ts is its only caller). Readiness comes from
 * the event loop Node already runs: one uv_poll per socket, the way serialport's poller does it;
 * one JavaScript call per received batch. Plain N-API (no V8, no node-gyp): one binary per
 * architecture serves every Node version. */
#include "socket.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ROUNDS 4 /* full batches read per wake-up before the loop serves other sockets */

#define CHECK(call)                                                                                                    \
  do {                                                                                                                 \
    if ((call) != napi_ok) return throw_status(env, #call);                                                           \
  } while (0)

static napi_value throw_status(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what, info && info->error_message ? info->error_message : "failed");
    napi_throw_error(env, NULL, msg);
  }
  return NULL;
}

/* An Error whose message ends in the errno's name, with code and errno set like Node's own. */
static napi_value errno_error(napi_env env, const char *what, const char *link, int err) {
  const char *name = uv_err_name(uv_translate_sys_error(err));
  char msg[320];
  if (link && *link)
    snprintf(msg, sizeof msg, "%s on %s: %s (%s)", what, link, strerror(err), name);
  else
    snprintf(msg, sizeof msg, "%s: %s (%s)", what, strerror(err), name);
  napi_value code, text, error, num;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, -err, &num);
  napi_set_named_property(env, error, "errno", num);
  return error;
}

static napi_value throw_errno(napi_env env, const char *what, const char *link, int err) {
  napi_throw(env, errno_error(env, what, link, err));
  return NULL;
}

static void unref_sock(sock_t *s) {
  if (--s->refs == 0) free(s);
}

static void on_closed(uv_handle_t *h) {
  sock_t *s = h->data;
  recv_free(s);
  send_free(s);
  unref_sock(s);
}

static void delete_refs(sock_t *s) {
  napi_ref *refs[] = {&s->on_batch, &s->on_error, &s->rbuf_ref, &s->meta_ref, &s->stats_ref};
  for (size_t i = 0; i < sizeof refs / sizeof *refs; i++)
    if (*refs[i]) {
      napi_delete_reference(s->env, *refs[i]);
      *refs[i] = NULL;
    }
  if (s->actx) napi_async_destroy(s->env, s->actx);
  s->actx = NULL;
}

static void sock_close(sock_t *s) {
  if (s->closed) return;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  close(s->fd);
  s->fd = -1;
  delete_refs(s);
  /* The stats array may be collected now: keep counting into the socket's own copy. */
  static double sink[STAT_COUNT];
  s->stats = sink;
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sock_t *s = data;
  sock_close(s);
  unref_sock(s);
}

void sock_update_poll(sock_t *s) {
  if (s->closed) return;
  if (s->poll_events)
    uv_poll_start(&s->poll, s->poll_events, on_poll);
  else
    uv_poll_stop(&s->poll);
}

static void call_js(sock_t *s, napi_ref fn, napi_value arg) {
  napi_env env = s->env;
  napi_value cb, global;
  if (!fn || napi_get_reference_value(env, fn, &cb) != napi_ok || !cb) return;
  napi_get_global(env, &global);
  napi_status st = napi_make_callback(env, s->actx, global, cb, 1, &arg, NULL);
  if (st == napi_pending_exception) {
    napi_value e;
    napi_get_and_clear_last_exception(env, &e);
    napi_fatal_exception(env, e); /* as a throwing 'message' listener would: uncaughtException */
  }
}

static void report(sock_t *s, const char *what, int err) {
  napi_handle_scope scope;
  napi_open_handle_scope(s->env, &scope);
  call_js(s, s->on_error, errno_error(s->env, what, s->link, err));
  napi_close_handle_scope(s->env, scope);
}

void on_poll(uv_poll_t *p, int status, int events) {
  sock_t *s = p->data;
  if (s->closed) return;
  if (status < 0) {
    /* libuv's own failure (the fd went bad): nothing more will come from this socket. */
    s->poll_events = 0;
    sock_update_poll(s);
    report(s, "poll", -status);
    return;
  }
  if (events & UV_WRITABLE) send_flush(s);
  if (!(events & UV_READABLE) || !s->receive) return;
  for (int round = 0; round < MAX_ROUNDS && !s->closed; round++) {
    int n = recv_batch(s);
    if (n == 0) break;
    if (n < 0) {
      /* sk_err is cleared by reading it: report and keep listening; the caller decides. */
      report(s, "recvmmsg", -n);
      break;
    }
    napi_handle_scope scope;
    napi_open_handle_scope(s->env, &scope);
    napi_value count;
    napi_create_int32(s->env, n, &count);
    call_js(s, s->on_batch, count);
    napi_close_handle_scope(s->env, scope);
    if (n < s->batch) break;
  }
}

static int get_int(napi_env env, napi_value obj, const char *key, int fallback) {
  napi_value v;
  napi_valuetype t;
  int32_t out = fallback;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return fallback;
  if (napi_typeof(env, v, &t) != napi_ok) return fallback;
  if (t == napi_boolean) {
    bool b;
    napi_get_value_bool(env, v, &b);
    return b;
  }
  if (t != napi_number) return fallback;
  napi_get_value_int32(env, v, &out);
  return out;
}

static int get_bytes(napi_env env, napi_value obj, const char *key, void **data, size_t *len, napi_ref *ref) {
  napi_value v;
  napi_valuetype t;
  *data = NULL;
  *len = 0;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined || t == napi_null) return 0;
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) return -1;
  napi_typedarray_type type;
  size_t count, offset;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &count, data, &ab, &offset) != napi_ok) return -1;
  size_t width = type == napi_float64_array ? 8 : type == napi_int32_array ? 4 : 1;
  *len = count * width;
  if (ref) napi_create_reference(env, v, 1, ref);
  return 0;
}

static sock_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

/* open(kind, link, options, onBatch, onError) -> handle */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return throw_status(env, "open(kind, link, options, onBatch, onError)");
  int kind;
  CHECK(napi_get_value_int32(env, argv[0], &kind));
  if (kind < KIND_IPV4_UDP || kind > KIND_NETLINK) {
    napi_throw_range_error(env, NULL, "unknown socket kind");
    return NULL;
  }
  char link[32] = "";
  size_t link_len = 0;
  CHECK(napi_get_value_string_utf8(env, argv[1], link, sizeof link, &link_len));
  napi_value o = argv[2];

  sock_t *s = calloc(1, sizeof *s);
  if (!s) return throw_errno(env, "open", link, ENOMEM);
  s->env = env;
  s->kind = kind;
  s->fd = -1;
  memcpy(s->link, link, sizeof link);
  s->receive = get_int(env, o, "receive", 1);
  s->batch = get_int(env, o, "batch", 32);
  s->slot_size = get_int(env, o, "slotSize", 2048);
  s->scap = get_int(env, o, "sendSlots", 128);
  s->slot_out = get_int(env, o, "sendSlotSize", s->slot_size);
  int ethertype = get_int(env, o, "ethertype", 0);
  uint32_t groups = (uint32_t)get_int(env, o, "groups", 0);

  void *filter, *stats, *rbuf = NULL, *meta = NULL;
  size_t filter_len, stats_len, rbuf_len = 0, meta_len = 0;
  napi_status bad = napi_ok;
  if (get_bytes(env, o, "filter", &filter, &filter_len, NULL) < 0 ||
      get_bytes(env, o, "stats", &stats, &stats_len, &s->stats_ref) < 0 || stats_len < STAT_COUNT * sizeof(double))
    bad = napi_invalid_arg;
  if (s->receive && (get_bytes(env, o, "buffer", &rbuf, &rbuf_len, &s->rbuf_ref) < 0 ||
                     get_bytes(env, o, "meta", &meta, &meta_len, &s->meta_ref) < 0 || s->batch < 1 ||
                     s->slot_size < 1 || rbuf_len < (size_t)s->batch * (size_t)s->slot_size ||
                     meta_len < (size_t)s->batch * META_WORDS * sizeof(int32_t)))
    bad = napi_invalid_arg;
  if (s->scap < 1 || s->slot_out < 1) bad = napi_invalid_arg;
  if (bad != napi_ok) {
    delete_refs(s);
    free(s);
    napi_throw_type_error(env, NULL, "open: bad options (stats, buffer, meta, batch, slot sizes)");
    return NULL;
  }
  s->stats = stats;
  s->rbuf = rbuf;
  s->meta = meta;

  const char *what = "open";
  int fd = sock_open_fd(s, link, ethertype, groups, filter, filter_len, &what);
  int err = fd < 0 ? -fd : 0;
  if (!err && s->receive) err = -recv_alloc(s);
  if (!err) err = -send_alloc(s);
  if (err) {
    if (fd >= 0) close(fd);
    recv_free(s);
    send_free(s);
    delete_refs(s);
    free(s);
    return throw_errno(env, what, link, err);
  }
  s->fd = fd;
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  s->refs = 2;
  napi_create_reference(env, argv[3], 1, &s->on_batch);
  napi_create_reference(env, argv[4], 1, &s->on_error);
  napi_value name;
  napi_create_string_utf8(env, "lan-reflector:socket", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &s->actx);
  if (s->receive) {
    s->poll_events = UV_READABLE;
    sock_update_poll(s);
  }
  napi_value handle;
  CHECK(napi_create_external(env, s, finalize, NULL, &handle));
  return handle;
}

#define SOCK_ARGS(n)                                                                                                   \
  size_t argc = n;                                                                                                     \
  napi_value argv[n];                                                                                                  \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));                                                         \
  sock_t *s = argc ? unwrap(env, argv[0]) : NULL;                                                                      \
  if (!s) return throw_status(env, "not a socket handle");

#define OPEN_ONLY                                                                                                      \
  if (s->closed) {                                                                                                     \
    napi_throw_error(env, "ERR_SOCKET_CLOSED", "the socket is closed");                                                \
    return NULL;                                                                                                       \
  }

static napi_value js_close(napi_env env, napi_callback_info info) {
  SOCK_ARGS(1);
  sock_close(s);
  return NULL;
}

/* setOption(h, level, name, value: number | Uint8Array) */
static napi_value js_set_option(napi_env env, napi_callback_info info) {
  SOCK_ARGS(4);
  OPEN_ONLY;
  int level, name;
  CHECK(napi_get_value_int32(env, argv[1], &level));
  CHECK(napi_get_value_int32(env, argv[2], &name));
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[3], &t));
  int r;
  if (t == napi_number) {
    int v;
    CHECK(napi_get_value_int32(env, argv[3], &v));
    r = setsockopt(s->fd, level, name, &v, sizeof v);
  } else {
    void *data;
    size_t len;
    CHECK(napi_get_buffer_info(env, argv[3], &data, &len));
    r = setsockopt(s->fd, level, name, data, (socklen_t)len);
  }
  if (r < 0) {
    char what[64];
    snprintf(what, sizeof what, "setsockopt(%d, %d)", level, name);
    return throw_errno(env, what, s->link, errno);
  }
  return NULL;
}

/* getOption(h, level, name) -> int */
static napi_value js_get_option(napi_env env, napi_callback_info info) {
  SOCK_ARGS(3);
  OPEN_ONLY;
  int level, name, v = 0;
  CHECK(napi_get_value_int32(env, argv[1], &level));
  CHECK(napi_get_value_int32(env, argv[2], &name));
  socklen_t len = sizeof v;
  if (getsockopt(s->fd, level, name, &v, &len) < 0) return throw_errno(env, "getsockopt", s->link, errno);
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

/* setFilter(h, program: Uint8Array); an empty program removes the filter */
static napi_value js_set_filter(napi_env env, napi_callback_info info) {
  SOCK_ARGS(2);
  OPEN_ONLY;
  void *data;
  size_t len;
  CHECK(napi_get_buffer_info(env, argv[1], &data, &len));
  if (!s->receive) return NULL; /* a send-only socket keeps its drop-everything filter */
  int r = sock_attach_filter(s->fd, data, len);
  if (r < 0) return throw_errno(env, "SO_ATTACH_FILTER", s->link, -r);
  return NULL;
}

static const char *opt_string(napi_env env, napi_value v, char *buf, size_t size) {
  napi_valuetype t;
  size_t n;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return NULL;
  if (napi_get_value_string_latin1(env, v, buf, size, &n) != napi_ok) return NULL;
  return buf;
}

static int opt_int(napi_env env, napi_value v, int fallback) {
  napi_valuetype t;
  int32_t out;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return fallback;
  return napi_get_value_int32(env, v, &out) == napi_ok ? out : fallback;
}

/* send(h, data, address?, source?, hopLimit?, scope?) -> 0 queued, or a drop code */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = argc >= 2 ? unwrap(env, argv[0]) : NULL;
  if (!s) return throw_status(env, "send(handle, data, ...)");
  void *data;
  size_t len;
  CHECK(napi_get_buffer_info(env, argv[1], &data, &len));
  char dst_buf[64], src_buf[64];
  const char *dst = argc > 2 ? opt_string(env, argv[2], dst_buf, sizeof dst_buf) : NULL;
  const char *src = argc > 3 ? opt_string(env, argv[3], src_buf, sizeof src_buf) : NULL;
  int hop = argc > 4 ? opt_int(env, argv[4], -1) : -1;
  int scope = argc > 5 ? opt_int(env, argv[5], 0) : 0;
  napi_value out;
  napi_create_int32(env, send_queue(s, data, len, dst, src, hop, scope), &out);
  return out;
}

static napi_value js_flush(napi_env env, napi_callback_info info) {
  SOCK_ARGS(1);
  if (!s->closed) send_flush(s);
  return NULL;
}

static napi_value js_ifindex(napi_env env, napi_callback_info info) {
  SOCK_ARGS(1);
  napi_value out;
  napi_create_int32(env, s->ifindex, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"setOption", NULL, js_set_option, NULL, NULL, NULL, napi_default, NULL},
      {"getOption", NULL, js_get_option, NULL, NULL, NULL, napi_default, NULL},
      {"setFilter", NULL, js_set_filter, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"flush", NULL, js_flush, NULL, NULL, NULL, napi_default, NULL},
      {"ifindex", NULL, js_ifindex, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof *props, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
