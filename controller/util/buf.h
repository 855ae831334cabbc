/* A growable byte buffer with a hard cap, for everything that grows from remote input
 * (HTTP bodies, manifests, documents). Always NUL-terminated after data[len]. */
#ifndef SL_UTIL_BUF_H
#define SL_UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct sl_buf {
    char *data;       /* owned; NULL until the first append */
    size_t len;       /* bytes used, excluding the terminating NUL */
    size_t alloc;     /* bytes allocated */
    size_t max_bytes; /* cap; 0 means 16 MiB */
    /* set after sl_buf_init for buffers that hold secrets (API answers with Secrets): memory
     * outgrown, reset or freed is wiped first */
    bool wipe;
};

#define SL_BUF_DEFAULT_MAX ((size_t)16 << 20)
#define SL_MANIFEST_MAX    ((size_t)4 << 20)

void sl_buf_init(struct sl_buf *b, size_t max_bytes);
/* Appends n bytes; SL_ETOOBIG (and nothing appended) when the cap would be exceeded. */
int sl_buf_append(struct sl_buf *b, const void *data, size_t n);
int sl_buf_append_str(struct sl_buf *b, const char *s);
/* Returns the data as a C string ("" when empty). Borrowed. */
const char *sl_buf_cstr(struct sl_buf *b);
/* Hands the data to the caller (free()), leaving b empty. */
char *sl_buf_steal(struct sl_buf *b, size_t *len_out);
void sl_buf_reset(struct sl_buf *b);
void sl_buf_free(struct sl_buf *b);
/* Wipes then frees (for buffers that held secrets). */
void sl_buf_secure_free(struct sl_buf *b);

#endif
