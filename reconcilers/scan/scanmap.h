/* A string-keyed hash map (open chaining) used by the scanner: advisories by ecosystem and
 * package, files of the image by path. Keys are copied; values are borrowed void pointers whose
 * lifetime the caller manages. */
#ifndef SL_SCAN_SCANMAP_H
#define SL_SCAN_SCANMAP_H

#include <stdbool.h>
#include <stddef.h>

struct sl_scanmap_entry {
    struct sl_scanmap_entry *next;
    void *value;
    size_t hash;
    char key[]; /* NUL-terminated copy */
};

struct sl_scanmap {
    struct sl_scanmap_entry **buckets;
    size_t nbuckets;
    size_t count;
};

void sl_scanmap_init(struct sl_scanmap *m);
/* Frees the entries; free_value (may be NULL) is called on each value first. */
void sl_scanmap_clear(struct sl_scanmap *m, void (*free_value)(void *));

/* Value for key, NULL when absent. */
void *sl_scanmap_get(const struct sl_scanmap *m, const char *key);
/* Sets key to value; returns the previous value (NULL when the key was new). */
void *sl_scanmap_put(struct sl_scanmap *m, const char *key, void *value);
/* Removes key; returns its value (NULL when absent). */
void *sl_scanmap_del(struct sl_scanmap *m, const char *key);

/* Calls fn(key, value, ctx) for every entry (unspecified order). fn may not modify the map,
 * except that returning true removes the current entry (its value is the caller's to free). */
void sl_scanmap_each(struct sl_scanmap *m, bool (*fn)(const char *key, void *value, void *ctx),
                     void *ctx);

#endif
