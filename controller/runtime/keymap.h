/* A small hash map from C strings to pointers, used by the work queue (dirty / processing
 * sets, failure counts) and the informer cache (key -> object). Not thread-safe: callers hold
 * their own lock. Keys are copied; values are opaque and never freed by the map. */
#ifndef SL_RUNTIME_KEYMAP_H
#define SL_RUNTIME_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>

struct sl_keymap_entry {
    struct sl_keymap_entry *next;
    void *value;
    unsigned hash;
    char key[]; /* NUL-terminated copy of the key */
};

struct sl_keymap {
    struct sl_keymap_entry **buckets;
    size_t nbuckets; /* power of two, or 0 before the first insert */
    size_t count;
};

/* Initialises an empty map (no allocation until the first insert). */
void sl_keymap_init(struct sl_keymap *m);
/* Frees the map's own memory; values are left to the caller (walk them first). */
void sl_keymap_clear(struct sl_keymap *m);
/* The value stored for key, or NULL. *found (may be NULL) tells a stored NULL from absence. */
void *sl_keymap_get(const struct sl_keymap *m, const char *key, bool *found);
/* Inserts or replaces. Returns the previous value (NULL when there was none). */
void *sl_keymap_put(struct sl_keymap *m, const char *key, void *value);
/* Removes key; returns its value (NULL when absent). *found (may be NULL) as above. */
void *sl_keymap_remove(struct sl_keymap *m, const char *key, bool *found);
static inline size_t sl_keymap_count(const struct sl_keymap *m)
{
    return m->count;
}
/* Calls fn for every entry (order unspecified). fn must not change the map. */
void sl_keymap_each(const struct sl_keymap *m, void (*fn)(void *ctx, const char *key, void *value),
                    void *ctx);

#endif
