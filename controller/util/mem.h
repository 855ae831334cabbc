/* Allocation policy: sealift does not try to survive out-of-memory. Every allocation goes
 * through these wrappers, which print a message and abort when the allocator fails. */
#ifndef SL_UTIL_MEM_H
#define SL_UTIL_MEM_H

#include <stddef.h>

void *sl_xmalloc(size_t size);
void *sl_xcalloc(size_t nmemb, size_t size);
void *sl_xrealloc(void *ptr, size_t size);
char *sl_xstrdup(const char *s);
char *sl_xstrndup(const char *s, size_t n);
/* printf into a freshly allocated string (caller frees). */
char *sl_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wipes len bytes with OPENSSL_cleanse, then frees. For keys, passwords and tokens. */
void sl_secure_free(void *ptr, size_t len);
/* Wipes a NUL-terminated secret string and frees it. NULL is a no-op. */
void sl_secure_free_str(char *s);

#endif
