/* Batched send: send() copies a message into a slot of a bounded queue (no reference to the
 * JavaScript buffer survives the call) and flush() hands the queue to one sendmmsg. A socket that
 * would block keeps its queue and waits for UV_WRITABLE; a message that cannot be queued is
 * dropped and counted under its reason, never lost silently. */
#include "socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

/* The kernel answers ENOBUFS when a device queue is full; POLLOUT says nothing about that, so a
 * message that meets it this many times in a row is dropped ("no-buffer-space"). */
#define NOBUFS_TRIES 4
/* A slot's msg_flags (ignored by sendmmsg) marks a message already counted as having waited. */
#define WAITED 1

int send_alloc(sock_t *s) {
  size_t cap = (size_t)s->scap;
  s->smsgs = calloc(cap, sizeof *s->smsgs);
  s->siov = calloc(cap, sizeof *s->siov);
  s->snames = calloc(cap, sizeof *s->snames);
  s->sctl = calloc(cap, SEND_CONTROL);
  /* One allocation for every slot's bytes: pages the queue never reaches are never touched. */
  s->sbuf = malloc(cap * (size_t)s->slot_out);
  if (!s->smsgs || !s->siov || !s->snames || !s->sctl || !s->sbuf) return -ENOMEM;
  for (size_t i = 0; i < cap; i++) {
    s->siov[i].iov_base = s->sbuf + i * (size_t)s->slot_out;
    struct msghdr *h = &s->smsgs[i].msg_hdr;
    h->msg_iov = &s->siov[i];
    h->msg_iovlen = 1;
    h->msg_name = &s->snames[i];
    h->msg_control = s->sctl + i * SEND_CONTROL;
  }
  return 0;
}

void send_free(sock_t *s) {
  free(s->smsgs);
  free(s->siov);
  free(s->snames);
  free(s->sctl);
  free(s->sbuf);
  s->smsgs = NULL;
  s->siov = NULL;
  s->snames = NULL;
  s->sctl = NULL;
  s->sbuf = NULL;
}

/* "fe80::1%eth0" or "fe80::1%3": the scope part is not inet_pton's business. */
static int parse_v6(const char *text, struct in6_addr *out) {
  char buf[INET6_ADDRSTRLEN + 1];
  const char *pct = strchr(text, '%');
  size_t n = pct ? (size_t)(pct - text) : strlen(text);
  if (n >= sizeof buf) return -1;
  memcpy(buf, text, n);
  buf[n] = 0;
  return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

static int address(sock_t *s, struct msghdr *h, const uint8_t *data, size_t len, const char *dst, const char *src,
                   int hop, int scope) {
  union sockaddr_any *to = h->msg_name;
  h->msg_controllen = 0;
  switch (s->kind) {
  case KIND_IPV4_UDP:
    /* IP_HDRINCL: the packet names its own destination; the address only has to agree. */
    memset(&to->in4, 0, sizeof to->in4);
    to->in4.sin_family = AF_INET;
    if (dst) {
      if (inet_pton(AF_INET, dst, &to->in4.sin_addr) != 1) return -1;
    } else {
      if (len < 20) return -1;
      memcpy(&to->in4.sin_addr, data + 16, 4);
    }
    h->msg_namelen = sizeof to->in4;
    return 0;
  case KIND_IPV6_UDP: {
    memset(&to->in6, 0, sizeof to->in6);
    to->in6.sin6_family = AF_INET6;
    if (!dst || parse_v6(dst, &to->in6.sin6_addr) < 0) return -1;
    to->in6.sin6_scope_id = (uint32_t)(scope > 0 ? scope : s->ifindex);
    h->msg_namelen = sizeof to->in6;
    uint8_t *ctl = h->msg_control;
    size_t used = 0;
    if (src) {
      struct cmsghdr *c = (struct cmsghdr *)ctl;
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
      struct in6_pktinfo pi = {.ipi6_ifindex = (unsigned)s->ifindex};
      if (parse_v6(src, &pi.ipi6_addr) < 0) return -1;
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
      used += CMSG_SPACE(sizeof pi);
    }
    if (hop >= 0) {
      struct cmsghdr *c = (struct cmsghdr *)(ctl + used);
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_HOPLIMIT;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(c), &hop, sizeof hop);
      used += CMSG_SPACE(sizeof(int));
    }
    h->msg_controllen = used;
    return 0;
  }
  case KIND_PACKET:
    /* Bound to link + ethertype: the frame carries its own addresses. */
    h->msg_namelen = 0;
    return 0;
  case KIND_NETLINK: {
    struct sockaddr_nl *nl = (struct sockaddr_nl *)to;
    memset(nl, 0, sizeof *nl);
    nl->nl_family = AF_NETLINK; /* nl_pid 0: the kernel */
    h->msg_namelen = sizeof *nl;
    return 0;
  }
  }
  return -1;
}

int send_queue(sock_t *s, const uint8_t *data, size_t len, const char *dst, const char *src, int hop, int scope) {
  if (s->closed) {
    s->stats[S_SEND_DROPPED]++;
    s->stats[S_DROP_CLOSED]++;
    return SEND_CLOSED;
  }
  if (len > (size_t)s->slot_out) {
    s->stats[S_SEND_DROPPED]++;
    s->stats[S_DROP_TOO_BIG]++;
    return SEND_TOO_BIG;
  }
  if (s->sn == s->scap) send_flush(s); /* full: make room now if the socket takes it */
  if (s->sn == s->scap) {
    s->stats[S_SEND_DROPPED]++;
    s->stats[S_DROP_QUEUE_FULL]++;
    return SEND_QUEUE_FULL;
  }
  if (s->shead + s->sn == s->scap) {
    /* Move the pending messages to the front. Each mmsghdr points at its own iovec, name, control
     * and bytes, so swapping the headers moves whole messages. */
    for (int i = 0; i < s->sn; i++) {
      struct mmsghdr t = s->smsgs[i];
      s->smsgs[i] = s->smsgs[s->shead + i];
      s->smsgs[s->shead + i] = t;
    }
    s->shead = 0;
  }
  struct mmsghdr *m = &s->smsgs[s->shead + s->sn];
  struct msghdr *h = &m->msg_hdr;
  if (address(s, h, data, len, dst, src, hop, scope) < 0) {
    s->stats[S_SEND_ERRORS]++;
    return SEND_BAD_ADDRESS;
  }
  memcpy(h->msg_iov->iov_base, data, len);
  h->msg_iov->iov_len = len;
  h->msg_flags = 0;
  s->sn++;
  s->stats[S_QUEUE_DEPTH] = s->sn;
  return SEND_QUEUED;
}

static void wait_writable(sock_t *s) {
  for (int i = 0; i < s->sn; i++) {
    struct msghdr *h = &s->smsgs[s->shead + i].msg_hdr;
    if (!(h->msg_flags & WAITED)) {
      h->msg_flags |= WAITED;
      s->stats[S_SEND_QUEUED]++;
    }
  }
  if (!(s->poll_events & UV_WRITABLE)) {
    s->poll_events |= UV_WRITABLE;
    sock_update_poll(s);
  }
}

void send_flush(sock_t *s) {
  while (s->sn > 0 && !s->closed) {
    int r = sendmmsg(s->fd, &s->smsgs[s->shead], (unsigned)s->sn, MSG_DONTWAIT);
    if (r > 0) {
      s->stats[S_SENT] += r;
      s->shead += r;
      s->sn -= r;
      s->nobufs_tries = 0;
      continue;
    }
    int e = r < 0 ? errno : EAGAIN;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK) {
      s->stats[S_QUEUE_DEPTH] = s->sn;
      wait_writable(s);
      return;
    }
    if (e == ENOBUFS && ++s->nobufs_tries < NOBUFS_TRIES) {
      s->stats[S_QUEUE_DEPTH] = s->sn;
      wait_writable(s);
      return;
    }
    /* This message fails on its own (or ran out of ENOBUFS retries): count it and go on. */
    if (e == ENOBUFS) {
      s->stats[S_SEND_DROPPED]++;
      s->stats[S_DROP_NO_BUFFERS]++;
    } else {
      s->stats[S_SEND_ERRORS]++;
      s->stats[S_LAST_SEND_ERRNO] = e;
    }
    s->nobufs_tries = 0;
    s->shead++;
    s->sn--;
  }
  s->shead = 0;
  s->stats[S_QUEUE_DEPTH] = s->sn;
  if (s->poll_events & UV_WRITABLE) {
    s->poll_events &= ~UV_WRITABLE;
    sock_update_poll(s);
  }
}
