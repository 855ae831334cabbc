/* String-keyed hash map with FNV-1a hashing and chaining. */
#include "scan/scanmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

void sl_scanmap_init(struct sl_scanmap *m)
{
    memset(m, 0, sizeof(*m));
}

void sl_scanmap_clear(struct sl_scanmap *m, void (*free_value)(void *))
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct sl_scanmap_entry *e = m->buckets[i];
        while (e) {
            struct sl_scanmap_entry *next = e->next;
            if (free_value)
                free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    sl_scanmap_init(m);
}

static void grow(struct sl_scanmap *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
    struct sl_scanmap_entry **b = sl_xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct sl_scanmap_entry *e = m->buckets[i];
        while (e) {
            struct sl_scanmap_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

static struct sl_scanmap_entry **find_slot(const struct sl_scanmap *m, const char *key, size_t h)
{
    if (!m->nbuckets)
        return NULL;
    struct sl_scanmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp) {
        if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
            return pp;
        pp = &(*pp)->next;
    }
    return NULL;
}

void *sl_scanmap_get(const struct sl_scanmap *m, const char *key)
{
    struct sl_scanmap_entry **pp = find_slot(m, key, hash_str(key));
    return pp ? (*pp)->value : NULL;
}

void *sl_scanmap_put(struct sl_scanmap *m, const char *key, void *value)
{
    size_t h = hash_str(key);
    struct sl_scanmap_entry **pp = find_slot(m, key, h);
    if (pp) {
        void *old = (*pp)->value;
        (*pp)->value = value;
        return old;
    }
    if (m->count + 1 > m->nbuckets)
        grow(m);
    size_t klen = strlen(key);
    struct sl_scanmap_entry *e = sl_xmalloc(sizeof(*e) + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->value = value;
    e->next = m->buckets[h & (m->nbuckets - 1)];
    m->buckets[h & (m->nbuckets - 1)] = e;
    m->count++;
    return NULL;
}

void *sl_scanmap_del(struct sl_scanmap *m, const char *key)
{
    struct sl_scanmap_entry **pp = find_slot(m, key, hash_str(key));
    if (!pp)
        return NULL;
    struct sl_scanmap_entry *e = *pp;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

void sl_scanmap_each(struct sl_scanmap *m, bool (*fn)(const char *key, void *value, void *ctx),
                     void *ctx)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct sl_scanmap_entry **pp = &m->buckets[i];
        while (*pp) {
            struct sl_scanmap_entry *e = *pp;
            if (fn(e->key, e->value, ctx)) {
                *pp = e->next;
                free(e);
                m->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}
