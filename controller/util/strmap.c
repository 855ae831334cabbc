#include "util/strmap.h"

#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 64-bit FNV-1a: short keys ("ns/name", "eco\tpkg", paths), good spread, no allocation. */
static size_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

void sl_strmap_init(struct sl_strmap *m)
{
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

void sl_strmap_clear(struct sl_strmap *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct sl_strmap_entry *e = m->buckets[i];
        while (e) {
            struct sl_strmap_entry *next = e->next;
            if (free_value)
                free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    sl_strmap_init(m);
}

/* The link that points at key's entry, or at the NULL ending its chain when key is absent;
 * NULL while the map has no buckets. */
static struct sl_strmap_entry **find_slot(const struct sl_strmap *m, const char *key, size_t h)
{
    if (m->nbuckets == 0)
        return NULL;
    struct sl_strmap_entry **slot = &m->buckets[h & (m->nbuckets - 1)];
    while (*slot) {
        if ((*slot)->hash == h && strcmp((*slot)->key, key) == 0)
            return slot;
        slot = &(*slot)->next;
    }
    return slot;
}

static void grow(struct sl_strmap *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
    struct sl_strmap_entry **b = sl_xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct sl_strmap_entry *e = m->buckets[i];
        while (e) {
            struct sl_strmap_entry *next = e->next;
            size_t idx = e->hash & (n - 1);
            e->next = b[idx];
            b[idx] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

void *sl_strmap_get(const struct sl_strmap *m, const char *key, bool *found)
{
    struct sl_strmap_entry **slot = find_slot(m, key, hash_key(key));
    bool hit = slot && *slot;
    if (found)
        *found = hit;
    return hit ? (*slot)->value : NULL;
}

void *sl_strmap_put(struct sl_strmap *m, const char *key, void *value)
{
    size_t h = hash_key(key);
    struct sl_strmap_entry **slot = find_slot(m, key, h);
    if (slot && *slot) {
        void *old = (*slot)->value;
        (*slot)->value = value;
        return old;
    }
    if (m->count + 1 > m->nbuckets) {
        grow(m);
        slot = find_slot(m, key, h);
    }
    size_t klen = strlen(key);
    struct sl_strmap_entry *e = sl_xmalloc(sizeof(*e) + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->value = value;
    e->next = NULL;
    *slot = e;
    m->count++;
    return NULL;
}

void *sl_strmap_remove(struct sl_strmap *m, const char *key, bool *found)
{
    struct sl_strmap_entry **slot = find_slot(m, key, hash_key(key));
    if (!slot || !*slot) {
        if (found)
            *found = false;
        return NULL;
    }
    struct sl_strmap_entry *e = *slot;
    void *v = e->value;
    *slot = e->next;
    free(e);
    m->count--;
    if (found)
        *found = true;
    return v;
}

void sl_strmap_each(struct sl_strmap *m, bool (*fn)(void *ctx, const char *key, void *value),
                    void *ctx)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct sl_strmap_entry **slot = &m->buckets[i];
        while (*slot) {
            struct sl_strmap_entry *e = *slot;
            if (fn(ctx, e->key, e->value)) {
                *slot = e->next;
                free(e);
                m->count--;
            } else {
                slot = &e->next;
            }
        }
    }
}
