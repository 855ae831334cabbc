/* Registry images and advisory artifacts for the scanner (see regimage.h). */
#include "scan/regimage.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/commands.h"
#include "oci/manifest.h"
#include "util/mem.h"

#define RING_BYTES   ((size_t)256 << 10)
#define CONFIG_MAX   ((size_t)4 << 20)
#define MANIFEST_CAP 4

/* ---- streaming a blob through a ring buffer ---- */

struct sl_reg_blob {
    struct sl_registry *reg;
    char *repo;
    char digest[72];
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned char *ring;
    size_t head, len; /* read position, bytes held */
    bool done;        /* producer finished (rc, err final) */
    bool closed;      /* consumer went away */
    int rc;
    struct sl_err err;
};

static int blob_on_data(void *ctx, const void *buf, size_t n)
{
    struct sl_reg_blob *b = ctx;
    const unsigned char *p = buf;
    pthread_mutex_lock(&b->mu);
    while (n > 0) {
        while (b->len == RING_BYTES && !b->closed)
            pthread_cond_wait(&b->cv, &b->mu);
        if (b->closed) {
            pthread_mutex_unlock(&b->mu);
            return SL_ECANCELED;
        }
        size_t tail = (b->head + b->len) % RING_BYTES;
        size_t room = RING_BYTES - b->len;
        size_t chunk = RING_BYTES - tail < room ? RING_BYTES - tail : room;
        if (chunk > n)
            chunk = n;
        memcpy(b->ring + tail, p, chunk);
        b->len += chunk;
        p += chunk;
        n -= chunk;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return 0;
}

static void *blob_thread(void *arg)
{
    struct sl_reg_blob *b = arg;
    struct sl_err err = {0};
    int rc = sl_registry_blob_stream(NULL, b->reg, b->repo, b->digest, blob_on_data, b, &err);
    pthread_mutex_lock(&b->mu);
    b->rc = rc;
    b->err = err;
    b->done = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static ssize_t blob_read(void *ctx, void *buf, size_t cap, struct sl_err *err)
{
    struct sl_reg_blob *b = ctx;
    ssize_t got = 0;
    pthread_mutex_lock(&b->mu);
    while (b->len == 0 && !b->done)
        pthread_cond_wait(&b->cv, &b->mu);
    if (b->len > 0) {
        size_t chunk = RING_BYTES - b->head < b->len ? RING_BYTES - b->head : b->len;
        if (chunk > cap)
            chunk = cap;
        memcpy(buf, b->ring + b->head, chunk);
        b->head = (b->head + chunk) % RING_BYTES;
        b->len -= chunk;
        got = (ssize_t)chunk;
        pthread_cond_broadcast(&b->cv);
    } else if (b->rc < 0) {
        /* the end of the body: only now is the digest known to match (rc 0) */
        if (err)
            *err = b->err;
        got = b->rc;
    }
    pthread_mutex_unlock(&b->mu);
    return got;
}

int sl_reg_blob_open(struct sl_reg_blob **out, struct sl_layer_stream *stream,
                     struct sl_registry *reg, const char *repo, const char *digest,
                     struct sl_err *err)
{
    struct sl_reg_blob *b = sl_xcalloc(1, sizeof(*b));
    b->reg = reg;
    b->repo = sl_xstrdup(repo);
    snprintf(b->digest, sizeof(b->digest), "%s", digest);
    b->ring = sl_xmalloc(RING_BYTES);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    if (pthread_create(&b->thread, NULL, blob_thread, b) != 0) {
        sl_reg_blob_close(b);
        return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot start a download thread");
    }
    b->started = true;
    stream->read = blob_read;
    stream->ctx = b;
    *out = b;
    return 0;
}

void sl_reg_blob_close(struct sl_reg_blob *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->closed = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (b->started)
        pthread_join(b->thread, NULL);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b->ring);
    free(b->repo);
    free(b);
}

/* ---- images ---- */

void sl_reg_image_free(struct sl_reg_image *img)
{
    if (!img)
        return;
    sl_reg_blob_close(img->open);
    free(img->repo);
    free(img->config);
    free(img->layers);
    memset(img, 0, sizeof(*img));
}

int sl_reg_image_open(struct sl_reg_image *out, struct sl_registry *reg, const char *repo,
                      const char *reference, const char *platform, struct sl_err *err)
{
    struct sl_registry_manifest rm;
    struct sl_manifest m;
    struct sl_platform plat;
    memset(&rm, 0, sizeof(rm));
    memset(&m, 0, sizeof(m));
    memset(out, 0, sizeof(*out));
    int rc = sl_platform_parse(&plat, platform ? platform : "linux/amd64", err);
    if (rc < 0)
        return rc;
    char *ref = sl_xstrdup(reference);
    for (int depth = 0;; depth++) {
        rc = sl_registry_manifest_get(&rm, reg, repo, ref, err);
        if (rc < 0)
            goto done;
        rc = sl_manifest_parse(&m, rm.data, rm.len, rm.media_type, err);
        if (rc < 0)
            goto done;
        if (m.kind == SL_MANIFEST_IMAGE)
            break;
        size_t i = 0;
        while (i < m.n_children && !sl_platform_match(&m.children[i], &plat, 1))
            i++;
        if (i == m.n_children || depth >= MANIFEST_CAP) {
            rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_REGISTRY, "%s@%s has no %s image", repo,
                            rm.digest, platform ? platform : "linux/amd64");
            goto done;
        }
        free(ref);
        ref = sl_xstrdup(m.children[i].digest);
        sl_manifest_free(&m);
        sl_registry_manifest_free(&rm);
        memset(&m, 0, sizeof(m));
    }
    out->reg = reg;
    out->repo = sl_xstrdup(repo);
    memcpy(out->manifest_digest, rm.digest, sizeof(out->manifest_digest));
    rc = sl_registry_blob_get(&out->config, &out->config_len, reg, repo, m.config.digest,
                              CONFIG_MAX, err);
    if (rc < 0)
        goto done;
    out->config = sl_xrealloc(out->config, out->config_len + 1);
    out->config[out->config_len] = '\0';
    out->layers = sl_xcalloc(m.n_layers ? m.n_layers : 1, sizeof(*out->layers));
    out->nlayers = m.n_layers;
    for (size_t i = 0; i < m.n_layers; i++) {
        snprintf(out->layers[i].digest, sizeof(out->layers[i].digest), "%s", m.layers[i].digest);
        out->layers[i].size = m.layers[i].size;
    }
done:
    if (rc < 0)
        sl_reg_image_free(out);
    free(ref);
    sl_manifest_free(&m);
    sl_registry_manifest_free(&rm);
    return rc;
}

static int reg_open_layer(void *ctx, size_t i, struct sl_layer_stream *out, struct sl_err *err)
{
    struct sl_reg_image *img = ctx;
    struct sl_reg_blob *b = NULL;
    int rc = sl_reg_blob_open(&b, out, img->reg, img->repo, img->layers[i].digest, err);
    if (rc == 0)
        img->open = b;
    return rc;
}

static void reg_close_layer(void *ctx, size_t i)
{
    (void)i;
    struct sl_reg_image *img = ctx;
    sl_reg_blob_close(img->open);
    img->open = NULL;
}

static const char *reg_layer_name(void *ctx, size_t i)
{
    struct sl_reg_image *img = ctx;
    return img->layers[i].digest;
}

void sl_reg_image_source(struct sl_image_source *src, struct sl_reg_image *img)
{
    memset(src, 0, sizeof(*src));
    src->nlayers = img->nlayers;
    src->config = img->config;
    src->config_len = img->config_len;
    src->open_layer = reg_open_layer;
    src->close_layer = reg_close_layer;
    src->layer_name = reg_layer_name;
    src->ctx = img;
}

/* ---- advisory artifacts ---- */

int sl_advdb_skip_name(const char *base)
{
    size_t n = strlen(base);
    return base[0] == '.' || strncasecmp(base, "README", 6) == 0 ||
           strncasecmp(base, "LICENSE", 7) == 0 ||
           (n > 3 && strcasecmp(base + n - 3, ".md") == 0) ||
           (n > 4 && strcasecmp(base + n - 4, ".txt") == 0);
}

struct adv_collect {
    struct sl_advdb *db;
    char *name;
    char *buf;
    size_t len, cap;
    bool skip;
    int rc;
    struct sl_err *err;
};

static int adv_entry(void *ctx, const struct sl_tar_entry *e, bool *want_data)
{
    struct adv_collect *c = ctx;
    const char *slash = strrchr(e->path, '/');
    const char *base = slash ? slash + 1 : e->path;
    *want_data = false;
    if (e->type != SL_TAR_FILE || e->problem || sl_advdb_skip_name(base))
        return 0;
    if (e->size > SL_ADVDB_MAX_FILE)
        return sl_err_set(c->err, SL_ETOOBIG, SL_ERRC_INPUT, "%s: larger than %zu bytes", e->path,
                          SL_ADVDB_MAX_FILE);
    free(c->name);
    c->name = sl_xstrdup(e->path);
    c->len = 0;
    if (c->cap < e->size + 1) {
        c->cap = (size_t)e->size + 1;
        c->buf = sl_xrealloc(c->buf, c->cap);
    }
    *want_data = true;
    return 0;
}

static int adv_data(void *ctx, const void *buf, size_t n)
{
    struct adv_collect *c = ctx;
    if (c->len + n + 1 > c->cap)
        return SL_ETOOBIG;
    memcpy(c->buf + c->len, buf, n);
    c->len += n;
    return 0;
}

static int adv_entry_end(void *ctx)
{
    struct adv_collect *c = ctx;
    if (!c->name)
        return 0;
    c->buf[c->len] = '\0';
    int rc = sl_advdb_load_buffer(c->db, c->name, c->buf, c->len, c->err);
    free(c->name);
    c->name = NULL;
    return rc;
}

int sl_advdb_load_image(struct sl_advdb *db, struct sl_registry *reg, const char *repo,
                        const char *reference, struct sl_err *err)
{
    struct sl_registry_manifest rm;
    struct sl_manifest m;
    struct sl_reg_blob *blob = NULL;
    memset(&rm, 0, sizeof(rm));
    memset(&m, 0, sizeof(m));
    struct adv_collect c = {.db = db, .err = err};
    int rc = sl_registry_manifest_get(&rm, reg, repo, reference, err);
    if (rc < 0)
        goto done;
    rc = sl_manifest_parse(&m, rm.data, rm.len, rm.media_type, err);
    if (rc < 0)
        goto done;
    if (m.kind != SL_MANIFEST_IMAGE || !m.config.media_type ||
        strcmp(m.config.media_type, SL_ADVDB_CONFIG_MT) != 0 || m.n_layers != 1) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "%s@%s is not an advisory artifact (expected config media type %s and "
                        "one layer; made by `sealift db push`)",
                        repo, rm.digest, SL_ADVDB_CONFIG_MT);
        goto done;
    }
    struct sl_layer_stream st;
    rc = sl_reg_blob_open(&blob, &st, reg, repo, m.layers[0].digest, err);
    if (rc < 0)
        goto done;
    struct sl_walk_limits lim;
    sl_walk_limits_default(&lim);
    lim.max_entry_bytes = SL_ADVDB_MAX_FILE;
    lim.max_total_bytes = SL_ADVDB_MAX_TOTAL;
    lim.max_entries = 1000000;
    struct sl_tar_visitor v = {adv_entry, adv_data, adv_entry_end, &c};
    rc = sl_layer_walk(&st, &lim, &v, NULL, err);
    if (rc < 0) {
        sl_err_prefix(err, "advisory artifact %s@%s", repo, rm.digest);
        goto done;
    }
    snprintf(db->digest, sizeof(db->digest), "%s", rm.digest);
done:
    sl_reg_blob_close(blob);
    free(c.name);
    free(c.buf);
    sl_manifest_free(&m);
    sl_registry_manifest_free(&rm);
    return rc;
}

int sl_scan_cli_load_vex(struct sl_vex *vex, const char *const *paths, size_t n, const char *cmd)
{
    for (size_t i = 0; i < n; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            sl_cli_errorf(cmd, "VEX document %s: cannot be read", paths[i]);
            return -1;
        }
        size_t cap = 65536, len = 0, got;
        char *data = sl_xmalloc(cap + 1);
        bool too_big = false;
        while ((got = fread(data + len, 1, cap - len, f)) > 0) {
            len += got;
            if (len > SL_VEX_MAX_DOC_BYTES) {
                too_big = true;
                break;
            }
            if (len == cap) {
                cap *= 2;
                data = sl_xrealloc(data, cap + 1);
            }
        }
        fclose(f);
        if (too_big) {
            free(data);
            sl_cli_errorf(cmd, "VEX document %s: larger than %d MiB", paths[i],
                          (int)(SL_VEX_MAX_DOC_BYTES >> 20));
            return -1;
        }
        data[len] = '\0';
        struct sl_err err = {0};
        int rc = sl_vex_load(vex, paths[i], data, len, &err);
        free(data);
        if (rc != 0) {
            sl_cli_errorf(cmd, "invalid VEX document: %s", err.msg);
            return -1;
        }
    }
    return 0;
}

int sl_scan_cli_check_platform(const char *platform, const char *cmd)
{
    struct sl_platform pl;
    struct sl_err err = {0};
    if (!platform || sl_platform_parse(&pl, platform, &err) == 0)
        return 0;
    sl_cli_errorf(cmd, "--platform must be OS/ARCH[/VARIANT], not \"%s\"", platform);
    return -1;
}
