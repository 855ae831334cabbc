#include "oci/manifest.h"
#include "oci/ref.h"
#include "util/mem.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DESCRIPTORS 10000

int sl_manifest_type_is_index(const char *mt)
{
    return mt && (strcmp(mt, SL_MT_OCI_INDEX) == 0 || strcmp(mt, SL_MT_DOCKER_LIST) == 0);
}

static void descriptor_free(struct sl_descriptor *d)
{
    if (!d)
        return;
    free(d->media_type);
    free(d->digest);
    free(d->os);
    free(d->arch);
    free(d->variant);
    memset(d, 0, sizeof(*d));
}

static char *opt_string(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? sl_xstrdup(json_string_value(v)) : NULL;
}

static int parse_descriptor(struct sl_descriptor *out, json_t *obj, const char *where,
                            struct sl_err *err)
{
    if (!json_is_object(obj))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "manifest: %s is not an object", where);
    json_t *digest = json_object_get(obj, "digest");
    json_t *size = json_object_get(obj, "size");
    if (!json_is_string(digest) || !sl_ref_is_digest(json_string_value(digest)))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY,
                          "manifest: %s has no valid sha256 digest", where);
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "manifest: %s has no valid size",
                          where);
    json_t *mt = json_object_get(obj, "mediaType");
    if (mt && !json_is_string(mt))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY,
                          "manifest: %s mediaType is not a string", where);
    memset(out, 0, sizeof(*out));
    out->media_type = mt ? sl_xstrdup(json_string_value(mt)) : NULL;
    out->digest = sl_xstrdup(json_string_value(digest));
    out->size = json_integer_value(size);
    json_t *platform = json_object_get(obj, "platform");
    if (json_is_object(platform)) {
        out->os = opt_string(platform, "os");
        out->arch = opt_string(platform, "architecture");
        out->variant = opt_string(platform, "variant");
    }
    return 0;
}

static int parse_descriptor_array(struct sl_descriptor **out, size_t *n_out, json_t *arr,
                                  const char *what, struct sl_err *err)
{
    if (!json_is_array(arr))
        return sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "manifest: %s is not an array", what);
    size_t n = json_array_size(arr);
    if (n > MAX_DESCRIPTORS)
        return sl_err_set(err, SL_ETOOBIG, SL_ERRC_REGISTRY, "manifest: more than %d %s",
                          MAX_DESCRIPTORS, what);
    struct sl_descriptor *ds = sl_xcalloc(n ? n : 1, sizeof(*ds));
    for (size_t i = 0; i < n; i++) {
        char where[64];
        snprintf(where, sizeof(where), "%s[%zu]", what, i);
        int rc = parse_descriptor(&ds[i], json_array_get(arr, i), where, err);
        if (rc < 0) {
            for (size_t j = 0; j < i; j++)
                descriptor_free(&ds[j]);
            free(ds);
            return rc;
        }
    }
    *out = ds;
    *n_out = n;
    return 0;
}

int sl_manifest_parse(struct sl_manifest *out, const char *data, size_t len,
                      const char *content_type, struct sl_err *err)
{
    int rc = SL_EINVAL;
    json_error_t jerr;
    struct sl_manifest m;
    memset(&m, 0, sizeof(m));
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_JSON, "manifest is not valid JSON: %s (line %d)",
                        jerr.text, jerr.line);
        goto done;
    }
    if (!json_is_object(root)) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "manifest is not a JSON object");
        goto done;
    }
    json_t *sv = json_object_get(root, "schemaVersion");
    if (json_is_integer(sv) && json_integer_value(sv) == 1) {
        rc = sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_REGISTRY,
                        "Docker schema 1 manifests are not supported");
        goto done;
    }
    if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_REGISTRY, "manifest schemaVersion is not 2");
        goto done;
    }
    json_t *mt = json_object_get(root, "mediaType");
    const char *doc_type = json_is_string(mt) ? json_string_value(mt) : NULL;
    json_t *manifests = json_object_get(root, "manifests");
    json_t *config = json_object_get(root, "config");
    const char *type = doc_type;
    if (!type && content_type &&
        (strcmp(content_type, SL_MT_OCI_INDEX) == 0 ||
         strcmp(content_type, SL_MT_DOCKER_LIST) == 0 ||
         strcmp(content_type, SL_MT_OCI_MANIFEST) == 0 ||
         strcmp(content_type, SL_MT_DOCKER_MANIFEST) == 0))
        type = content_type;
    if (!type)
        type = (manifests && !config) ? SL_MT_OCI_INDEX : SL_MT_OCI_MANIFEST;
    m.media_type = sl_xstrdup(type);

    if (sl_manifest_type_is_index(type)) {
        m.kind = SL_MANIFEST_INDEX;
        rc = parse_descriptor_array(&m.children, &m.n_children, manifests, "manifests", err);
        if (rc < 0)
            goto done;
    } else if (strcmp(type, SL_MT_OCI_MANIFEST) == 0 || strcmp(type, SL_MT_DOCKER_MANIFEST) == 0 ||
               config) {
        m.kind = SL_MANIFEST_IMAGE;
        rc = parse_descriptor(&m.config, config, "config", err);
        if (rc < 0)
            goto done;
        json_t *layers = json_object_get(root, "layers");
        if (!layers && strcmp(type, SL_MT_OCI_MANIFEST) == 0) {
            /* OCI artifacts may omit layers entirely */
            m.layers = sl_xcalloc(1, sizeof(*m.layers));
        } else {
            rc = parse_descriptor_array(&m.layers, &m.n_layers, layers, "layers", err);
            if (rc < 0)
                goto done;
        }
    } else {
        rc = sl_err_set(err, SL_EUNSUPPORTED, SL_ERRC_REGISTRY,
                        "unsupported manifest media type \"%s\"", type);
        goto done;
    }
    json_t *subject = json_object_get(root, "subject");
    if (subject) {
        m.subject = sl_xcalloc(1, sizeof(*m.subject));
        rc = parse_descriptor(m.subject, subject, "subject", err);
        if (rc < 0)
            goto done;
    }
    *out = m;
    memset(&m, 0, sizeof(m));
    rc = 0;
done:
    sl_manifest_free(&m);
    json_decref(root);
    return rc;
}

void sl_manifest_free(struct sl_manifest *m)
{
    if (!m)
        return;
    free(m->media_type);
    descriptor_free(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        descriptor_free(&m->layers[i]);
    free(m->layers);
    for (size_t i = 0; i < m->n_children; i++)
        descriptor_free(&m->children[i]);
    free(m->children);
    if (m->subject) {
        descriptor_free(m->subject);
        free(m->subject);
    }
    memset(m, 0, sizeof(*m));
}

static int copy_part(char *dst, size_t cap, const char *s, size_t n)
{
    if (n == 0 || n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int sl_platform_parse(struct sl_platform *out, const char *s, struct sl_err *err)
{
    struct sl_platform p;
    memset(&p, 0, sizeof(p));
    const char *a = s ? strchr(s, '/') : NULL;
    if (!a)
        goto bad;
    const char *v = strchr(a + 1, '/');
    if (copy_part(p.os, sizeof(p.os), s, (size_t)(a - s)) < 0)
        goto bad;
    if (copy_part(p.arch, sizeof(p.arch), a + 1, v ? (size_t)(v - a - 1) : strlen(a + 1)) < 0)
        goto bad;
    if (v &&
        (strchr(v + 1, '/') || copy_part(p.variant, sizeof(p.variant), v + 1, strlen(v + 1)) < 0))
        goto bad;
    *out = p;
    return 0;
bad:
    return sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "platform \"%s\" is not os/arch[/variant]",
                      s ? s : "");
}

int sl_platform_match(const struct sl_descriptor *d, const struct sl_platform *p, size_t n)
{
    if (!d->os || !d->arch)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(d->os, p[i].os) != 0 || strcmp(d->arch, p[i].arch) != 0)
            continue;
        if (p[i].variant[0] && (!d->variant || strcmp(d->variant, p[i].variant) != 0))
            continue;
        return 1;
    }
    return 0;
}

int sl_manifest_filter_index(char **out, size_t *out_len, const char *data, size_t len,
                             const struct sl_platform *platforms, size_t n_platforms,
                             struct sl_err *err)
{
    int rc = SL_EINVAL;
    json_error_t jerr;
    struct sl_manifest m;
    memset(&m, 0, sizeof(m));
    json_t *root = NULL;
    rc = sl_manifest_parse(&m, data, len, NULL, err);
    if (rc < 0)
        goto done;
    if (m.kind != SL_MANIFEST_INDEX) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_INPUT, "platform filter needs an index");
        goto done;
    }
    root = json_loadb(data, len, 0, &jerr);
    if (!root) {
        rc = sl_err_set(err, SL_EINVAL, SL_ERRC_JSON, "index is not valid JSON");
        goto done;
    }
    json_t *arr = json_object_get(root, "manifests");
    json_t *kept = json_array();
    for (size_t i = 0; i < m.n_children; i++)
        if (sl_platform_match(&m.children[i], platforms, n_platforms))
            json_array_append(kept, json_array_get(arr, i));
    if (json_array_size(kept) == 0) {
        json_decref(kept);
        rc = sl_err_set(err, SL_ENOTFOUND, SL_ERRC_INPUT,
                        "no manifest in the index matches the requested platforms");
        goto done;
    }
    json_object_set_new(root, "manifests", kept);
    char *s = json_dumps(root, JSON_COMPACT);
    if (!s) {
        rc = sl_err_set(err, SL_EFAIL, SL_ERRC_JSON, "cannot serialise filtered index");
        goto done;
    }
    *out_len = strlen(s);
    *out = sl_xstrdup(s);
    free(s);
    rc = 0;
done:
    json_decref(root);
    sl_manifest_free(&m);
    return rc;
}

void sl_digest_sha256(char out[72], const void *data, size_t len)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}
