/* A string-keyed hash map (FNV-1a, chaining, load factor <= 1). Used by the work queue (dirty /
 * processing sets, failure counts), the informer cache (key -> object) and the scanner
 * (advisories by ecosystem and package, image files by path, malware hashes). Not thread-safe:
 * callers hold their own lock. Keys are copied; values are opaque pointers the caller owns. */
#ifndef SL_UTIL_STRMAP_H
#define SL_UTIL_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct sl_strmap_entry {
    struct sl_strmap_entry *next;
    void *value;
    size_t hash;
    char key[]; /* NUL-terminated copy of the key */
};

struct sl_strmap {
    struct sl_strmap_entry **buckets;
    size_t nbuckets; /* power of two, or 0 before the first insert */
    size_t count;
};

/* Initialises an empty map (no allocation until the first insert). */
void sl_strmap_init(struct sl_strmap *m);
/* Frees the map's own memory, calling free_value (may be NULL) on every value first. The map is
 * empty and usable afterwards. */
void sl_strmap_clear(struct sl_strmap *m, void (*free_value)(void *));
/* The value stored for key, or NULL. *found (may be NULL) tells a stored NULL from absence. */
void *sl_strmap_get(const struct sl_strmap *m, const char *key, bool *found);
/* Inserts or replaces. Returns the previous value (NULL when there was none). */
void *sl_strmap_put(struct sl_strmap *m, const char *key, void *value);
/* Removes key; returns its value (NULL when absent). *found (may be NULL) as above. */
void *sl_strmap_remove(struct sl_strmap *m, const char *key, bool *found);
static inline size_t sl_strmap_count(const struct sl_strmap *m)
{
    return m->count;
}
/* Calls fn for every entry (order unspecified). fn must not change the map itself; returning
 * true removes the current entry (its value stays the caller's to free). */
void sl_strmap_each(struct sl_strmap *m, bool (*fn)(void *ctx, const char *key, void *value),
                    void *ctx);

#endif
