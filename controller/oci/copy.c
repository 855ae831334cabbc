#include "oci/copy.h"
#include "oci/manifest.h"
#include "util/log.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NESTING     3
#define MAX_CONCURRENCY 16
/* Blobs copied at a time when the caller does not say: two streams keep the link busy (one
 * sends while the other waits on its HEAD, upload session or commit), as docker and containerd
 * keep three. Each stream holds a relay ring, libcurl's buffers and a curl multi handle, about
 * 100 KiB: four streams added 1.0 MB of anonymous memory to a 64 MiB, 8-layer copy and two
 * add 0.5 MB, with the same copy time between loopback registries (hack/bench/sync.sh). */
#define DEFAULT_CONCURRENCY 2

/* A manifest to put in the target, in put order (children before their index). */
struct node {
    char *data;
    size_t len;
    char *media_type;
    char digest[72];
};

struct blob {
    char *digest;
    int64_t size;
};

struct plan {
    struct node *nodes;
    size_t n_nodes, cap_nodes;
    struct blob *blobs;
    size_t n_blobs, cap_blobs;
};

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n_nodes; i++) {
        free(p->nodes[i].data);
        free(p->nodes[i].media_type);
    }
    free(p->nodes);
    for (size_t i = 0; i < p->n_blobs; i++)
        free(p->blobs[i].digest);
    free(p->blobs);
    memset(p, 0, sizeof(*p));
}

/* Takes ownership of data and media_type. */
static void plan_add_node(struct plan *p, char *data, size_t len, char *media_type,
                          const char *digest)
{
    if (p->n_nodes == p->cap_nodes) {
        p->cap_nodes = p->cap_nodes ? p->cap_nodes * 2 : 8;
        p->nodes = sl_xrealloc(p->nodes, p->cap_nodes * sizeof(*p->nodes));
    }
    struct node *n = &p->nodes[p->n_nodes++];
    n->data = data;
    n->len = len;
    n->media_type = media_type;
    snprintf(n->digest, sizeof(n->digest), "%s", digest);
}

static void plan_add_blob(struct plan *p, const struct sl_descriptor *d)
{
    for (size_t i = 0; i < p->n_blobs; i++)
        if (strcmp(p->blobs[i].digest, d->digest) == 0)
            return;
    if (p->n_blobs == p->cap_blobs) {
        p->cap_blobs = p->cap_blobs ? p->cap_blobs * 2 : 16;
        p->blobs = sl_xrealloc(p->blobs, p->cap_blobs * sizeof(*p->blobs));
    }
    p->blobs[p->n_blobs].digest = sl_xstrdup(d->digest);
    p->blobs[p->n_blobs].size = d->size;
    p->n_blobs++;
}

static char *media_type_for_put(const struct sl_manifest *m, const char *content_type)
{
    if (m->media_type)
        return sl_xstrdup(m->media_type);
    return sl_xstrdup(content_type ? content_type : SL_MT_OCI_MANIFEST);
}

/* Adds manifest bytes (already verified to hash to digest) and everything below it to the
 * plan. Takes ownership of data. */
static int plan_manifest(struct plan *p, struct sl_registry *src, const char *repo, char *data,
                         size_t len, const char *content_type, const char *digest, int depth,
                         struct sl_err *err)
{
    struct sl_manifest m;
    int rc = sl_manifest_parse(&m, data, len, content_type, err);
    if (rc < 0) {
        sl_err_prefix(err, "%s/%s@%s", sl_registry_host(src), repo, digest);
        free(data);
        return rc;
    }
    if (m.kind == SL_MANIFEST_INDEX) {
        if (depth >= MAX_NESTING) {
            rc = sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_REGISTRY,
                            "%s/%s@%s: indexes nested deeper than %d", sl_registry_host(src), repo,
                            digest, MAX_NESTING);
            goto done;
        }
        for (size_t i = 0; i < m.n_children; i++) {
            struct sl_registry_manifest child;
            rc = sl_registry_manifest_get(&child, src, repo, m.children[i].digest, err);
            if (rc < 0)
                goto done;
            const char *ct = m.children[i].media_type ? m.children[i].media_type : child.media_type;
            rc = plan_manifest(p, src, repo, child.data, child.len, ct, child.digest, depth + 1,
                               err);
            child.data = NULL;
            sl_registry_manifest_free(&child);
            if (rc < 0)
                goto done;
        }
    } else {
        plan_add_blob(p, &m.config);
        for (size_t i = 0; i < m.n_layers; i++)
            plan_add_blob(p, &m.layers[i]);
    }
    plan_add_node(p, data, len, media_type_for_put(&m, content_type), digest);
    data = NULL;
    rc = 0;
done:
    free(data);
    sl_manifest_free(&m);
    return rc;
}

/* ---- parallel blob copy ---- */

struct blob_job {
    pthread_mutex_t mu;
    struct plan *plan;
    size_t next;
    int failed;
    struct sl_err first_err;
    int first_rc;
    struct sl_registry *src, *dst;
    const char *src_repo, *dst_repo;
    int same_registry;
    int max_attempts;
    const volatile int *cancel;
    int64_t deadline_ms; /* the caller's registry deadline, for the worker threads */
    struct sl_copy_result *res;
};

static void count_mounted(struct blob_job *job, const struct blob *b)
{
    sl_registry_blob_remember(job->dst, job->dst_repo, b->digest);
    pthread_mutex_lock(&job->mu);
    job->res->blobs_mounted++;
    pthread_mutex_unlock(&job->mu);
}

static int copy_one_blob(struct blob_job *job, struct sl_blob_streamer *streamer,
                         const struct blob *b, struct sl_err *err)
{
    /* the same blob went to another repository of this registry before (another customer of
     * the same vendor image): one mount request instead of moving the bytes again; one to a
     * repository that holds it already is a mount too */
    char home[256];
    if (sl_registry_blob_home(home, sizeof(home), job->dst, b->digest, job->dst_repo)) {
        int mounted = 0;
        int rc = sl_registry_blob_mount(&mounted, job->dst, job->dst_repo, b->digest, home, err);
        if (rc == 0 && mounted) {
            count_mounted(job, b);
            return 0;
        }
        sl_registry_blob_forget(job->dst, home, b->digest);
        sl_err_clear(err); /* not mounted: look and copy as without */
    }
    int64_t have = -1;
    int rc = sl_registry_blob_head(&have, job->dst, job->dst_repo, b->digest, err);
    if (rc == 0) {
        sl_registry_blob_remember(job->dst, job->dst_repo, b->digest);
        pthread_mutex_lock(&job->mu);
        job->res->blobs_present++;
        pthread_mutex_unlock(&job->mu);
        return 0;
    }
    if (rc != SL_ENOTFOUND)
        return rc;
    sl_err_clear(err);
    if (job->same_registry) {
        int mounted = 0;
        rc = sl_registry_blob_mount(&mounted, job->dst, job->dst_repo, b->digest, job->src_repo,
                                    err);
        if (rc == 0 && mounted) {
            count_mounted(job, b);
            return 0;
        }
        sl_err_clear(err); /* no mount: copy the bytes instead */
    }
    for (int attempt = 0;; attempt++) {
        int64_t moved = 0;
        rc = sl_blob_stream_copy(&moved, streamer, job->src, job->src_repo, job->dst, job->dst_repo,
                                 b->digest, b->size, err);
        if (rc == 0) {
            sl_registry_blob_remember(job->dst, job->dst_repo, b->digest);
            pthread_mutex_lock(&job->mu);
            job->res->blobs_copied++;
            job->res->bytes_copied += moved;
            pthread_mutex_unlock(&job->mu);
            return 0;
        }
        if (rc != SL_ERETRY || attempt + 1 >= job->max_attempts)
            return rc;
        if (job->cancel && *job->cancel)
            return rc;
        sl_log_debug(NULL, "retrying blob %s: %s", b->digest, err ? err->msg : "");
        sl_registry_backoff_sleep(job->dst, attempt, 0);
    }
}

static void *blob_worker(void *arg)
{
    struct blob_job *job = arg;
    int64_t prev_deadline = sl_registry_deadline_set(job->deadline_ms);
    struct sl_blob_streamer *streamer = sl_blob_streamer_new();
    for (;;) {
        pthread_mutex_lock(&job->mu);
        int stop = job->failed || job->next >= job->plan->n_blobs;
        size_t i = job->next;
        if (!stop)
            job->next++;
        pthread_mutex_unlock(&job->mu);
        if (stop)
            break;
        struct sl_err err;
        sl_err_clear(&err);
        int rc = (job->cancel && *job->cancel)
                     ? sl_err_set(&err, SL_ECANCELED, SL_ERRC_INTERNAL, "copy canceled")
                     : copy_one_blob(job, streamer, &job->plan->blobs[i], &err);
        if (rc < 0) {
            pthread_mutex_lock(&job->mu);
            if (!job->failed) {
                job->failed = 1;
                job->first_rc = rc;
                job->first_err = err;
            }
            pthread_mutex_unlock(&job->mu);
            break;
        }
    }
    sl_blob_streamer_free(streamer);
    sl_registry_deadline_set(prev_deadline);
    return NULL;
}

static int copy_blobs(struct plan *plan, struct sl_registry *src, const char *src_repo,
                      struct sl_registry *dst, const char *dst_repo,
                      const struct sl_copy_opts *opts, struct sl_copy_result *res,
                      struct sl_err *err)
{
    struct blob_job job;
    memset(&job, 0, sizeof(job));
    pthread_mutex_init(&job.mu, NULL);
    job.plan = plan;
    job.src = src;
    job.dst = dst;
    job.src_repo = src_repo;
    job.dst_repo = dst_repo;
    job.same_registry = strcmp(sl_registry_host(src), sl_registry_host(dst)) == 0 &&
                        strcmp(src_repo, dst_repo) != 0;
    job.max_attempts = opts->max_attempts > 0 ? opts->max_attempts : sl_registry_max_attempts(dst);
    job.cancel = opts->cancel;
    job.deadline_ms = sl_registry_deadline_get(); /* the workers keep the caller's deadline */
    job.res = res;
    int n = opts->concurrency > 0 ? opts->concurrency : DEFAULT_CONCURRENCY;
    if (n > MAX_CONCURRENCY)
        n = MAX_CONCURRENCY;
    if ((size_t)n > plan->n_blobs)
        n = (int)plan->n_blobs;
    pthread_t threads[MAX_CONCURRENCY];
    int started = 0;
    for (int i = 1; i < n; i++) {
        if (pthread_create(&threads[started], NULL, blob_worker, &job) == 0)
            started++;
    }
    if (plan->n_blobs > 0)
        blob_worker(&job); /* the calling thread works too */
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&job.mu);
    if (job.failed) {
        if (err)
            *err = job.first_err;
        return job.first_rc;
    }
    return 0;
}

static int select_platform_child(char **data, size_t *len, char **ctype, char digest[72],
                                 struct sl_registry *src, const char *repo,
                                 const struct sl_manifest *idx, const struct sl_platform *plats,
                                 size_t n_plats, struct sl_err *err)
{
    for (size_t i = 0; i < idx->n_children; i++) {
        if (!sl_platform_match(&idx->children[i], plats, n_plats))
            continue;
        struct sl_registry_manifest child;
        int rc = sl_registry_manifest_get(&child, src, repo, idx->children[i].digest, err);
        if (rc < 0)
            return rc;
        *data = child.data;
        *len = child.len;
        *ctype = sl_xstrdup(idx->children[i].media_type ? idx->children[i].media_type
                            : child.media_type          ? child.media_type
                                                        : SL_MT_OCI_MANIFEST);
        memcpy(digest, child.digest, 72);
        child.data = NULL;
        sl_registry_manifest_free(&child);
        return 0;
    }
    return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_INPUT,
                      "no manifest in the source index matches the requested platforms");
}

int sl_copy_target_verdict(int head_rc, const char *have, const char *digest,
                           const struct sl_ref *dst, const char *target_tag, int immutable,
                           struct sl_err *err)
{
    if (head_rc == 0 && strcmp(have, digest) == 0)
        return 1;
    if (head_rc == 0 && target_tag && immutable)
        return sl_err_set(err, SL_ECONFLICT, SL_ERRC_REGISTRY,
                          "target tag %s/%s:%s already points at %s, not %s; immutable tags "
                          "forbid moving it",
                          dst->registry, dst->repository, target_tag, have, digest);
    if (head_rc < 0 && head_rc != SL_ENOTFOUND)
        return head_rc;
    sl_err_clear(err);
    return 0;
}

int sl_copy_image_refs(struct sl_copy_result *out, struct sl_registry *src_reg,
                       const struct sl_ref *src, struct sl_registry *dst_reg,
                       const struct sl_ref *dst, const struct sl_copy_opts *opts,
                       struct sl_err *err)
{
    int rc = 0;
    struct sl_copy_result res;
    struct sl_registry_manifest top;
    struct sl_manifest parsed;
    struct plan plan;
    struct sl_platform plats[16];
    char *data = NULL, *ctype = NULL, *target_mt = NULL;
    size_t len = 0;
    char digest[72];
    memset(&res, 0, sizeof(res));
    memset(&top, 0, sizeof(top));
    memset(&parsed, 0, sizeof(parsed));
    memset(&plan, 0, sizeof(plan));
    struct sl_copy_opts defaults;
    memset(&defaults, 0, sizeof(defaults));
    if (!opts)
        opts = &defaults;
    char *src_name = sl_ref_string(src);
    char *dst_name = sl_ref_string(dst);

    if (opts->n_platforms > sizeof(plats) / sizeof(plats[0])) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "too many platforms (at most 16)");
        goto done;
    }
    for (size_t i = 0; i < opts->n_platforms; i++) {
        rc = sl_platform_parse(&plats[i], opts->platforms[i], err);
        if (rc < 0)
            goto done;
    }
    const char *src_reference = src->digest ? src->digest : src->tag ? src->tag : "latest";
    rc = sl_registry_manifest_get(&top, src_reg, src->repository, src_reference, err);
    if (rc < 0)
        goto done;
    memcpy(res.source_digest, top.digest, sizeof(res.source_digest));
    rc = sl_manifest_parse(&parsed, top.data, top.len, top.media_type, err);
    if (rc < 0) {
        sl_err_prefix(err, "%s", src_name);
        goto done;
    }

    if (parsed.kind == SL_MANIFEST_INDEX && opts->n_platforms > 0) {
        if (opts->single_platform_image && opts->n_platforms == 1) {
            rc = select_platform_child(&data, &len, &ctype, digest, src_reg, src->repository,
                                       &parsed, plats, opts->n_platforms, err);
        } else {
            rc = sl_manifest_filter_index(&data, &len, top.data, top.len, plats, opts->n_platforms,
                                          err);
            if (rc == 0) {
                ctype = sl_xstrdup(parsed.media_type);
                sl_digest_sha256(digest, data, len);
            }
        }
        if (rc < 0) {
            sl_err_prefix(err, "%s", src_name);
            goto done;
        }
    } else {
        data = top.data;
        len = top.len;
        top.data = NULL;
        ctype = sl_xstrdup(parsed.media_type);
        memcpy(digest, top.digest, sizeof(digest));
    }

    if (dst->digest && strcmp(dst->digest, digest) != 0) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_INPUT,
                        "target %s names digest %s but the content to deliver is %s", dst_name,
                        dst->digest, digest);
        goto done;
    }
    const char *target_tag = dst->tag ? dst->tag : (!dst->digest ? src->tag : NULL);
    const char *target_reference = target_tag ? target_tag : digest;

    /* already there? (one HEAD, unless the caller has just made it; the steady state of a
     * delivery) */
    char have[72] = "";
    if (opts->target_checked) {
        snprintf(have, sizeof(have), "%s", opts->target_digest ? opts->target_digest : "");
        rc = have[0] ? 0 : SL_ENOTFOUND;
    } else {
        rc = sl_registry_manifest_head(have, &target_mt, dst_reg, dst->repository, target_reference,
                                       err);
    }
    rc = sl_copy_target_verdict(rc, have, digest, dst, target_tag, opts->immutable_tag, err);
    if (rc == 1) {
        res.already_in_sync = 1;
        rc = 0;
        goto finish;
    }
    if (rc != 0)
        goto done;

    /* plan: every manifest below the top, then the top itself */
    {
        struct sl_manifest tm;
        rc = sl_manifest_parse(&tm, data, len, ctype, err);
        if (rc < 0)
            goto done;
        if (tm.kind == SL_MANIFEST_INDEX) {
            for (size_t i = 0; i < tm.n_children && rc == 0; i++) {
                struct sl_registry_manifest child;
                rc = sl_registry_manifest_get(&child, src_reg, src->repository,
                                              tm.children[i].digest, err);
                if (rc < 0)
                    break;
                const char *ct =
                    tm.children[i].media_type ? tm.children[i].media_type : child.media_type;
                rc = plan_manifest(&plan, src_reg, src->repository, child.data, child.len, ct,
                                   child.digest, 1, err);
                child.data = NULL;
                sl_registry_manifest_free(&child);
            }
        } else {
            plan_add_blob(&plan, &tm.config);
            for (size_t i = 0; i < tm.n_layers; i++)
                plan_add_blob(&plan, &tm.layers[i]);
        }
        sl_manifest_free(&tm);
        if (rc < 0)
            goto done;
    }
    res.blobs_total = (unsigned)plan.n_blobs;
    rc = copy_blobs(&plan, src_reg, src->repository, dst_reg, dst->repository, opts, &res, err);
    if (rc < 0)
        goto done;
    for (size_t i = 0; i < plan.n_nodes; i++) {
        struct node *n = &plan.nodes[i];
        rc = sl_registry_manifest_put(NULL, dst_reg, dst->repository, n->digest, n->media_type,
                                      n->data, n->len, err);
        if (rc < 0)
            goto done;
        res.manifests_put++;
    }
    /* the tag last: everything it points at exists now */
    rc = sl_registry_manifest_put(NULL, dst_reg, dst->repository, target_reference, ctype, data,
                                  len, err);
    if (rc < 0)
        goto done;
    res.manifests_put++;
finish:
    memcpy(res.digest, digest, sizeof(res.digest));
    snprintf(res.media_type, sizeof(res.media_type), "%s", ctype);
    *out = res;
    rc = 0;
done:
    if (rc < 0 && err && !strstr(err->msg, src_name) && !strstr(err->msg, dst_name))
        sl_err_prefix(err, "copy %s to %s", src_name, dst_name);
    free(src_name);
    free(dst_name);
    free(data);
    free(ctype);
    free(target_mt);
    plan_free(&plan);
    sl_manifest_free(&parsed);
    sl_registry_manifest_free(&top);
    return rc;
}

int sl_copy_image(struct sl_copy_result *out, const struct sl_copy_endpoint *src,
                  const struct sl_copy_endpoint *dst, const struct sl_copy_opts *opts,
                  struct sl_err *err)
{
    struct sl_ref sref, dref;
    memset(&sref, 0, sizeof(sref));
    memset(&dref, 0, sizeof(dref));
    struct sl_registry *sreg = NULL, *dreg = NULL;
    int rc = sl_ref_parse(&sref, src->image, err);
    if (rc < 0) {
        sl_err_prefix(err, "source");
        goto done;
    }
    rc = sl_ref_parse(&dref, dst->image, err);
    if (rc < 0) {
        sl_err_prefix(err, "destination");
        goto done;
    }
    struct sl_registry_opts ro;
    memset(&ro, 0, sizeof(ro));
    if (opts) {
        ro.max_attempts = opts->max_attempts;
        ro.backoff_base_ms = opts->backoff_base_ms;
    }
    ro.insecure = src->insecure;
    ro.ca_pem = src->ca_pem;
    ro.insecure_flag = src->insecure_flag;
    ro.creds_hint = src->creds_hint;
    sreg = sl_registry_new(sl_ref_api_host(&sref), src->creds, &ro);
    ro.insecure = dst->insecure;
    ro.ca_pem = dst->ca_pem;
    ro.insecure_flag = dst->insecure_flag;
    ro.creds_hint = dst->creds_hint;
    dreg = sl_registry_new(sl_ref_api_host(&dref), dst->creds, &ro);
    rc = sl_copy_image_refs(out, sreg, &sref, dreg, &dref, opts, err);
done:
    sl_registry_free(sreg);
    sl_registry_free(dreg);
    sl_ref_free(&sref);
    sl_ref_free(&dref);
    return rc;
}
