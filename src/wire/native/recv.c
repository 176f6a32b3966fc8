/* Batched receive: one recvmmsg into the slots of a buffer JavaScript owns, the per-message facts
 * (length, addresses, ancillary data) written into JavaScript's meta array, nothing allocated. */
#include "socket.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

int recv_alloc(sock_t *s) {
  s->rmsgs = calloc((size_t)s->batch, sizeof *s->rmsgs);
  s->riov = calloc((size_t)s->batch, sizeof *s->riov);
  s->rnames = calloc((size_t)s->batch, sizeof *s->rnames);
  s->rctl = calloc((size_t)s->batch, RECV_CONTROL);
  if (!s->rmsgs || !s->riov || !s->rnames || !s->rctl) return -ENOMEM;
  for (int i = 0; i < s->batch; i++) {
    s->riov[i].iov_base = s->rbuf + (size_t)i * (size_t)s->slot_size;
    s->riov[i].iov_len = (size_t)s->slot_size;
    struct msghdr *h = &s->rmsgs[i].msg_hdr;
    h->msg_iov = &s->riov[i];
    h->msg_iovlen = 1;
    h->msg_name = &s->rnames[i];
  }
  return 0;
}

void recv_free(sock_t *s) {
  free(s->rmsgs);
  free(s->riov);
  free(s->rnames);
  free(s->rctl);
  s->rmsgs = NULL;
  s->riov = NULL;
  s->rnames = NULL;
  s->rctl = NULL;
}

static void ipv6_meta(struct msghdr *h, int32_t *m) {
  const struct sockaddr_in6 *from = (const struct sockaddr_in6 *)h->msg_name;
  memcpy(&m[M_SRC], &from->sin6_addr, 16);
  m[M_ADDRLEN] = 16;
  m[M_SCOPE] = (int32_t)from->sin6_scope_id;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level != IPPROTO_IPV6) continue;
    if (c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      memcpy(&m[M_DST], &pi.ipi6_addr, 16);
      m[M_IFINDEX] = (int32_t)pi.ipi6_ifindex;
    } else if (c->cmsg_type == IPV6_HOPLIMIT) {
      int hop;
      memcpy(&hop, CMSG_DATA(c), sizeof hop);
      m[M_HOPLIMIT] = hop;
    }
  }
}

static void packet_meta(struct msghdr *h, int32_t *m) {
  const struct sockaddr_ll *ll = (const struct sockaddr_ll *)h->msg_name;
  int n = ll->sll_halen > 8 ? 8 : ll->sll_halen;
  memcpy(&m[M_SRC], ll->sll_addr, (size_t)n);
  m[M_ADDRLEN] = n;
  m[M_IFINDEX] = ll->sll_ifindex;
  m[M_EXTRA] = ll->sll_pkttype;
  m[M_EXTRA2] = ntohs(ll->sll_protocol);
}

int recv_batch(sock_t *s) {
  const int v6 = s->kind == KIND_IPV6_UDP;
  for (int i = 0; i < s->batch; i++) {
    struct msghdr *h = &s->rmsgs[i].msg_hdr;
    h->msg_namelen = sizeof(union sockaddr_any);
    h->msg_control = v6 ? s->rctl + (size_t)i * RECV_CONTROL : NULL;
    h->msg_controllen = v6 ? RECV_CONTROL : 0;
    h->msg_flags = 0;
  }
  int n;
  do n = recvmmsg(s->fd, s->rmsgs, (unsigned)s->batch, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    struct msghdr *h = &s->rmsgs[i].msg_hdr;
    int32_t *m = s->meta + (size_t)i * META_WORDS;
    memset(m, 0, META_WORDS * sizeof *m);
    unsigned len = s->rmsgs[i].msg_len;
    m[M_LENGTH] = (int32_t)(len > (unsigned)s->slot_size ? (unsigned)s->slot_size : len);
    if (h->msg_flags & MSG_TRUNC) {
      m[M_FLAGS] |= 1;
      s->stats[S_TRUNCATED]++;
    }
    m[M_IFINDEX] = s->ifindex;
    m[M_HOPLIMIT] = -1;
    switch (s->kind) {
    case KIND_IPV4_UDP:
      memcpy(&m[M_SRC], &((struct sockaddr_in *)h->msg_name)->sin_addr, 4);
      m[M_ADDRLEN] = 4;
      break;
    case KIND_IPV6_UDP:
      ipv6_meta(h, m);
      break;
    case KIND_PACKET:
      packet_meta(h, m);
      break;
    case KIND_NETLINK: {
      const struct sockaddr_nl *nl = (const struct sockaddr_nl *)h->msg_name;
      m[M_EXTRA] = (int32_t)nl->nl_pid;
      m[M_EXTRA2] = (int32_t)nl->nl_groups;
      break;
    }
    }
  }
  s->stats[S_RECEIVED] += n;
  s->stats[S_BATCHES]++;
  return n;
}
