#include "util/base64.h"

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "util/mem.h"

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *sl_base64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = sl_xmalloc(4 * ((len + 2) / 3) + 1);
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = ALPHABET[(v >> 18) & 63];
        out[o++] = ALPHABET[(v >> 12) & 63];
        out[o++] = ALPHABET[(v >> 6) & 63];
        out[o++] = ALPHABET[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        out[o++] = ALPHABET[(v >> 18) & 63];
        out[o++] = ALPHABET[(v >> 12) & 63];
        out[o++] = i + 1 < len ? ALPHABET[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* Value of c in the alphabet selected by flags, or -1. */
static int digit_value(unsigned char c, unsigned flags)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || ((flags & SL_BASE64_URLSAFE) && c == '-'))
        return 62;
    if (c == '/' || ((flags & SL_BASE64_URLSAFE) && c == '_'))
        return 63;
    return -1;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int sl_base64_decode_opts(unsigned char **out, size_t *out_len, const char *text, size_t len,
                          unsigned flags)
{
    size_t cap = len / 4 * 3 + 3;
    unsigned char *buf = sl_xmalloc(cap + 1);
    size_t o = 0;
    size_t digits = 0; /* alphabet characters seen */
    size_t pads = 0;   /* '=' seen (all after the last digit) */
    uint32_t acc = 0;
    int bits = 0;
    int rc = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((flags & SL_BASE64_SPACE) && is_space(c))
            continue;
        if (c == '=') {
            pads++;
            continue;
        }
        int v = digit_value(c, flags);
        if (v < 0 || pads > 0) {
            rc = SL_EINVAL;
            goto done;
        }
        digits++;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (!(flags & SL_BASE64_NOPAD)) {
        /* a last group of 2 or 3 digits takes 2 or 1 '='; a single digit is never valid */
        size_t rest = digits % 4;
        if (rest == 1 || (rest == 0 && pads != 0) || (rest != 0 && rest + pads != 4))
            rc = SL_EINVAL;
    }
done:
    if (rc != 0) {
        sl_secure_free(buf, cap + 1);
        return rc;
    }
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return 0;
}

int sl_base64_decode(unsigned char **out, size_t *out_len, const char *text, size_t len)
{
    return sl_base64_decode_opts(out, out_len, text, len, 0);
}
