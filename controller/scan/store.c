/* The ScanPolicy store (see store.h). */
#include "scan/store.h"

#include "util/err.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_MAX 2048

struct pol_entry {
    char *ns, *name;
    json_t *spec;    /* deep copy of the spec the database was loaded for (immutable) */
    uint64_t serial; /* changes whenever spec, db or vex change: part of the cache key */
    int64_t rescan_ms;
    struct sl_scan_db *db;
    struct sl_scan_vexset *vex; /* NULL without spec.vex */
    bool ready;                 /* the last reconcile said Ready=True */
};

struct cache_entry {
    char *key; /* ns/name|serial|image digest */
    json_t *summary;
    int rc;
    char msg[MSG_MAX];
    int64_t at_ms, ttl_ms;
    uint64_t used;
};

struct sl_scan_store {
    pthread_mutex_t lock;
    struct pol_entry *entries;
    size_t nentries;
    uint64_t next_serial;
    struct cache_entry *cache; /* grows up to SL_SCAN_CACHE_MAX */
    size_t ncache, cache_cap;
    uint64_t cache_clock;
};

struct sl_scan_db *sl_scan_db_new(void)
{
    struct sl_scan_db *db = sl_xcalloc(1, sizeof(*db));
    db->refs = 1;
    sl_advdb_init(&db->adv);
    sl_hsbdb_init(&db->hsb);
    return db;
}

struct sl_scan_db *sl_scan_db_ref(struct sl_scan_db *db)
{
    __atomic_add_fetch(&db->refs, 1, __ATOMIC_RELAXED);
    return db;
}

void sl_scan_db_unref(struct sl_scan_db *db)
{
    if (!db || __atomic_sub_fetch(&db->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    sl_advdb_free(&db->adv);
    sl_hsbdb_free(&db->hsb);
    free(db->harbor_url);
    sl_secure_free_str(db->harbor_auth);
    free(db->harbor_ca);
    free(db->harbor_cert);
    sl_secure_free_str(db->harbor_key);
    free(db);
}

struct sl_scan_vexset *sl_scan_vexset_new(void)
{
    struct sl_scan_vexset *v = sl_xcalloc(1, sizeof(*v));
    v->refs = 1;
    sl_vex_init(&v->vex);
    return v;
}

struct sl_scan_vexset *sl_scan_vexset_ref(struct sl_scan_vexset *v)
{
    __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
    return v;
}

void sl_scan_vexset_unref(struct sl_scan_vexset *v)
{
    if (!v || __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    sl_vex_free(&v->vex);
    sl_vexatt_trust_clear(&v->trust);
    free(v);
}

struct sl_scan_store *sl_scan_store_new(void)
{
    struct sl_scan_store *s = sl_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->next_serial = 1;
    return s;
}

static void entry_clear(struct pol_entry *e)
{
    sl_scan_db_unref(e->db);
    sl_scan_vexset_unref(e->vex);
    json_decref(e->spec);
    free(e->ns);
    free(e->name);
}

void sl_scan_store_free(struct sl_scan_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nentries; i++)
        entry_clear(&s->entries[i]);
    free(s->entries);
    for (size_t i = 0; i < s->ncache; i++) {
        free(s->cache[i].key);
        json_decref(s->cache[i].summary);
    }
    free(s->cache);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static struct pol_entry *find_locked(struct sl_scan_store *s, const char *ns, const char *name)
{
    for (size_t i = 0; i < s->nentries; i++)
        if (strcmp(s->entries[i].ns, ns) == 0 && strcmp(s->entries[i].name, name) == 0)
            return &s->entries[i];
    return NULL;
}

void sl_scan_store_loaded(struct sl_scan_db **db_out, struct sl_scan_vexset **vex_out,
                          struct sl_scan_store *s, const char *ns, const char *name)
{
    pthread_mutex_lock(&s->lock);
    struct pol_entry *e = find_locked(s, ns, name);
    if (db_out)
        *db_out = e && e->db ? sl_scan_db_ref(e->db) : NULL;
    if (vex_out)
        *vex_out = e && e->vex ? sl_scan_vexset_ref(e->vex) : NULL;
    pthread_mutex_unlock(&s->lock);
}

void sl_scan_store_put(struct sl_scan_store *s, const char *ns, const char *name,
                       const json_t *spec, int64_t rescan_ms, struct sl_scan_db *db,
                       struct sl_scan_vexset *vex, bool ready)
{
    pthread_mutex_lock(&s->lock);
    struct pol_entry *e = find_locked(s, ns, name);
    if (!e) {
        s->entries = sl_xrealloc(s->entries, (s->nentries + 1) * sizeof(*s->entries));
        e = &s->entries[s->nentries++];
        memset(e, 0, sizeof(*e));
        e->ns = sl_xstrdup(ns);
        e->name = sl_xstrdup(name);
    }
    bool changed = db != NULL || !e->spec || !json_equal(e->spec, spec);
    changed =
        changed || strcmp(e->vex ? e->vex->fingerprint : "", vex ? vex->fingerprint : "") != 0;
    if (changed) {
        json_decref(e->spec);
        e->spec = json_deep_copy(spec);
        e->serial = s->next_serial++;
    }
    e->rescan_ms = rescan_ms;
    if (db) {
        sl_scan_db_unref(e->db);
        e->db = db;
    }
    sl_scan_vexset_unref(e->vex);
    e->vex = vex;
    e->ready = ready && e->db != NULL;
    pthread_mutex_unlock(&s->lock);
}

void sl_scan_store_unready(struct sl_scan_store *s, const char *ns, const char *name)
{
    pthread_mutex_lock(&s->lock);
    struct pol_entry *e = find_locked(s, ns, name);
    if (e)
        e->ready = false;
    pthread_mutex_unlock(&s->lock);
}

void sl_scan_store_remove(struct sl_scan_store *s, const char *ns, const char *name)
{
    pthread_mutex_lock(&s->lock);
    struct pol_entry *e = find_locked(s, ns, name);
    if (e) {
        entry_clear(e);
        *e = s->entries[--s->nentries];
    }
    pthread_mutex_unlock(&s->lock);
}

int sl_scan_store_get_ready(struct sl_scan_store_policy *out, struct sl_scan_store *s,
                            const char *ns, const char *name)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    struct pol_entry *e = find_locked(s, ns, name);
    int rc = !e ? SL_ENOTFOUND : (e->ready && e->db ? 0 : SL_ERETRY);
    if (rc == 0) {
        out->db = sl_scan_db_ref(e->db);
        out->vex = e->vex ? sl_scan_vexset_ref(e->vex) : NULL;
        out->spec = json_incref(e->spec);
        out->serial = e->serial;
        out->rescan_ms = e->rescan_ms;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void sl_scan_store_policy_release(struct sl_scan_store_policy *p)
{
    sl_scan_db_unref(p->db);
    sl_scan_vexset_unref(p->vex);
    json_decref(p->spec);
    memset(p, 0, sizeof(*p));
}

bool sl_scan_store_cache_get(struct sl_scan_store *s, const char *key, json_t **summary, int *rc,
                             char *msg, size_t msg_cap)
{
    bool hit = false;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->ncache; i++) {
        struct cache_entry *c = &s->cache[i];
        if (strcmp(c->key, key) != 0)
            continue;
        if (sl_mono_ms() - c->at_ms < c->ttl_ms) {
            *summary = json_deep_copy(c->summary);
            *rc = c->rc;
            snprintf(msg, msg_cap, "%s", c->msg);
            c->used = ++s->cache_clock;
            hit = true;
        }
        break;
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

void sl_scan_store_cache_put(struct sl_scan_store *s, const char *key, const json_t *summary,
                             int rc, const char *msg, int64_t ttl_ms)
{
    pthread_mutex_lock(&s->lock);
    struct cache_entry *c = NULL;
    for (size_t i = 0; i < s->ncache && !c; i++)
        if (strcmp(s->cache[i].key, key) == 0)
            c = &s->cache[i];
    if (!c && s->ncache < SL_SCAN_CACHE_MAX) {
        if (s->ncache == s->cache_cap) {
            size_t cap = s->cache_cap ? s->cache_cap * 2 : 16;
            if (cap > SL_SCAN_CACHE_MAX)
                cap = SL_SCAN_CACHE_MAX;
            s->cache = sl_xrealloc(s->cache, cap * sizeof(*s->cache));
            s->cache_cap = cap;
        }
        c = &s->cache[s->ncache++];
        memset(c, 0, sizeof(*c));
    }
    if (!c) { /* evict the least recently used */
        c = &s->cache[0];
        for (size_t i = 1; i < s->ncache; i++)
            if (s->cache[i].used < c->used)
                c = &s->cache[i];
    }
    if (!c->key || strcmp(c->key, key) != 0) {
        free(c->key);
        c->key = sl_xstrdup(key);
    }
    json_decref(c->summary);
    c->summary = json_deep_copy(summary);
    c->rc = rc;
    snprintf(c->msg, sizeof(c->msg), "%s", msg);
    c->at_ms = sl_mono_ms();
    c->ttl_ms = ttl_ms;
    c->used = ++s->cache_clock;
    pthread_mutex_unlock(&s->lock);
}
