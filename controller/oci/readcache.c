/* Short-lived memory of a registry client's read answers (readcache.h). */
#include "oci/readcache.h"

#include "util/mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_ENTRIES 256
#define DEFAULT_MAX_BYTES   ((size_t)4 << 20)

struct entry {
    char *kind, *repo, *key;
    struct sl_read_answer a;
    int64_t at_ms;
};

struct sl_read_cache {
    pthread_mutex_t lock; /* guards everything below: several workers share a client */
    int64_t ttl_ms;
    size_t max_entries, max_bytes;
    struct entry *entries;
    size_t n;
    size_t bytes; /* data held by all entries */
};

void sl_read_answer_free(struct sl_read_answer *a)
{
    if (!a)
        return;
    free(a->media_type);
    free(a->data);
    free(a->msg);
    memset(a, 0, sizeof(*a));
}

static void answer_copy(struct sl_read_answer *dst, const struct sl_read_answer *src)
{
    *dst = *src;
    dst->media_type = src->media_type ? sl_xstrdup(src->media_type) : NULL;
    dst->msg = src->msg ? sl_xstrdup(src->msg) : NULL;
    dst->data = NULL;
    if (src->data) {
        dst->data = sl_xmalloc(src->len + 1);
        memcpy(dst->data, src->data, src->len);
        dst->data[src->len] = '\0';
    }
}

struct sl_read_cache *sl_read_cache_new(int64_t ttl_ms, size_t max_entries, size_t max_bytes)
{
    struct sl_read_cache *c = sl_xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->ttl_ms = ttl_ms > 0 ? ttl_ms : 1;
    c->max_entries = max_entries ? max_entries : DEFAULT_MAX_ENTRIES;
    c->max_bytes = max_bytes ? max_bytes : DEFAULT_MAX_BYTES;
    c->entries = sl_xcalloc(c->max_entries, sizeof(*c->entries));
    return c;
}

static void entry_free(struct entry *e)
{
    free(e->kind);
    free(e->repo);
    free(e->key);
    sl_read_answer_free(&e->a);
}

/* Removes entry i (lock held). */
static void remove_at(struct sl_read_cache *c, size_t i)
{
    c->bytes -= c->entries[i].a.len;
    entry_free(&c->entries[i]);
    c->entries[i] = c->entries[--c->n];
}

void sl_read_cache_free(struct sl_read_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        entry_free(&c->entries[i]);
    free(c->entries);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static bool same(const struct entry *e, const char *kind, const char *repo, const char *key)
{
    return strcmp(e->kind, kind) == 0 && strcmp(e->repo, repo) == 0 && strcmp(e->key, key) == 0;
}

bool sl_read_cache_get(struct sl_read_cache *c, struct sl_read_answer *out, const char *kind,
                       const char *repo, const char *key, bool need_data, int64_t now_ms)
{
    bool hit = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        struct entry *e = &c->entries[i];
        if (!same(e, kind, repo, key))
            continue;
        if (now_ms - e->at_ms >= c->ttl_ms) {
            remove_at(c, i);
            break;
        }
        if (need_data && e->a.found && !e->a.data)
            break;
        answer_copy(out, &e->a);
        hit = true;
        break;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void sl_read_cache_put(struct sl_read_cache *c, const char *kind, const char *repo, const char *key,
                       const struct sl_read_answer *answer, int64_t now_ms)
{
    if (answer->len > c->max_bytes)
        return;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        struct entry *e = &c->entries[i];
        if (!same(e, kind, repo, key))
            continue;
        if (answer->found && !answer->data && e->a.found && e->a.data &&
            strcmp(e->a.digest, answer->digest) == 0 && now_ms - e->at_ms < c->ttl_ms) {
            pthread_mutex_unlock(&c->lock); /* a HEAD confirms what a GET kept: keep the bytes */
            return;
        }
        remove_at(c, i);
        break;
    }
    /* room: expired entries go first, then the oldest until count and bytes fit */
    for (size_t i = 0; i < c->n;) {
        if (now_ms - c->entries[i].at_ms >= c->ttl_ms)
            remove_at(c, i);
        else
            i++;
    }
    while (c->n > 0 && (c->n >= c->max_entries || c->bytes + answer->len > c->max_bytes)) {
        size_t oldest = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->entries[i].at_ms < c->entries[oldest].at_ms)
                oldest = i;
        remove_at(c, oldest);
    }
    struct entry *e = &c->entries[c->n++];
    e->kind = sl_xstrdup(kind);
    e->repo = sl_xstrdup(repo);
    e->key = sl_xstrdup(key);
    answer_copy(&e->a, answer);
    e->at_ms = now_ms;
    c->bytes += answer->len;
    pthread_mutex_unlock(&c->lock);
}

void sl_read_cache_forget_repo(struct sl_read_cache *c, const char *repo)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n;) {
        if (strcmp(c->entries[i].repo, repo) == 0)
            remove_at(c, i);
        else
            i++;
    }
    pthread_mutex_unlock(&c->lock);
}

size_t sl_read_cache_size(struct sl_read_cache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}
