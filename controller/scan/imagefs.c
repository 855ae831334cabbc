/* Final-filesystem view of an image for the scanner: whiteouts, overrides, captures, hashes. */
#include "scan/imagefs.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define MAX_LINK_HOPS    255 /* containerd's RootPath gives up beyond this */
#define MAX_RESOLVED     4096
#define MAX_RESOLVE_WORK (16 * 1024)

struct fslink {
    unsigned layer;
    char target[];
};

static void rec_free(void *p)
{
    struct sl_fsrec *r = p;
    if (!r)
        return;
    free(r->data);
    free(r);
}

/* Frees a record the view no longer holds, returning its captured bytes to the budget. */
static void rec_drop(struct sl_imagefs *fs, struct sl_fsrec *r)
{
    if (!r)
        return;
    if (r->data)
        fs->captured_bytes -= r->len + 1;
    rec_free(r);
}

void sl_imagefs_limits_default(struct sl_imagefs_limits *lim)
{
    lim->max_whiteouts = 100000;
    lim->max_whiteout_bytes = (size_t)16 << 20;
    lim->max_records = 100000;
    lim->max_symlinks = 200000;
    lim->max_symlink_bytes = (size_t)32 << 20;
    lim->max_captured_bytes = (size_t)128 << 20;
    lim->max_resolve_bytes = (size_t)1 << 30;
}

void sl_imagefs_init(struct sl_imagefs *fs, const struct sl_hsbdb *hsb)
{
    memset(fs, 0, sizeof(*fs));
    sl_strmap_init(&fs->recs);
    sl_strmap_init(&fs->links);
    fs->hsb = hsb;
    sl_imagefs_limits_default(&fs->lim);
}

void sl_imagefs_free(struct sl_imagefs *fs)
{
    if (!fs)
        return;
    sl_strmap_clear(&fs->recs, rec_free);
    sl_strmap_clear(&fs->links, free);
    for (size_t i = 0; i < fs->nissues; i++) {
        free(fs->issues[i].path);
        free(fs->issues[i].problem);
    }
    free(fs->issues);
    memset(fs, 0, sizeof(*fs));
}

static void add_issue(struct sl_imagefs *fs, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_issue(struct sl_imagefs *fs, const char *path, const char *fmt, ...)
{
    fs->issues_total++;
    if (fs->nissues >= SL_IMAGEFS_MAX_ISSUES)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fs->issues = sl_xrealloc(fs->issues, (fs->nissues + 1) * sizeof(*fs->issues));
    struct sl_fs_issue *is = &fs->issues[fs->nissues++];
    is->layer = fs->layers;
    /* a path at the limit is long: keep enough of it to find the entry */
    is->path = sl_xstrndup(path, 512);
    is->problem = sl_xstrdup(msg);
}

/* Resolves a cleaned path through the symlinks applied so far, inside the root, the way
 * containerd's RootPath does: the parent directories always, the last component when
 * follow_last. Absolute targets start again at the root; ".." stops at the root. *out is the
 * caller's. Adds the bytes it rewrote to *work (may be NULL). Returns 0, or -1 with *why set
 * when the links loop (more than 255) or the result is too long. */
static int resolve_path(const struct sl_imagefs *fs, const char *path, bool follow_last, char **out,
                        const char **why, uint64_t *work)
{
    if (fs->links.count == 0) {
        *out = sl_xstrdup(path);
        return 0;
    }
    char *rest = sl_xstrdup(path);
    char *cur = sl_xmalloc(MAX_RESOLVED + 1);
    size_t clen = 0, pos = 0;
    unsigned hops = 0;
    int rc = -1;
    cur[0] = '\0';
    while (rest[pos]) {
        while (rest[pos] == '/')
            pos++;
        size_t s = pos;
        while (rest[pos] && rest[pos] != '/')
            pos++;
        size_t n = pos - s;
        if (n == 0 || (n == 1 && rest[s] == '.'))
            continue;
        if (n == 2 && rest[s] == '.' && rest[s + 1] == '.') {
            while (clen > 0 && cur[clen - 1] != '/')
                clen--;
            if (clen > 0)
                clen--;
            cur[clen] = '\0';
            continue;
        }
        size_t before = clen;
        if (clen + (clen ? 1 : 0) + n > MAX_RESOLVED) {
            *why = "the path resolves to more than 4096 bytes";
            goto done;
        }
        if (clen)
            cur[clen++] = '/';
        memcpy(cur + clen, rest + s, n);
        clen += n;
        cur[clen] = '\0';
        size_t after = pos;
        while (rest[after] == '/')
            after++;
        bool last = rest[after] == '\0';
        if (last && !follow_last)
            continue;
        if (work)
            *work += clen; /* the lookup hashes the prefix */
        const struct fslink *l = sl_strmap_get(&fs->links, cur, NULL);
        if (!l)
            continue;
        if (++hops > MAX_LINK_HOPS) {
            *why = "more than 255 symlinks in the path (a loop?)";
            goto done;
        }
        char *next = sl_xasprintf("%s/%s", l->target, rest + pos);
        free(rest);
        rest = next;
        pos = 0;
        if (work)
            *work += strlen(rest) + 64;
        if (strlen(rest) > MAX_RESOLVE_WORK) {
            *why = "the path resolves to more than 4096 bytes";
            goto done;
        }
        clen = l->target[0] == '/' ? 0 : before;
        cur[clen] = '\0';
    }
    *out = cur;
    cur = NULL;
    rc = 0;
done:
    free(rest);
    free(cur);
    return rc;
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
    struct sl_err *err;
    struct sl_strmap whiteouts; /* paths hidden in lower layers (and everything below) */
    struct sl_strmap opaques;   /* directories whose lower-layer content is hidden */
    size_t whiteout_bytes;
    uint64_t resolve_work; /* bytes rewritten while resolving symlinks in this layer */
    /* current entry */
    char *path;
    struct sl_fsrec *cur; /* being filled (not yet in the map) */
    uint64_t size;
    uint64_t seen;
    bool capture, pem, hash;
    char pem_window[SL_IMAGEFS_PEM_WINDOW + 1];
    size_t pem_len;
    EVP_MD_CTX *md;
};

/* Drops a record for path coming from a lower layer (same-path override). */
static void drop_lower(struct layer_ctx *lc, const char *path)
{
    struct sl_fsrec *old = sl_strmap_get(&lc->fs->recs, path, NULL);
    if (old && old->layer < lc->fs->layers)
        rec_drop(lc->fs, sl_strmap_remove(&lc->fs->recs, path, NULL));
}

/* Stores r at path (replacing what was there), within the record bound. */
static int put_record(struct layer_ctx *lc, const char *path, struct sl_fsrec *r)
{
    struct sl_imagefs *fs = lc->fs;
    if (!sl_strmap_get(&fs->recs, path, NULL) && fs->recs.count >= fs->lim.max_records) {
        rec_drop(fs, r);
        return sl_err_set(lc->err, SL_ETOOBIG, SL_ERRC_INPUT,
                          "the image has more than %zu files to check (setuid, private keys, "
                          "package databases, malware): refusing an unbounded layer",
                          fs->lim.max_records);
    }
    rec_drop(fs, sl_strmap_put(&fs->recs, path, r));
    return 0;
}

static int add_whiteout(struct layer_ctx *lc, struct sl_strmap *set, const char *path)
{
    const struct sl_imagefs_limits *lim = &lc->fs->lim;
    if (sl_strmap_get(set, path, NULL))
        return 0;
    size_t n = strlen(path) + 1;
    if (lc->whiteouts.count + lc->opaques.count >= lim->max_whiteouts ||
        lc->whiteout_bytes + n > lim->max_whiteout_bytes)
        return sl_err_set(lc->err, SL_ETOOBIG, SL_ERRC_INPUT,
                          "layer has more than %zu whiteouts (or %zu bytes of whiteout paths): "
                          "refusing a whiteout flood",
                          lim->max_whiteouts, lim->max_whiteout_bytes);
    lc->whiteout_bytes += n;
    sl_strmap_put(set, path, (void *)1);
    return 0;
}

/* A whiteout entry: base is ".wh.<name>" or the opaque marker; parent is the resolved dir. */
static int on_whiteout(struct layer_ctx *lc, const char *entry_path, const char *parent,
                       const char *base)
{
    if (strcmp(base, ".wh..wh..opq") == 0)
        return add_whiteout(lc, &lc->opaques, parent);
    const char *name = base + 4;
    if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        /* containerd refuses the layer: the name would remove the directory or its parent */
        add_issue(lc->fs, entry_path, "invalid whiteout name \"%s\"", base);
        return 0;
    }
    char *hidden = parent[0] ? sl_xasprintf("%s/%s", parent, name) : sl_xstrdup(name);
    int rc = add_whiteout(lc, &lc->whiteouts, hidden);
    free(hidden);
    return rc;
}

/* Records a symlink at its resolved path, within the symlink bounds. */
static int put_link(struct layer_ctx *lc, const char *path, const char *target)
{
    struct sl_imagefs *fs = lc->fs;
    size_t n = strlen(path) + strlen(target) + 2;
    if (fs->links.count >= fs->lim.max_symlinks || fs->link_bytes + n > fs->lim.max_symlink_bytes)
        return sl_err_set(lc->err, SL_ETOOBIG, SL_ERRC_INPUT,
                          "the image has more than %zu symlinks (or %zu bytes of them): refusing "
                          "an unbounded layer",
                          fs->lim.max_symlinks, fs->lim.max_symlink_bytes);
    struct fslink *l = sl_xmalloc(sizeof(*l) + strlen(target) + 1);
    l->layer = fs->layers;
    memcpy(l->target, target, strlen(target) + 1);
    fs->link_bytes += n;
    sl_strmap_put(&fs->links, path, l);
    return 0;
}

static void drop_link(struct sl_imagefs *fs, const char *path)
{
    struct fslink *l = sl_strmap_remove(&fs->links, path, NULL);
    if (l) {
        fs->link_bytes -= strlen(path) + strlen(l->target) + 2;
        free(l);
    }
}

/* A hard link shares its target's inode: the target's content checks carry over, and the mode
 * of the link's header is what both names end up with (containerd chmods after linking). */
static int on_hardlink(struct layer_ctx *lc, const struct sl_tar_entry *e, const char *path)
{
    struct sl_imagefs *fs = lc->fs;
    char *target = NULL;
    const char *why = NULL;
    if (resolve_path(fs, e->linkname, false, &target, &why, &lc->resolve_work) != 0) {
        add_issue(fs, e->path, "hard link target %s: %s", e->linkname, why);
        return 0;
    }
    const struct fslink *tl = sl_strmap_get(&fs->links, target, NULL);
    if (tl) {
        /* a hard link to a symlink is that symlink (containerd does not follow it) */
        char *copy = sl_xstrdup(tl->target);
        int lrc = put_link(lc, path, copy);
        free(copy);
        free(target);
        return lrc;
    }
    unsigned mode_flags =
        ((e->mode & 04000) ? SL_FSREC_SETUID : 0) | ((e->mode & 02000) ? SL_FSREC_SETGID : 0);
    const struct sl_fsrec *t = sl_strmap_get(&fs->recs, target, NULL);
    struct sl_fsrec *r = sl_xcalloc(1, sizeof(*r));
    r->layer = fs->layers;
    r->mode = e->mode;
    r->flags = mode_flags;
    int rc = 0;
    if (t) {
        r->flags |= t->flags & (SL_FSREC_PRIVKEY | SL_FSREC_MALWARE);
        r->malware = t->malware;
    }
    if (sl_imagefs_is_capture_path(path)) {
        if (t && t->data) {
            if (fs->captured_bytes + t->len + 1 > fs->lim.max_captured_bytes) {
                rc = sl_err_set(lc->err, SL_ETOOBIG, SL_ERRC_INPUT,
                                "package databases in the image exceed %zu bytes",
                                fs->lim.max_captured_bytes);
                rec_free(r);
                goto done;
            }
            r->data = sl_xmalloc(t->len + 1);
            memcpy(r->data, t->data, t->len + 1);
            r->len = t->len;
            r->flags |= SL_FSREC_CAPTURED;
            fs->captured_bytes += t->len + 1;
        } else {
            add_issue(fs, e->path,
                      "hard link to %s, whose content the scanner did not keep, at a package "
                      "database path",
                      target);
        }
    }
    /* the same inode: the target's mode bits change too (never cleared here, to stay on the
     * side of reporting) */
    if (mode_flags && strcmp(target, path) != 0) {
        struct sl_fsrec *tw = sl_strmap_get(&fs->recs, target, NULL);
        if (tw) {
            tw->flags |= mode_flags;
        } else {
            struct sl_fsrec *nt = sl_xcalloc(1, sizeof(*nt));
            nt->layer = fs->layers;
            nt->mode = e->mode;
            nt->flags = mode_flags;
            rc = put_record(lc, target, nt);
            if (rc) {
                rec_free(r);
                goto done;
            }
        }
    }
    if (r->flags == 0)
        rec_free(r);
    else
        rc = put_record(lc, path, r);
done:
    free(target);
    return rc;
}

static int on_entry(void *ctx, const struct sl_tar_entry *e, bool *want)
{
    struct layer_ctx *lc = ctx;
    struct sl_imagefs *fs = lc->fs;
    *want = false;
    if (e->clamped)
        fs->clamped_paths++;
    if (e->problem) {
        add_issue(fs, e->path, "%s", e->problem);
        return 0;
    }
    if (!e->path[0])
        return 0; /* the root itself */
    if (lc->resolve_work > fs->lim.max_resolve_bytes)
        return sl_err_set(lc->err, SL_ETOOBIG, SL_ERRC_INPUT,
                          "resolving the layer's paths through its symlinks took more than %zu "
                          "bytes of work: refusing a symlink maze",
                          fs->lim.max_resolve_bytes);
    const char *slash = strrchr(e->path, '/');
    const char *base = slash ? slash + 1 : e->path;
    /* the parent directories resolved through symlinks, as containerd places the entry */
    char *parent_raw = slash ? sl_xstrndup(e->path, (size_t)(slash - e->path)) : sl_xstrdup("");
    char *parent = NULL, *path = NULL;
    const char *why = NULL;
    int rc = 0;
    if (resolve_path(fs, parent_raw, true, &parent, &why, &lc->resolve_work) != 0) {
        add_issue(fs, e->path, "%s", why);
        goto done;
    }
    if (strncmp(base, ".wh.", 4) == 0) {
        /* whiteouts hide lower-layer content; they are not files themselves */
        rc = on_whiteout(lc, e->path, parent, base);
        goto done;
    }
    path = parent[0] ? sl_xasprintf("%s/%s", parent, base) : sl_xstrdup(base);
    drop_lower(lc, path);
    drop_link(fs, path); /* whatever is written here replaces a symlink */
    if (e->type == SL_TAR_SYMLINK) {
        rc = put_link(lc, path, e->linkname);
        goto done;
    }
    if (e->type == SL_TAR_HARDLINK) {
        rc = on_hardlink(lc, e, path);
        goto done;
    }
    if (e->type != SL_TAR_FILE)
        goto done;
    /* a package database is looked for where the entry lands and where it was named */
    bool capture = sl_imagefs_is_capture_path(path) || sl_imagefs_is_capture_path(e->path);
    if (capture && e->size > SL_IMAGEFS_MAX_CAPTURE) {
        add_issue(fs, e->path, "package database of %llu bytes is larger than %zu: not read",
                  (unsigned long long)e->size, SL_IMAGEFS_MAX_CAPTURE);
        capture = false;
    }
    if (capture && fs->captured_bytes + e->size + 1 > fs->lim.max_captured_bytes) {
        rc = sl_err_set(lc->err, SL_ETOOBIG, SL_ERRC_INPUT,
                        "package databases in the image exceed %zu bytes",
                        fs->lim.max_captured_bytes);
        goto done;
    }
    struct sl_fsrec *r = sl_xcalloc(1, sizeof(*r));
    r->layer = fs->layers;
    r->mode = e->mode;
    if (e->mode & 04000)
        r->flags |= SL_FSREC_SETUID;
    if (e->mode & 02000)
        r->flags |= SL_FSREC_SETGID;
    lc->capture = capture;
    lc->pem = e->size > 0 && e->size <= SL_IMAGEFS_PEM_MAX_FILE;
    lc->hash = sl_hsbdb_wants_size(fs->hsb, e->size);
    if (lc->capture) {
        r->data = sl_xmalloc((size_t)e->size + 1);
        r->len = (size_t)e->size;
        fs->captured_bytes += (size_t)e->size + 1;
    }
    lc->size = e->size;
    lc->seen = 0;
    lc->pem_len = 0;
    if (lc->hash)
        EVP_DigestInit_ex(lc->md, EVP_sha256(), NULL);
    free(lc->path);
    lc->path = path;
    path = NULL;
    lc->cur = r;
    *want = lc->capture || lc->pem || lc->hash;
done:
    free(parent_raw);
    free(parent);
    free(path);
    return rc;
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
        rec_drop(lc->fs, r);
        return 0;
    }
    return put_record(lc, lc->path, r);
}

/* Whether path (from a lower layer) is under a whiteout or an opaque directory of this layer:
 * the path itself and each ancestor against whiteouts, strict ancestors against opaques. */
static bool hidden_by(struct layer_ctx *lc, const char *path)
{
    if (sl_strmap_get(&lc->whiteouts, path, NULL))
        return true;
    if (sl_strmap_get(&lc->opaques, "", NULL)) /* opaque root */
        return true;
    char *buf = sl_xstrdup(path);
    bool hide = false;
    for (;;) {
        char *slash = strrchr(buf, '/');
        if (!slash)
            break;
        *slash = '\0';
        if (sl_strmap_get(&lc->whiteouts, buf, NULL) || sl_strmap_get(&lc->opaques, buf, NULL)) {
            hide = true;
            break;
        }
    }
    free(buf);
    return hide;
}

/* Removal pass at the end of a layer: lower-layer records under a whiteout or opaque dir. */
static bool hidden_rec(void *ctx, const char *path, void *value)
{
    struct layer_ctx *lc = ctx;
    struct sl_fsrec *r = value;
    if (r->layer >= lc->fs->layers || !hidden_by(lc, path))
        return false;
    rec_drop(lc->fs, r);
    return true;
}

static bool hidden_link(void *ctx, const char *path, void *value)
{
    struct layer_ctx *lc = ctx;
    struct fslink *l = value;
    if (l->layer >= lc->fs->layers || !hidden_by(lc, path))
        return false;
    lc->fs->link_bytes -= strlen(path) + strlen(l->target) + 2;
    free(l);
    return true;
}

int sl_imagefs_add_layer(struct sl_imagefs *fs, const struct sl_layer_stream *in,
                         const struct sl_walk_limits *lim, struct sl_err *err)
{
    struct layer_ctx lc;
    memset(&lc, 0, sizeof(lc));
    lc.fs = fs;
    lc.err = err;
    sl_strmap_init(&lc.whiteouts);
    sl_strmap_init(&lc.opaques);
    lc.md = EVP_MD_CTX_new();
    if (!lc.md)
        return sl_err_set(err, SL_EFAIL, SL_ERRC_CRYPTO, "cannot allocate a digest context");
    struct sl_tar_visitor v = {on_entry, on_data, on_entry_end, &lc};
    struct sl_walk_stats st = {0};
    int rc = sl_layer_walk(in, lim, &v, &st, err);
    if (lc.cur) {
        rec_drop(fs, lc.cur);
        lc.cur = NULL;
    }
    if (rc == 0 && (lc.whiteouts.count || lc.opaques.count)) {
        sl_strmap_each(&fs->recs, hidden_rec, &lc);
        sl_strmap_each(&fs->links, hidden_link, &lc);
    }
    fs->last = st;
    fs->layers++;
    free(lc.path);
    EVP_MD_CTX_free(lc.md);
    sl_strmap_clear(&lc.whiteouts, NULL);
    sl_strmap_clear(&lc.opaques, NULL);
    return rc;
}

void sl_imagefs_finish(struct sl_imagefs *fs)
{
    static const char *const paths[] = {
        "etc/os-release",       "usr/lib/os-release",       "var/lib/dpkg/status",
        "lib/apk/db/installed", "usr/lib/apk/db/installed", "etc/apk/repositories",
    };
    if (fs->links.count == 0)
        return;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char *at = NULL, *real = NULL;
        const char *why = NULL;
        if (resolve_path(fs, paths[i], false, &at, &why, NULL) != 0 ||
            resolve_path(fs, paths[i], true, &real, &why, NULL) != 0) {
            add_issue(fs, paths[i], "%s", why);
        } else if (strcmp(at, real) != 0) {
            /* the database path is itself a symlink: its content is the target's */
            const struct sl_fsrec *r = sl_strmap_get(&fs->recs, real, NULL);
            if (!(r && r->data) && !sl_imagefs_is_capture_path(real))
                add_issue(fs, paths[i],
                          "a symlink redirects it to %s, whose content the scanner did not keep",
                          real);
        }
        free(at);
        free(real);
    }
}

const struct sl_fsrec *sl_imagefs_get(const struct sl_imagefs *fs, const char *path)
{
    char *real = NULL;
    const char *why = NULL;
    if (fs->links.count == 0 || resolve_path(fs, path, true, &real, &why, NULL) != 0)
        return sl_strmap_get(&fs->recs, path, NULL);
    const struct sl_fsrec *r = sl_strmap_get(&fs->recs, real, NULL);
    free(real);
    return r;
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
