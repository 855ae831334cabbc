/* Reading the values of a Secret object: data[key] holds standard base64 (as the API server
 * returns it). */
#ifndef SL_KUBE_SECRET_H
#define SL_KUBE_SECRET_H

#include <jansson.h>
#include <stddef.h>

/* Decoded data[key] of secret as a new NUL-terminated string, or NULL when the key is absent,
 * not a string or not valid (strict, padded) base64. A value containing NUL bytes is cut at the
 * first one. Caller frees with sl_secure_free_str. */
char *sl_kube_secret_string(const json_t *secret, const char *key);

/* Decoded data[key] of secret: *out is a new buffer of *out_len bytes plus a NUL (caller frees
 * with sl_secure_free(*out, *out_len + 1)). Returns 0, SL_ENOTFOUND when the key is absent or
 * not a string, or SL_EINVAL when the value is not valid (strict, padded) base64. */
int sl_kube_secret_bytes(unsigned char **out, size_t *out_len, const json_t *secret,
                         const char *key);

/* Drops a reference to secret (NULL is a no-op). When it is the last one, first overwrites the
 * string values of its data (base64 of secret material) in place, so keys and passwords do not
 * linger in freed heap memory. */
void sl_kube_secret_decref(json_t *secret);

#endif
