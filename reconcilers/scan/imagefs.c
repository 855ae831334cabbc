/* Final-filesystem view of an image for the scanner: whiteouts, overrides, captures, hashes. */
#include "scan/imagefs.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

static void rec_free(void *p)
{
    struct sl_fsrec *r = p;
    if (!r)
        return;
    free(r->data);
    free(r);
}

void sl_imagefs_init(struct sl_imagefs *fs, const struct sl_hsbdb *hsb)
{
    memset(fs, 0, sizeof(*fs));
    sl_strmap_init(&fs->recs);
    fs->hsb = hsb;
}

void sl_imagefs_free(struct sl_imagefs *fs)
{
    if (!fs)
        return;
    sl_strmap_clear(&fs->recs, rec_free);
    memset(fs, 0, sizeof(*fs));
}

bool sl_imagefs_is_capture_path(const char *path)
{
    static const char *const exact[] = {
        "etc/os-release",       "usr/lib/os-release",       "var/lib/dpkg/status",
        "lib/apk/db/installed", "usr/lib/apk/db/installed", "etc/apk/repositories",
    };
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (strcmp(path, exact[i]) == 0)
            return true;
    static const char sd[] = "var/lib/dpkg/status.d/";
    if (strncmp(path, sd, sizeof(sd) - 1) == 0) {
        const char *name = path + sizeof(sd) - 1;
        size_t n = strlen(name);
        if (n == 0 || strchr(name, '/'))
            return false;
        if (n > 8 && strcmp(name + n - 8, ".md5sums") == 0)
            return false;
        return true;
    }
    return false;
}

/* State of the layer being walked. */
struct layer_ctx {
    struct sl_imagefs *fs;
    struct sl_strmap whiteouts; /* paths hidden in lower layers (and everything below) */
    struct sl_strmap opaques;   /* directories whose lower-layer content is hidden */
    /* current entry */
    char *path;
    struct sl_fsrec *cur; /* being filled (not yet in the map) */
    uint64_t size;
    uint64_t seen;
    bool capture, pem, hash;
    bool capture_too_big;
    char pem_window[SL_IMAGEFS_PEM_WINDOW + 1];
    size_t pem_len;
    EVP_MD_CTX *md;
};

/* Drops a record for path coming from a lower layer (same-path override). */
static void drop_lower(struct layer_ctx *lc, const char *path)
{
    struct sl_fsrec *old = sl_strmap_get(&lc->fs->recs, path, NULL);
    if (old && old->layer < lc->fs->layers)
        rec_free(sl_strmap_remove(&lc->fs->recs, path, NULL));
}

static int on_entry(void *ctx, const struct sl_tar_entry *e, bool *want)
{
    struct layer_ctx *lc = ctx;
    const char *slash = strrchr(e->path, '/');
    const char *base = slash ? slash + 1 : e->path;
    *want = false;
    if (strncmp(base, ".wh.", 4) == 0) {
        /* whiteouts hide lower-layer content; they are not files themselves */
        size_t dirlen = slash ? (size_t)(slash - e->path) : 0;
        if (strcmp(base, ".wh..wh..opq") == 0) {
            char *dir = sl_xstrndup(e->path, dirlen);
            sl_strmap_put(&lc->opaques, dir, (void *)1);
            free(dir);
        } else if (base[4]) {
            char *hidden = dirlen ? sl_xasprintf("%.*s/%s", (int)dirlen, e->path, base + 4)
                                  : sl_xstrdup(base + 4);
            sl_strmap_put(&lc->whiteouts, hidden, (void *)1);
            free(hidden);
        }
        return 0;
    }
    drop_lower(lc, e->path);
    if (e->type != SL_TAR_FILE && e->type != SL_TAR_HARDLINK)
        return 0;
    struct sl_fsrec *r = sl_xcalloc(1, sizeof(*r));
    r->layer = lc->fs->layers;
    r->mode = e->mode;
    if (e->mode & 04000)
        r->flags |= SL_FSREC_SETUID;
    if (e->mode & 02000)
        r->flags |= SL_FSREC_SETGID;
    lc->capture = e->type == SL_TAR_FILE && sl_imagefs_is_capture_path(e->path);
    lc->pem = e->type == SL_TAR_FILE && e->size > 0 && e->size <= SL_IMAGEFS_PEM_MAX_FILE;
    lc->hash = e->type == SL_TAR_FILE && sl_hsbdb_wants_size(lc->fs->hsb, e->size);
    lc->capture_too_big = lc->capture && e->size > SL_IMAGEFS_MAX_CAPTURE;
    if (lc->capture_too_big)
        lc->capture = false;
    if (lc->capture)
        r->data = sl_xmalloc((size_t)e->size + 1);
    lc->size = e->size;
    lc->seen = 0;
    lc->pem_len = 0;
    if (lc->hash)
        EVP_DigestInit_ex(lc->md, EVP_sha256(), NULL);
    free(lc->path);
    lc->path = sl_xstrdup(e->path);
    lc->cur = r;
    *want = lc->capture || lc->pem || lc->hash;
    return 0;
}

static int on_data(void *ctx, const void *buf, size_t n)
{
    struct layer_ctx *lc = ctx;
    if (lc->capture && lc->seen + n <= lc->size)
        memcpy(lc->cur->data + lc->seen, buf, n);
    if (lc->pem && lc->pem_len < SL_IMAGEFS_PEM_WINDOW) {
        size_t take = SL_IMAGEFS_PEM_WINDOW - lc->pem_len;
        if (take > n)
            take = n;
        memcpy(lc->pem_window + lc->pem_len, buf, take);
        lc->pem_len += take;
    }
    if (lc->hash)
        EVP_DigestUpdate(lc->md, buf, n);
    lc->seen += n;
    return 0;
}

/* "-----BEGIN <label>PRIVATE KEY-----" within the window (RSA, EC, OPENSSH, ENCRYPTED, PKCS#8) */
static bool has_private_key(const char *w, size_t n)
{
    static const char begin[] = "-----BEGIN ";
    static const char label_end[] = "PRIVATE KEY";
    const size_t bl = sizeof(begin) - 1, ll = sizeof(label_end) - 1;
    for (size_t i = 0; i + bl <= n; i++) {
        if (memcmp(w + i, begin, bl) != 0)
            continue;
        size_t j = i + bl, k = j;
        while (k < n && k - j < 64 && w[k] != '\n' && w[k] != '-')
            k++;
        if (k + 5 <= n && memcmp(w + k, "-----", 5) == 0 && k - j >= ll &&
            memcmp(w + k - ll, label_end, ll) == 0)
            return true;
    }
    return false;
}

static int on_entry_end(void *ctx)
{
    struct layer_ctx *lc = ctx;
    struct sl_fsrec *r = lc->cur;
    if (!r)
        return 0;
    lc->cur = NULL;
    if (lc->capture) {
        r->data[lc->size] = '\0';
        r->len = (size_t)lc->size;
        r->flags |= SL_FSREC_CAPTURED;
    }
    if (lc->pem && has_private_key(lc->pem_window, lc->pem_len))
        r->flags |= SL_FSREC_PRIVKEY;
    if (lc->hash) {
        unsigned char h[32];
        unsigned int hl = 0;
        EVP_DigestFinal_ex(lc->md, h, &hl);
        lc->fs->files_hashed++;
        const char *name = sl_hsbdb_match(lc->fs->hsb, h, lc->size);
        if (name) {
            r->flags |= SL_FSREC_MALWARE;
            r->malware = name;
        }
    }
    lc->capture = lc->pem = lc->hash = false;
    if (r->flags == 0) {
        /* nothing the scanner needs: keep no record (a lower one was already dropped) */
        rec_free(r);
        return 0;
    }
    rec_free(sl_strmap_put(&lc->fs->recs, lc->path, r));
    return 0;
}

/* Removal pass at the end of a layer: lower-layer records under a whiteout or opaque dir. */
static bool hidden_by_layer(void *ctx, const char *path, void *value)
{
    struct layer_ctx *lc = ctx;
    struct sl_fsrec *r = value;
    if (r->layer >= lc->fs->layers)
        return false;
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    /* the path itself and each ancestor against whiteouts; strict ancestors against opaques */
    if (sl_strmap_get(&lc->whiteouts, buf, NULL))
        goto hide;
    for (;;) {
        char *slash = strrchr(buf, '/');
        if (!slash)
            break;
        *slash = '\0';
        if (sl_strmap_get(&lc->whiteouts, buf, NULL) || sl_strmap_get(&lc->opaques, buf, NULL))
            goto hide;
    }
    if (sl_strmap_get(&lc->opaques, "", NULL)) /* opaque root */
        goto hide;
    return false;
hide:
    rec_free(r);
    return true;
}

int sl_imagefs_add_layer(struct sl_imagefs *fs, const struct sl_layer_stream *in,
                         const struct sl_walk_limits *lim, struct sl_err *err)
{
    struct layer_ctx lc;
    memset(&lc, 0, sizeof(lc));
    lc.fs = fs;
    sl_strmap_init(&lc.whiteouts);
    sl_strmap_init(&lc.opaques);
    lc.md = EVP_MD_CTX_new();
    if (!lc.md)
        return sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "cannot allocate a digest context");
    struct sl_tar_visitor v = {on_entry, on_data, on_entry_end, &lc};
    struct sl_walk_stats st = {0};
    int rc = sl_layer_walk(in, lim, &v, &st, err);
    if (lc.cur) {
        rec_free(lc.cur);
        lc.cur = NULL;
    }
    if (rc == 0 && (lc.whiteouts.count || lc.opaques.count))
        sl_strmap_each(&fs->recs, hidden_by_layer, &lc);
    fs->last = st;
    fs->skipped_unsafe += st.skipped_unsafe;
    fs->layers++;
    free(lc.path);
    EVP_MD_CTX_free(lc.md);
    sl_strmap_clear(&lc.whiteouts, NULL);
    sl_strmap_clear(&lc.opaques, NULL);
    return rc;
}

const struct sl_fsrec *sl_imagefs_get(const struct sl_imagefs *fs, const char *path)
{
    return sl_strmap_get(&fs->recs, path, NULL);
}

struct each_ctx {
    void (*fn)(const char *path, const struct sl_fsrec *rec, void *ctx);
    void *ctx;
};

static bool each_tramp(void *ctx, const char *key, void *value)
{
    struct each_ctx *ec = ctx;
    ec->fn(key, value, ec->ctx);
    return false;
}

void sl_imagefs_each(struct sl_imagefs *fs,
                     void (*fn)(const char *path, const struct sl_fsrec *rec, void *ctx), void *ctx)
{
    struct each_ctx ec = {fn, ctx};
    sl_strmap_each(&fs->recs, each_tramp, &ec);
}
