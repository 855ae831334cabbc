#include "runtime/keymap.h"

#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: short keys ("ns/name"), good spread, no allocation. */
static unsigned hash_key(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

void sl_keymap_init(struct sl_keymap *m)
{
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

void sl_keymap_clear(struct sl_keymap *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct sl_keymap_entry *e = m->buckets[i];
        while (e) {
            struct sl_keymap_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    sl_keymap_init(m);
}

static struct sl_keymap_entry **find_slot(const struct sl_keymap *m, const char *key, unsigned h)
{
    if (m->nbuckets == 0)
        return NULL;
    struct sl_keymap_entry **slot = &m->buckets[h & (m->nbuckets - 1)];
    while (*slot) {
        if ((*slot)->hash == h && strcmp((*slot)->key, key) == 0)
            return slot;
        slot = &(*slot)->next;
    }
    return slot;
}

static void grow(struct sl_keymap *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
    struct sl_keymap_entry **b = sl_xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct sl_keymap_entry *e = m->buckets[i];
        while (e) {
            struct sl_keymap_entry *next = e->next;
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

void *sl_keymap_get(const struct sl_keymap *m, const char *key, bool *found)
{
    struct sl_keymap_entry **slot = find_slot(m, key, hash_key(key));
    bool hit = slot && *slot;
    if (found)
        *found = hit;
    return hit ? (*slot)->value : NULL;
}

void *sl_keymap_put(struct sl_keymap *m, const char *key, void *value)
{
    unsigned h = hash_key(key);
    struct sl_keymap_entry **slot = find_slot(m, key, h);
    if (slot && *slot) {
        void *old = (*slot)->value;
        (*slot)->value = value;
        return old;
    }
    /* keep the load factor at or below 1 */
    if (m->count + 1 > m->nbuckets) {
        grow(m);
        slot = find_slot(m, key, h);
    }
    size_t klen = strlen(key);
    struct sl_keymap_entry *e = sl_xmalloc(sizeof(*e) + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->value = value;
    e->next = NULL;
    *slot = e;
    m->count++;
    return NULL;
}

void *sl_keymap_remove(struct sl_keymap *m, const char *key, bool *found)
{
    struct sl_keymap_entry **slot = find_slot(m, key, hash_key(key));
    if (!slot || !*slot) {
        if (found)
            *found = false;
        return NULL;
    }
    struct sl_keymap_entry *e = *slot;
    void *v = e->value;
    *slot = e->next;
    free(e);
    m->count--;
    if (found)
        *found = true;
    return v;
}

void sl_keymap_each(const struct sl_keymap *m, void (*fn)(void *ctx, const char *key, void *value),
                    void *ctx)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (struct sl_keymap_entry *e = m->buckets[i]; e; e = e->next)
            fn(ctx, e->key, e->value);
    }
}
