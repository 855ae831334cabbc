/* OCI image layout reader. */
#include "scan/ocilayout.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/mem.h"

#define CONFIG_MAX ((size_t)16 << 20)

/* "sha256:<64 hex>" only: the digest becomes a path, so nothing else is accepted */
static bool digest_ok(const char *d)
{
    if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
            return false;
    return true;
}

static void hex32(char *out, const unsigned char *h)
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* Reads a blob fully (capped) and checks its digest. */
static int read_blob(char **out, size_t *len_out, const char *dir, const char *digest, size_t max,
                     struct sl_err *err)
{
    if (!digest_ok(digest))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "bad digest \"%.80s\"",
                          digest ? digest : "");
    char path[4096];
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, digest + 7);
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_err_set(err, errno == ENOENT ? SL_ENOTFOUND : SL_EFAIL, SL_ERRC_OS, "blob %s: %s",
                          digest, strerror(errno));
    struct sl_buf b;
    sl_buf_init(&b, max);
    char chunk[16384];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (sl_buf_append(&b, chunk, n) != 0) {
            rc = sl_err_set(err, SL_ETOOBIG, SL_ERRC_INPUT, "blob %s is larger than %zu bytes",
                            digest, max);
            break;
        }
    }
    fclose(f);
    if (rc == 0) {
        unsigned char h[32];
        unsigned int hl;
        char hex[65];
        EVP_Digest(b.data ? b.data : "", b.len, h, &hl, EVP_sha256(), NULL);
        hex32(hex, h);
        if (strcmp(hex, digest + 7) != 0)
            rc = sl_err_set(err, SL_EDIGEST, SL_ERRC_INPUT, "blob %s does not match its digest",
                            digest);
    }
    if (rc) {
        sl_buf_free(&b);
        return rc;
    }
    sl_buf_append(&b, "", 0);
    *len_out = b.len;
    *out = sl_buf_steal(&b, NULL);
    if (!*out)
        *out = sl_xstrdup("");
    return 0;
}

static json_t *load_json_blob(const char *dir, const char *digest, struct sl_err *err, int *rc)
{
    char *data = NULL;
    size_t len = 0;
    *rc = read_blob(&data, &len, dir, digest, SL_MANIFEST_MAX, err);
    if (*rc)
        return NULL;
    json_error_t jerr;
    json_t *j = json_loadb(data, len, 0, &jerr);
    free(data);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        *rc = sl_err_set(err, SL_EINVAL, SL_ERRC_JSON, "manifest %s is not a JSON object", digest);
    }
    return j;
}

static bool is_index_type(const char *mt)
{
    return mt && (strcmp(mt, "application/vnd.oci.image.index.v1+json") == 0 ||
                  strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json") == 0);
}

/* Picks the descriptor for platform from an index's manifests. */
static json_t *pick_platform(json_t *manifests, const char *os, const char *arch,
                             const char *variant)
{
    size_t i;
    json_t *d;
    json_array_foreach(manifests, i, d)
    {
        json_t *p = json_object_get(d, "platform");
        const char *pos = json_string_value(json_object_get(p, "os"));
        const char *parch = json_string_value(json_object_get(p, "architecture"));
        const char *pvar = json_string_value(json_object_get(p, "variant"));
        if (pos && parch && strcmp(pos, os) == 0 && strcmp(parch, arch) == 0 &&
            (!variant || (pvar && strcmp(pvar, variant) == 0)))
            return d;
    }
    return NULL;
}

int sl_ocilayout_open(struct sl_oci_image *out, const char *dir, const char *tag,
                      const char *platform, struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *index = NULL, *doc = NULL;
    int rc = 0;
    char os[32] = "linux", arch[32] = "amd64", variant[32] = "";
    if (platform) {
        if (sscanf(platform, "%31[^/]/%31[^/]/%31s", os, arch, variant) < 2)
            return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "bad platform \"%s\"", platform);
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/index.json", dir);
    json_error_t jerr;
    index = json_load_file(path, 0, &jerr);
    if (!index) {
        struct stat st;
        rc = sl_err_set(err, stat(path, &st) == 0 ? SL_EINVAL : SL_ENOTFOUND, SL_ERRC_INPUT,
                        "%s: %s", path,
                        stat(path, &st) == 0 ? jerr.text
                                             : "not an OCI layout "
                                               "(no index.json)");
        goto done;
    }
    json_t *manifests = json_object_get(index, "manifests");
    if (!json_is_array(manifests) || json_array_size(manifests) == 0) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "%s: no manifests", path);
        goto done;
    }
    json_t *desc = NULL;
    if (tag) {
        size_t i;
        json_t *d;
        json_array_foreach(manifests, i, d)
        {
            const char *ref = json_string_value(json_object_get(
                json_object_get(d, "annotations"), "org.opencontainers.image.ref.name"));
            if (ref && strcmp(ref, tag) == 0) {
                desc = d;
                break;
            }
        }
        if (!desc) {
            rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_INPUT, "tag \"%s\" is not in %s", tag, dir);
            goto done;
        }
    } else if (json_array_size(manifests) == 1) {
        desc = json_array_get(manifests, 0);
    } else {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT,
                        "%s holds %zu images: name one with oci:DIR:TAG", dir,
                        json_array_size(manifests));
        goto done;
    }
    /* follow image indexes down to one manifest (at most two levels) */
    for (int depth = 0;; depth++) {
        /* desc may point into doc, which is replaced below: copy what is needed first */
        char digest[80], mt[128];
        snprintf(digest, sizeof(digest), "%s",
                 json_string_value(json_object_get(desc, "digest")) ?: "");
        snprintf(mt, sizeof(mt), "%s", json_string_value(json_object_get(desc, "mediaType")) ?: "");
        json_decref(doc);
        doc = load_json_blob(dir, digest, err, &rc);
        if (!doc)
            goto done;
        const char *doc_mt = json_string_value(json_object_get(doc, "mediaType"));
        if (!is_index_type(mt) && !is_index_type(doc_mt) && !json_object_get(doc, "manifests")) {
            snprintf(out->manifest_digest, sizeof(out->manifest_digest), "%s", digest);
            break;
        }
        if (depth >= 2) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "image indexes nested too deep");
            goto done;
        }
        desc =
            pick_platform(json_object_get(doc, "manifests"), os, arch, variant[0] ? variant : NULL);
        if (!desc) {
            rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_INPUT, "no %s/%s%s%s image in index %s", os,
                            arch, variant[0] ? "/" : "", variant, digest);
            goto done;
        }
    }
    const char *cfg_digest =
        json_string_value(json_object_get(json_object_get(doc, "config"), "digest"));
    rc = read_blob(&out->config, &out->config_len, dir, cfg_digest, CONFIG_MAX, err);
    if (rc) {
        sl_err_prefix(err, "config");
        goto done;
    }
    json_t *layers = json_object_get(doc, "layers");
    if (!json_is_array(layers)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "manifest %s has no layers",
                        out->manifest_digest);
        goto done;
    }
    out->nlayers = json_array_size(layers);
    out->layers = sl_xcalloc(out->nlayers ? out->nlayers : 1, sizeof(*out->layers));
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l)
    {
        const char *d = json_string_value(json_object_get(l, "digest"));
        if (!digest_ok(d)) {
            rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "layer %zu has a bad digest", i);
            goto done;
        }
        snprintf(out->layers[i].digest, sizeof(out->layers[i].digest), "%s", d);
        const char *mt = json_string_value(json_object_get(l, "mediaType"));
        out->layers[i].media_type = sl_xstrdup(mt ? mt : "");
        json_t *sz = json_object_get(l, "size");
        out->layers[i].size = json_is_integer(sz) ? (uint64_t)json_integer_value(sz) : 0;
    }
    out->dir = sl_xstrdup(dir);
done:
    json_decref(doc);
    json_decref(index);
    if (rc)
        sl_oci_image_free(out);
    return rc;
}

void sl_oci_image_free(struct sl_oci_image *img)
{
    if (!img)
        return;
    free(img->dir);
    free(img->config);
    for (size_t i = 0; i < img->nlayers && img->layers; i++)
        free(img->layers[i].media_type);
    free(img->layers);
    memset(img, 0, sizeof(*img));
}

struct sl_blob_reader {
    int fd;
    EVP_MD_CTX *md;
    char want_hex[65];
    char digest[80];
};

static ssize_t blob_read(void *ctx, void *buf, size_t cap, struct sl_err *err)
{
    struct sl_blob_reader *r = ctx;
    ssize_t n;
    do {
        n = read(r->fd, buf, cap);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return sl_err_set(err, SL_EFAIL, SL_ERRC_OS, "reading %s: %s", r->digest, strerror(errno));
    if (n > 0) {
        EVP_DigestUpdate(r->md, buf, (size_t)n);
        return n;
    }
    unsigned char h[32];
    unsigned int hl;
    char hex[65];
    EVP_DigestFinal_ex(r->md, h, &hl);
    EVP_DigestInit_ex(r->md, EVP_sha256(), NULL);
    hex32(hex, h);
    if (strcmp(hex, r->want_hex) != 0)
        return sl_err_set(err, SL_EDIGEST, SL_ERRC_INPUT, "layer %s does not match its digest",
                          r->digest);
    return 0;
}

int sl_ocilayout_open_layer(struct sl_blob_reader **out, struct sl_layer_stream *stream,
                            const struct sl_oci_image *img, size_t i, struct sl_err *err)
{
    if (i >= img->nlayers)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_INTERNAL, "no layer %zu", i);
    char path[4096];
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", img->dir, img->layers[i].digest + 7);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sl_err_set(err, errno == ENOENT ? SL_ENOTFOUND : SL_EFAIL, SL_ERRC_OS,
                          "layer %s: %s", img->layers[i].digest, strerror(errno));
    struct sl_blob_reader *r = sl_xcalloc(1, sizeof(*r));
    r->fd = fd;
    r->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(r->md, EVP_sha256(), NULL);
    snprintf(r->want_hex, sizeof(r->want_hex), "%s", img->layers[i].digest + 7);
    snprintf(r->digest, sizeof(r->digest), "%s", img->layers[i].digest);
    stream->read = blob_read;
    stream->ctx = r;
    *out = r;
    return 0;
}

void sl_blob_reader_close(struct sl_blob_reader *r)
{
    if (!r)
        return;
    close(r->fd);
    EVP_MD_CTX_free(r->md);
    free(r);
}
