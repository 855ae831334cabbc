#include "util/buf.h"
#include "util/err.h"
#include "util/mem.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void sl_buf_init(struct sl_buf *b, size_t max_bytes)
{
    memset(b, 0, sizeof(*b));
    b->max_bytes = max_bytes ? max_bytes : SL_BUF_DEFAULT_MAX;
}

int sl_buf_append(struct sl_buf *b, const void *data, size_t n)
{
    size_t max = b->max_bytes ? b->max_bytes : SL_BUF_DEFAULT_MAX;
    if (n > max || b->len > max - n)
        return SL_ETOOBIG;
    if (b->len + n + 1 > b->alloc) {
        size_t want = b->alloc ? b->alloc : 256;
        while (want < b->len + n + 1)
            want *= 2;
        if (b->wipe && b->data) {
            /* realloc would leave the old copy behind unwiped */
            char *grown = sl_xmalloc(want);
            memcpy(grown, b->data, b->len + 1);
            OPENSSL_cleanse(b->data, b->alloc);
            free(b->data);
            b->data = grown;
        } else {
            b->data = sl_xrealloc(b->data, want);
        }
        b->alloc = want;
    }
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int sl_buf_append_str(struct sl_buf *b, const char *s)
{
    return sl_buf_append(b, s, strlen(s));
}

const char *sl_buf_cstr(struct sl_buf *b)
{
    return b->data ? b->data : "";
}

char *sl_buf_steal(struct sl_buf *b, size_t *len_out)
{
    char *d = b->data ? b->data : sl_xstrdup("");
    if (len_out)
        *len_out = b->len;
    b->data = NULL;
    b->len = b->alloc = 0;
    return d;
}

void sl_buf_reset(struct sl_buf *b)
{
    if (b->wipe && b->data)
        OPENSSL_cleanse(b->data, b->len);
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void sl_buf_free(struct sl_buf *b)
{
    if (b->wipe && b->data)
        OPENSSL_cleanse(b->data, b->alloc);
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}

void sl_buf_secure_free(struct sl_buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->alloc);
    sl_buf_free(b);
}
