/* A minimal, bounds-checked JSON walker (RFC 8259 grammar, no allocation). */
#include "json.h"

#include <stdio.h>
#include <string.h>

static const char *ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

static const char *skip_string(const char *p, const char *end) {
  if (p >= end || *p != '"') return NULL;
  for (p++; p < end; p++) {
    if (*p == '\\') {
      if (++p >= end) return NULL;
    } else if (*p == '"') {
      return p + 1;
    }
  }
  return NULL;
}

/* Depth-limited so a hostile config cannot exhaust the stack. */
static const char *skip_value(const char *p, const char *end, int depth) {
  p = ws(p, end);
  if (p >= end || depth > 64) return NULL;
  if (*p == '"') return skip_string(p, end);
  if (*p == '{' || *p == '[') {
    char close = *p == '{' ? '}' : ']';
    p = ws(p + 1, end);
    if (p < end && *p == close) return p + 1;
    for (;;) {
      if (close == '}') {
        p = skip_string(ws(p, end), end);
        if (!p) return NULL;
        p = ws(p, end);
        if (p >= end || *p != ':') return NULL;
        p++;
      }
      p = skip_value(p, end, depth + 1);
      if (!p) return NULL;
      p = ws(p, end);
      if (p >= end) return NULL;
      if (*p == close) return p + 1;
      if (*p != ',') return NULL;
      p++;
    }
  }
  /* number, true, false, null */
  const char *s = p;
  while (p < end && (strchr("+-.eE", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z'))) p++;
  return p > s ? p : NULL;
}

const char *json_member(const char *obj, const char *end, const char *key) {
  const char *p = ws(obj, end);
  if (p >= end || *p != '{') return NULL;
  p = ws(p + 1, end);
  if (p < end && *p == '}') return NULL;
  size_t klen = strlen(key);
  for (;;) {
    const char *k = ws(p, end);
    const char *after = skip_string(k, end);
    if (!after) return NULL;
    int match = (size_t)(after - k) == klen + 2 && memcmp(k + 1, key, klen) == 0;
    p = ws(after, end);
    if (p >= end || *p != ':') return NULL;
    const char *v = ws(p + 1, end);
    if (match) return v;
    p = skip_value(v, end, 1);
    if (!p) return NULL;
    p = ws(p, end);
    if (p >= end || *p != ',') return NULL;
    p++;
  }
}

int json_string(const char *v, const char *end, char *out, size_t outsz) {
  if (!v || v >= end || *v != '"' || outsz == 0) return -1;
  size_t n = 0;
  for (const char *p = v + 1; p < end; p++) {
    char c = *p;
    if (c == '"') {
      out[n] = 0;
      return 0;
    }
    if (c == '\\') {
      if (++p >= end) return -1;
      switch (*p) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
          unsigned code;
          if (end - p < 5 || sscanf(p + 1, "%4x", &code) != 1 || code == 0 || code > 0x7f) return -1;
          c = (char)code;
          p += 4;
          break;
        }
        default: return -1;
      }
    }
    if (n + 1 >= outsz) return -1;
    out[n++] = c;
  }
  return -1;
}

int json_escape(const char *s, char *out, size_t outsz) {
  size_t n = 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char buf[8];
    const char *rep = buf;
    if (c == '"') rep = "\\\"";
    else if (c == '\\') rep = "\\\\";
    else if (c < 0x20) snprintf(buf, sizeof buf, "\\u%04x", c);
    else {
      buf[0] = (char)c;
      buf[1] = 0;
    }
    size_t l = strlen(rep);
    if (n + l + 1 > outsz) return -1;
    memcpy(out + n, rep, l);
    n += l;
  }
  out[n] = 0;
  return (int)n;
}
