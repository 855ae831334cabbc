#include "scan/record.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_ENTRIES 4096
#define REVISION_MAX        160

struct pass {
    char *key; /* ns/name@digest */
    char revision[REVISION_MAX];
    enum sl_scan_verdict verdict;
    struct pass *next; /* newest first */
};

struct sl_scan_record {
    struct sl_scan_gate inner;
    sl_scan_revision_fn revision;
    void *revision_ctx;
    size_t max_entries;
    pthread_mutex_t lock;
    struct pass *passes;
    size_t n;
};

struct sl_scan_record *sl_scan_record_new(const struct sl_scan_gate *inner,
                                          sl_scan_revision_fn revision, void *revision_ctx,
                                          size_t max_entries)
{
    struct sl_scan_record *r = sl_xcalloc(1, sizeof(*r));
    if (inner)
        r->inner = *inner;
    r->revision = revision;
    r->revision_ctx = revision_ctx;
    r->max_entries = max_entries ? max_entries : DEFAULT_MAX_ENTRIES;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void sl_scan_record_free(struct sl_scan_record *r)
{
    if (!r)
        return;
    while (r->passes) {
        struct pass *p = r->passes;
        r->passes = p->next;
        free(p->key);
        free(p);
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static char *pass_key(const char *ns, const char *name, const char *digest)
{
    return sl_xasprintf("%s/%s@%s", ns, name, digest);
}

/* Unlinks and frees key's record. Under the lock. */
static void remove_locked(struct sl_scan_record *r, const char *key)
{
    for (struct pass **pp = &r->passes; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key) == 0) {
            struct pass *p = *pp;
            *pp = p->next;
            free(p->key);
            free(p);
            r->n--;
            return;
        }
    }
}

/* Records key (taken) at revision rev. */
static void put(struct sl_scan_record *r, char *key, const char *rev, enum sl_scan_verdict verdict)
{
    pthread_mutex_lock(&r->lock);
    remove_locked(r, key);
    struct pass *p = sl_xcalloc(1, sizeof(*p));
    p->key = key;
    snprintf(p->revision, sizeof(p->revision), "%s", rev);
    p->verdict = verdict;
    p->next = r->passes;
    r->passes = p;
    if (++r->n > r->max_entries) {
        struct pass **pp = &r->passes;
        while ((*pp)->next)
            pp = &(*pp)->next;
        free((*pp)->key);
        free(*pp);
        *pp = NULL;
        r->n--;
    }
    pthread_mutex_unlock(&r->lock);
}

void sl_scan_record_put(struct sl_scan_record *r, const char *ns, const char *name,
                        const char *digest, enum sl_scan_verdict verdict)
{
    char rev[REVISION_MAX];
    if (!r || !r->revision || r->revision(r->revision_ctx, rev, sizeof(rev), ns, name) != 0)
        return;
    put(r, pass_key(ns, name, digest), rev, verdict);
}

void sl_scan_record_revision(struct sl_scan_record *r, struct sl_buf *out, const char *ns,
                             const char *name)
{
    char rev[REVISION_MAX];
    if (!r || !r->revision || r->revision(r->revision_ctx, rev, sizeof(rev), ns, name) != 0)
        snprintf(rev, sizeof(rev), "-");
    sl_buf_append_str(out, rev);
}

enum sl_scan_verdict sl_scan_record_get(struct sl_scan_record *r, const char *ns, const char *name,
                                        const char *digest)
{
    char rev[REVISION_MAX];
    if (!r || !r->revision || r->revision(r->revision_ctx, rev, sizeof(rev), ns, name) != 0)
        return SL_SCAN_UNKNOWN;
    char *key = pass_key(ns, name, digest);
    enum sl_scan_verdict v = SL_SCAN_UNKNOWN;
    pthread_mutex_lock(&r->lock);
    for (struct pass *p = r->passes; p; p = p->next) {
        if (strcmp(p->key, key) == 0) {
            if (strcmp(p->revision, rev) == 0)
                v = p->verdict;
            break;
        }
    }
    pthread_mutex_unlock(&r->lock);
    free(key);
    return v;
}

static int record_scan(void *ctx, struct sl_runtime *rt, const char *ns, const char *policy_name,
                       struct sl_registry *src, const char *repo, const char *digest,
                       const char *const *platforms, size_t n_platforms, json_t **out_summary,
                       struct sl_err *err)
{
    struct sl_scan_record *r = ctx;
    if (!r->inner.scan)
        return sl_err_set(err, SL_EFAIL, SL_ERRC_INTERNAL, "no scanner in this controller");
    /* the revision before the scan: a database loaded meanwhile makes this record stale, never
     * the other way round */
    char rev[REVISION_MAX];
    bool known =
        r->revision && r->revision(r->revision_ctx, rev, sizeof(rev), ns, policy_name) == 0;
    int rc = r->inner.scan(r->inner.ctx, rt, ns, policy_name, src, repo, digest, platforms,
                           n_platforms, out_summary, err);
    if (known && rc == SL_SCAN_GATE_PASSED && n_platforms == 0)
        put(r, pass_key(ns, policy_name, digest), rev, SL_SCAN_PASSED);
    else if (known && rc == SL_SCAN_GATE_BLOCKED)
        put(r, pass_key(ns, policy_name, digest), rev, SL_SCAN_FAILED);
    return rc;
}

void sl_scan_record_gate(struct sl_scan_gate *out, struct sl_scan_record *r)
{
    memset(out, 0, sizeof(*out));
    out->ctx = r;
    out->scan = record_scan;
}
