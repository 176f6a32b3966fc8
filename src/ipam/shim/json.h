/* Just enough JSON for the shim: find a string member of an object, and escape a string for output.
 * The shim reads two things from the network configuration (cniVersion, ipam.socket) and the
 * delegate's plugin type; everything else is the agent's business. */
#ifndef LR_JSON_H
#define LR_JSON_H
#include <stddef.h>

/* Points at the value of member `key` of the object that starts at `obj` ('{' after blanks), or NULL. */
const char *json_member(const char *obj, const char *end, const char *key);
/* Decodes the JSON string at `v` into out (NUL-terminated). 0 on success, -1 if not a string, too
 * long, or holding an escape outside ASCII. */
int json_string(const char *v, const char *end, char *out, size_t outsz);
/* Writes s as a JSON string body (without quotes) into out; returns the length, or -1 if too long. */
int json_escape(const char *s, char *out, size_t outsz);

#endif
