/* The native socket layer's shared state. The addon does I/O only (STYLE.md example 12): it opens a
 * socket bound to one link, waits for readiness through libuv (uv_poll, no thread per socket),
 * receives with recvmmsg into buffers that JavaScript owns and calls JavaScript once per batch,
 * and sends what JavaScript queued with sendmmsg. What a packet means stays in TypeScript. */
#ifndef LAN_REFLECTOR_SOCKET_H
#define LAN_REFLECTOR_SOCKET_H

#define _GNU_SOURCE
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

enum sock_kind { KIND_IPV4_UDP = 0, KIND_IPV6_UDP = 1, KIND_PACKET = 2, KIND_NETLINK = 3 };

/* Per received message, META_WORDS int32 words in the meta array JavaScript passed to open.
 * Keep in step with META in src/wire/native.ts. */
enum meta_index {
  M_LENGTH = 0,   /* bytes in the slot */
  M_FLAGS = 1,    /* bit 0: truncated (MSG_TRUNC) */
  M_IFINDEX = 2,  /* ingress link: IPV6_PKTINFO, sll_ifindex, or the bound link */
  M_HOPLIMIT = 3, /* IPV6_HOPLIMIT, -1 when absent */
  M_SCOPE = 4,    /* sin6_scope_id */
  M_EXTRA = 5,    /* packet: sll_pkttype; netlink: nl_pid */
  M_EXTRA2 = 6,   /* packet: sll_protocol (host order); netlink: nl_groups */
  M_ADDRLEN = 7,  /* bytes of the source address below: 4, 16, or the MAC's length */
  M_SRC = 8,      /* 16 bytes: source address (IPv4, IPv6, or MAC) */
  M_DST = 12,     /* 16 bytes: destination from IPV6_PKTINFO */
  META_WORDS = 16
};

/* Counters JavaScript reads without a call: a Float64Array passed to open. Keep in step with
 * STAT in src/wire/native.ts. */
enum stat_index {
  S_RECEIVED = 0,
  S_SENT = 1,
  S_SEND_QUEUED = 2, /* messages that waited for the socket to become writable */
  S_SEND_DROPPED = 3,
  S_SEND_ERRORS = 4,
  S_BATCHES = 5,
  S_DROP_QUEUE_FULL = 6,
  S_DROP_TOO_BIG = 7,
  S_DROP_NO_BUFFERS = 8,
  S_QUEUE_DEPTH = 9,
  S_LAST_SEND_ERRNO = 10,
  S_TRUNCATED = 11,
  S_DROP_CLOSED = 12,
  STAT_COUNT = 13
};

/* What send() returns: 0 queued, else the reason it was dropped (named in native.ts). */
enum send_result { SEND_QUEUED = 0, SEND_QUEUE_FULL = 1, SEND_TOO_BIG = 2, SEND_CLOSED = 3, SEND_BAD_ADDRESS = 4 };

#define SEND_CONTROL 64 /* room for IPV6_PKTINFO + IPV6_HOPLIMIT */
#define RECV_CONTROL 64

/* Every address kind a socket here names; far smaller than sockaddr_storage (128 bytes), which
 * matters at 110 pod links times the queue slots. */
union sockaddr_any {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
  struct sockaddr_ll ll;
  struct sockaddr_nl nl;
};

typedef struct sock {
  napi_env env;
  char link[32];
  int fd;
  int kind;
  int ifindex;
  int receive;
  int closed;
  int refs; /* the External and the uv handle; freed when both are gone */
  uv_poll_t poll;
  int poll_events;
  napi_ref on_batch, on_error, rbuf_ref, meta_ref, stats_ref;
  napi_async_context actx;
  double *stats;

  /* receive: batch slots of slot_size bytes in JavaScript's buffer */
  int batch, slot_size;
  uint8_t *rbuf;
  int32_t *meta;
  struct mmsghdr *rmsgs;
  struct iovec *riov;
  union sockaddr_any *rnames;
  uint8_t *rctl;

  /* send: a bounded queue; pending messages are smsgs[shead .. shead+sn) */
  int scap, sn, shead, slot_out, nobufs_tries;
  uint8_t *sbuf;
  struct mmsghdr *smsgs;
  struct iovec *siov;
  union sockaddr_any *snames;
  uint8_t *sctl;
} sock_t;

/* socket-open.c */
int sock_open_fd(sock_t *s, const char *link, int ethertype, uint32_t groups, const void *filter,
                 size_t filter_len, const char **what);
int sock_attach_filter(int fd, const void *prog, size_t len);

/* recv.c */
int recv_alloc(sock_t *s);
void recv_free(sock_t *s);
int recv_batch(sock_t *s); /* messages received (>0), 0 when empty, -errno on error */

/* send.c */
int send_alloc(sock_t *s);
void send_free(sock_t *s);
int send_queue(sock_t *s, const uint8_t *data, size_t len, const char *dst, const char *src, int hop, int scope);
void send_flush(sock_t *s);

/* addon.c */
void sock_update_poll(sock_t *s);
void on_poll(uv_poll_t *p, int status, int events);

#endif
