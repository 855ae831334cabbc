#include "oci/layout.h"

#include "oci/manifest.h"
#include "util/buf.h"
#include "util/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NESTING   4
#define MAX_PLATFORMS 16
#define INDEX_MAX     SL_MANIFEST_MAX

/* The options of a copy given none. */
static const struct sl_copy_opts no_opts;

int sl_layout_ref_is(const char *s)
{
    return s && strncmp(s, "oci:", 4) == 0;
}

int sl_layout_ref_parse(struct sl_layout_ref *out, const char *s, struct sl_err *err)
{
    if (!sl_layout_ref_is(s) || !s[4])
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                          "\"%.200s\" is not an OCI layout reference oci:DIR[:TAG]", s ? s : "");
    char *dir = sl_xstrdup(s + 4);
    char *tag = NULL;
    char *colon = strrchr(dir, ':');
    struct stat st;
    if (colon && !(stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) && !strchr(colon, '/')) {
        *colon = '\0';
        if (!sl_ref_is_tag(colon + 1) || !dir[0]) {
            int rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                                "%.300s: oci:DIR[:TAG] needs a directory and a valid tag", s);
            free(dir);
            return rc;
        }
        tag = sl_xstrdup(colon + 1);
    }
    out->dir = dir;
    out->tag = tag;
    return 0;
}

void sl_layout_ref_free(struct sl_layout_ref *r)
{
    if (!r)
        return;
    free(r->dir);
    free(r->tag);
    r->dir = r->tag = NULL;
}

/* dir/blobs/sha256/<hex> for digest (caller frees), or NULL when digest is not a sha256
 * digest (a hostile index.json must not name paths outside blobs/). */
static char *blob_path(const char *dir, const char *digest, struct sl_err *err)
{
    if (!digest || !sl_ref_is_digest(digest)) {
        sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                   "layout %s: digest \"%.80s\" is not sha256:<64 hex digits>", dir,
                   digest ? digest : "");
        return NULL;
    }
    return sl_xasprintf("%s/blobs/sha256/%s", dir, digest + 7);
}

/* Checks that the size bytes at data, read from the layout dir as blob digest, hash to digest.
 * Returns 0 or SL_EDIGEST. */
static int check_blob_digest(const char *dir, const char *digest, const void *data, size_t size,
                             struct sl_err *err)
{
    char got[72];
    sl_digest_sha256(got, data, size);
    if (strcmp(got, digest) == 0)
        return 0;
    return sl_err_set(err, SL_EDIGEST, SL_ERRC_INPUT,
                      "layout %s: blob %s does not match its digest (its content is %s)", dir,
                      digest, got);
}

/* Reads the blob digest of the layout (at most max bytes) and checks its digest. */
static int read_blob(char **out, size_t *len_out, const char *dir, const char *digest, size_t max,
                     struct sl_err *err)
{
    char *path = blob_path(dir, digest, err);
    if (!path)
        return SL_EINVAL;
    int rc = 0;
    struct sl_buf b;
    sl_buf_init(&b, max);
    FILE *f = fopen(path, "rb");
    if (!f) {
        rc = sl_err_set(err, errno == ENOENT ? SL_ENOTFOUND : SL_EFAIL, SL_ERRC_OS,
                        "layout %s: blob %s: %s", dir, digest, strerror(errno));
        goto done;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (sl_buf_append(&b, chunk, n) != 0) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT,
                            "layout %s: blob %s is larger than %zu bytes", dir, digest, max);
            goto done;
        }
    }
    rc = check_blob_digest(dir, digest, sl_buf_cstr(&b), b.len, err);
    if (rc)
        goto done;
    *len_out = b.len;
    *out = sl_buf_steal(&b, NULL);
done:
    if (f)
        fclose(f);
    sl_buf_free(&b);
    free(path);
    return rc;
}

/* Parses the text of an index.json (label names it in messages). */
static int parse_index(json_t **out, const char *text, size_t len, const char *label,
                       struct sl_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_JSON, "%s:%d: %s", label, je.line, je.text);
    if (!json_is_array(json_object_get(root, "manifests"))) {
        json_decref(root);
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s: no \"manifests\" array", label);
    }
    *out = root;
    return 0;
}

/* Reads dir/index.json into *text (at most INDEX_MAX bytes). Returns 0, SL_ENOTFOUND (no
 * index.json), SL_ETOOBIG or SL_EFAIL. */
static int read_index(struct sl_buf *text, const char *dir, struct sl_err *err)
{
    char *path = sl_xasprintf("%s/index.json", dir);
    int rc = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        rc = sl_err_set(err, errno == ENOENT ? SL_ENOTFOUND : SL_EFAIL, SL_ERRC_INPUT,
                        "%s: no index.json (not an OCI image layout): %s", dir, strerror(errno));
        goto done;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (sl_buf_append(text, chunk, n) != 0) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT, "%s: larger than %zu bytes", path,
                            (size_t)INDEX_MAX);
            break;
        }
    }
    fclose(f);
done:
    free(path);
    return rc;
}

/* Loads dir/index.json. Returns 0, SL_ENOTFOUND (no index.json) or SL_EINVAL. */
static int load_index(json_t **out, const char *dir, struct sl_err *err)
{
    struct sl_buf text;
    sl_buf_init(&text, INDEX_MAX);
    char *label = sl_xasprintf("%s/index.json", dir);
    int rc = read_index(&text, dir, err);
    if (rc == 0)
        rc = parse_index(out, sl_buf_cstr(&text), text.len, label, err);
    free(label);
    sl_buf_free(&text);
    return rc;
}

static const char *entry_ref_name(const json_t *entry)
{
    return json_string_value(
        json_object_get(json_object_get(entry, "annotations"), SL_LAYOUT_REF_NAME));
}

/* The index.json entry named tag, or the only entry when tag is NULL (borrowed from index). */
static int find_entry(const json_t **out, const json_t *index, const char *dir, const char *tag,
                      struct sl_err *err)
{
    const json_t *manifests = json_object_get(index, "manifests");
    size_t n = json_array_size(manifests);
    if (!tag) {
        if (n != 1)
            return sl_err_set(err, n ? SL_EINVAL : SL_ENOTFOUND, SL_ERRC_INPUT,
                              "layout %s holds %zu images; name one with oci:%s:TAG", dir, n, dir);
        *out = json_array_get(manifests, 0);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = entry_ref_name(json_array_get(manifests, i));
        if (name && strcmp(name, tag) == 0) {
            *out = json_array_get(manifests, i);
            return 0;
        }
    }
    return sl_err_set(err, SL_ENOTFOUND, SL_ERRC_INPUT,
                      "layout %s has no image tagged %s (annotation " SL_LAYOUT_REF_NAME ")", dir,
                      tag);
}

int sl_layout_index_find(char digest_out[72], char media_type_out[128], const char *json,
                         size_t len, const char *dir, const char *tag, struct sl_err *err)
{
    json_t *index = NULL;
    const json_t *entry = NULL;
    char *label = sl_xasprintf("%s/index.json", dir);
    int rc = parse_index(&index, json, len, label, err);
    if (rc == 0)
        rc = find_entry(&entry, index, dir, tag, err);
    if (rc == 0) {
        const char *digest = json_string_value(json_object_get(entry, "digest"));
        const char *mt = json_string_value(json_object_get(entry, "mediaType"));
        if (!digest || !sl_ref_is_digest(digest))
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                            "%s: the entry's digest is not sha256:<64 hex digits>", label);
        else if (mt && strlen(mt) >= 128)
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s: the entry's mediaType is too long",
                            label);
        if (rc == 0) {
            snprintf(digest_out, 72, "%s", digest);
            snprintf(media_type_out, 128, "%s", mt ? mt : "");
        }
    }
    json_decref(index);
    free(label);
    return rc;
}

static int parse_platforms(struct sl_platform *plats, const struct sl_copy_opts *opts,
                           struct sl_err *err)
{
    if (opts->n_platforms > MAX_PLATFORMS)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "too many platforms (at most %d)",
                          MAX_PLATFORMS);
    for (size_t i = 0; i < opts->n_platforms; i++) {
        int rc = sl_platform_parse(&plats[i], opts->platforms[i], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static char *put_media_type(const struct sl_manifest *m, const char *content_type)
{
    return sl_xstrdup(m->media_type  ? m->media_type
                      : content_type ? content_type
                                     : SL_MT_OCI_MANIFEST);
}

/* Fetches a child manifest for the platform selection: from a layout (dir set) or a
 * registry. */
struct manifest_reader {
    const char *dir;
    struct sl_registry *reg;
    const char *repo;
};

static int read_manifest(char **data, size_t *len, char **content_type,
                         const struct manifest_reader *r, const struct sl_descriptor *d,
                         struct sl_err *err)
{
    *content_type = NULL;
    if (r->dir) {
        int rc = read_blob(data, len, r->dir, d->digest, SL_MANIFEST_MAX, err);
        if (rc == 0 && d->media_type)
            *content_type = sl_xstrdup(d->media_type);
        return rc;
    }
    struct sl_registry_manifest m;
    int rc = sl_registry_manifest_get(&m, r->reg, r->repo, d->digest, err);
    if (rc < 0)
        return rc;
    *data = m.data;
    *len = m.len;
    const char *ct = d->media_type ? d->media_type : m.media_type;
    *content_type = ct ? sl_xstrdup(ct) : NULL;
    m.data = NULL;
    sl_registry_manifest_free(&m);
    return 0;
}

/* What is delivered for the top manifest (data, its media type and digest), after the platform
 * selection of opts, as the copy engine does it. Takes ownership of top. */
static int select_delivery(char **data, size_t *len, char **media_type, char digest[72], char *top,
                           size_t top_len, const char *top_ct, const struct manifest_reader *r,
                           const struct sl_copy_opts *opts, struct sl_err *err)
{
    struct sl_platform plats[MAX_PLATFORMS];
    struct sl_manifest m;
    memset(&m, 0, sizeof(m));
    char *ct = NULL;
    int rc = parse_platforms(plats, opts, err);
    if (rc < 0)
        goto done;
    rc = sl_manifest_parse(&m, top, top_len, top_ct, err);
    if (rc < 0)
        goto done;
    if (m.kind == SL_MANIFEST_INDEX && opts->n_platforms > 0) {
        if (opts->single_platform_image && opts->n_platforms == 1) {
            size_t i = 0;
            while (i < m.n_children && !sl_platform_match(&m.children[i], plats, 1))
                i++;
            if (i == m.n_children) {
                rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_INPUT,
                                "no manifest in the source index matches %s", opts->platforms[0]);
                goto done;
            }
            char *child = NULL, *child_ct = NULL;
            size_t child_len = 0;
            rc = read_manifest(&child, &child_len, &child_ct, r, &m.children[i], err);
            if (rc < 0)
                goto done;
            struct sl_manifest cm;
            memset(&cm, 0, sizeof(cm));
            rc = sl_manifest_parse(&cm, child, child_len, child_ct, err);
            if (rc == 0)
                ct = put_media_type(&cm, child_ct);
            sl_manifest_free(&cm);
            free(child_ct);
            if (rc < 0) {
                free(child);
                goto done;
            }
            free(top);
            top = child;
            top_len = child_len;
            snprintf(digest, 72, "%s", m.children[i].digest);
        } else {
            char *filtered = NULL;
            size_t filtered_len = 0;
            rc = sl_manifest_filter_index(&filtered, &filtered_len, top, top_len, plats,
                                          opts->n_platforms, err);
            if (rc < 0)
                goto done;
            free(top);
            top = filtered;
            top_len = filtered_len;
            ct = sl_xstrdup(m.media_type);
            sl_digest_sha256(digest, top, top_len);
        }
    } else {
        ct = put_media_type(&m, top_ct);
        sl_digest_sha256(digest, top, top_len);
    }
    *data = top;
    *len = top_len;
    *media_type = ct;
    top = NULL;
    ct = NULL;
done:
    free(top);
    free(ct);
    sl_manifest_free(&m);
    return rc;
}

/* One copy between the layout dir and the repository repo of reg, in either direction, and
 * the result it fills. */
struct transfer {
    const char *dir;
    struct sl_registry *reg;
    const char *repo;
    struct sl_copy_result *res;
};

/* ---- layout -> registry ---- */

/* Uploads one blob of the layout unless the registry has it; the file is mapped, its size and
 * digest checked before anything is sent. */
static int push_blob(struct transfer *p, const struct sl_descriptor *d, struct sl_err *err)
{
    p->res->blobs_total++;
    int rc = sl_registry_blob_head(NULL, p->reg, p->repo, d->digest, err);
    if (rc == 0) {
        p->res->blobs_present++;
        return 0;
    }
    if (rc != SL_ENOTFOUND)
        return rc;
    sl_err_clear(err);
    char *path = blob_path(p->dir, d->digest, err);
    if (!path)
        return SL_EINVAL;
    void *map = MAP_FAILED;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = sl_err_set(err, errno == ENOENT ? SL_ENOTFOUND : SL_EFAIL, SL_ERRC_OS,
                        "layout %s: blob %s: %s", p->dir, d->digest, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode) || (int64_t)st.st_size != d->size) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_INPUT,
                        "layout %s: blob %s has %lld bytes, its descriptor says %lld", p->dir,
                        d->digest, (long long)st.st_size, (long long)d->size);
        goto done;
    }
    size_t size = (size_t)st.st_size;
    const void *data = "";
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "layout %s: blob %s: mmap: %s", p->dir,
                            d->digest, strerror(errno));
            goto done;
        }
        data = map;
    }
    rc = check_blob_digest(p->dir, d->digest, data, size, err);
    if (rc)
        goto done;
    rc = sl_registry_blob_upload(p->reg, p->repo, d->digest, data, size, 0, err);
    if (rc == 0) {
        p->res->blobs_copied++;
        p->res->bytes_copied += (int64_t)size;
    }
done:
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

/* Pushes what data (a manifest or index of the layout) refers to, then data itself under
 * reference. */
static int push_manifest(struct transfer *p, const char *data, size_t len, const char *content_type,
                         const char *reference, int depth, struct sl_err *err)
{
    struct sl_manifest m;
    int rc = sl_manifest_parse(&m, data, len, content_type, err);
    if (rc < 0) {
        sl_err_prefix(err, "layout %s", p->dir);
        return rc;
    }
    char *mt = put_media_type(&m, content_type);
    if (m.kind == SL_MANIFEST_INDEX) {
        if (depth >= MAX_NESTING) {
            rc = sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_INPUT,
                            "layout %s: indexes nested deeper than %d", p->dir, MAX_NESTING);
            goto done;
        }
        for (size_t i = 0; i < m.n_children && rc == 0; i++) {
            char *child = NULL;
            size_t child_len = 0;
            rc = read_blob(&child, &child_len, p->dir, m.children[i].digest, SL_MANIFEST_MAX, err);
            if (rc == 0)
                rc = push_manifest(p, child, child_len, m.children[i].media_type,
                                   m.children[i].digest, depth + 1, err);
            free(child);
        }
    } else {
        rc = push_blob(p, &m.config, err);
        for (size_t i = 0; i < m.n_layers && rc == 0; i++)
            rc = push_blob(p, &m.layers[i], err);
    }
    if (rc == 0)
        rc = sl_registry_manifest_put(NULL, p->reg, p->repo, reference, mt, data, len, err);
    if (rc == 0)
        p->res->manifests_put++;
done:
    free(mt);
    sl_manifest_free(&m);
    return rc;
}

int sl_layout_copy_to_registry(struct sl_copy_result *out, const struct sl_layout_ref *src,
                               struct sl_registry *dst_reg, const struct sl_ref *dst,
                               const struct sl_copy_opts *opts, struct sl_err *err)
{
    struct sl_copy_result res = {0};
    if (!opts)
        opts = &no_opts;
    struct sl_buf index_text;
    sl_buf_init(&index_text, INDEX_MAX);
    char *top = NULL, *data = NULL, *mt = NULL, *have_mt = NULL;
    size_t top_len = 0, len = 0;
    char digest[72], top_digest[72], top_ct[128];
    int rc = read_index(&index_text, src->dir, err);
    if (rc < 0)
        goto done;
    rc = sl_layout_index_find(top_digest, top_ct, sl_buf_cstr(&index_text), index_text.len,
                              src->dir, src->tag, err);
    if (rc < 0)
        goto done;
    rc = read_blob(&top, &top_len, src->dir, top_digest, SL_MANIFEST_MAX, err);
    if (rc < 0)
        goto done;
    snprintf(res.source_digest, sizeof(res.source_digest), "%s", top_digest);
    struct manifest_reader reader = {.dir = src->dir};
    rc = select_delivery(&data, &len, &mt, digest, top, top_len, top_ct[0] ? top_ct : NULL, &reader,
                         opts, err);
    top = NULL;
    if (rc < 0)
        goto done;
    if (dst->digest && strcmp(dst->digest, digest) != 0) {
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_INPUT,
                        "target names digest %s but the content to deliver is %s", dst->digest,
                        digest);
        goto done;
    }
    const char *target_tag = dst->tag ? dst->tag : (!dst->digest ? src->tag : NULL);
    const char *reference = target_tag ? target_tag : digest;
    char have[72];
    rc = sl_registry_manifest_head(have, &have_mt, dst_reg, dst->repository, reference, err);
    rc = sl_copy_target_verdict(rc, have, digest, dst, target_tag, opts->immutable_tag, err);
    if (rc == 1) {
        res.already_in_sync = 1;
        rc = 0;
        goto finish;
    }
    if (rc != 0)
        goto done;
    struct transfer p = {src->dir, dst_reg, dst->repository, &res};
    rc = push_manifest(&p, data, len, mt, reference, 0, err);
    if (rc < 0)
        goto done;
finish:
    memcpy(res.digest, digest, sizeof(res.digest));
    snprintf(res.media_type, sizeof(res.media_type), "%s", mt);
    *out = res;
    rc = 0;
done:
    sl_buf_free(&index_text);
    free(top);
    free(data);
    free(mt);
    free(have_mt);
    return rc;
}

/* ---- registry -> layout ---- */

static int mkdir_if_missing(const char *path, struct sl_err *err)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot create %s: %s", path, strerror(errno));
}

/* Writes data to path through path.tmp and a rename, so readers never see half a file. */
static int write_file_atomic(const char *path, const void *data, size_t len, struct sl_err *err)
{
    char *tmp = sl_xasprintf("%s.tmp", path);
    int rc = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    bool written = fwrite(data, 1, len, f) == len;
    if (fclose(f) != 0 || !written)
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot write %s: %s", tmp, strerror(errno));
    else if (rename(tmp, path) != 0)
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot rename %s: %s", tmp, strerror(errno));
    if (rc != 0)
        unlink(tmp);
done:
    free(tmp);
    return rc;
}

/* Where a streamed blob goes: the file, and the size its descriptor announced (a registry that
 * sends more is cut off at once rather than filling the disk). */
struct blob_sink {
    FILE *f;
    int64_t written, limit;
};

static int write_chunk(void *ctx, const void *buf, size_t n)
{
    struct blob_sink *sink = ctx;
    if ((int64_t)n > sink->limit - sink->written)
        return SL_ETOOBIG;
    sink->written += (int64_t)n;
    return fwrite(buf, 1, n, sink->f) == n ? 0 : SL_EFAIL;
}

/* Streams one blob into the layout unless a file of the right size is there already. The
 * registry client checks the digest at the end; only then is the file renamed into place. */
static int pull_blob(struct transfer *p, const struct sl_descriptor *d, struct sl_err *err)
{
    p->res->blobs_total++;
    char *path = blob_path(p->dir, d->digest, err);
    if (!path)
        return SL_EINVAL;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (int64_t)st.st_size == d->size) {
        p->res->blobs_present++;
        free(path);
        return 0;
    }
    char *tmp = sl_xasprintf("%s.tmp", path);
    int rc = 0;
    int64_t bytes = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    struct blob_sink sink = {f, 0, d->size};
    rc = sl_registry_blob_stream(&bytes, p->reg, p->repo, d->digest, write_chunk, &sink, err);
    if (fclose(f) != 0 && rc == 0)
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot write %s: %s", tmp, strerror(errno));
    if (rc == 0 && bytes != d->size)
        rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_REGISTRY,
                        "blob %s: the registry sent %lld bytes, the manifest says %lld", d->digest,
                        (long long)bytes, (long long)d->size);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "cannot rename %s: %s", tmp, strerror(errno));
    if (rc == 0) {
        p->res->blobs_copied++;
        p->res->bytes_copied += bytes;
    }
done:
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    free(path);
    return rc;
}

/* Writes everything data (a manifest or index fetched from the registry, verified to hash to
 * digest) refers to into the layout, then data itself. */
static int pull_manifest(struct transfer *p, const char *data, size_t len, const char *content_type,
                         const char *digest, int depth, struct sl_err *err)
{
    struct sl_manifest m;
    int rc = sl_manifest_parse(&m, data, len, content_type, err);
    if (rc < 0)
        return rc;
    if (m.kind == SL_MANIFEST_INDEX) {
        if (depth >= MAX_NESTING) {
            rc = sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_REGISTRY, "indexes nested deeper than %d",
                            MAX_NESTING);
            goto done;
        }
        for (size_t i = 0; i < m.n_children && rc == 0; i++) {
            struct sl_registry_manifest child;
            rc = sl_registry_manifest_get(&child, p->reg, p->repo, m.children[i].digest, err);
            if (rc < 0)
                break;
            const char *ct = m.children[i].media_type ? m.children[i].media_type : child.media_type;
            rc = pull_manifest(p, child.data, child.len, ct, child.digest, depth + 1, err);
            sl_registry_manifest_free(&child);
        }
    } else {
        rc = pull_blob(p, &m.config, err);
        for (size_t i = 0; i < m.n_layers && rc == 0; i++)
            rc = pull_blob(p, &m.layers[i], err);
    }
    if (rc == 0) {
        char *path = blob_path(p->dir, digest, err);
        rc = path ? write_file_atomic(path, data, len, err) : SL_EINVAL;
        free(path);
    }
    if (rc == 0)
        p->res->manifests_put++;
done:
    sl_manifest_free(&m);
    return rc;
}

/* Names digest tag in dir/index.json (replacing an entry of that name), creating the file. */
static int index_add(const char *dir, const char *tag, const char *media_type, const char *digest,
                     size_t len, struct sl_err *err)
{
    json_t *index = NULL;
    int rc = load_index(&index, dir, err);
    if (rc == SL_ENOTFOUND) {
        index = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", SL_MT_OCI_INDEX,
                          "manifests");
        rc = 0;
    }
    if (rc < 0)
        return rc;
    sl_err_clear(err);
    json_t *manifests = json_object_get(index, "manifests");
    for (size_t i = json_array_size(manifests); i-- > 0;) {
        const json_t *e = json_array_get(manifests, i);
        const char *name = entry_ref_name(e);
        const char *d = json_string_value(json_object_get(e, "digest"));
        if (tag ? (name && strcmp(name, tag) == 0) : (!name && d && strcmp(d, digest) == 0))
            json_array_remove(manifests, i);
    }
    json_t *entry = json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
                              (json_int_t)len);
    if (tag)
        json_object_set_new(entry, "annotations", json_pack("{s:s}", SL_LAYOUT_REF_NAME, tag));
    json_array_append_new(manifests, entry);
    char *text = json_dumps(index, JSON_COMPACT);
    char *path = sl_xasprintf("%s/index.json", dir);
    rc = write_file_atomic(path, text, strlen(text), err);
    free(path);
    free(text);
    json_decref(index);
    return rc;
}

int sl_layout_copy_from_registry(struct sl_copy_result *out, struct sl_registry *src_reg,
                                 const struct sl_ref *src, const struct sl_layout_ref *dst,
                                 const struct sl_copy_opts *opts, struct sl_err *err)
{
    struct sl_copy_result res = {0};
    if (!opts)
        opts = &no_opts;
    struct sl_registry_manifest top;
    memset(&top, 0, sizeof(top));
    char *data = NULL, *mt = NULL, *blobs = NULL, *sha = NULL, *marker = NULL;
    size_t len = 0;
    char digest[72];
    const char *reference = src->digest ? src->digest : src->tag ? src->tag : "latest";
    int rc = sl_registry_manifest_get(&top, src_reg, src->repository, reference, err);
    if (rc < 0)
        goto done;
    memcpy(res.source_digest, top.digest, sizeof(res.source_digest));
    struct manifest_reader reader = {.reg = src_reg, .repo = src->repository};
    rc = select_delivery(&data, &len, &mt, digest, top.data, top.len, top.media_type, &reader, opts,
                         err);
    top.data = NULL;
    if (rc < 0)
        goto done;

    blobs = sl_xasprintf("%s/blobs", dst->dir);
    sha = sl_xasprintf("%s/blobs/sha256", dst->dir);
    marker = sl_xasprintf("%s/oci-layout", dst->dir);
    if ((rc = mkdir_if_missing(dst->dir, err)) < 0 || (rc = mkdir_if_missing(blobs, err)) < 0 ||
        (rc = mkdir_if_missing(sha, err)) < 0)
        goto done;
    struct stat st;
    if (stat(marker, &st) != 0) {
        static const char layout_version[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
        rc = write_file_atomic(marker, layout_version, strlen(layout_version), err);
        if (rc < 0)
            goto done;
    }
    struct transfer p = {dst->dir, src_reg, src->repository, &res};
    rc = pull_manifest(&p, data, len, mt, digest, 0, err);
    if (rc < 0)
        goto done;
    /* the name last: everything it points at exists now */
    rc = index_add(dst->dir, dst->tag ? dst->tag : src->tag, mt, digest, len, err);
    if (rc < 0)
        goto done;
    memcpy(res.digest, digest, sizeof(res.digest));
    snprintf(res.media_type, sizeof(res.media_type), "%s", mt);
    *out = res;
done:
    sl_registry_manifest_free(&top);
    free(data);
    free(mt);
    free(blobs);
    free(sha);
    free(marker);
    return rc;
}
