/* Opening one socket of each kind, bound to one link, with nothing queued that it should not have:
 * the kernel hands a raw socket every matching packet from the moment socket() returns, before it
 * is bound to a link or filtered. So a raw socket starts with a drop-everything filter, is bound,
 * is drained of what arrived meanwhile, and only then gets the caller's filter. */
#include "socket.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <string.h>
#include <unistd.h>

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

int sock_attach_filter(int fd, const void *prog, size_t len) {
  if (len == 0) {
    int zero = 0; /* the kernel wants an int-sized value even here */
    if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof zero) < 0 && errno != ENOENT) return -errno;
    return 0;
  }
  if (len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS) return -EINVAL;
  struct sock_fprog fprog = {.len = (unsigned short)(len / sizeof(struct sock_filter)),
                             .filter = (struct sock_filter *)prog};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) < 0) return -errno;
  return 0;
}

static const struct sock_filter DROP_ALL[] = {BPF_STMT(BPF_RET | BPF_K, 0)};

static void drain(int fd) {
  char scratch[64];
  while (recv(fd, scratch, sizeof scratch, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
  }
}

static int on(int fd, int level, int name) {
  int one = 1;
  return setsockopt(fd, level, name, &one, sizeof one);
}

#define FAIL(step)                                                                                                     \
  do {                                                                                                                 \
    int e = errno;                                                                                                     \
    *what = step;                                                                                                      \
    close(fd);                                                                                                         \
    return -e;                                                                                                         \
  } while (0)

/* Returns the fd, or -errno with *what naming the step that failed. A send-only socket (receive 0)
 * keeps the drop-everything filter: the kernel then queues nothing for it. */
int sock_open_fd(sock_t *s, const char *link, int ethertype, uint32_t groups, const void *filter,
                 size_t filter_len, const char **what) {
  const int flags = SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC;
  int fd;
  if (s->kind == KIND_NETLINK) {
    *what = "socket(AF_NETLINK)";
    fd = socket(AF_NETLINK, flags, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    if (filter_len && sock_attach_filter(fd, filter, filter_len) < 0) FAIL("SO_ATTACH_FILTER");
    struct sockaddr_nl nl = {.nl_family = AF_NETLINK, .nl_groups = groups};
    if (bind(fd, (struct sockaddr *)&nl, sizeof nl) < 0) FAIL("bind(AF_NETLINK)");
    s->ifindex = 0;
    return fd;
  }

  s->ifindex = (int)if_nametoindex(link);
  if (s->ifindex == 0) {
    *what = "if_nametoindex";
    return -ENODEV;
  }
  if (strlen(link) >= IFNAMSIZ) {
    *what = "link name";
    return -EINVAL;
  }

  if (s->kind == KIND_PACKET) {
    /* Protocol 0 until bind: a packet socket hears nothing before it is bound to link + ethertype. */
    *what = "socket(AF_PACKET)";
    fd = socket(AF_PACKET, flags, 0);
    if (fd < 0) return -errno;
    const void *prog = s->receive ? filter : DROP_ALL;
    size_t plen = s->receive ? filter_len : sizeof DROP_ALL;
    if (plen && sock_attach_filter(fd, prog, plen) < 0) FAIL("SO_ATTACH_FILTER");
    /* Our own frames are not news (the ARP conflict watch must not see its own probes); the
     * caller can turn this back off with setOption. Kernels before 4.20 lack it: not fatal. */
    (void)on(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING);
    struct sockaddr_ll ll = {.sll_family = AF_PACKET,
                             .sll_protocol = htons((uint16_t)ethertype),
                             .sll_ifindex = s->ifindex};
    if (bind(fd, (struct sockaddr *)&ll, sizeof ll) < 0) FAIL("bind(AF_PACKET)");
    return fd;
  }

  const int v6 = s->kind == KIND_IPV6_UDP;
  *what = v6 ? "socket(AF_INET6, SOCK_RAW, IPPROTO_UDP)" : "socket(AF_INET, SOCK_RAW, IPPROTO_UDP)";
  fd = socket(v6 ? AF_INET6 : AF_INET, flags, IPPROTO_UDP);
  if (fd < 0) return -errno;
  if (sock_attach_filter(fd, DROP_ALL, sizeof DROP_ALL) < 0) FAIL("SO_ATTACH_FILTER");
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, link, (socklen_t)strlen(link) + 1) < 0) FAIL("SO_BINDTODEVICE");
  if (v6) {
    /* The ancillary data each Received carries: destination + ingress link, and hop limit. */
    if (on(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO) < 0) FAIL("IPV6_RECVPKTINFO");
    if (on(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT) < 0) FAIL("IPV6_RECVHOPLIMIT");
    /* The UDP checksum is mandatory in IPv6 (RFC 8200 8.1) and pod packets carry only a partial
     * one: the kernel fills it in at offset 6 on every send (and checks it on receive). */
    int offset = 6;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &offset, sizeof offset) < 0) FAIL("IPV6_CHECKSUM");
    /* Sending with a source this host does not own (a device's, a pod's) through IPV6_PKTINFO
     * needs freebind (net/ipv6/datagram.c: ipv6_can_nonlocal_bind). */
    if (on(fd, IPPROTO_IPV6, IPV6_FREEBIND) < 0 && on(fd, IPPROTO_IP, IP_FREEBIND) < 0) FAIL("IPV6_FREEBIND");
  }
  drain(fd);
  if (s->receive) {
    if (sock_attach_filter(fd, filter, filter_len) < 0) FAIL("SO_ATTACH_FILTER");
  }
  return fd;
}
