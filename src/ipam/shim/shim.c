/*
 * lan-reflector-ipam: the CNI IPAM plugin file on the host. A thin shim: it forwards the runtime's
 * CNI_* environment and the network configuration (stdin) to the lan-reflector agent over a unix
 * socket and prints the agent's answer, so the host needs no Node.js and no shell (Talos has
 * neither). Built static (`cc -static`) by scripts/build-shim.mjs.
 *
 * Wire format (src/ipam/shim-protocol.ts is the other side):
 *   request  "LRIPAM1\n" { "NAME=VALUE" NUL }* NUL  <stdin bytes until EOF (write shutdown)>
 *   reply    "LRIPAM1 R <exit code>\n" <stdout bytes>              answer this
 *            "LRIPAM1 D <plugin>\n" <stdin for the plugin>         run this delegate IPAM plugin
 *
 * When the agent is down (CNI spec 1.1 section 2):
 *   ADD, CHECK, GC  fail within about 2 s with code 11 "try again later" — never hang;
 *   DEL             succeeds: the request is written to <socket dir>/ipam-spool/ (temp file, fsync,
 *                   rename, fsync dir) and the agent carries it out when it is back; a delegated
 *                   attachment (<socket dir>/ipam-delegated/) is released by its delegate directly;
 *   STATUS          fails with code 50 (cannot serve ADD);
 *   VERSION         is answered here, agent or not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

extern char **environ;

#define DEFAULT_SOCKET "/run/lan-reflector/ipam.sock"
#define MAGIC "LRIPAM1"
#define MAX_STDIN (4 << 20)
#define MAX_REPLY (4 << 20)
/* Connecting gives up after this: with the probe, ADD must fail within 2 s when the agent is down. */
#define CONNECT_MS 1500
/* A live agent answers ADD well within this (probe < 1 s, an API lookup a few seconds). */
#define REPLY_MS 30000
/* DEL must never block pod deletion: after this the shim spools it instead. */
#define DEL_REPLY_MS 10000
#define SUPPORTED "[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]"

struct buf {
  char *p;
  size_t n, cap;
};

static void die_oom(void) {
  fputs("lan-reflector-ipam: out of memory\n", stderr);
  exit(1);
}

static void put(struct buf *b, const void *d, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) die_oom();
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
  b->p[b->n] = 0;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static char cni_version[32] = "1.1.0";

/* Prints the spec's error object (CNI spec 1.1 section 5, "Error") on stdout and exits 1. */
static void cni_fail(int code, const char *msg, const char *fmt, ...) {
  char details[1024], emsg[512], edet[2100];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(details, sizeof details, fmt, ap);
  va_end(ap);
  if (json_escape(msg, emsg, sizeof emsg) < 0) emsg[0] = 0;
  if (json_escape(details, edet, sizeof edet) < 0) edet[0] = 0;
  printf("{\"cniVersion\":\"%s\",\"code\":%d,\"msg\":\"%s\",\"details\":\"%s\"}\n", cni_version, code, emsg, edet);
  fprintf(stderr, "lan-reflector-ipam: %s: %s\n", msg, details);
  fflush(stdout);
  exit(1);
}

static const char *env_or(const char *k, const char *d) {
  const char *v = getenv(k);
  return v && *v ? v : d;
}

/* The agent's socket: ipam.socket from the config, else the default. */
static void socket_path(const struct buf *in, char *out, size_t outsz) {
  const char *ipam = json_member(in->p, in->p + in->n, "ipam");
  const char *v = ipam ? json_member(ipam, in->p + in->n, "socket") : NULL;
  if (!v || json_string(v, in->p + in->n, out, outsz) != 0 || out[0] != '/') snprintf(out, outsz, "%s", DEFAULT_SOCKET);
}

/* Connects within CONNECT_MS, retrying while the agent's backlog is full (EAGAIN). -1 + errno. */
static int connect_agent(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(sa.sun_path, path);
  long long deadline = now_ms() + CONNECT_MS;
  for (;;) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
    int e = errno;
    if (e == EINPROGRESS) {
      struct pollfd pfd = {.fd = fd, .events = POLLOUT};
      int left = (int)(deadline - now_ms());
      if (left > 0 && poll(&pfd, 1, left) == 1) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err == 0) return fd;
        e = err;
      } else {
        e = ETIMEDOUT;
      }
    }
    close(fd);
    if (e != EAGAIN || now_ms() >= deadline) {
      errno = e;
      return -1;
    }
    usleep(10000);
  }
}

/* Sends everything, then reads the whole reply, within `ms`. 0 on a complete exchange. */
static int exchange(int fd, const struct buf *req, struct buf *reply, int ms) {
  long long deadline = now_ms() + ms;
  size_t off = 0;
  int sent = 0;
  char chunk[65536];
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN | (sent ? 0 : POLLOUT)};
    int left = (int)(deadline - now_ms());
    if (left <= 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    int r = poll(&pfd, 1, left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    if (!sent && (pfd.revents & POLLOUT)) {
      ssize_t w = send(fd, req->p + off, req->n - off, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EINTR) return -1;
      if (w > 0) off += (size_t)w;
      if (off == req->n) {
        shutdown(fd, SHUT_WR);
        sent = 1;
      }
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(fd, chunk, sizeof chunk);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return -1;
      }
      if (n == 0) return 0;
      if (reply->n + (size_t)n > MAX_REPLY) {
        errno = EMSGSIZE;
        return -1;
      }
      put(reply, chunk, (size_t)n);
    }
  }
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = fsync(fd);
  close(fd);
  return r;
}

/* <dir of socket>/<leaf> */
static void beside_socket(const char *sock, const char *leaf, char *out, size_t outsz) {
  const char *slash = strrchr(sock, '/');
  int dlen = slash && slash != sock ? (int)(slash - sock) : 0;
  snprintf(out, outsz, "%.*s/%s", dlen, sock, leaf);
}

/* The attachment's file name: CNI_CONTAINERID may not hold '@' or '/', nor may an interface name. */
static int attachment_name(char *out, size_t outsz) {
  const char *cid = getenv("CNI_CONTAINERID"), *ifn = getenv("CNI_IFNAME");
  if (!cid || !*cid || !ifn || !*ifn || strpbrk(cid, "/@") || strchr(ifn, '/') || cid[0] == '.') return -1;
  return snprintf(out, outsz, "%s@%s", cid, ifn) < (int)outsz ? 0 : -1;
}

/* Records a DEL for the agent to replay: temp file + fsync, rename, fsync dir. */
static int spool_del(const char *sock, const struct buf *req, char *err, size_t errsz) {
  char dir[256], name[512], tmp[800], final[800];
  beside_socket(sock, "ipam-spool", dir, sizeof dir);
  if (attachment_name(name, sizeof name) != 0) {
    snprintf(err, errsz, "CNI_CONTAINERID/CNI_IFNAME unusable as a file name");
    return -1;
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errsz, "mkdir %s: %s", dir, strerror(errno));
    return -1;
  }
  snprintf(tmp, sizeof tmp, "%s/.tmp-%d", dir, (int)getpid());
  snprintf(final, sizeof final, "%s/%s.del", dir, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || write_all(fd, req->p, req->n) != 0 || fsync(fd) != 0) {
    snprintf(err, errsz, "write %s: %s", tmp, strerror(errno));
    if (fd >= 0) close(fd);
    unlink(tmp);
    return -1;
  }
  close(fd);
  if (rename(tmp, final) != 0) {
    snprintf(err, errsz, "rename to %s: %s", final, strerror(errno));
    unlink(tmp);
    return -1;
  }
  fsync_dir(dir);
  return 0;
}

/* Finds `plugin` in CNI_PATH (CNI spec 1.1 section 4: "searching the directories provided"). */
static int find_plugin(const char *plugin, char *out, size_t outsz) {
  if (!*plugin || strchr(plugin, '/')) return -1;
  const char *path = env_or("CNI_PATH", "/opt/cni/bin");
  while (*path) {
    const char *colon = strchr(path, ':');
    int len = colon ? (int)(colon - path) : (int)strlen(path);
    if (len > 0) {
      snprintf(out, outsz, "%.*s/%s", len, path, plugin);
      if (access(out, X_OK) == 0) return 0;
    }
    path += len + (colon ? 1 : 0);
  }
  return -1;
}

/* Runs the delegate with our environment (CNI_COMMAND replaced when `command` is set) and `in` as
 * stdin; its stdout goes to ours unless `quiet`, its stderr to ours. Returns its exit status. */
static int run_plugin(const char *exe, const char *command, const char *in, size_t n, int quiet) {
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) return 1;
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    dup2(pfd[0], 0);
    if (quiet) {
      int dn = open("/dev/null", O_WRONLY);
      if (dn >= 0) dup2(dn, 1);
    }
    if (command) setenv("CNI_COMMAND", command, 1);
    char *argv[] = {(char *)exe, NULL};
    execve(exe, argv, environ);
    _exit(127);
  }
  close(pfd[0]);
  signal(SIGPIPE, SIG_IGN);
  write_all(pfd[1], in, n);
  close(pfd[1]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static void forget_delegation(const char *sock) {
  char dir[256], name[512], path[800];
  beside_socket(sock, "ipam-delegated", dir, sizeof dir);
  if (attachment_name(name, sizeof name) != 0) return;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (unlink(path) == 0) fsync_dir(dir);
}

/* Delegate plugin type from a delegate's stdin (its "ipam"."type"). */
static int delegate_type(const char *in, size_t n, char *out, size_t outsz) {
  const char *ipam = json_member(in, in + n, "ipam");
  const char *t = ipam ? json_member(ipam, in + n, "type") : NULL;
  return t ? json_string(t, in + n, out, outsz) : -1;
}

static int delegate(const char *sock, const char *command, const char *plugin, const char *in, size_t n) {
  char exe[4096];
  if (find_plugin(plugin, exe, sizeof exe) != 0)
    cni_fail(7, "delegate IPAM plugin not found", "no executable %s in CNI_PATH %s", plugin, env_or("CNI_PATH", ""));
  int code = run_plugin(exe, NULL, in, n, 0);
  if (strcmp(command, "ADD") == 0 && code != 0) {
    /* CNI spec 1.1 section 4: "If, on ADD, a delegated plugin fails, the upper plugin should
     * execute again with DEL before returning failure." */
    run_plugin(exe, "DEL", in, n, 1);
    forget_delegation(sock);
  }
  if (strcmp(command, "DEL") == 0 && code == 0) forget_delegation(sock);
  return code;
}

/* The agent is not there: what each operation does then (see the top of this file). */
static int agent_down(const char *command, const char *sock, const struct buf *req, const char *why) {
  if (strcmp(command, "DEL") == 0) {
    char dir[256], name[512], path[800], err[2048];
    beside_socket(sock, "ipam-delegated", dir, sizeof dir);
    if (attachment_name(name, sizeof name) == 0) {
      snprintf(path, sizeof path, "%s/%s", dir, name);
      struct buf d = {0};
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        char chunk[65536];
        ssize_t r;
        while ((r = read(fd, chunk, sizeof chunk)) > 0) put(&d, chunk, (size_t)r);
        close(fd);
        char type[256];
        if (d.n && delegate_type(d.p, d.n, type, sizeof type) == 0) return delegate(sock, "DEL", type, d.p, d.n);
      }
    }
    if (spool_del(sock, req, err, sizeof err) != 0)
      fprintf(stderr, "lan-reflector-ipam: agent down (%s) and cannot record the release: %s\n", why, err);
    else
      fprintf(stderr, "lan-reflector-ipam: agent down (%s); release recorded for the agent\n", why);
    return 0; /* CNI spec 1.1, DEL: best effort, never fail pod deletion */
  }
  if (strcmp(command, "STATUS") == 0)
    cni_fail(50, "lan-reflector agent is not reachable", "%s: %s", sock, why);
  cni_fail(11, "lan-reflector agent is not reachable; try again later", "%s: %s", sock, why);
  return 1;
}

int main(void) {
  const char *command = env_or("CNI_COMMAND", "");
  struct buf in = {0};
  char chunk[65536];
  for (;;) {
    ssize_t r = read(0, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) cni_fail(5, "cannot read the network configuration", "stdin: %s", strerror(errno));
    if (r == 0) break;
    if (in.n + (size_t)r > MAX_STDIN) cni_fail(5, "network configuration too large", "more than %d bytes", MAX_STDIN);
    put(&in, chunk, (size_t)r);
  }
  if (!in.p) put(&in, "", 0);
  const char *v = json_member(in.p, in.p + in.n, "cniVersion");
  char ver[32];
  if (v && json_string(v, in.p + in.n, ver, sizeof ver) == 0 && strspn(ver, "0123456789.") == strlen(ver) && *ver)
    snprintf(cni_version, sizeof cni_version, "%s", ver);

  if (strcmp(command, "VERSION") == 0) {
    /* CNI spec 1.1 section 5, "VERSION Success": cniVersion as given on input. */
    printf("{\"cniVersion\":\"%s\",\"supportedVersions\":%s}\n", cni_version, SUPPORTED);
    return 0;
  }

  char sock[512];
  socket_path(&in, sock, sizeof sock);

  struct buf req = {0};
  put(&req, MAGIC "\n", strlen(MAGIC) + 1);
  for (char **e = environ; *e; e++)
    if (strncmp(*e, "CNI_", 4) == 0) put(&req, *e, strlen(*e) + 1);
  put(&req, "", 1);
  put(&req, in.p, in.n);

  int fd = connect_agent(sock);
  if (fd < 0) return agent_down(command, sock, &req, strerror(errno));
  struct buf reply = {0};
  int ms = strcmp(command, "DEL") == 0 ? DEL_REPLY_MS : REPLY_MS;
  if (exchange(fd, &req, &reply, ms) != 0) {
    char why[256];
    snprintf(why, sizeof why, "no answer: %s", strerror(errno));
    close(fd);
    return agent_down(command, sock, &req, why);
  }
  close(fd);
  char *nl = reply.p ? memchr(reply.p, '\n', reply.n) : NULL;
  if (!nl || reply.n < strlen(MAGIC) + 3 || strncmp(reply.p, MAGIC " ", strlen(MAGIC) + 1) != 0)
    return agent_down(command, sock, &req, "the agent closed the connection without an answer");
  *nl = 0;
  const char *head = reply.p + strlen(MAGIC) + 1;
  const char *body = nl + 1;
  size_t blen = reply.n - (size_t)(body - reply.p);
  if (head[0] == 'R' && head[1] == ' ') {
    write_all(1, body, blen);
    return atoi(head + 2);
  }
  if (head[0] == 'D' && head[1] == ' ') return delegate(sock, command, head + 2, body, blen);
  cni_fail(5, "unexpected answer from the lan-reflector agent", "%.80s", head);
  return 1;
}
