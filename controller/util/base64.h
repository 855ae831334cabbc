/* Base64 (RFC 4648) encoding and decoding, for Kubernetes Secret data, kubeconfig and docker
 * config fields, signatures and known_hosts entries. */
#ifndef SL_UTIL_BASE64_H
#define SL_UTIL_BASE64_H

#include <stddef.h>

/* Options of sl_base64_decode_opts (0 = strict). */
enum {
    SL_BASE64_SPACE = 1 << 0,   /* skip ' ', '\t', '\r' and '\n' anywhere in the text */
    SL_BASE64_URLSAFE = 1 << 1, /* also accept '-' and '_' (RFC 4648 section 5) for 62 and 63 */
    SL_BASE64_NOPAD = 1 << 2,   /* padding optional: any length, any number of trailing '=',
                                   bits of an incomplete last group are dropped */
};

/* Standard base64 of len bytes of data, padded, no line breaks, NUL-terminated. Caller frees
 * (with sl_secure_free_str when data is a secret). */
char *sl_base64_encode(const void *data, size_t len);

/* Strict decoding of len characters of text: standard alphabet, length a multiple of 4, '='
 * only as the padding of the last group. Empty text decodes to zero bytes. On success *out is a
 * new buffer of *out_len bytes plus a NUL (caller frees with free(), or with
 * sl_secure_free(*out, *out_len + 1) when it holds a secret). Returns 0 or SL_EINVAL (then *out
 * is untouched and nothing decoded is left in memory). */
int sl_base64_decode(unsigned char **out, size_t *out_len, const char *text, size_t len);

/* sl_base64_decode with the SL_BASE64_* options in flags. */
int sl_base64_decode_opts(unsigned char **out, size_t *out_len, const char *text, size_t len,
                          unsigned flags);

#endif
